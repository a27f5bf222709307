"""tools/probes: standalone C programs that measure the machine (see each file's header)."""
import json
import os
import re
import shutil
import subprocess
import sys

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


def _peak_in_subprocess(child_env, max_isa):
    code = "import json; from softneuro_ep import _engine; print(json.dumps(_engine.measure_peak(5.0, 1)))"
    out = subprocess.run([sys.executable, "-c", code], env=child_env(SNEP_MAX_ISA=max_isa), check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def test_measure_peak_names_the_isa_it_used():
    """_engine.measure_peak: the widest FMA this CPU has; int8 only where AVX-512 VNNI is."""
    info = _engine.cpu_info()
    p = _engine.measure_peak(5.0, 1)
    assert p["isa"] == ("avx512" if info["avx512f"] else "avx2" if info["avx2"] else "plain")
    assert p["fp32_gflops"] > 0
    assert (p["int8_gops"] > 0) == bool(info["avx512_vnni"])


@pytest.mark.skipif(not _engine.cpu_info().get("avx512f"), reason="compares the AVX-512 chains with the others")
def test_measure_peak_counts_vector_lanes(child_env):
    """The vector chains run 16 (AVX-512) or 8 (AVX2) lanes per instruction where the plain
    loop runs one: their figures stand apart by more than the clock can move."""
    # A slow spell of the shared host lasts seconds: the wide figure is taken before and after the
    # children, and the faster kept (CI once read 122 against the AVX2 child's 96 on a 196 peak).
    wide = _engine.measure_peak(5.0, 2)
    avx2 = _peak_in_subprocess(child_env, "avx2")
    plain = _peak_in_subprocess(child_env, "plain")
    again = _engine.measure_peak(5.0, 2)
    wide = max(wide, again, key=lambda r: r["fp32_gflops"])
    assert avx2["isa"] == "avx2" and plain["isa"] == "plain" and avx2["int8_gops"] == 0
    assert wide["fp32_gflops"] > 1.4 * avx2["fp32_gflops"] > 1.4 * 4 * plain["fp32_gflops"]
    if wide["int8_gops"]:  # vpdpbusd: 128 ops where vfmadd231ps does 32, at the same rate
        assert 2.5 < wide["int8_gops"] / wide["fp32_gflops"] < 6


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.skipif(not _engine.cpu_info().get("avx512f"), reason="the tile is AVX-512")
def test_tile_probe_runs_near_the_fma_peak(tmp_path):
    """tools/probes/tile_probe.c (the direct conv's 4x6 register tile from L1) builds with its
    documented command and reads a figure of the FMA peak's order: its 24 FMAs per step are the
    bound, so it cannot pass the register-only peak by more than the clock moves."""
    exe = tmp_path / "tile_probe"
    src = os.path.join(os.path.dirname(__file__), "..", "tools", "probes", "tile_probe.c")
    subprocess.run(["gcc", "-O2", src, "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    figures = [float(re.fullmatch(r"4x6 tile from L1: ([\d.]+) GFLOP/s", line).group(1))
               for line in out.strip().splitlines()]
    assert len(figures) == 3
    peak = _engine.measure_peak(50.0, 3)["fp32_gflops"]
    assert 0.3 * peak < max(figures) < 1.3 * peak, (figures, peak)
