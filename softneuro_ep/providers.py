"""Execution providers accepted by InferenceSession.

"SoftNeuroExecutionProvider" (this engine, with its tuning options) and
"CPUExecutionProvider" (accepted for drop-in use; same engine, CPU only,
default tuning). A provider that is not available is skipped with a warning,
as onnxruntime does.
"""
import warnings

from .capi.onnxruntime_pybind11_state import InvalidArgument
from .tuning_options import KEYS as TUNING_KEYS

SOFTNEURO = "SoftNeuroExecutionProvider"
CPU = "CPUExecutionProvider"
AVAILABLE = [SOFTNEURO, CPU]

# Provider-option keys SoftNeuroExecutionProvider understands (more arrive with
# tuning); an unknown one is an error. CPUExecutionProvider takes any options
# and ignores them, as onnxruntime's does (it reports none back either).
KNOWN_OPTIONS = {SOFTNEURO: set(TUNING_KEYS)}  # validated with messages by tuning_options.parse


def get_available_providers():
    return list(AVAILABLE)


def get_all_providers():
    return list(AVAILABLE)


def get_device():
    return "CPU"


def _parse(providers, provider_options):
    names, opts = [], []
    for p in providers:
        if isinstance(p, (tuple, list)) and len(p) == 2:
            names.append(p[0])
            opts.append(dict(p[1]))
        elif isinstance(p, str):
            names.append(p)
            opts.append({})
        else:
            raise ValueError(f"invalid provider specification: {p!r}")
    if provider_options is not None:
        if any(isinstance(p, (tuple, list)) for p in providers):
            raise ValueError("'providers' and 'provider_options' should not both carry options")
        if len(provider_options) != len(names):
            raise ValueError("'providers' and 'provider_options' should be the same length if both are given.")
        opts = [dict(o) for o in provider_options]
    return names, opts


def resolve_providers(providers, provider_options, sess_options):
    """-> (provider names in use, {name: options}, tuning options)."""
    if providers is None:
        providers = [SOFTNEURO, CPU]
    if isinstance(providers, str):
        providers = [providers]
    try:
        names, opts = _parse(providers, provider_options)
    except ValueError as e:
        # onnxruntime reports a malformed provider list and retries on CPU
        # (its fallback); code that runs there must run here too
        warnings.warn(f"EP Error {e} when using {providers}. Falling back to ['{CPU}'] and retrying.")
        names, opts = [CPU], [{}]
    used, used_opts = [], {}
    for name, o in zip(names, opts):
        if name not in AVAILABLE:
            warnings.warn(f"Specified provider '{name}' is not in available provider names."
                          f"Available providers: '{', '.join(AVAILABLE)}'")
            continue
        if name == CPU:
            o = {}
        unknown = set(o) - KNOWN_OPTIONS.get(name, set())
        if unknown:
            raise InvalidArgument(f"unknown provider option(s) for {name}: {', '.join(sorted(unknown))}")
        if name not in used:
            used.append(name)
            used_opts[name] = {k: str(v) for k, v in o.items()}
    if not used:
        used, used_opts = [CPU], {CPU: {}}
    tuning = dict(used_opts.get(SOFTNEURO, {}))
    return used, used_opts, tuning
