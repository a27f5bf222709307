"""Whole-plan checks of choices DPRS prices badly from layers timed alone.

Layouts: DPRS may put a stage of layers in NCHW (GEMM 1x1, Winograd) where their
NCHW16c routines profiled a few percent slower; from one tuning to the next such
near-tied stages flip, and layers timed alone do not show what the stage's Reorders
and cache traffic cost in the model (one per-layer reading of ResNet50 had its 56x56
1x1 convs as NCHW GEMMs at half onnxruntime's speed). So when DPRS left any layer with
an NCHW16c routine off NCHW16c, DPRS is solved again with those layers kept on
NCHW16c, both plans are timed whole, and the alternative is kept when it wins by
CLEAR_WIN (blocked_checked). Likewise, when DPRS put any layer on an NHWC routine,
it is solved again with NHWC left out, and that plan is kept when it wins by
CLEAR_WIN (nhwc_checked): NHWC layers timed alone can beat their NCHW rivals while the
mix of both, with its Reorders, loses to all NCHW.

Threads: single-thread ("/t1") routine choices in multi-thread sessions.

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
and keeps the same plan instead of re-timing (and perhaps flipping a close call);
like every cached timing they are taken again, minutes later, until two samples
agree (profile_cache.unsettled), and the fastest of each plan's samples counts.
"""
import hashlib
import json

import numpy as np

from ..capi.onnxruntime_pybind11_state import EngineError, Fail, InvalidArgument
from ..capi.onnxruntime_pybind11_state import NotImplemented as NotImpl
from .dtypes import np_dtype
from .lower import lower
from .tune import QPREFIX, T1

CLEAR_WIN = 0.97      # the alternative plan must be at least 3% faster
MAX_RUN_US = 150e3    # skip the check for plans slower than this (its cost would show at session creation)
ROUNDS = 3            # A/B rounds, each timing each plan twice after one warm-up run
CACHE_VERSION = 2  # 2: min of the rounds (was their median)
CACHE_ROUTINES = ("plan/thread_check/dprs", "plan/thread_check/all_threads")
LAYOUT_ROUTINES = ("plan/layout_check/dprs", "plan/layout_check/blocked")
NHWC_ROUTINES = ("plan/nhwc_check/dprs", "plan/nhwc_check/without_nhwc")


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


def _cached(cache, machine, sig, routines=CACHE_ROUTINES):
    if cache is None:
        return None
    keys = [(r, CACHE_VERSION, sig) for r in routines]
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


class _Skip(Exception):
    """The two plans could not be compared (why in its message)."""


def _timed_pair(g, types, feed_names, threads, choice, alt, cache, routines):
    """Both plans lowered and timed in turn (or their timings from `cache`, stored under
    `routines` and a signature of the graph and both choices). Returns
    (a_us, b_us, cached, plans): plans are the lowered ((plan, outs, g, types) of choice,
    of alt) when timed now, else None. Raises _Skip."""
    from ..profile_cache import machine_fingerprint
    machine, sig = machine_fingerprint(threads), plan_signature(g, types, choice, alt)
    known = _cached(cache, machine, sig, routines)
    if known is not None and not cache.unsettled(machine, [(r, CACHE_VERSION, sig) for r in routines]):
        return known[0], known[1], True, None
    ga, ta = g.copy(), dict(types)
    plan_a, outs_a = lower(ga, ta, feed_names, threads, choice, shareable=True)
    try:  # the alternative is optional: whatever keeps it from lowering or running skips the check
        feeds = _feeds(types, feed_names, np.random.default_rng(0))
        first = _time(plan_a, feeds)
        if first > MAX_RUN_US:
            raise _Skip(f"a run takes {first / 1e3:.0f} ms")
        gb, tb = g.copy(), dict(types)
        plan_b, outs_b = lower(gb, tb, feed_names, threads, alt, share_from=plan_a)  # one copy of common weights
        ra, rb = [], []
        for _ in range(ROUNDS):
            ra.append(_time(plan_a, feeds))
            rb.append(_time(plan_b, feeds))
    except (EngineError, RuntimeError, ValueError, NotImpl, InvalidArgument, Fail) as e:
        raise _Skip(f"could not time the plans: {e}") from None
    # the fastest round of each: slow spells of a shared VM only ever add time
    a_us, b_us = float(min(ra)), float(min(rb))
    if cache is not None:
        cache.put_many(machine, [(r, CACHE_VERSION, sig, us) for r, us in zip(routines, (a_us, b_us))])
    if known is not None:  # a second opinion (profile_cache.unsettled): each plan's fastest sample counts
        a_us, b_us = min(a_us, known[0]), min(b_us, known[1])
    return a_us, b_us, False, ((plan_a, outs_a, ga, ta), (plan_b, outs_b, gb, tb))


def blocked_checked(g, types, feed_names, threads, choice, tuned, cache=None, budgeted=False):
    """`choice`, or the all-blocked alternative of it (tune.blocked_alternative) when that
    plan, timed whole against it, is faster by CLEAR_WIN. Float32 plans without budgets
    only (no qint8 or reduced-precision routine; budgeted: an accuracy or memory budget
    shaped the choice); the timings go to tuned.layout_check and to `cache`."""
    from .tune import blocked_alternative
    return _alternative_checked(LAYOUT_CHECK, blocked_alternative, g, types, feed_names, threads, choice, tuned,
                                cache, budgeted)


def nhwc_checked(g, types, feed_names, threads, choice, tuned, cache=None, budgeted=False):
    """`choice`, or DPRS's plan without NHWC routines (tune.without_layout_alternative)
    when that plan, timed whole against it, is faster by CLEAR_WIN. Same conditions as
    blocked_checked; the timings go to tuned.nhwc_check and to `cache`."""
    from .tune import without_layout_alternative
    return _alternative_checked(NHWC_CHECK, without_layout_alternative, g, types, feed_names, threads, choice,
                                tuned, cache, budgeted)


# (TuneResult attribute, cache routine names, verdict key of the alternative's time, its "kept" name)
LAYOUT_CHECK = ("layout_check", LAYOUT_ROUTINES, "blocked_us", "blocked")
NHWC_CHECK = ("nhwc_check", NHWC_ROUTINES, "without_us", "without_nhwc")


def _alternative_checked(check, alternative, g, types, feed_names, threads, choice, tuned, cache, budgeted):
    """The layout checks' common body: alternative(tuned) -> another choice or None."""
    attr, routines, alt_key, alt_name = check
    if not _float32_unbudgeted(choice, tuned, budgeted):
        return choice
    alt = alternative(tuned)
    if alt is None:
        return choice
    try:
        a_us, b_us, cached, _ = _timed_pair(g, types, feed_names, threads, choice, alt, cache, routines)
    except _Skip as e:
        setattr(tuned, attr, {"skipped": str(e)})
        return choice
    keep_b = b_us < CLEAR_WIN * a_us
    setattr(tuned, attr, {"dprs_us": a_us, alt_key: b_us, "kept": alt_name if keep_b else "dprs",
                          "layers": sum(1 for k in alt if alt[k] != choice[k]), "cached": cached})
    if keep_b:
        tuned.choice = dict(alt)
        return alt
    return choice


def _float32_unbudgeted(choice, tuned, budgeted):
    """A float32 plan no budget shaped (routines of no dtype, as the dtype-generic pooling, count)."""
    from .tune import parse_descriptor
    return not (budgeted or choice != tuned.choice
                or any(d.startswith(QPREFIX) or parse_descriptor(d)[1] not in (None, "float32") for d in choice.values()))


def lower_checked(g, types, feed_names, threads, choice, tuned, cache=None, budgeted=False):
    """lower() of the faster of `choice` and its all-threads alternative, after the layout
    checks (blocked_checked, then nhwc_checked) settled the layouts. Returns (plan,
    out_names, graph, types, choice); records the timings on tuned.thread_check and in
    `cache` (a ProfileCache), where a later session finds them."""
    choice = blocked_checked(g, types, feed_names, threads, choice, tuned, cache, budgeted)
    choice = nhwc_checked(g, types, feed_names, threads, choice, tuned, cache, budgeted)
    alt = all_threads_alternative(choice, getattr(tuned, "candidates", {}) or {}) if threads > 1 else None
    if alt is None:
        plan, outs = lower(g, types, feed_names, threads, choice)
        return plan, outs, g, types, choice
    try:
        a_us, b_us, cached, plans = _timed_pair(g, types, feed_names, threads, choice, alt, cache, CACHE_ROUTINES)
    except _Skip as e:
        tuned.thread_check = {"skipped": str(e)}
        plan, outs = lower(g, types, feed_names, threads, choice)
        return plan, outs, g, types, choice
    return _keep(g, types, feed_names, threads, choice, alt, tuned, a_us, b_us, cached=cached, plans=plans)


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
