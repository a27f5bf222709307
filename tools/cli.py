"""`softneuro-ep` command line.

  softneuro-ep run [MODEL] [--threads N] [--batch B] [--repeat R]   (no MODEL: an embedded MobileNetV2)
  softneuro-ep routines [OP] [--json]
  softneuro-ep inspect MODEL [--batch B] [--json]
  softneuro-ep bench MODEL [--threads N] [--vs onnxruntime] [--budget S] [--layers N]
  softneuro-ep profile MODEL [--json]
  softneuro-ep tune MODEL [-o PLAN] [--tuning dprs|greedy|none] [--calibration C] [--accuracy-budget E] [--memory-limit-mb M] [--json]
  softneuro-ep calibrate MODEL -o C [--samples N] [--method minmax|percentile|entropy]
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np

DEFAULT_MODEL = "mobilenet_v2"


def _load(model, batch):
    """Model bytes from a path or a builder name (see softneuro_ep.tools.models)."""
    import os
    if model is None:
        model = DEFAULT_MODEL
    if os.path.exists(model):
        with open(model, "rb") as f:
            return model, f.read()
    from .models import MODEL_NAMES, build
    if model in MODEL_NAMES:
        return f"{model} (built-in, random weights)", build(model).SerializeToString()
    raise SystemExit(f"softneuro-ep: no such file or built-in model: {model} (built-ins: {', '.join(MODEL_NAMES)})")


def _session(model_bytes, threads, **tuning):
    import softneuro_ep as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    opts = {k: v for k, v in tuning.items() if v}
    return ort.InferenceSession(model_bytes, so, providers=[("SoftNeuroExecutionProvider", opts)])


def _tuned_plan(sess, feed):
    sess.run(None, feed)
    shapes = tuple(feed[i.name].shape for i in sess.get_inputs())
    return next(s for k, s in sess._plans.items() if k[0][:len(shapes)] == shapes)


def _median_ms(sess, feed, n=15):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def cmd_profile(a):
    from .bench import random_feed
    name, data = _load(a.model, a.batch)
    sess = _session(data, a.threads, tuning="dprs", profile_cache=a.cache)
    feed = random_feed(sess, a.batch)
    spec = _tuned_plan(sess, feed)
    t = spec.tuned
    rows = []
    for k, node in enumerate(spec.graph.nodes):
        cands = t.candidates.get(node.name, {}) if t else {}
        rows.append({"index": k, "node": node.name, "op": node.op, "chosen": t.choice.get(node.name) if t else None,
                     "candidates_us": cands})
    if a.json:
        print(json.dumps({"model": name, "layers": rows, "profiled": t.profiled, "cached": t.cached, "rechecked": t.rechecked}, indent=1))
        return
    print(f"model: {name}   measured now: {t.profiled}, from cache: {t.cached} ({t.rechecked} timed again for a second opinion)")
    for r in rows:
        if not r["candidates_us"]:
            continue
        print(f"{r['index']:>4} {r['op']:<20}{r['node'][:30]}")
        for d, us in sorted(r["candidates_us"].items(), key=lambda x: x[1]):
            mark = "*" if d == r["chosen"] else " "
            print(f"       {mark} {d:<44}{us:>10.1f} us")


def cmd_tune(a):
    from .bench import random_feed
    name, data = _load(a.model, a.batch)
    t0 = time.perf_counter()
    sess = _session(data, a.threads, tuning=a.tuning, profile_cache=a.cache, plan_file=a.output,
                    calibration=a.calibration, dtypes=a.dtypes,
                    accuracy_budget=None if a.accuracy_budget is None else str(a.accuracy_budget),
                    accuracy_metric=a.accuracy_metric,
                    memory_limit_mb=None if a.memory_limit_mb is None else str(a.memory_limit_mb))
    feed = random_feed(sess, a.batch)
    spec = _tuned_plan(sess, feed)
    t_tune = time.perf_counter() - t0
    measured = _median_ms(sess, feed)
    t = spec.tuned
    predicted = t.predicted_us / 1e3 if t else float("nan")
    steps = spec.plan.step_routines()
    dtypes = _step_dtypes(spec)
    error = t.error if t else None
    memory = t.memory_bytes if t else None
    if a.json:
        print(json.dumps({"model": name, "plan_file": a.output, "steps": steps, "dtypes": dtypes,
                          "predicted_ms": predicted, "measured_ms": measured, "adapts": t.adapts if t else [],
                          "error": error, "memory_bytes": memory,
                          "thread_check": t.thread_check if t else None,
                          "layout_check": t.layout_check if t else None,
                          "nhwc_check": t.nhwc_check if t else None}, indent=1))
        return
    print(f"model: {name}   tuning: {a.tuning}   session+tuning {t_tune:.2f} s")
    for k, (n, op, d) in enumerate(steps):
        us = t.times.get(n) if t else None
        print(f"{k:>4} {op:<18}{dtypes.get(n, ''):<9}{d:<40}{'' if us is None else f'{us:9.1f} us'}  {n[:30]}")
    print(f"adapts inserted: {sum(1 for s in steps if s[1] in ('Reorder', 'QuantizeLinear', 'DequantizeLinear'))}"
          f"   qint8 layers: {sum(1 for s in steps if dtypes.get(s[0]) == 'qint8')}")
    print(f"predicted {predicted:.2f} ms   measured {measured:.2f} ms (median)")
    lc = t.layout_check if t else None
    if lc and "kept" in lc:
        print(f"NCHW16c alternative ({lc['layers']} layers differ): plan {lc['dprs_us'] / 1e3:.2f} ms, all NCHW16c "
              f"{lc['blocked_us'] / 1e3:.2f} ms: kept {'NCHW16c' if lc['kept'] == 'blocked' else 'the plan'}")
    nc = t.nhwc_check if t else None
    if nc and "kept" in nc:
        print(f"plan without NHWC ({nc['layers']} layers differ): plan {nc['dprs_us'] / 1e3:.2f} ms, without NHWC "
              f"{nc['without_us'] / 1e3:.2f} ms: kept {'it' if nc['kept'] == 'without_nhwc' else 'the plan'}")
    tc = t.thread_check if t else None
    if tc and "kept" in tc:
        print(f"single-thread routines on {tc['layers']} layers: plan {tc['dprs_us'] / 1e3:.2f} ms, all threads "
              f"{tc['all_threads_us'] / 1e3:.2f} ms: kept {'all threads' if tc['kept'] == 'all_threads' else 'them'}")
    print(f"error vs float32: {'not measured (no accuracy_budget)' if error is None else f'{error:.3g}'}"
          f"   memory (estimate): {'-' if memory is None else f'{memory / 2**20:.1f} MB'}")
    if a.output:
        print(f"plan saved to {a.output}")


def _step_dtypes(spec):
    """node name -> the dtype its routine computes in (qint8 for u8 activations)."""
    from ..graph_passes.dtypes import np_dtype
    out = {}
    for n in spec.graph.nodes:
        v = spec.types.get(n.outputs[0]) if n.outputs and n.outputs[0] else None
        if n.op == "QuantizeLinear" or (v is not None and np_dtype(v.elem_type) == np.uint8 and n.op != "DequantizeLinear"):
            out[n.name] = "qint8"
        elif v is not None:
            out[n.name] = str(np_dtype(v.elem_type))
    return out


def cmd_calibrate(a):
    import softneuro_ep as ort
    from .bench import random_feed
    name, data = _load(a.model, a.batch)
    sess = _session(data, 1, tuning="none")
    rng = np.random.default_rng(0)
    feeds = []
    for _ in range(a.samples):
        f = random_feed(sess, a.batch)
        feeds.append({k: (rng.standard_normal(v.shape).astype(v.dtype) if v.dtype.kind == "f" else v)
                      for k, v in f.items()})
    path = ort.calibrate(data, feeds, method=a.method, path=a.output)
    print(f"calibrated {name} on {a.samples} random samples ({a.method}): {path}")


def cmd_run(a):
    from .bench import random_feed
    name, data = _load(a.model, a.batch)
    t0 = time.perf_counter()
    sess = _session(data, a.threads, plan_file=a.plan, routines=";".join(a.routine or []))
    feed = random_feed(sess, a.batch)
    outs = sess.run(None, feed)  # builds the plan for these shapes
    t_create = time.perf_counter() - t0
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        outs = sess.run(None, feed)
        times.append(time.perf_counter() - t)
    print(f"model: {name}")
    print(f"session + first plan: {t_create * 1e3:.1f} ms   threads: {sess._threads}")
    for i in sess.get_inputs():
        print(f"input  {i.name}: {list(feed[i.name].shape)} {i.type}")
    for o, v in zip(sess.get_outputs(), outs):
        print(f"output {o.name}: {list(v.shape)} {v.dtype}  mean {float(np.mean(v)):.5g}  std {float(np.std(v)):.5g}"
              f"  min {float(np.min(v)):.5g}  max {float(np.max(v)):.5g}")
    print(f"latency over {a.repeat} runs: median {statistics.median(times) * 1e3:.3f} ms, "
          f"min {min(times) * 1e3:.3f} ms")


def cmd_routines(a):
    from .. import _engine
    rows = _engine.routines(a.op or "")
    if a.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'op':<24}{'descriptor':<40}{'isa':<12}usable")
    for r in sorted(rows, key=lambda r: (r["op"], r["descriptor"])):
        print(f"{r['op']:<24}{r['descriptor']:<40}{r['isa'] or '-':<12}{'yes' if r['usable'] else 'no'}")


def cmd_inspect(a):
    from .bench import random_feed
    name, data = _load(a.model, a.batch)
    sess = _session(data, a.threads)
    feed = random_feed(sess, a.batch)
    sess.run(None, feed)
    steps = sess.plan_summary([feed[i.name].shape for i in sess.get_inputs()])
    if a.json:
        print(json.dumps([{"node": n, "op": o, "routine": d} for n, o, d in steps], indent=1))
        return
    print(f"model: {name}: {len(steps)} steps")
    for k, (n, o, d) in enumerate(steps):
        print(f"{k:>4} {o:<22}{d:<36}{n}")


def cmd_bench(a):
    from .bench import compare, make_sessions, random_feed
    name, data = _load(a.model, a.batch)
    ref, ours = make_sessions(data, a.threads)
    feed = random_feed(ours, a.batch)
    r = compare(data, feed, a.threads, budget_s=a.budget, sessions=(ref, ours))
    if a.json:
        print(json.dumps(dict(r, model=name)))
        return
    print(f"{name}: threads {r['threads']}, {r['runs']} runs each")
    print(f"  onnxruntime {r['ort_ms']:.3f} ms (IQR {r['ort_iqr_ms']:.3f})   softneuro-ep {r['ours_ms']:.3f} ms "
          f"(IQR {r['ours_iqr_ms']:.3f})   ratio ort/ours {r['ratio']:.3f} (block pairs {r['ratio_q1']:.3f}-"
          f"{r['ratio_q3']:.3f})   rel L2 {r['rel_l2']:.2e}")
    if a.layers:
        from .layer_table import layer_rows, print_rows
        print()
        from .. import _engine
        peak = a.peak or _engine.measure_peak()["fp32_gflops"]  # this core, now: the clock moves
        print(f"per-core fp32 peak {peak:.0f} GFLOP/s ({'given' if a.peak else 'measured'})")
        print_rows(layer_rows(ours, feed, peak_gflops=peak * ours._threads), top=a.layers)


def main(argv=None):
    p = argparse.ArgumentParser(prog="softneuro-ep", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="load, plan and run a model on random inputs")
    r.add_argument("model", nargs="?")
    r.add_argument("--repeat", type=int, default=20)
    r.add_argument("--plan", help="plan file: loaded when it matches, else tuned and saved")
    r.add_argument("--routine", action="append", metavar="DESC@IDX", help="pin a routine to layers, e.g. cpu@3..5")
    ro = sub.add_parser("routines", help="list registered routines")
    ro.add_argument("op", nargs="?")
    ro.add_argument("--json", action="store_true")
    i = sub.add_parser("inspect", help="show the plan's steps and chosen routines")
    i.add_argument("model")
    i.add_argument("--json", action="store_true")
    b = sub.add_parser("bench", help="latency against onnxruntime, interleaved")
    b.add_argument("model")
    b.add_argument("--vs", default="onnxruntime", choices=["onnxruntime"])
    b.add_argument("--budget", type=float, default=20.0, help="seconds of timing")
    b.add_argument("--json", action="store_true")
    b.add_argument("--layers", type=int, default=0, metavar="N", help="also print the N slowest layers")
    b.add_argument("--peak", type=float, default=None,
                   help="per-core GFLOP/s for the %%peak column (default: measured on this core)")
    for s in (r, i, b):
        s.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
        s.add_argument("--batch", type=int, default=1)
    pr = sub.add_parser("profile", help="time every candidate routine of every layer")
    pr.add_argument("model")
    pr.add_argument("--json", action="store_true")
    tu = sub.add_parser("tune", help="tune (DPRS), print the chosen path, predicted vs measured latency")
    tu.add_argument("model")
    tu.add_argument("-o", "--output", help="save the plan (routine choice) to this file")
    tu.add_argument("--tuning", default="dprs", choices=["dprs", "greedy", "none"])
    tu.add_argument("--json", action="store_true")
    tu.add_argument("--calibration", help="calibration file (softneuro-ep calibrate): allows qint8 layers")
    tu.add_argument("--dtypes", help="dtypes tuning may use, e.g. float32,qint8 (qint8 alone: int8 where possible)")
    tu.add_argument("--accuracy-budget", type=float, help="largest output error vs float32 (needs --calibration)")
    tu.add_argument("--accuracy-metric", choices=["rel_l2", "top1"])
    tu.add_argument("--memory-limit-mb", type=float, help="peak memory the plan must fit")
    ca = sub.add_parser("calibrate", help="write activation ranges from random samples (use the API for real data)")
    ca.add_argument("model")
    ca.add_argument("-o", "--output", required=True)
    ca.add_argument("--samples", type=int, default=8)
    ca.add_argument("--method", default="minmax", choices=["minmax", "percentile", "entropy"])
    ca.add_argument("--batch", type=int, default=1)
    for s_ in (pr, tu):
        s_.add_argument("--threads", type=int, default=0)
        s_.add_argument("--batch", type=int, default=1)
        s_.add_argument("--cache", help="profile cache file (default: the user cache)")
    a = p.parse_args(argv)
    {"run": cmd_run, "routines": cmd_routines, "inspect": cmd_inspect, "bench": cmd_bench,
     "profile": cmd_profile, "tune": cmd_tune, "calibrate": cmd_calibrate}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
