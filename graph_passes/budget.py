"""Budgeted tuning and the final rewrite of a tuned choice.

    finish(g, types, feed_names, threads, opts, tuned) -> routine_choice

accuracy_budget: each qint8 variant's error is measured on calibration sample 0
(the layer run on its real float32 input, quantized, against its float32
output, dequantized where the variant's output is u8: e = relative L2). DPRS
then minimises time + lambda * e^2 (errors of
independent layers add as variances, so the plan's estimate is sqrt(sum e^2));
lambda is the smallest that keeps the estimate within the budget. The plan is
then built and run on the held-out samples; while its measured error exceeds the
budget the estimate's target is halved (at worst: float32 everywhere). A plan over
budget whose graph-output layers run reduced candidates of more than negligible
error is also tried without them: their error reaches the output unattenuated,
which the ranking by local errors does not see.

memory_limit_mb: each candidate's memory is its constants in the routine's
format (pre-packed weights, int8 weights, Winograd's transformed filters);
DPRS minimises time + mu * bytes with the smallest mu whose plan's estimated
peak (constants + activation arena) fits, InvalidArgument naming the smallest
feasible limit if none does.
"""
import math

import numpy as np

from ..capi.onnxruntime_pybind11_state import InvalidArgument, NotImplemented as NotImpl
from .dtypes import np_dtype
from .memory_plan import plan_memory
from .quant_tune import dequantize_np, quantize_np
from .adapt import io_layouts
from .tune import QPREFIX, is_reduced

PASSTHROUGH = ("MaxPool", "Resize", "Concat", "Flatten", "Reshape")  # qint8 variants moving u8 values unchanged
MAX_BACKOFF = 10  # budget searches: steps at most (each measures a plan, and its repair when over budget)
BIG = 1e30  # a cost no real plan reaches (DPRS needs finite costs)


def apply_choice(g, types, tuned):
    """Rewrites the chosen qint8 variants into g (inserting their adapts); returns node -> descriptor."""
    choice = {}
    chosen = set()
    for name, key in tuned.choice.items():
        if key.startswith(QPREFIX):
            chosen.add(name)
            key = key[len(QPREFIX):]
        choice[name] = key
    if chosen:
        added = tuned.planner.apply(g, types, chosen)
        best = getattr(getattr(tuned, "adapt_costs", None), "best_quant", {})
        for n in g.nodes:
            if n.name in added:
                shape = tuple(types[added[n.name][0]].shape) if added[n.name][0] in types else None
                desc = best.get((n.op, shape))
                if desc:
                    choice[n.name] = desc
    return choice


def finish(g, types, feed_names, threads, opts, tuned):
    if tuned is None:
        return {}
    if getattr(tuned, "solve", None) is not None:
        if opts.memory_limit_mb is not None:
            _memory_search(g, types, opts, tuned)
        if opts.accuracy_budget is not None:
            _accuracy_search(g, types, feed_names, threads, opts, tuned)
            if opts.memory_limit_mb is not None:
                est = _peak_estimate(g, types, tuned, getattr(tuned, "memory_table", {}))
                if est > opts.memory_limit_mb * 2**20:
                    raise InvalidArgument(
                        f"memory_limit_mb and accuracy_budget: no plan found within both (the most accurate plan "
                        f"under {opts.memory_limit_mb:g} MB exceeds the accuracy budget {opts.accuracy_budget:g}); "
                        "raise one of them")
                tuned.memory_bytes = est
    if tuned.memory_bytes is None:
        tuned.memory_bytes = _peak_estimate(g, types, tuned, getattr(tuned, "memory_table", {}))
    if opts.memory_limit_mb is not None and tuned.memory_bytes > opts.memory_limit_mb * 2**20:
        raise InvalidArgument(f"memory_limit_mb: this plan needs about {tuned.memory_bytes / 2**20:.1f} MB "
                              f"and tuning '{opts.tuning}' does not search memory; use tuning=dprs")
    return apply_choice(g, types, tuned)


# ---- accuracy ------------------------------------------------------------------
def _plan_outputs(g, types, feed_names, threads, choice, names, feeds):
    """Builds g (a copy) with `names` as its outputs and runs it on each feed list."""
    from .ir import Value
    from .lower import lower
    h = g.copy()
    t = dict(types)
    h.outputs = [Value(n, t[n].elem_type, t[n].shape) for n in names]
    plan, _ = lower(h, t, feed_names, threads, choice)
    return [plan.run(list(f)) for f in feeds]


def _feed_lists(opts, feed_names, types):
    cal = opts.calibration
    if not cal.samples:
        raise InvalidArgument("accuracy_budget: the calibration file has no saved samples to measure the error on")
    out = []
    for k, s in enumerate(cal.samples):
        row = []
        for name in feed_names:
            if name not in s:
                raise InvalidArgument(f"accuracy_budget: calibration sample {k} has no input '{name}'")
            a = np.asarray(s[name], dtype=np_dtype(types[name].elem_type))
            if tuple(a.shape) != tuple(types[name].shape):
                raise InvalidArgument(f"accuracy_budget: calibration sample {k} input '{name}' has shape "
                                      f"{tuple(a.shape)}, the session runs {tuple(types[name].shape)}")
            row.append(a)
        out.append(row)
    return out


def _layer_errors(g, types, feed_names, threads, tuned, sample):
    """{(layer name, candidate key): e^2} of every reduced-precision candidate (qint8 variants,
    bfloat16/float16 routines of float32 layers), each run on its real inputs from one sample."""
    from .node_eval import run_node
    from .tune import is_reduced
    planner = tuned.planner
    nodes = {n.name: n for n in g.nodes}
    reduced = [(L.name, c.routine) for L in tuned.dp_layers for c in L.candidates
               if is_reduced(c.routine, nodes[L.name], g, types)]
    wanted = []
    for name, _ in reduced:
        n = nodes[name]
        for t in [i for i in n.inputs if i and i not in g.initializers] + [n.outputs[0]]:
            if t not in wanted and t in types and t not in feed_names:
                wanted.append(t)
    acts = dict(zip(wanted, _plan_outputs(g, types, feed_names, threads, {}, wanted, [sample])[0])) if wanted else {}
    acts.update(zip(feed_names, sample))
    errs = {}
    for name, key in reduced:
        n = nodes[name]
        y = acts.get(n.outputs[0])
        if y is None:
            continue
        if not key.startswith(QPREFIX):  # a float32 layer's bfloat16/float16 routine
            inputs = [acts[i] if i in acts else g.initializers.get(i) if i else None for i in n.inputs]
            try:
                # constants as constants: some routines (float16 weights) only take constant weights
                got = run_node(n.op, inputs, n.attrs, outputs=[(y.dtype, y.shape)], descriptor=key,
                               num_threads=threads, opset=g.opset, const_inputs=True)[0]
            except (NotImpl, InvalidArgument):
                continue
            errs[(name, key)] = float(np.sum((got - y) ** 2) / max(np.sum(y * y), 1e-30))
            continue
        v = planner.variants[name]
        if not all(t in acts for t in v.acts):
            continue
        if (name, QPREFIX) in errs:  # every routine of a variant computes the same numbers
            errs[(name, key)] = errs[(name, QPREFIX)]
            continue
        qin = {t: quantize_np(acts[t], *planner.params[t]) for t in v.acts}
        if v.node.op in PASSTHROUGH:  # u8 pass-through ops: the error is their inputs' quantisation
            num = sum(float(np.sum((dequantize_np(qin[t], *planner.params[t]) - acts[t]) ** 2)) for t in v.acts)
            e = num / max(sum(float(np.sum(acts[t] * acts[t])) for t in v.acts), 1e-30)
        else:  # QLinearConv (u8 output), QGemm (float32 output)
            inputs = [qin[i] if i in qin else (v.initializers.get(i) if i in v.initializers else
                                               g.initializers.get(i)) for i in v.node.inputs]
            out_dt = np.dtype(np.uint8) if v.qout else y.dtype
            try:
                (yq,) = run_node(v.node.op, inputs, v.node.attrs, outputs=[(out_dt, y.shape)],
                                 num_threads=threads, opset=g.opset)
            except NotImpl:  # no routine runs this variant: it is never a candidate
                continue
            yd = dequantize_np(yq, *planner.params[v.outputs[0]]) if v.qout else yq
            e = float(np.sum((yd - y) ** 2) / max(np.sum(y * y), 1e-30))
        errs[(name, key)] = errs[(name, QPREFIX)] = e
    return errs


# Ops through which an error reaches the graph output unattenuated (linear, no activation): the tail of a
# classifier after its last convolution.
LINEAR_TAIL = ("Gemm", "MatMul", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity",
               "GlobalAveragePool", "AveragePool")


def _output_tail(g, out_names):
    """Names of the layers writing graph outputs and of the LINEAR_TAIL layers feeding them, transitively
    (ResNet50: fc Gemm, Flatten, GlobalAveragePool; not the last convolution, whose errors the pooling averages)."""
    producers = {o: n for n in g.nodes for o in n.outputs if o}
    tail, stack = set(), [producers[o] for o in out_names if o in producers]
    while stack:
        n = stack.pop()
        if n.name in tail:
            continue
        tail.add(n.name)
        if n.op in LINEAR_TAIL:
            stack += [producers[i] for i in n.inputs if i in producers and producers[i].op in LINEAR_TAIL]
    return tail


def _metric(opts, ref, got):
    if opts.accuracy_metric == "top1":
        diff = total = 0
        for r, o in zip(ref, got):
            a, b = r[0].reshape(r[0].shape[0], -1), o[0].reshape(o[0].shape[0], -1)
            diff += int(np.sum(a.argmax(1) != b.argmax(1)))
            total += a.shape[0]
        return diff / max(total, 1)
    worst = 0.0
    for r, o in zip(ref, got):
        for a, b in zip(r, o):
            if np.issubdtype(a.dtype, np.floating) and a.size:
                den = float(np.linalg.norm(a.astype(np.float64)))
                worst = max(worst, float(np.linalg.norm((b - a).astype(np.float64))) / max(den, 1e-30))
    return worst


def _accuracy_search(g, types, feed_names, threads, opts, tuned):
    budget = float(opts.accuracy_budget)
    feeds = _feed_lists(opts, feed_names, types)
    held = feeds[1:] if len(feeds) > 1 else feeds
    errs = _layer_errors(g, types, feed_names, threads, tuned, feeds[0])
    nodes = {n.name: n for n in g.nodes}
    reduced = {(L.name, c.routine) for L in tuned.dp_layers for c in L.candidates
               if is_reduced(c.routine, nodes[L.name], g, types)}
    out_names = [v.name for v in g.outputs]
    ref = _plan_outputs(g, types, feed_names, threads, {}, out_names, held)

    base = getattr(tuned, "memory_penalty", None) or (lambda name, key: 0.0)

    def penalty_for(lam):
        return lambda name, key: base(name, key) + (lam * errs.get((name, key), BIG) if (name, key) in reduced
                                                    else 0.0)

    def estimate():
        return math.sqrt(sum(errs.get((n, k), BIG) for n, k in tuned.choice.items() if (n, k) in reduced))

    lam_of_plan = [None]

    def solve_for(target):
        # smallest lambda (log bisection) whose plan's estimated error is within target
        lo, hi = -8.0, 14.0
        tuned.solve(penalty_for(10.0 ** hi))
        if estimate() > target:
            return False
        for _ in range(24):
            mid = (lo + hi) / 2
            tuned.solve(penalty_for(10.0 ** mid))
            if estimate() <= target:
                hi = mid
            else:
                lo = mid
        tuned.solve(penalty_for(10.0 ** hi))
        lam_of_plan[0] = 10.0 ** hi
        return True

    # A layer writing a graph output passes its error to the output whole, while upstream layers' local
    # errors shrink on the way (ResNet50: sqrt(sum e^2) of its qint8 convs is 0.067, the measured error
    # 0.008); so the ranking by local error overrates the output layers' reduced candidates (a classifier's
    # qint8 QGemm, e ~0.007, comes before half the convs). A plan over budget that has such a candidate is
    # retried with the output layers kept to candidates of negligible error (e <= a tenth of the budget).
    # "Output layers" include the linear tail before them (a classifier's pooling and flattening: the
    # quantisation of the pooled features reaches the logits whole too).
    out_layers = _output_tail(g, out_names)
    scale = budget if opts.accuracy_metric == "rel_l2" else 0.05
    loud = {(n, k) for n, k in reduced if n in out_layers and errs.get((n, k), BIG) > (scale / 10) ** 2}

    def repair():
        if lam_of_plan[0] is None or not any((n, k) in loud for n, k in tuned.choice.items()):
            return False
        pen = penalty_for(lam_of_plan[0])
        tuned.solve(lambda name, key: pen(name, key) + (BIG if (name, key) in loud else 0.0))
        return True

    def snapshot():
        return dict(tuned.choice), dict(tuned.times), list(tuned.adapts), tuned.predicted_us

    def restore(snap):
        tuned.choice, tuned.times, tuned.adapts, tuned.predicted_us = dict(snap[0]), dict(snap[1]), list(snap[2]), \
            snap[3]

    def measure():
        h, t = g.copy(), dict(types)
        choice = apply_choice(h, t, tuned)
        return _metric(opts, ref, _plan_outputs(h, t, feed_names, threads, choice, out_names, held))

    # The estimate sqrt(sum e^2) only ranks plans; the measured error decides. Search the estimate's
    # target geometrically: up while the measured error stays within budget, down until it does.
    best = None  # (predicted us, measured, snapshot) of the fastest plan measured within budget
    tried = {}
    target = budget if opts.accuracy_metric == "rel_l2" else 0.05
    direction = 0
    for _ in range(MAX_BACKOFF):
        if not solve_for(target):
            break
        key = tuple(sorted(tuned.choice.items()))
        if direction > 0 and key in tried:
            break  # a looser target changes nothing more
        measured = tried[key] if key in tried else measure()
        tried[key] = measured
        ok = measured <= budget or not any((n, k) in reduced for n, k in tuned.choice.items())
        if ok and (best is None or tuned.predicted_us < best[0]):
            best = (tuned.predicted_us, measured, snapshot())
        if not ok and repair():
            rkey = tuple(sorted(tuned.choice.items()))
            rmeasured = tried[rkey] if rkey in tried else measure()
            tried[rkey] = rmeasured
            if rmeasured <= budget and (best is None or tuned.predicted_us < best[0]):
                best = (tuned.predicted_us, rmeasured, snapshot())
        if direction == 0:
            direction = 1 if ok else -1
        if (direction > 0 and not ok) or (direction < 0 and ok):
            break
        if direction > 0 and estimate() >= BIG:
            break
        target = target * 2 if direction > 0 else target / 2
    if best is None:  # float32 everywhere
        tuned.solve(lambda name, key: base(name, key) + (BIG if (name, key) in reduced else 0.0))
        measured = measure()
    else:
        restore(best[2])
        measured = best[1]
    tuned.error = measured
    tuned.candidate_errors = {k: math.sqrt(v) for k, v in errs.items()}  # (layer, candidate key) -> e, measured
    tuned.layer_errors = {n: math.sqrt(errs[(n, k)]) for n, k in tuned.choice.items() if (n, k) in errs}


# ---- memory --------------------------------------------------------------------
def _const_factor(desc, shape):
    algo = desc.split("/", 1)[1] if "/" in desc else ""
    if algo.startswith("winograd_f43"):
        return 36 / 9
    if algo.startswith("winograd_f23"):
        return 16 / 9
    lay = io_layouts(desc)[1]  # weights are packed for the blocks of the output
    if lay and lay.startswith("nchw") and lay.endswith("c") and len(shape) == 4:
        b = int(lay[4:-1])
        pad = lambda n: -(-n // b) * b  # noqa: E731
        return pad(shape[0]) * pad(shape[1]) / max(shape[0] * shape[1], 1)
    return 1.0


def _candidate_bytes(g, tuned, node, key):
    if key.startswith(QPREFIX):
        v = tuned.planner.variants[node.name]
        return sum(a.nbytes for n, a in v.initializers.items() if n in v.node.inputs)
    total = 0.0
    for i in node.inputs:
        if i in g.initializers:
            a = g.initializers[i]
            total += a.nbytes * _const_factor(key, a.shape)
    return total


def _arena_bytes(g, types, qint8_tensors):
    first, last = {}, {}
    feeds = {v.name for v in g.inputs}
    outs = {v.name for v in g.outputs}
    for s, n in enumerate(g.nodes):
        for i in n.inputs:
            if i in first:
                last[i] = s
        for o in n.outputs:
            if o and o not in feeds and o not in outs and o not in g.initializers and o in types:
                first[o] = last[o] = s
    sizes = {}
    for name in first:
        v = types[name]
        n = int(np.prod(v.shape, dtype=np.int64)) if v.shape else 1
        sizes[name] = n * (1 if name in qint8_tensors else np_dtype(v.elem_type).itemsize)
    return plan_memory({k: (first[k], last[k], sizes[k]) for k in first})[1]


def _peak_estimate(g, types, tuned, mem):
    nodes = {n.name: n for n in g.nodes}
    counted = set()
    total = 0.0
    for name, key in tuned.choice.items():
        node = nodes.get(name)
        if node is None:
            continue
        total += mem.get((name, key)) if (name, key) in mem else _candidate_bytes(g, tuned, node, key)
        counted.update(i for i in node.inputs if i in g.initializers)
    total += sum(a.nbytes for k, a in g.initializers.items() if k not in counted)
    q = set()
    for name, key in tuned.choice.items():
        if key.startswith(QPREFIX) and tuned.planner.variants[name].qout:
            q.update(tuned.planner.variants[name].outputs)
    return int(total + _arena_bytes(g, types, q) + _workspace_bytes(tuned))


def _workspace_bytes(tuned):
    """The plan's kernel scratch: one buffer as large as the largest chosen routine's (steps run one at a time),
    as profiled (0 for a routine the profile cache has no record of)."""
    ws = getattr(tuned, "workspaces", None) or {}
    return int(max((ws.get(name, {}).get(key, 0.0) for name, key in tuned.choice.items()), default=0.0))


def _memory_search(g, types, opts, tuned):
    limit = float(opts.memory_limit_mb) * 2**20
    nodes = {n.name: n for n in g.nodes}
    mem = {}
    for L in tuned.dp_layers:
        for c in L.candidates:
            mem[(L.name, c.routine)] = _candidate_bytes(g, tuned, nodes[L.name], c.routine)

    ws = getattr(tuned, "workspaces", None) or {}

    def penalty_for(mu):  # a routine's workspace counts as if its own (the estimate takes the largest only)
        return lambda name, key: mu * (mem.get((name, key), 0.0) + ws.get(name, {}).get(key, 0.0))

    if _peak_estimate(g, types, tuned, mem) <= limit:
        tuned.memory_bytes = _peak_estimate(g, types, tuned, mem)
        return
    tuned.solve(penalty_for(1e9))  # memory first, time only to break ties
    least = _peak_estimate(g, types, tuned, mem)
    if least > limit:
        raise InvalidArgument(f"memory_limit_mb: {opts.memory_limit_mb:g} MB is below the smallest peak this "
                              f"model can run in here (about {math.ceil(least / 2**20 * 1000) / 1000:.3f} MB "
                              f"with the routines and dtypes allowed); raise memory_limit_mb to at least that")
    lo, hi = -12.0, 9.0
    for _ in range(24):
        mid = (lo + hi) / 2
        tuned.solve(penalty_for(10.0 ** mid))
        if _peak_estimate(g, types, tuned, mem) <= limit:
            hi = mid
        else:
            lo = mid
    tuned.solve(penalty_for(10.0 ** hi))
    tuned.memory_bytes = _peak_estimate(g, types, tuned, mem)
    tuned.memory_penalty = penalty_for(10.0 ** hi)
    tuned.memory_table = mem
