"""Candidates, profiling and routine choice for one specialised graph.

    choose_routines(g, types, threads, opts, cache) -> TuneResult

For each layer: the registered routines that are usable here, allowed by the
session's devices/dtypes/layouts, and whose supports() accepts the layer (a
pin in opts.routines overrides). Every (layer, candidate) is timed by the C++
harness on random inputs of the layer's shapes with the layer's real constant
inputs, unless the profile cache already has it. Then:
  tuning="dprs":   graph_passes.dprs over the candidates' times and formats
  tuning="greedy": fastest routine per layer, adapt costs ignored
  tuning="none":   the default (first supporting) routine, nothing measured
"""
import math
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .. import _engine
from ..capi.onnxruntime_pybind11_state import InvalidArgument
from . import dprs
from .attrs import to_engine
from .dtypes import NP_TO_ONNX, np_dtype

DEFAULT_LAYOUT = "nchw"  # ONNX's own layout: what a descriptor without a layout reads and writes


@dataclass
class TuneOptions:
    tuning: str = "dprs"
    devices: Optional[List[str]] = None
    dtypes: Optional[List[str]] = None
    layouts: Optional[List[str]] = None
    pins: List[tuple] = field(default_factory=list)   # (descriptor, first_layer, last_layer)
    profile_budget_s: float = 60.0
    progress: bool = True


@dataclass
class TuneResult:
    choice: Dict[str, str]                 # node name -> descriptor
    times: Dict[str, float]                # node name -> predicted us of the chosen routine
    predicted_us: float
    profiled: int = 0                      # measurements taken now
    cached: int = 0                        # measurements read from the cache
    candidates: Dict[str, Dict[str, float]] = field(default_factory=dict)  # node -> {descriptor: us}


def parse_descriptor(desc):
    """'cpu:float32:nchw/winograd_f43/t2' -> (device, dtype, layout, rest)."""
    head = desc.split("/", 1)[0].split(":")
    device = head[0]
    dtype = head[1] if len(head) > 1 else None
    layout = head[2] if len(head) > 2 else None
    return device, dtype, layout


def parse_pins(spec):
    """'cpu:float32:nchw/winograd_f43@2..23;cpu@1,24' -> [(desc, lo, hi)]. A pin's
    descriptor may be a prefix: 'cpu' pins any cpu routine (the default one)."""
    pins = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        if "@" not in part:
            raise InvalidArgument(f"routines: '{part}' needs @LAYER indices, e.g. {part}@3 or {part}@2..5")
        desc, where = part.rsplit("@", 1)
        for rng in where.split(","):
            m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?", rng)
            if not m:
                raise InvalidArgument(f"routines: bad layer index '{rng}' in '{part}'")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            pins.append((desc.strip(), lo, hi))
    return pins


def _allowed(desc, opts):
    device, dtype, layout = parse_descriptor(desc)
    if opts.devices and device not in opts.devices:
        return False
    if opts.dtypes and dtype is not None and dtype not in opts.dtypes:
        return False
    if opts.layouts and (layout or DEFAULT_LAYOUT) not in opts.layouts:
        return False
    return True


def _probe_plan(node, g, types, threads, rng):
    """A plan holding one layer's tensors (constants real, others fed random values)."""
    plan = _engine.Plan(threads)
    ins, feeds, sig_in = [], [], []
    for name in node.inputs:
        if not name:
            ins.append(-1)
            sig_in.append(None)
            continue
        if name in g.initializers:
            arr = np.require(g.initializers[name], requirements="C")
            ins.append(plan.add_constant(NP_TO_ONNX[arr.dtype], arr))
            sig_in.append((arr.dtype, arr.shape, True))
            continue
        v = types[name]
        dt = np_dtype(v.elem_type)
        if dt.kind == "f":
            x = rng.standard_normal(v.shape).astype(dt)
        elif dt.kind == "b":
            x = rng.integers(0, 2, size=v.shape).astype(dt)
        else:
            x = np.zeros(v.shape, dt)  # indices: zeros are always in range
        ins.append(plan.add_input(v.elem_type, list(v.shape), len(feeds)))
        feeds.append(x)
        sig_in.append((dt, v.shape, False))
    outs, sig_out = [], []
    for k, name in enumerate(node.outputs):
        v = types[name]
        outs.append(plan.add_output(v.elem_type, list(v.shape), k))
        sig_out.append((np_dtype(v.elem_type), v.shape))
    return plan, ins, outs, feeds, sig_in, sig_out


def _progress(total, enabled):
    if not enabled or total < 8 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="softneuro-ep: profiling", unit="routine", leave=False)


def choose_routines(g, types, threads, opts, cache=None):
    from ..profile_cache import machine_fingerprint, signature
    machine = machine_fingerprint(threads)
    rng = np.random.default_rng(0)
    routines = {}
    for r in _engine.routines():
        if r["usable"]:
            routines.setdefault(r["op"], []).append(r)
    result = TuneResult({}, {}, 0.0)
    layers, todo = [], []
    for idx, node in enumerate(g.nodes):
        attrs = to_engine(node.attrs)
        attrs["_opset"] = g.opset
        pinned = [p for p in opts.pins if p[1] <= idx <= p[2]]
        plan, ins, outs, feeds, sig_in, sig_out = _probe_plan(node, g, types, threads, rng)
        cands = []
        for r in routines.get(node.op, []):
            desc = r["descriptor"]
            if pinned and not any(desc == p[0] or desc.startswith(p[0]) for p in pinned):
                continue
            if not pinned and not _allowed(desc, opts):
                continue
            if plan.supports(desc, node.name, node.op, attrs, ins, outs):
                cands.append(r)
        if pinned and not cands:
            raise InvalidArgument(f"routines: no routine matching {[p[0] for p in pinned]} supports "
                                  f"layer {idx} ({node.where()})")
        if not cands:
            layers.append((node, attrs, [], None))  # lowering reports the missing routine
            continue
        sig = signature(node.op, attrs, sig_in, sig_out)
        layers.append((node, attrs, cands, sig))
        if opts.tuning != "none" and (len(cands) > 1 or opts.tuning == "dprs"):
            todo.append((node, attrs, cands, sig, ins, outs, feeds))
        del plan

    # Measurements: cache first, then the harness for what is missing.
    times = {}
    if todo and cache is not None:
        keys = list({(c["descriptor"], c["version"], sig) for _, _, cands, sig, *_ in todo for c in cands})
        times.update(cache.get_many(machine, keys))
        result.cached = len(times)
    missing, seen = [], set(times)
    for t in todo:  # layers with equal signatures are measured once
        for c in t[2]:
            key = (c["descriptor"], c["version"], t[3])
            if key not in seen:
                seen.add(key)
                missing.append((t, c))
    bar = _progress(len(missing), opts.progress)
    deadline = time.monotonic() + opts.profile_budget_s
    fresh = []
    for (node, attrs, cands, sig, _, _, _), c in missing:
        if time.monotonic() > deadline:
            break
        plan, ins, outs, feeds, _, _ = _probe_plan(node, g, types, threads, rng)
        plan.add_step(node.name, node.op, attrs, ins, outs, c["descriptor"])
        plan.finalize()
        us = plan.time_median(feeds, warmup=1, min_reps=3, max_reps=30, budget_us=20000.0)
        key = (c["descriptor"], c["version"], sig)
        times[key] = us
        fresh.append((*key, us))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if cache is not None:
        cache.put_many(machine, fresh)
    result.profiled = len(fresh)

    # Choice.
    dp_layers = []
    for node, attrs, cands, sig in layers:
        if not cands:
            continue
        measured = {c["descriptor"]: times[(c["descriptor"], c["version"], sig)]
                    for c in cands if (c["descriptor"], c["version"], sig) in times}
        result.candidates[node.name] = measured
        if opts.tuning == "none" or not measured:
            result.choice[node.name] = cands[0]["descriptor"]
            result.times[node.name] = measured.get(cands[0]["descriptor"], math.nan)
            continue
        if opts.tuning == "greedy":
            best = min(measured, key=measured.get)
            result.choice[node.name] = best
            result.times[node.name] = measured[best]
            continue
        dp_cands = []
        for desc, us in measured.items():
            layout = parse_descriptor(desc)[2] or DEFAULT_LAYOUT
            n_in = sum(1 for i in node.inputs if i and i not in g.initializers)
            dp_cands.append(dprs.Candidate(desc, us, (layout,) * n_in, (layout,) * len(node.outputs)))
        dp_layers.append(dprs.Layer(node.name, [i for i in node.inputs if i and i not in g.initializers],
                                    list(node.outputs), dp_cands))
    if dp_layers:
        produced = {t for layer in dp_layers for t in layer.outputs}
        consumed = {t for layer in dp_layers for t in layer.inputs}
        sources = {t: DEFAULT_LAYOUT for t in consumed - produced}
        sinks = {v.name: DEFAULT_LAYOUT for v in g.outputs if v.name in produced}
        # Layers left to their default routine read the default layout.
        for n in g.nodes:
            if n.name in result.choice:
                for i in n.inputs:
                    if i in produced:
                        sinks[i] = DEFAULT_LAYOUT
        sol = dprs.solve(dprs.Problem(dp_layers, sources, sinks,
                                      lambda t, a, b: 0.0 if a == b else math.inf))
        for name, c in sol.choice.items():
            result.choice[name] = c.routine
            result.times[name] = c.time
    result.predicted_us = float(sum(v for v in result.times.values() if not math.isnan(v)))
    return result
