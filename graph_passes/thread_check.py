"""Whole-plan check of single-thread ("/t1") routine choices in multi-thread sessions.

DPRS prices each layer by its time in isolation. In a multi-thread session that
misjudges the "/t1" variants: alone, a layer's input sits in the one core's
caches, but in the chain the layer before left half of it in the other core's,
and the layer after runs on both cores again (measured on this 2-core VM:
MobileNetV2 qint8 5.36 ms with DPRS's mix against 4.80 all multi-threaded,
ResNet50 qint8 19.9 against 16.2; float32 plans read the same either way). So
when DPRS picked any "/t1" routine, the plan is also built with each of them
replaced by the same routine on all threads, both are timed in turn, and the
faster is kept (the alternative must win by CLEAR_WIN). Routines and formats
are otherwise the same, so outputs are unchanged.
"""
import numpy as np

from ..capi.onnxruntime_pybind11_state import EngineError
from .dtypes import np_dtype
from .lower import lower
from .tune import QPREFIX

T1 = "/t1"
CLEAR_WIN = 0.97      # the alternative plan must be at least 3% faster
MAX_RUN_US = 150e3    # skip the check for plans slower than this (its cost would show at session creation)
ROUNDS = 3            # A/B rounds, each timing each plan twice after one warm-up run


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


def all_threads_alternative(choice, candidates):
    """choice with each "/t1" routine replaced by its all-threads form where the layer had that candidate."""
    alt = {}
    for name, desc in choice.items():
        if desc.endswith(T1):
            base = desc[:-len(T1)]
            if any(k in (base, QPREFIX + base) for k in candidates.get(name, {})):
                alt[name] = base
    return {**choice, **alt} if alt else None


def lower_checked(g, types, feed_names, threads, choice, tuned):
    """lower() of the faster of `choice` and its all-threads alternative.
    Returns (plan, out_names, graph, types, choice); records the timings on tuned.thread_check."""
    alt = all_threads_alternative(choice, getattr(tuned, "candidates", {}) or {}) if threads > 1 else None
    if alt is None:
        plan, outs = lower(g, types, feed_names, threads, choice)
        return plan, outs, g, types, choice
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
    a_us, b_us = float(np.median(ra)), float(np.median(rb))
    keep_b = b_us < CLEAR_WIN * a_us
    tuned.thread_check = {"dprs_us": a_us, "all_threads_us": b_us, "kept": "all_threads" if keep_b else "dprs",
                          "layers": sum(1 for d in choice.values() if d.endswith(T1))}
    if keep_b:  # what saved plans record: the same layers switched (tuned.choice keeps qint8 keys' prefix)
        switched = {k for k in alt if alt[k] != choice[k]}
        tuned.choice = {k: v[:-len(T1)] if k in switched else v for k, v in tuned.choice.items()}
        return plan_b, outs_b, gb, tb, alt
    return plan_a, outs_a, ga, ta, choice
