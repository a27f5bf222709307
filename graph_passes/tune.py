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
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .. import _engine
from ..capi.onnxruntime_pybind11_state import InvalidArgument
from . import dprs
from .adapt import descriptor_head, io_layouts, split_layout
from .attrs import to_engine
from .byte_views import VIEW_SUFFIX
from .dtypes import NP_TO_ONNX, np_dtype

DEFAULT_LAYOUT = "nchw"  # ONNX's own layout: what a descriptor without a layout reads and writes
QFORMAT_KEY = "qint8"    # format of u8 activations with calibrated scale/zero point (quant_tune)


@dataclass
class TuneOptions:
    tuning: str = "dprs"
    devices: Optional[List[str]] = None
    dtypes: Optional[List[str]] = None
    layouts: Optional[List[str]] = None
    pins: List[tuple] = field(default_factory=list)   # (descriptor, first_layer, last_layer)
    profile_budget_s: float = 60.0
    progress: bool = True
    calibration: object = None             # softneuro_ep.calibrate.Calibration: enables qint8 variants
    accuracy_budget: Optional[float] = None
    accuracy_metric: str = "rel_l2"        # rel_l2 | top1
    memory_limit_mb: Optional[float] = None


@dataclass
class TuneResult:
    choice: Dict[str, str]                 # node name -> descriptor
    times: Dict[str, float]                # node name -> predicted us of the chosen routine
    predicted_us: float
    profiled: int = 0                      # measurements taken now
    cached: int = 0                        # measurements read from the cache
    rechecked: int = 0                     # cached routine and adapt times taken again now (second opinions)
    candidates: Dict[str, Dict[str, float]] = field(default_factory=dict)  # node -> {descriptor: us}
    adapts: List[tuple] = field(default_factory=list)  # (tensor, from layout, to layout, us) DPRS chose
    planner: object = None             # quant_tune.QuantPlanner when qint8 variants were considered
    error: Optional[float] = None      # measured output error of the plan (accuracy-budgeted tuning)
    memory_bytes: Optional[int] = None  # estimated peak memory of the plan (memory-budgeted tuning)
    thread_check: Optional[dict] = None  # thread_check.lower_checked's timings and verdict
    layout_check: Optional[dict] = None  # thread_check.blocked_checked's timings and verdict
    nhwc_check: Optional[dict] = None  # thread_check.nhwc_checked's timings and verdict
    workspaces: Dict[str, Dict[str, float]] = field(default_factory=dict)  # node -> {candidate key: kernel bytes}


def parse_descriptor(desc):
    """'cpu:float32:nchw/winograd_f43/t2' -> (device, dtype, layout) (adapt.descriptor_head)."""
    return descriptor_head(desc)


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
    device, dtype, _ = parse_descriptor(desc)
    if opts.devices and device not in opts.devices:
        return False
    if opts.dtypes and dtype is not None and dtype not in opts.dtypes:
        return False
    if opts.layouts and any(lay not in opts.layouts for lay in io_layouts(desc)):
        return False
    return True


T1 = "/t1"  # the registry's single-thread variant of a routine (core/registry.cpp)
UNSUPPORTED = -1.0  # cached "this routine does not support this layer signature"
WS_PREFIX = "ws|"   # cache rows "ws|<descriptor>": the routine's workspace bytes on that signature


def _signature_parts(node, g, types):
    """(inputs, outputs) of a layer as profile_cache.signature takes them."""
    ins = []
    for name in node.inputs:
        if not name:
            ins.append(None)
        elif name in g.initializers:
            a = g.initializers[name]
            ins.append((a.dtype, a.shape, True))
        else:
            v = types[name]
            ins.append((np_dtype(v.elem_type), v.shape, False))
    outs = [(np_dtype(types[o].elem_type), types[o].shape) for o in node.outputs]
    return ins, outs


def _probe_plan(node, g, types, threads, rng, layout=DEFAULT_LAYOUT, with_feeds=True, view=False):
    """A plan holding one layer's tensors: constants real; in ONNX's layout the
    others are fed random values, in another layout they are arena tensors of
    that layout (zero-filled: timings do not depend on values). layout: a
    descriptor's layout field (IN>OUT for routines that convert). view: the
    routine keeps its input's bytes (byte_views), so its output is placed on
    its input, as lowering places it."""
    plan = _engine.Plan(threads, shared_pool=True)  # candidates share one set of awake workers
    ins, feeds, sig_in = [], [], []
    arena = 0
    in_layout, out_layout = split_layout(layout)

    def arena_tensor(v, layout):
        nonlocal arena
        tid = plan.add_arena_tensor(v.elem_type, list(v.shape), arena, layout)
        arena += (_engine.physical_bytes(v.elem_type, list(v.shape), layout) + 63) // 64 * 64
        return tid
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
        sig_in.append((dt, v.shape, False))
        if in_layout != DEFAULT_LAYOUT or view:
            ins.append(arena_tensor(v, in_layout))
            continue
        if not with_feeds:
            x = None  # a supports() probe never runs
        elif dt.kind == "f":
            x = rng.standard_normal(v.shape).astype(dt)
        elif dt.kind == "b":
            x = rng.integers(0, 2, size=v.shape).astype(dt)
        else:
            x = np.zeros(v.shape, dt)  # indices: zeros are always in range
        ins.append(plan.add_input(v.elem_type, list(v.shape), len(feeds)))
        feeds.append(x)
    outs, sig_out = [], []
    for k, name in enumerate(node.outputs):
        v = types[name]
        if view and k == 0:
            outs.append(plan.add_arena_tensor(v.elem_type, list(v.shape), 0, out_layout))
        else:
            outs.append(arena_tensor(v, out_layout) if out_layout != DEFAULT_LAYOUT
                        else plan.add_output(v.elem_type, list(v.shape), k))
        sig_out.append((np_dtype(v.elem_type), v.shape))
    plan.set_arena_bytes(arena)
    return plan, ins, outs, feeds, sig_in, sig_out


# A layer with COLD_MIN_BYTES of constants or more is timed cold: before each run every
# thread's L2 is flushed, the layer's constants and the weights its routine packed are
# evicted from every cache level, and its inputs are read back in. Inside a model a
# layer's input was just written, but its weights were last read a whole run ago and,
# past the cache (ResNet50's 100 MB), come from memory. With only the L2 flushed,
# ResNet50's 14x14 Winograd layers (9.4 MB of transformed weights) profiled at 1270 us
# and ran at 2030 in the model, 60% over, against 14% for the direct routine
# (2.4 MB): about the time to stream the weights from memory. Tiny layers stay warm
# (the flush would cost more than they take). SNEP_COLD_PROFILES: "l2" flushes the L2
# only, "0" times every layer warm (experiments; each rule's profiles are cached
# apart). With a 256 KB threshold SqueezeNet's plan mixed cold-timed and warm-timed
# layers: 0.82 against 1.04 all cold in one same-process comparison.
COLD_LEVELS = {"0": 0, "warm": 0, "l2": 1, "1": 2, "memory": 2}
COLD = COLD_LEVELS.get(os.environ.get("SNEP_COLD_PROFILES", "memory"), 2)
COLD_MIN_BYTES = 16 << 10
PROFILE_ROUNDS = 3           # timings of each candidate, interleaved with the layer's other candidates
ROUND_BUDGET_US = 7000.0     # per round (the three together: about the single timing's old budget)
SCREEN_CUTOFF = 8.0          # candidates this much slower than a layer's fastest single run are not timed further
SCREEN_RECHECK = 64.0        # ... once a second single run agrees, for those up to this much slower
# Layers with more constant bytes time their rounds back to back, one plan at a time: the
# round-robin holds every candidate's plan (packed weights, Winograd's 4x transformed ones)
# at once. At 64 MB, ResNet50's first session peaked at 796 MB RSS against 478 with a warm
# cache; at 4 MB 652 (and at 0 no lower); slow spells across minutes are met by the profile
# cache's second opinions.
KEEP_PLAN_BYTES = 4 << 20


def _time_candidates(grp, threads, rng, opset, deadline):
    """[(candidate, us, workspace bytes)] for one layer's candidates. A first pass runs each
    candidate once; those slower than SCREEN_CUTOFF x the fastest of those single runs keep
    that figure and are timed no further (a reference routine can be 1000x slower than the
    layer's fast ones: timed in full it would spend the session's profiling budget). The
    others are timed in PROFILE_ROUNDS rounds, round-robin over the candidates, and keep
    their fastest round's median: on a shared VM a slow spell (seconds long, up to 2x here)
    lands on one round of every candidate alike instead of on whichever candidates it
    happened to overlap, so a slow spell can no longer pick a layer's single-thread variant
    over its all-threads one."""
    def build(c):
        lay = parse_descriptor(c.r["descriptor"])[2] or DEFAULT_LAYOUT
        plan, ins, outs, feeds, _, _ = _probe_plan(c.node, c.g, c.types, threads, rng, lay,
                                                   view=c.r["descriptor"].endswith(VIEW_SUFFIX))
        a = to_engine(c.node.attrs)
        a["_opset"] = opset
        plan.add_step(c.node.name, c.node.op, a, ins, outs, c.r["descriptor"])
        plan.finalize()
        const_bytes = sum(getattr(c.g.initializers.get(n), "nbytes", 0) for n in c.node.inputs if n)
        return plan, feeds, (COLD if const_bytes >= COLD_MIN_BYTES else 0), const_bytes

    screened = []  # (candidate, its one run, workspace bytes, the plan kept for timing or None)
    for c in grp:
        if time.monotonic() > deadline:
            break
        built = build(c)
        plan, feeds, cold, const_bytes = built
        screened.append((c, plan.time_median(feeds, 0, 1, 1, 0.0, cold), float(plan.workspace_bytes),
                         built if const_bytes <= KEEP_PLAN_BYTES else None))  # big ones are built again
        del plan, built
    fastest = min((s[1] for s in screened), default=0.0)
    # A fresh plan's first run can read many times its speed (its worker threads' first
    # wake-up, first touches; 21x measured): a candidate over the cutoff but within
    # SCREEN_RECHECK x the fastest gets one more run before it is cut (reference routines,
    # hundreds of times slower, do not).
    for k, (c, once, ws, built) in enumerate(screened):
        if SCREEN_CUTOFF * fastest < once <= SCREEN_RECHECK * fastest and built is not None and \
                time.monotonic() <= deadline:
            plan, feeds, cold, _ = built
            screened[k] = (c, min(once, plan.time_median(feeds, 0, 1, 1, 0.0, cold)), ws, built)
    done, live = [], []
    for c, once, ws, built in screened:
        if once > SCREEN_CUTOFF * fastest:
            done.append([c, once, ws])
            continue
        if time.monotonic() > deadline:
            break
        plan, feeds, cold, const_bytes = built or build(c)
        entry = [c, plan.time_median(feeds, 1, 2, 10, ROUND_BUDGET_US, cold), ws]
        if const_bytes > KEEP_PLAN_BYTES:
            for _ in range(PROFILE_ROUNDS - 1):
                entry[1] = min(entry[1], plan.time_median(feeds, 1, 2, 10, ROUND_BUDGET_US, cold))
        else:
            live.append((entry, plan, feeds, cold))
        done.append(entry)
    for _ in range(PROFILE_ROUNDS - 1):
        for entry, plan, feeds, cold in live:
            entry[1] = min(entry[1], plan.time_median(feeds, 1, 2, 10, ROUND_BUDGET_US, cold))
    return [tuple(e) for e in done]


# Pessimistic copy speed for an adapt left unmeasured when the profile budget ran out: DPRS
# then prefers plans without it, but can still take it where nothing else delivers a format.
ESTIMATE_BYTES_PER_US = 1000.0  # 1 GB/s; the Reorders measured here run at 5-20


def _estimated_copy_us(v, a, b):
    shape = list(v.shape)
    nbytes = _engine.physical_bytes(v.elem_type, shape, a) + _engine.physical_bytes(v.elem_type, shape, b)
    return 5.0 + nbytes / ESTIMATE_BYTES_PER_US


class _AdaptCosts:
    """adapt(tensor, from, to) for DPRS: the Reorder routine's measured time for
    that tensor's shape (profiled on first use, cached like any routine), inf
    when no Reorder routine converts between the two layouts."""

    def __init__(self, types, threads, machine, cache, deadline, planner=None):
        self.types, self.threads, self.machine, self.cache, self.deadline = types, threads, machine, cache, deadline
        self.planner = planner
        self.memo, self.fresh = {}, []
        self.stale, self.rechecked = {}, 0  # cached adapt times timed again (second opinions)
        self.routines = [r for r in _engine.routines("Reorder") if r["usable"]]
        self.best_quant = {}  # (QuantizeLinear|DequantizeLinear, shape) -> fastest descriptor

    def __call__(self, t, a, b):
        if a == b:
            return 0.0
        v = self.types[t]
        if QFORMAT_KEY in (a, b):
            if self.planner is None or t not in self.planner.params:
                return math.inf
            other = b if a == QFORMAT_KEY else a
            op = "QuantizeLinear" if b == QFORMAT_KEY else "DequantizeLinear"
            key = (v.elem_type, tuple(v.shape), op)
            if key not in self.memo:
                self.memo[key] = self._measure_quant(v, op)
            return self.memo[key] + (self(t, other, DEFAULT_LAYOUT) if other != DEFAULT_LAYOUT else 0.0)
        key = (v.elem_type, tuple(v.shape), a, b)
        if key not in self.memo:
            self.memo[key] = self._measure(v, a, b)
        return self.memo[key]

    def _measure_quant(self, v, op):
        """Time of the fastest QuantizeLinear (float32 -> u8) or DequantizeLinear routine for this shape."""
        from ..profile_cache import signature
        shape = list(v.shape)
        f32, u8 = (np.dtype(np.float32), np.dtype(np.uint8))
        src, dst = (f32, u8) if op == "QuantizeLinear" else (u8, f32)
        consts = [(f32, (), True), (u8, (), True)]
        sig = signature(op, {}, [(src, tuple(shape), False)] + consts, [(dst, tuple(shape))])
        best, best_desc = math.inf, None
        for r in _engine.routines(op):
            if not r["usable"]:
                continue
            key = (r["descriptor"], r["version"], sig)
            old = self._cached(key)
            if old is not None:
                us = old
            else:
                plan = _engine.Plan(self.threads)
                size = (_engine.physical_bytes(NP_TO_ONNX[src], shape, DEFAULT_LAYOUT) + 63) // 64 * 64
                x = plan.add_arena_tensor(NP_TO_ONNX[src], shape, 0, DEFAULT_LAYOUT)
                y = plan.add_arena_tensor(NP_TO_ONNX[dst], shape, size, DEFAULT_LAYOUT)
                s = plan.add_constant(NP_TO_ONNX[f32], np.array(0.05, np.float32))
                z = plan.add_constant(NP_TO_ONNX[u8], np.array(128, np.uint8))
                plan.set_arena_bytes(size + _engine.physical_bytes(NP_TO_ONNX[dst], shape, DEFAULT_LAYOUT))
                attrs = {"_opset": 21}
                if not plan.supports(r["descriptor"], "adapt", op, attrs, [x, s, z], [y]):
                    us = UNSUPPORTED
                elif time.monotonic() > self.deadline:
                    # out of time: the second opinion's first figure stands, else an estimate (as _measure)
                    us = self.stale.get(key, _estimated_copy_us(v, DEFAULT_LAYOUT, DEFAULT_LAYOUT))
                    if us < best:
                        best, best_desc = us, r["descriptor"]
                    continue
                else:
                    plan.add_step("adapt", op, attrs, [x, s, z], [y], r["descriptor"])
                    plan.finalize()
                    us = plan.time_median([], warmup=1, min_reps=3, max_reps=30, budget_us=10000.0)
                self.fresh.append((*key, us))
                us = min(us, self.stale.get(key, math.inf)) if us != UNSUPPORTED else us
            if us != UNSUPPORTED and us < best:
                best, best_desc = us, r["descriptor"]
        self.best_quant[(op, tuple(shape))] = best_desc
        return best

    def _measure(self, v, a, b):
        from ..profile_cache import signature
        sig = signature("Reorder", {"from": a, "to": b}, [(np_dtype(v.elem_type), v.shape, False)],
                        [(np_dtype(v.elem_type), v.shape)])
        best = math.inf
        for r in self.routines:
            key = (r["descriptor"], r["version"], sig)
            old = self._cached(key)
            if old is not None:
                best = min(best, old)
                continue
            plan = _engine.Plan(self.threads)
            size = (_engine.physical_bytes(v.elem_type, list(v.shape), a) + 63) // 64 * 64
            src = plan.add_arena_tensor(v.elem_type, list(v.shape), 0, a)
            dst = plan.add_arena_tensor(v.elem_type, list(v.shape), size, b)
            plan.set_arena_bytes(size + _engine.physical_bytes(v.elem_type, list(v.shape), b))
            if not plan.supports(r["descriptor"], "reorder", "Reorder", {"_opset": 1}, [src], [dst]):
                continue
            if time.monotonic() > self.deadline:
                # out of time: a second opinion's first figure, else an estimate. Not inf: a
                # conversion a routine provides left unpriced made DPRS find no path at all
                # (MobileNetV3 on a loaded host, where the profile budget ran out mid-model).
                best = min(best, self.stale.get(key, _estimated_copy_us(v, a, b)))
                continue
            plan.add_step("reorder", "Reorder", {"_opset": 1}, [src], [dst], r["descriptor"])
            plan.finalize()
            us = plan.time_median([], warmup=1, min_reps=3, max_reps=30, budget_us=10000.0)
            self.fresh.append((*key, us))
            best = min(best, us, self.stale.get(key, math.inf))
        return best

    def _cached(self, key):
        """key's cached time, or None when the cache lacks it or it wants a second opinion
        (profile_cache.unsettled; its old value, in self.stale, still counts: the fastest wins)."""
        if self.cache is None:
            return None
        hit = self.cache.get_many(self.machine, [key])
        if key not in hit:
            return None
        if hit[key] >= 0 and self.cache.unsettled(self.machine, [key]) and time.monotonic() <= self.deadline:
            self.stale[key] = hit[key]
            self.rechecked += 1
            return None
        return hit[key]

    def flush(self):
        if self.cache is not None:
            self.cache.put_many(self.machine, self.fresh)
        self.fresh = []


def _progress(total, enabled):
    if not enabled or total < 8 or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="softneuro-ep: profiling", unit="routine", leave=False)


QPREFIX = "q8|"  # candidate key of a layer's qint8 variant run by routine DESC: "q8|DESC"


REDUCED = ("bfloat16", "float16")  # descriptor dtypes that, on a float32 layer, compute with fewer bits


def _layer_dtype(node, g, types):
    x = node.inputs[0] if node.inputs else None
    if not x:
        return None
    if x in g.initializers:
        return str(g.initializers[x].dtype)
    v = types.get(x)
    return str(np_dtype(v.elem_type)) if v is not None else None


def is_reduced(key, node, g, types):
    """Whether candidate `key` of this layer computes with less precision than the layer's dtype."""
    return key.startswith(QPREFIX) or (parse_descriptor(key)[1] in REDUCED and
                                       _layer_dtype(node, g, types) == "float32")


def _reduced_requested(desc, opts):
    """Whether routine `desc` may run a float32 layer: bfloat16 / float16 routines lose precision, so
    only when dtypes lists their dtype or an accuracy budget weighs their error."""
    dt = parse_descriptor(desc)[1]
    return dt not in REDUCED or bool(opts.dtypes and dt in opts.dtypes) or opts.accuracy_budget is not None


@dataclass
class _Cand:
    key: str        # descriptor, or QPREFIX + descriptor for the layer's qint8 variant
    r: dict         # the routine (registry entry)
    node: object    # the node it runs (the layer, or its quantized variant)
    g: object       # graph-like view holding that node's constants
    types: dict     # tensor types as that node sees them
    sig: str = ""


def _quant_planner(g, types, opts):
    cal = getattr(opts, "calibration", None)
    if cal is None or (opts.dtypes and "qint8" not in opts.dtypes):
        return None
    from .quant_tune import QuantPlanner
    return QuantPlanner(g, types, cal.ranges)


def _pin_ok(desc, pinned, op_descs):
    # a pin naming a routine exactly pins that routine; otherwise it is a prefix ("cpu")
    return any(desc == p[0] or (p[0] not in op_descs and desc.startswith(p[0])) for p in pinned)


def choose_routines(g, types, threads, opts, cache=None):
    from ..profile_cache import machine_fingerprint, signature
    machine = machine_fingerprint(threads)
    rng = np.random.default_rng(0)
    routines = {}
    for r in _engine.routines():
        if r["usable"]:
            routines.setdefault(r["op"], []).append(r)
    planner = _quant_planner(g, types, opts)
    result = TuneResult({}, {}, 0.0)
    result.planner = planner
    layers, todo = [], []
    known = {}  # (descriptor, version, signature) -> us, or UNSUPPORTED
    new_negatives = []
    for idx, node in enumerate(g.nodes):
        attrs = to_engine(node.attrs)
        attrs["_opset"] = g.opset
        pinned = [p for p in opts.pins if p[1] <= idx <= p[2]]
        if opts.tuning == "none" and not pinned:
            continue  # lowering takes each op's default routine
        op_descs = {r["descriptor"] for r in routines.get(node.op, [])}
        mine = routines.get(node.op, [])
        if pinned:
            allowed = [r for r in mine if _pin_ok(r["descriptor"], pinned, op_descs)]
        else:
            f32_layer = _layer_dtype(node, g, types) == "float32"
            allowed = [r for r in mine if _allowed(r["descriptor"], opts) and
                       (not f32_layer or _reduced_requested(r["descriptor"], opts))]
            if not allowed and opts.dtypes:
                # dtypes narrows a choice; a layer with none in those dtypes keeps its own (still never a
                # bfloat16/float16 routine of a float32 layer unless requested)
                allowed = [r for r in mine if _allowed(r["descriptor"], TuneOptions(devices=opts.devices,
                                                                               layouts=opts.layouts)) and
                           (not f32_layer or _reduced_requested(r["descriptor"], opts))]
        entries = [_Cand(r["descriptor"], r, node, g, types) for r in allowed]
        variant = planner.variant(node) if planner is not None else None
        if variant is not None:
            gq, tq = planner.probe_view(variant)
            q_descs = {r["descriptor"] for r in routines.get(variant.node.op, [])}
            for r in routines.get(variant.node.op, []):
                d = r["descriptor"]
                if parse_descriptor(d)[1] == "qint8" or (variant.node.op == node.op and "float32" not in d):
                    if pinned and not (_pin_ok(d, pinned, q_descs) or _pin_ok(QPREFIX + d, pinned, set())):
                        continue
                    if not pinned and opts.devices and parse_descriptor(d)[0] not in opts.devices:
                        continue
                    entries.append(_Cand(QPREFIX + d, r, variant.node, gq, tq))
            if opts.dtypes and "float32" not in opts.dtypes and not pinned and opts.accuracy_budget is None:
                quant = [e for e in entries if e.key.startswith(QPREFIX)]
                entries = quant or entries  # "qint8 where allowed"
        if threads == 1 and not pinned:  # on one thread a "/t1" variant is its base routine: not measured twice
            have = {e.key for e in entries}
            entries = [e for e in entries if not (e.key.endswith(T1) and e.key[:-len(T1)] in have)]
        sigs = {}
        for e in entries:
            if id(e.node) not in sigs:
                a = to_engine(e.node.attrs)
                a["_opset"] = g.opset
                sigs[id(e.node)] = (a, signature(e.node.op, a, *_signature_parts(e.node, e.g, e.types)))
            e.sig = sigs[id(e.node)][1]
        keys = [(e.r["descriptor"], e.r["version"], e.sig) for e in entries]
        if cache is not None:
            known.update(cache.get_many(machine, [k for k in keys if k not in known]))
        probes = {}  # (node, layout) -> probe plan, built only for routines the cache knows nothing of
        cands = []
        for e, key in zip(entries, keys):
            if key in known:
                if known[key] != UNSUPPORTED:
                    cands.append(e)
                continue
            lay = parse_descriptor(e.r["descriptor"])[2] or DEFAULT_LAYOUT
            pk = (id(e.node), lay)
            if pk not in probes:
                try:
                    probes[pk] = _probe_plan(e.node, e.g, e.types, threads, rng, lay, with_feeds=False)
                except InvalidArgument:  # e.g. a blocked layout for a rank-1 tensor
                    probes[pk] = None
            ok = probes[pk] is not None and probes[pk][0].supports(
                e.r["descriptor"], node.name, e.node.op, sigs[id(e.node)][0], probes[pk][1], probes[pk][2])
            if ok:
                cands.append(e)
            else:
                known[key] = UNSUPPORTED
                new_negatives.append((*key, UNSUPPORTED))
        del probes
        if pinned and not cands:
            raise InvalidArgument(f"routines: no routine matching {[p[0] for p in pinned]} supports "
                                  f"layer {idx} ({node.where()})")
        if not cands:
            layers.append((node, attrs, [], None))  # lowering reports the missing routine
            continue
        layers.append((node, attrs, cands, variant))
        if opts.tuning != "none" and (len(cands) > 1 or opts.tuning == "dprs"):
            todo.append(cands)
    if cache is not None:
        cache.put_many(machine, new_negatives)

    # Measurements: cache first, then the harness for what is missing.
    times = {k: v for k, v in known.items() if v != UNSUPPORTED}
    result.cached = len(times)
    # A layer with a cached timing that wants a second opinion (profile_cache.unsettled: one
    # sample, or two that disagree, taken minutes ago) is timed again, all its candidates
    # together, so they meet one host state; the cache keeps each row's fastest samples.
    recheck = cache.unsettled(machine, sorted(times)) if cache is not None and todo else set()
    groups, second_opinions, seen = [], [], set()
    for cands in todo:  # layers with equal signatures are measured once
        keys = [(c.r["descriptor"], c.r["version"], c.sig) for c in cands]
        again = not recheck.isdisjoint(keys)
        grp = []
        for c, key in zip(cands, keys):
            if key not in seen and (again or key not in times):
                seen.add(key)
                grp.append(c)
        if grp:  # missing timings first: a profile budget spent on second opinions would leave layers untimed
            (groups if any(k not in times for k in keys) else second_opinions).append(grp)
    groups += second_opinions
    bar = _progress(sum(len(grp) for grp in groups), opts.progress)
    deadline = time.monotonic() + opts.profile_budget_s
    fresh = []
    wsizes = {}  # (WS_PREFIX + descriptor, version, signature) -> workspace bytes
    wsizes_fresh = []
    for grp in groups:
        if time.monotonic() > deadline:
            break
        for c, us, ws in _time_candidates(grp, threads, rng, g.opset, deadline):
            key = (c.r["descriptor"], c.r["version"], c.sig)
            result.rechecked += key in times
            times[key] = min(us, times.get(key, math.inf))
            fresh.append((*key, us))
            ws_key = (WS_PREFIX + c.r["descriptor"], c.r["version"], c.sig)  # the kernel's scratch, for memory budgets
            wsizes[ws_key] = ws
            wsizes_fresh.append((*ws_key, ws))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if cache is not None:
        cache.put_many(machine, fresh + wsizes_fresh)
    result.profiled = len(fresh)

    if cache is not None:  # workspaces of the candidates profiled before (rows written with their times)
        wkeys = {(WS_PREFIX + d, v, sg) for (d, v, sg) in times if (WS_PREFIX + d, v, sg) not in wsizes}
        wsizes.update(cache.get_many(machine, sorted(wkeys)))

    # Choice.
    adapt = _AdaptCosts(types, threads, machine, cache, deadline, planner)
    result.adapt_costs = adapt
    dp_layers = []
    for node, attrs, cands, variant in layers:
        if not cands:
            continue
        measured = {c.key: times[(c.r["descriptor"], c.r["version"], c.sig)]
                    for c in cands if (c.r["descriptor"], c.r["version"], c.sig) in times}
        result.candidates[node.name] = measured
        result.workspaces[node.name] = {c.key: wsizes[(WS_PREFIX + c.r["descriptor"], c.r["version"], c.sig)]
                                        for c in cands
                                        if (WS_PREFIX + c.r["descriptor"], c.r["version"], c.sig) in wsizes}
        if opts.tuning == "none" or not measured:
            result.choice[node.name] = cands[0].key
            result.times[node.name] = measured.get(cands[0].key, math.nan)
            continue
        if opts.tuning == "greedy":
            # fastest routine whose format can be reached from and returned to ONNX's (adapt times ignored)
            def reachable(key):
                if key.startswith(QPREFIX):
                    fin, fout = planner.formats(node, variant)
                    ins = [t for t in node.inputs if t and t not in g.initializers]
                    pairs = list(zip(ins, fin)) + list(zip(node.outputs, fout))
                else:
                    lin, lout = io_layouts(key)
                    pairs = ([(t, lin) for t in node.inputs if t and t not in g.initializers] +
                             [(t, lout) for t in node.outputs if t])
                return all(f == DEFAULT_LAYOUT or (adapt(t, DEFAULT_LAYOUT, f) < math.inf and
                                                   adapt(t, f, DEFAULT_LAYOUT) < math.inf) for t, f in pairs)
            measured = {d: us for d, us in measured.items() if reachable(d)} or measured
            best = min(measured, key=measured.get)
            result.choice[node.name] = best
            result.times[node.name] = measured[best]
            continue
        dp_cands = []
        n_in = sum(1 for i in node.inputs if i and i not in g.initializers)
        for key, us in measured.items():
            if key.startswith(QPREFIX):
                fin, fout = planner.formats(node, variant)
            else:
                lin, lout = io_layouts(key)
                fin, fout = (lin,) * n_in, (lout,) * len(node.outputs)
            dp_cands.append(dprs.Candidate(key, us, fin, fout))
        dp_layers.append(dprs.Layer(node.name, [i for i in node.inputs if i and i not in g.initializers],
                                    list(node.outputs), dp_cands))
    result.dp_layers = dp_layers
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
        result.dp_io = (sources, sinks)
        result.solve = lambda penalty=None: _solve_dprs(result, adapt, penalty)
        result.solve()
    adapt.flush()
    result.rechecked += adapt.rechecked
    result.predicted_us = float(sum(v for v in result.times.values() if not math.isnan(v)) +
                                sum(a[3] for a in result.adapts))
    return result


# The channel-blocked layouts; one CPU has routines for one of them (NCHW16c with AVX-512,
# NCHW8c with AVX2 only).
BLOCKED = ("nchw16c", "nchw8c")


def blocked_alternative(result):
    """DPRS's plan again with every layer that has a float32 routine writing a blocked
    layout (NCHW16c, or NCHW8c where AVX-512 is absent) kept on one (None when that is
    what DPRS chose, or there is nothing to re-solve). DPRS
    prices layers alone, so a stage of near-tied layers flips between NCHW (GEMM 1x1,
    Winograd) and NCHW16c from one tuning to the next (thread_check.blocked_checked
    times both plans whole)."""
    solve = getattr(result, "solve", None)
    if solve is None or not getattr(result, "dp_layers", None):
        return None

    def blocked_out(key):
        return not key.startswith(QPREFIX) and io_layouts(key)[1] in BLOCKED
    keep = {L.name for L in result.dp_layers if any(blocked_out(c.routine) for c in L.candidates)}
    if all(blocked_out(result.choice[n]) for n in keep if n in result.choice):
        return None
    return _resolved(result, lambda name, key: 0.0 if name not in keep or blocked_out(key) else 1e12)


NHWC = "nhwc"


def without_layout_alternative(result, layout=NHWC):
    """DPRS's plan again with no layer on a routine reading or writing `layout` where
    another routine can take it (None when DPRS chose none, or nothing changes).
    Layers timed alone misprice a mix of layouts: on an AVX2 machine ResNet50's NHWC
    GEMMs timed 25-30% faster than the NCHW ones, yet the plan mixing them with NCHW
    layers ran 4.5% slower than all NCHW (thread_check.nhwc_checked times both)."""
    if getattr(result, "solve", None) is None or not getattr(result, "dp_layers", None):
        return None

    def uses(key):
        return not key.startswith(QPREFIX) and layout in io_layouts(key)
    if not any(uses(d) for d in result.choice.values()):
        return None
    return _resolved(result, lambda name, key: 1e12 if uses(key) else 0.0)


def _resolved(result, penalty):
    """The choice DPRS makes with penalty(layer, key) added to each candidate's time,
    leaving `result` as it was; None when it is the same choice or pins forbid it."""
    saved = (dict(result.choice), dict(result.times), list(result.adapts), result.predicted_us)
    try:
        result.solve(penalty)
        alt = dict(result.choice)
    except InvalidArgument:  # pins that need the other layouts
        alt = None
    finally:
        result.choice, result.times, result.adapts, result.predicted_us = saved
    return alt if alt != result.choice else None


def _solve_dprs(result, adapt, penalty=None):
    """(Re)solves DPRS; penalty(layer name, candidate key) -> extra cost added to its time
    (budgeted tuning's Lagrangian terms). Sets result.choice/times/adapts/predicted_us."""
    sources, sinks = result.dp_io
    layers = result.dp_layers
    if penalty is not None:
        layers = [dprs.Layer(L.name, L.inputs, L.outputs,
                             [dprs.Candidate(c.routine, c.time + penalty(L.name, c.routine), c.in_formats,
                                             c.out_formats) for c in L.candidates]) for L in layers]
    try:
        sol = dprs.solve(dprs.Problem(layers, sources, sinks, adapt))
    except ValueError as e:  # only pins can leave no feasible path
        raise InvalidArgument(f"routines: the pinned routines need layout adapts no routine provides ({e})") from None
    result.adapts = [(t, a, b, us) for t, a, b, us in sol.adapts]
    real = {L.name: {c.routine: c.time for c in L.candidates} for L in result.dp_layers}
    for name, c in sol.choice.items():
        result.choice[name] = c.routine
        result.times[name] = real[name][c.routine]
    result.predicted_us = float(sum(v for v in result.times.values() if not math.isnan(v)) +
                                sum(a[3] for a in result.adapts))
    return result
