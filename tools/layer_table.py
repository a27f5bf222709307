"""Per-layer table of a plan: routine chosen, median time, GFLOP/s, share of peak.

    layer_rows(session, feed, repeats=20, peak_gflops=None) -> list of dicts
"""
import statistics

import numpy as np


def layer_flops(node, types):
    """Multiply-adds x 2 of Conv/ConvTranspose/Gemm/MatMul layers (0 for others)."""
    def shape(name):
        v = types.get(name)
        return v.shape if v is not None else None
    if node.op in ("Conv", "ConvTranspose"):
        w, y, x = shape(node.inputs[1]), shape(node.outputs[0]), shape(node.inputs[0])
        if not (w and y and x):
            return 0
        group = node.attrs.get("group", 1)
        if node.op == "Conv":  # every output element: Cin/group * k products
            return 2 * int(np.prod(y)) * int(np.prod(w[1:]))
        return 2 * int(np.prod(x)) * int(np.prod(w[1:])) * 1 // max(group, 1) * group
    if node.op in ("Gemm", "MatMul"):
        a, y = shape(node.inputs[0]), shape(node.outputs[0])
        if not (a and y):
            return 0
        k = a[0] if node.op == "Gemm" and node.attrs.get("transA", 0) else a[-1]
        return 2 * int(np.prod(y)) * int(k)
    return 0


def layer_rows(session, feed, repeats=20, peak_gflops=None):
    arrays, overrides = session._feeds.check(feed)
    session.run(None, feed)
    spec = next(s for k, s in session._plans.items() if k[0] == tuple(a.shape for a in arrays))
    times = []
    for _ in range(repeats):
        _, step_us = spec.plan.run_profiled(arrays)
        times.append(step_us)
    med = np.median(np.array(times), axis=0)
    rows = []
    for (name, op, desc), node, us in zip(spec.plan.step_routines(), spec.graph.nodes, med):
        flops = layer_flops(node, spec.types)
        gf = flops / us / 1e3 if flops and us > 0 else None
        rows.append({"layer": name, "op": op, "routine": desc, "us": float(us), "gflops": gf,
                     "peak_share": (gf / peak_gflops) if gf and peak_gflops else None})
    return rows


def print_rows(rows, top=None):
    total = sum(r["us"] for r in rows)
    order = sorted(rows, key=lambda r: -r["us"])[:top] if top else rows
    print(f"{'layer':<34}{'op':<20}{'routine':<34}{'us':>9}{'share':>7}{'GFLOP/s':>9}{'%peak':>7}")
    for r in order:
        gf = f"{r['gflops']:.1f}" if r["gflops"] else ""
        pk = f"{100 * r['peak_share']:.0f}" if r["peak_share"] else ""
        print(f"{r['layer'][:33]:<34}{r['op']:<20}{r['routine'][:33]:<34}{r['us']:>9.1f}"
              f"{100 * r['us'] / total:>6.1f}%{gf:>9}{pk:>7}")
    print(f"{'total':<88}{total:>9.1f}")
