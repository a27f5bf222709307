"""The softneuro-ep command line: each command runs and prints what it promises."""
import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from softneuro_ep.cli import main


@pytest.fixture
def small_model(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3, "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["y"])]
    g = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", 1, ["batch", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", 1, ["batch", 8, 1, 1])], [w])
    path = tmp_path / "small.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTNEURO_EP_CACHE", str(tmp_path / "profile.sqlite"))


def test_run_default_model(capsys):
    main(["run", "--repeat", "2", "--threads", "1"])
    out = capsys.readouterr().out
    assert "mobilenet_v2" in out and "output" in out and "latency" in out


def test_run_file_with_pin(small_model, capsys):
    main(["run", small_model, "--repeat", "2", "--routine", "cpu:float32:nchw/im2col_gemm@0"])
    assert "output y: [1, 8, 1, 1] float32" in capsys.readouterr().out


def test_routines_lists_registry(capsys):
    main(["routines", "Conv", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["op"] == "Conv" for r in rows)
    assert any(r["descriptor"] == "cpu:float32:nchw/im2col_gemm" for r in rows)


def test_inspect_shows_steps(small_model, capsys):
    main(["inspect", small_model, "--json"])
    steps = json.loads(capsys.readouterr().out)
    assert [s["op"] for s in steps if s["op"] != "Reorder"] == ["Conv", "GlobalAveragePool"]  # Relu fused


def test_profile_and_tune(small_model, tmp_path, capsys):
    main(["profile", small_model, "--json", "--threads", "1"])
    prof = json.loads(capsys.readouterr().out)
    conv = next(r for r in prof["layers"] if r["op"] == "Conv")
    assert len(conv["candidates_us"]) >= 2 and conv["chosen"] in conv["candidates_us"]
    plan = tmp_path / "small.plan"
    main(["tune", small_model, "-o", str(plan), "--json", "--threads", "1"])
    tuned = json.loads(capsys.readouterr().out)
    assert plan.exists() and tuned["predicted_ms"] > 0 and tuned["measured_ms"] > 0


def test_bench_reports_the_spread_of_block_pair_ratios(small_model):
    """tools.bench.compare: besides the ratio of the medians, the quartiles of the ratios of
    adjacent onnxruntime / softneuro-ep blocks, which bracket how far the ratio moves."""
    from softneuro_ep.tools.bench import compare, make_sessions, random_feed
    data = open(small_model, "rb").read()
    ref, ours = make_sessions(data, 1)
    r = compare(data, random_feed(ours, 1), 1, budget_s=0.0, block=3, min_blocks=4, sessions=(ref, ours))
    assert r["blocks"] == 4 and r["runs"] == 12
    assert 0 < r["ratio_q1"] <= r["ratio_q3"]
    assert r["rel_l2"] < 1e-4


@pytest.mark.parametrize("given", [None, 50.0])
def test_bench_layer_table_divides_by_a_measured_peak(small_model, capsys, given):
    """`bench --layers`: the %peak column uses the peak measured on this core unless --peak is given."""
    args = ["bench", small_model, "--threads", "1", "--budget", "0", "--layers", "3"]
    main(args + (["--peak", str(given)] if given else []))
    out = capsys.readouterr().out
    import re
    m = re.search(r"per-core fp32 peak (\d+) GFLOP/s \((measured|given)\)", out)
    assert m and m.group(2) == ("given" if given else "measured")
    if given:
        assert int(m.group(1)) == 50
    conv = next(line for line in out.splitlines() if " Conv " in line)
    gflops, pct = map(float, conv.split()[-2:])
    assert abs(pct - 100 * gflops / float(m.group(1))) <= 1.5  # rounding of the printed figures
