"""Each convolution of a model as a share of the core's peak, the peak measured
beside it: the clock of this VM moves by 10-20% between minutes (the FMA peak
read 160 to 193 GFLOP/s on one day), so a layer's GFLOP/s is divided by the peak
measured just before and just after the same round, never by a figure from
another run.

One round: the fp32 FMA peak (`_engine.measure_peak`, register-only chains on
this thread), then every layer of the tuned plan timed in the model
(`layer_rows`: the plan's steps in order, so each layer meets the caches the
previous ones left), then the peak again. Each layer's share is its GFLOP/s over
the mean of the round's two peaks (times the threads); the table gives the
median over rounds and its range.

GEMM-bound: a convolution with at least 64 products per output (C x kh x kw /
group) and 64 output channels, i.e. not the stem, not depthwise.

--against KEY=VALUE,...: a second session of the model whose plan is built under
those environment switches (SNEP_C16_PW=0, SNEP_INPLACE_RESIDUAL=0, ...), its
layers timed in the same rounds (the two sessions alternate), so a change is read
per layer in the model against the code without it, both under one host state.

    python -m softneuro_ep.tools.bench_peak_share [--model resnet50] [--threads 1] [--rounds 5]
        [--against SNEP_C16_PW=0]
"""
import argparse
import statistics

import numpy as np

GEMM_BOUND_MIN_K = 64
GEMM_BOUND_MIN_M = 64
TARGET = 0.85


def conv_geometry(node, types):
    """(C, M, k, H_out, stride, K per output) of a Conv node, or None."""
    if node.op != "Conv":
        return None
    w, y = types.get(node.inputs[1]), types.get(node.outputs[0])
    if w is None or y is None or len(w.shape) != 4:
        return None
    m, cg, kh, kw = w.shape
    group = node.attrs.get("group", 1)
    stride = (node.attrs.get("strides") or [1])[0]
    return cg * group, m, kh, y.shape[2], stride, cg * kh * kw


def share_rounds(session, feed, rounds=5, repeats=10, peak_fn=None, against=None):
    """{layer: (routine, geometry or None, flops, [us per round], [share per round], [against us])}
    and the peaks seen. against: a second session of the model, timed in the same rounds."""
    from .. import _engine
    from .layer_table import layer_flops, layer_rows
    peak_fn = peak_fn or (lambda: _engine.measure_peak(10.0, 2)["fp32_gflops"])
    arrays, _ = session._feeds.check(feed)
    session.run(None, feed)
    spec = next(s for k, s in session._plans.items() if k[0] == tuple(a.shape for a in arrays))
    geo = {n.name: conv_geometry(n, spec.types) for n in spec.graph.nodes}
    flops = {n.name: layer_flops(n, spec.types) for n in spec.graph.nodes}
    threads = session._threads
    out, peaks = {}, []
    for k in range(rounds):
        p0 = peak_fn()
        if against is not None and k % 2:
            other = layer_rows(against, feed, repeats=repeats)
        rows = layer_rows(session, feed, repeats=repeats)
        if against is not None and not k % 2:
            other = layer_rows(against, feed, repeats=repeats)
        p1 = peak_fn()
        peaks += [p0, p1]
        peak = 0.5 * (p0 + p1) * threads
        other_us = {r["layer"]: r["us"] for r in other} if against is not None else {}
        for r in rows:
            if flops.get(r["layer"]):
                e = out.setdefault(r["layer"], (r["routine"], geo.get(r["layer"]), flops[r["layer"]], [], [], []))
                e[3].append(r["us"])
                e[4].append(flops[r["layer"]] / r["us"] / 1e3 / peak)
                if r["layer"] in other_us:
                    e[5].append(other_us[r["layer"]])
    return out, peaks


def session_under(data, threads, feed, env):
    """A session whose plan is built (at its first run) with the environment switches `env` set."""
    import softneuro_ep as snep
    from .bench_variants import env_switches
    so = snep.SessionOptions()
    so.intra_op_num_threads = threads
    with env_switches(env):
        s = snep.InferenceSession(data, so)
        s.run(None, feed)
    return s


def gemm_bound(g):
    return g is not None and g[5] >= GEMM_BOUND_MIN_K and g[1] >= GEMM_BOUND_MIN_M


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet50", help="a name of tools/models or an .onnx path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=10, help="model runs per round")
    ap.add_argument("--all", action="store_true", help="list every layer with FLOPs, not only the GEMM-bound")
    ap.add_argument("--against", default="", help="KEY=VALUE,...: environment switches of a second session")
    a = ap.parse_args(argv)
    if a.model.endswith(".onnx"):
        data = open(a.model, "rb").read()
    else:
        from .models import build
        data = build(a.model).SerializeToString()
    import softneuro_ep as snep
    from .bench_variants import parse_variant
    so = snep.SessionOptions()
    so.intra_op_num_threads = a.threads
    s = snep.InferenceSession(data, so)
    inp = s.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in inp.shape])
    feed = {inp.name: x.astype(np.float32)}
    env = parse_variant("against=" + a.against)[1]
    against = session_under(data, a.threads, feed, env) if env else None
    out, peaks = share_rounds(s, feed, a.rounds, a.repeats, against=against)
    print(f"{a.model}, {a.threads} thread(s), {a.rounds} rounds; fp32 FMA peak per core "
          f"{min(peaks):.0f}-{max(peaks):.0f} GFLOP/s (median {statistics.median(peaks):.0f})")
    extra = f" us under {a.against} | that / this |" if env else ""
    print("| layer | C->M kxk /s out | routine | us | GFLOP/s | % peak (range) |" + extra)
    print("|---|---|---|---|---|---|" + ("---|---|" if env else ""))
    hits, n = 0, 0
    for name, (routine, g, fl, us, sh, other) in out.items():
        gb = gemm_bound(g)
        if not (gb or a.all):
            continue
        if gb:
            n += 1
            hits += statistics.median(sh) >= TARGET
        desc = f"{g[0]}->{g[1]} {g[2]}x{g[2]} /{g[4]} {g[3]}" if g else ""
        t = statistics.median(us)
        cols = ""
        if env and other:
            ratios = [o / u for o, u in zip(other, us)]
            cols = f" {statistics.median(other):.1f} | {statistics.median(ratios):.2f} |"
        print(f"| {name} | {desc} | {routine} | {t:.1f} | {fl / t / 1e3:.0f} | "
              f"{100 * statistics.median(sh):.0f} ({100 * min(sh):.0f}-{100 * max(sh):.0f}) |" + cols)
    print(f"GEMM-bound layers (K >= {GEMM_BOUND_MIN_K}, M >= {GEMM_BOUND_MIN_M}) at >= {100 * TARGET:.0f}% of "
          f"the peak: {hits} of {n}")
    if env:
        tot = [sum(e[5][k] for e in out.values() if len(e[5]) > k) / sum(e[3][k] for e in out.values() if len(e[5]) > k)
               for k in range(a.rounds)]
        print(f"all layers with FLOPs, under {a.against} / this, per round: " + " ".join(f"{r:.3f}" for r in tot))
    return out, peaks


if __name__ == "__main__":
    main()
