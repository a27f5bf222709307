"""Tuning options: provider options of "SoftNeuroExecutionProvider", or the same
keys as session config entries prefixed "softneuro." (provider options win).

  tuning            dprs (default) | greedy | none
  devices           comma list of devices tuning may use (cpu)
  dtypes            comma list (float32, ...)
  layouts           comma list (nchw, nhwc, nchw16c, ...)
  routines          pins: DESC@IDX[..IDX][,IDX...][;...]  e.g. cpu:float32:nchw/im2col_gemm@2..23;cpu@1,24
  profile_cache     path of the SQLite profile cache
  profile_budget_s  seconds allowed for missing measurements (then defaults are used)
  plan_file         load the routine choice from this file when it matches model and machine, else tune and save it
  calibration       path written by softneuro_ep.calibrate(): lets tuning run layers in qint8
  accuracy_budget   largest output error allowed against float32 on the calibration samples (needs calibration)
  accuracy_metric   rel_l2 (default: relative L2 of the outputs) | top1 (fraction of changed top-1 answers)
  memory_limit_mb   peak memory (constants in their chosen formats + activation arena) the plan must fit
"""
from dataclasses import dataclass
from typing import Optional

from .capi.onnxruntime_pybind11_state import InvalidArgument
from .graph_passes.adapt import LAYOUT_NAMES
from .graph_passes.tune import TuneOptions, parse_pins

KEYS = ("tuning", "devices", "dtypes", "layouts", "routines", "profile_cache", "profile_budget_s", "plan_file",
        "calibration", "accuracy_budget", "accuracy_metric", "memory_limit_mb")
PREFIX = "softneuro."
KNOWN_DEVICES = {"cpu"}
KNOWN_DTYPES = {"float32", "float16", "bfloat16", "qint8", "float64", "int64", "int32", "int8", "uint8", "bool"}
KNOWN_LAYOUTS = LAYOUT_NAMES


@dataclass
class SessionTuning:
    options: TuneOptions
    cache_path: Optional[str]
    plan_file: Optional[str]
    calibration: Optional[str] = None


def _list(key, value, known):
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    bad = [v for v in items if v not in known]
    if not items or bad:
        raise InvalidArgument(f"{key}: unknown value(s) {bad or [value]}; known: {', '.join(sorted(known))}")
    return items


def parse(provider_opts, session_config, cpu_only=False, quiet=False):
    merged = {k[len(PREFIX):]: v for k, v in session_config.items() if k.startswith(PREFIX)}
    merged.update(provider_opts)
    unknown = [k for k in merged if k not in KEYS]
    if unknown:
        raise InvalidArgument(f"unknown SoftNeuroExecutionProvider option(s): {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(KEYS)}")
    o = TuneOptions(progress=not quiet)
    if "tuning" in merged:
        if merged["tuning"] not in ("dprs", "greedy", "none"):
            raise InvalidArgument(f"tuning: '{merged['tuning']}' is not one of dprs, greedy, none")
        o.tuning = merged["tuning"]
    if "devices" in merged:
        o.devices = _list("devices", merged["devices"], KNOWN_DEVICES)
    elif cpu_only:
        o.devices = ["cpu"]
    if "dtypes" in merged:
        o.dtypes = _list("dtypes", merged["dtypes"], KNOWN_DTYPES)
    if "layouts" in merged:
        o.layouts = _list("layouts", merged["layouts"], KNOWN_LAYOUTS)
    if "routines" in merged:
        o.pins = parse_pins(str(merged["routines"]))
    if "profile_budget_s" in merged:
        try:
            o.profile_budget_s = float(merged["profile_budget_s"])
        except ValueError:
            raise InvalidArgument(f"profile_budget_s: '{merged['profile_budget_s']}' is not a number") from None
        if o.profile_budget_s < 0:
            raise InvalidArgument("profile_budget_s must be >= 0")
    for key in ("accuracy_budget", "memory_limit_mb"):
        if key in merged:
            try:
                val = float(merged[key])
            except (TypeError, ValueError):
                raise InvalidArgument(f"{key}: '{merged[key]}' is not a number") from None
            if not val >= 0 or val == float("inf"):
                raise InvalidArgument(f"{key}: {merged[key]} is impossible; give a finite number >= 0")
            setattr(o, key, val)
    if "accuracy_metric" in merged:
        if merged["accuracy_metric"] not in ("rel_l2", "top1"):
            raise InvalidArgument(f"accuracy_metric: '{merged['accuracy_metric']}' is not one of rel_l2, top1")
        o.accuracy_metric = merged["accuracy_metric"]
    if o.accuracy_budget is not None and not merged.get("calibration"):
        raise InvalidArgument("accuracy_budget needs calibration (a file written by softneuro_ep.calibrate)")
    if o.memory_limit_mb is not None and o.memory_limit_mb <= 0:
        raise InvalidArgument("memory_limit_mb must be > 0")
    return SessionTuning(o, merged.get("profile_cache") or None, merged.get("plan_file") or None,
                         merged.get("calibration") or None)
