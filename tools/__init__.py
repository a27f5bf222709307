"""Command line, benchmarks and model builders (installed as softneuro_ep.tools)."""
