"""Whole-plan check of single-thread ("/t1") routine choices in multi-thread sessions.

DPRS prices each layer by its time in isolation. In a multi-thread session that
misjudges the "/t1" variants: alone, a layer's input sits in the one core's
caches, but in the chain the layer before left half of it in the other core's,
and the layer after runs on both cores again (measured on this 2-core VM:
MobileNetV2 qint8 5.36 ms with DPRS's mix against 4.80 all multi-threaded,
ResNet50 qint8 19.9 against 16.2; float32 plans read the same either way). So
when DPRS picked any "/t1" routine, the plan is also built with each of them
replaced by the same routine on all threads, both are timed in turn, and the
faster is kept (the alternative must win by CLEAR_WIN; each plan's fastest of
ROUNDS interleaved timings counts). Routines and formats
are otherwise the same, so outputs are unchanged.

The two timings are stored in the profile cache under a signature of the graph
and both choices, so a second session on the same cache and model reads them
and keeps the same plan instead of re-timing (and perhaps flipping a close call).
"""
import hashlib
import json

import numpy as np

from ..capi.onnxruntime_pybind11_state import EngineError
from .dtypes import np_dtype
from .lower import lower
from .tune import QPREFIX

T1 = "/t1"
CLEAR_WIN = 0.97      # the alternative plan must be at least 3% faster
MAX_RUN_US = 150e3    # skip the check for plans slower than this (its cost would show at session creation)
ROUNDS = 3            # A/B rounds, each timing each plan twice after one warm-up run
CACHE_VERSION = 2  # 2: min of the rounds (was their median)
CACHE_ROUTINES = ("plan/thread_check/dprs", "plan/thread_check/all_threads")


def _feeds(types, feed_names, rng):
    feeds = []
    for n in feed_names:
        v = types[n]
        dt = np_dtype(v.elem_type)
        if np.issubdtype(dt, np.floating):
            feeds.append(rng.standard_normal(v.shape).astype(dt))
        else:  # zeros are valid indices, lengths and flags
            feeds.append(np.zeros(v.shape, dt))
    return feeds


def _time(plan, feeds):
    return plan.time_median(feeds, 1, 2, 2, 0.0)


def plan_signature(g, types, choice, alt):
    """Digest of what the two plans' timings depend on: the graph's layers and tensor types, and both choices."""
    def ty(name):
        v = types.get(name)
        return None if v is None else [int(v.elem_type), list(v.shape or ())]
    key = {"nodes": [[n.op, n.domain, n.name, list(n.inputs), list(n.outputs),
                      sorted((k, str(v)) for k, v in n.attrs.items()), [ty(o) for o in n.outputs]] for n in g.nodes],
           "inputs": [[v.name, ty(v.name)] for v in g.inputs],
           "weights": sorted((k, str(getattr(v, "dtype", "")), list(getattr(v, "shape", ())))
                             for k, v in g.initializers.items()),
           "choice": sorted(choice.items()), "alt": sorted(alt.items())}
    raw = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha1(raw.encode()).hexdigest()


def _cached(cache, machine, sig):
    if cache is None:
        return None
    keys = [(r, CACHE_VERSION, sig) for r in CACHE_ROUTINES]
    hit = cache.get_many(machine, keys)
    return (hit[keys[0]], hit[keys[1]]) if len(hit) == 2 else None


def all_threads_alternative(choice, candidates):
    """choice with each "/t1" routine replaced by its all-threads form where the layer had that candidate."""
    alt = {}
    for name, desc in choice.items():
        if desc.endswith(T1):
            base = desc[:-len(T1)]
            if any(k in (base, QPREFIX + base) for k in candidates.get(name, {})):
                alt[name] = base
    return {**choice, **alt} if alt else None


def lower_checked(g, types, feed_names, threads, choice, tuned, cache=None):
    """lower() of the faster of `choice` and its all-threads alternative.
    Returns (plan, out_names, graph, types, choice); records the timings on tuned.thread_check
    and in `cache` (a ProfileCache), where a later session finds them."""
    alt = all_threads_alternative(choice, getattr(tuned, "candidates", {}) or {}) if threads > 1 else None
    if alt is None:
        plan, outs = lower(g, types, feed_names, threads, choice)
        return plan, outs, g, types, choice
    from ..profile_cache import machine_fingerprint
    machine, sig = machine_fingerprint(threads), plan_signature(g, types, choice, alt)
    known = _cached(cache, machine, sig)
    if known is not None:
        return _keep(g, types, feed_names, threads, choice, alt, tuned, *known, cached=True)
    ga, ta = g.copy(), dict(types)
    plan_a, outs_a = lower(ga, ta, feed_names, threads, choice)
    try:
        feeds = _feeds(types, feed_names, np.random.default_rng(0))
        first = _time(plan_a, feeds)
        if first > MAX_RUN_US:
            tuned.thread_check = {"skipped": f"a run takes {first / 1e3:.0f} ms"}
            return plan_a, outs_a, ga, ta, choice
        gb, tb = g.copy(), dict(types)
        plan_b, outs_b = lower(gb, tb, feed_names, threads, alt)
        ra, rb = [], []
        for _ in range(ROUNDS):
            ra.append(_time(plan_a, feeds))
            rb.append(_time(plan_b, feeds))
    except (EngineError, RuntimeError, ValueError) as e:
        tuned.thread_check = {"skipped": f"could not time the plans: {e}"}
        return plan_a, outs_a, ga, ta, choice
    # the fastest round of each: slow spells of a shared VM only ever add time
    a_us, b_us = float(min(ra)), float(min(rb))
    if cache is not None:
        cache.put_many(machine, [(r, CACHE_VERSION, sig, us) for r, us in zip(CACHE_ROUTINES, (a_us, b_us))])
    return _keep(g, types, feed_names, threads, choice, alt, tuned, a_us, b_us, cached=False,
                 plans=((plan_a, outs_a, ga, ta), (plan_b, outs_b, gb, tb)))


def _keep(g, types, feed_names, threads, choice, alt, tuned, a_us, b_us, cached, plans=None):
    """The verdict on timings a_us (DPRS's plan) and b_us (all threads); lowers the kept plan unless given."""
    keep_b = b_us < CLEAR_WIN * a_us
    tuned.thread_check = {"dprs_us": a_us, "all_threads_us": b_us, "kept": "all_threads" if keep_b else "dprs",
                          "layers": sum(1 for d in choice.values() if d.endswith(T1)), "cached": cached}
    kept = alt if keep_b else choice
    if plans is not None:
        plan, outs, gk, tk = plans[1] if keep_b else plans[0]
    else:
        gk, tk = g.copy(), dict(types)
        plan, outs = lower(gk, tk, feed_names, threads, kept)
    if keep_b:  # what saved plans record: the same layers switched (tuned.choice keeps qint8 keys' prefix)
        switched = {k for k in alt if alt[k] != choice[k]}
        tuned.choice = {k: v[:-len(T1)] if k in switched else v for k, v in tuned.choice.items()}
    return plan, outs, gk, tk, kept
