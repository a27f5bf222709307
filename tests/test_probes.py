"""tools/probes: standalone C programs that measure the machine (see each file's header)."""
import os
import re
import shutil
import subprocess

import pytest

from softneuro_ep import _engine

PROBE = os.path.join(os.path.dirname(__file__), "..", "tools", "probes", "unit_scaling.c")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.skipif(not _engine.cpu_info().get("avx512f"), reason="the FMA loop is AVX-512")
def test_unit_scaling_probe(tmp_path):
    """Builds with the documented command and prints one line per repeat with both threads' times."""
    exe = tmp_path / "unit_scaling"
    subprocess.run(["gcc", "-O2", "-pthread", PROBE, "-o", str(exe)], check=True)
    out = subprocess.run([str(exe), "fma", "200000"], check=True, capture_output=True, text=True).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        m = re.fullmatch(r"fma: 1 thread ([\d.]+) s, 2 threads ([\d.]+) / ([\d.]+) s, scaling ([\d.]+)", line)
        assert m, line
        one, a, b, scaling = map(float, m.groups())
        assert min(one, a, b) > 0 and abs(scaling - 2 * one / max(a, b)) < 0.02
