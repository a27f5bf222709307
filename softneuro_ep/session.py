"""InferenceSession: onnxruntime's API over the engine.

Session creation loads, checks and converts the model once; a plan is built per
distinct set of input shapes (at creation when every input dim is fixed) and
kept in a small LRU cache. run() validates the feed and calls the C++ plan,
which runs with the GIL released.
"""
import json
import os
import threading
import time
from collections import OrderedDict

from .capi.onnxruntime_pybind11_state import Fail, InvalidArgument
from .feeds import FeedChecker
from .graph_passes.load import load_model, to_ir
from .graph_passes.dynamic import specialize_any
from .graph_passes.pipeline import shape_operand_inputs
from .metadata import ModelMetadata, NodeArg
from .options import GraphOptimizationLevel, RunOptions, SessionOptions
from . import tuning_options
from .profile_cache import ProfileCache
from .providers import SOFTNEURO, resolve_providers

PLAN_CACHE_SIZE = 8
# How long a session's workers keep spinning after a run (as onnxruntime's do, about 35 ms
# measured here): on a VM an idle vCPU comes back slow for the next tens of milliseconds
# (MobileNetV2 QDQ at 2 threads, runs right after a 0.1 s pause: 2.1-2.6 ms against 1.8-1.9
# with the workers lingering; 10 ms was not enough). Another plan's run stops it early.
LINGER_MS = 30.0


def _values_key(values):
    if not values:
        return b""
    return b"|".join(n.encode() + b"=" + str(a.dtype).encode() + a.tobytes() for n, a in sorted(values.items()))


def default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class InferenceSession:
    def __init__(self, path_or_bytes, sess_options=None, providers=None, provider_options=None, **kwargs):
        self._model_path = path_or_bytes if isinstance(path_or_bytes, (str, os.PathLike)) else None
        self._sess_options = sess_options if sess_options is not None else SessionOptions()
        self._providers, self._provider_options, self._tuning = resolve_providers(
            providers, provider_options, self._sess_options)
        model = load_model(path_or_bytes)
        self._meta = ModelMetadata(model)
        self._graph = to_ir(model)
        del model
        so = self._sess_options
        self._tune = tuning_options.parse(self._tuning, so._config, cpu_only=SOFTNEURO not in self._providers,
                                          quiet=so.log_severity_level >= 3)
        if self._tune.calibration:
            from .calibrate import load_calibration
            self._tune.options.calibration = load_calibration(self._tune.calibration, self._graph)
        self._cache = None
        # Small inputs read as shapes (Reshape targets, Slice starts, ...): plans
        # are specialised on their values, which folding then treats as constants.
        value_names = shape_operand_inputs(self._graph)
        self._value_idx = {k for k, v in enumerate(self._graph.inputs) if v.name in value_names}
        self._threads = so.intra_op_num_threads if so.intra_op_num_threads > 0 else default_threads()
        # onnxruntime's key: its workers spin after a run unless it is "0" (only "1" keeps them on)
        self._spin = so._config.get("session.intra_op.allow_spinning", "1") == "1"
        self._optimize = so.graph_optimization_level != GraphOptimizationLevel.ORT_DISABLE_ALL
        self._feeds = FeedChecker(self._graph.inputs, self._graph.overridable, so._free_dims)
        fd = so._free_dims
        self._inputs = [NodeArg(v.name, v.elem_type, v.shape, fd, v.container) for v in self._graph.inputs]
        self._outputs = [NodeArg(v.name, v.elem_type, v.shape, fd, v.container) for v in self._graph.outputs]
        self._overridable = [NodeArg(v.name, v.elem_type, v.shape, fd) for v in self._graph.overridable]
        self._out_index = {v.name: k for k, v in enumerate(self._graph.outputs)}
        self._plans = OrderedDict()
        self._lock = threading.Lock()
        self._profile = [] if so.enable_profiling else None
        self._profile_start = time.time()
        self._profile_prefix = so.profile_file_prefix
        static = [spec.shape for spec in self._feeds.inputs]
        export = so.optimized_model_filepath or None
        if not self._value_idx and all(s is not None and all(d is not None for d in s) for s in static):
            self._plan_for(tuple(tuple(s) for s in static), (), export)
        elif export:
            # Written at creation, as onnxruntime does. With dynamic shapes a
            # shape-specialised graph is not valid for every input, so the
            # checked, unspecialised graph is written instead.
            from .graph_passes.export import save_graph
            save_graph(self._graph, export)

    # ---- plans -----------------------------------------------------------
    def _plan_for(self, shapes, overrides, export_path=None, values=None):
        """values: {input name: array} for value-specialised inputs (see shape_operand_inputs)."""
        key = (shapes, overrides, _values_key(values))
        with self._lock:
            spec = self._plans.get(key)
            if spec is not None:
                self._plans.move_to_end(key)
                return spec
            names = [i.name for i in self._feeds.inputs] + list(overrides)
            if self._cache is None and (self._tune.options.tuning != "none"):
                self._cache = ProfileCache(self._tune.cache_path)
            saved = self._saved_plans()
            pkey = saved.key(shapes, overrides) + key[2].hex() if saved else None
            spec = specialize_any(self._graph, dict(zip(names, shapes)), self._threads, optimize=self._optimize,
                                  export_path=export_path, tune_options=self._tune.options, cache=self._cache,
                                  routine_choice=saved.lookup(pkey) if saved else None, input_values=values)
            if saved and spec.tuned is not None:
                saved.store(pkey, spec.tuned.choice)
            if self._spin and hasattr(spec.plan, "set_linger_us"):
                spec.plan.set_linger_us(LINGER_MS * 1e3)
            self._plans[key] = spec
            if len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
            return spec

    def _saved_plans(self):
        if not self._tune.plan_file:
            return None
        if getattr(self, "_plan_file", None) is None:
            from . import __version__
            from .plan_file import PlanFile, graph_digest
            from .profile_cache import machine_fingerprint
            self._plan_file = PlanFile(self._tune.plan_file, graph_digest(self._graph),
                                       machine_fingerprint(self._threads), __version__)
        return self._plan_file

    # ---- running ---------------------------------------------------------
    def run(self, output_names, input_feed, run_options=None):
        if run_options is not None and run_options.terminate:
            raise Fail("[ONNXRuntimeError] : 1 : FAIL : Exiting due to terminate flag being set to true.")
        idx = None
        if output_names:  # checked before running, as onnxruntime does
            if isinstance(output_names, str):
                raise TypeError("run(): output_names must be a list of output names (or None), not a str")
            try:
                idx = [self._out_index[n] for n in output_names]
            except KeyError as e:
                raise InvalidArgument(
                    f"[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Invalid output name:{e.args[0]}") from None
        arrays, overrides = self._feeds.check(input_feed)
        if self._value_idx:
            values = {self._feeds.names[k]: arrays[k] for k in self._value_idx}
            key = (tuple(getattr(a, "shape", None) for a in arrays), overrides, _values_key(values))
            arrays = [a for k, a in enumerate(arrays) if k not in self._value_idx]
        else:
            values = None
            key = (tuple(getattr(a, "shape", None) for a in arrays), overrides, b"")  # sequences: no shape
        spec = self._plans.get(key)
        if spec is None:
            spec = self._plan_for(key[0], overrides, values=values)
        profile = self._profile
        if profile is None:
            outs = spec.plan.run(arrays)
        else:
            t0 = time.time()
            outs, step_us = spec.plan.run_profiled(arrays)
            profile.append((t0, threading.get_ident(), step_us, spec.plan.step_routines()))
        if idx is None:
            return outs
        return [outs[k] for k in idx]

    def run_async(self, output_names, input_feed, callback, user_data, run_options=None):
        """As onnxruntime: runs on another thread, then calls
        callback(outputs, user_data, error_message) ('' when it succeeded)."""
        def work():
            try:
                outs = self.run(output_names, input_feed, run_options)
            except Exception as e:  # noqa: BLE001 - handed to the callback, as onnxruntime does
                callback([], user_data, str(e))
            else:
                callback(outs, user_data, "")
        threading.Thread(target=work, daemon=True).start()

    def disable_fallback(self):
        """onnxruntime's switch for retrying on CPU after a provider error; this
        engine has no fallback, so there is nothing to switch."""

    def enable_fallback(self):
        """See disable_fallback."""

    def run_with_ort_values(self, *args, **kwargs):
        raise InvalidArgument("OrtValue is not supported; use run() with numpy arrays")

    # ---- introspection ---------------------------------------------------
    def get_inputs(self):
        return list(self._inputs)

    def get_outputs(self):
        return list(self._outputs)

    def get_overridable_initializers(self):
        return list(self._overridable)

    def get_modelmeta(self):
        return self._meta

    def get_providers(self):
        return list(self._providers)

    def get_provider_options(self):
        return {k: dict(v) for k, v in self._provider_options.items()}

    def get_session_options(self):
        return self._sess_options

    def set_providers(self, providers=None, provider_options=None):
        self._providers, self._provider_options, self._tuning = resolve_providers(
            providers, provider_options, self._sess_options)

    def get_profiling_start_time_ns(self):
        return int(self._profile_start * 1e9)

    def end_profiling(self):
        """Writes the per-step times of every profiled run as a Chrome trace
        (the format onnxruntime writes) and returns the file name."""
        records, self._profile = self._profile, None  # profiling stops here, as in onnxruntime
        if records is None:
            return ""
        pid = os.getpid()
        events = []
        for run_id, (t0, tid, step_us, routines) in enumerate(records):
            ts = (t0 - self._profile_start) * 1e6
            for us, (name, op, desc) in zip(step_us, routines):
                events.append({"cat": "Node", "name": name, "ph": "X", "ts": round(ts), "dur": round(us, 3),
                               "pid": pid, "tid": tid, "args": {"op_name": op, "routine": desc, "run": run_id}})
                ts += us
        # onnxruntime's name: prefix, start time to the millisecond; a counter
        # keeps two sessions started in the same millisecond apart
        start = self._profile_start
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(start)) + f"_{int(start * 1000) % 1000:03d}"
        path = f"{self._profile_prefix}_{stamp}.json"
        k = 1
        while os.path.exists(path):
            path = f"{self._profile_prefix}_{stamp}_{k}.json"
            k += 1
        with open(path, "w") as f:
            json.dump(events, f)
        return path

    # ---- engine-specific ---------------------------------------------------
    def plan_summary(self, input_shapes=None):
        """(node name, op, routine descriptor) for each step of the plan for
        these input shapes (the first plan built when omitted)."""
        if input_shapes is None:
            if not self._plans:
                return []
            spec = next(iter(self._plans.values()))
        else:
            spec = self._plan_for(tuple(tuple(s) for s in input_shapes), ())
        return spec.plan.step_routines()


__all__ = ["InferenceSession", "SessionOptions", "RunOptions"]
