"""tools.bench_peak_share: a layer's share of the peak measured beside it."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import softneuro_ep as snep
from softneuro_ep.tools import bench_peak_share as bps


def _two_convs():
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((64, 32, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 1, 3, 3)).astype(np.float32), "w2")
    w3 = numpy_helper.from_array(rng.standard_normal((16, 64, 1, 1)).astype(np.float32), "w3")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="big", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["a", "w3"], ["b"], name="proj"),
             helper.make_node("Conv", ["b", "w2"], ["y"], name="dw", group=16, pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 16, 16])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])], [w1, w2, w3])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_share_is_the_layer_speed_over_the_round_peak():
    m = _two_convs()
    so = snep.SessionOptions()
    so.intra_op_num_threads = 1
    s = snep.InferenceSession(m.SerializeToString(), so)
    feed = {"x": np.random.default_rng(1).standard_normal((1, 32, 16, 16)).astype(np.float32)}
    peaks = iter([100.0, 300.0, 50.0, 50.0])  # round 1: mean 200; round 2: 50
    out, seen = bps.share_rounds(s, feed, rounds=2, repeats=3, peak_fn=lambda: next(peaks))
    assert seen == [100.0, 300.0, 50.0, 50.0]
    assert set(out) == {"big", "proj", "dw"}
    routine, geo, flops, us, share, other = out["big"]
    assert geo == (32, 64, 3, 16, 1, 32 * 9)
    assert flops == 2 * 64 * 16 * 16 * 32 * 9
    assert len(us) == 2 and min(us) > 0 and other == []
    for t, sh, peak in zip(us, share, (200.0, 50.0)):
        assert abs(sh - flops / t / 1e3 / peak) < 1e-12
    assert bps.gemm_bound(out["big"][1]) and not bps.gemm_bound(out["dw"][1])  # dw: 9 products per output
    assert not bps.gemm_bound(out["proj"][1])  # 16 output channels


def test_against_times_a_second_session_built_under_switches(monkeypatch, capsys):
    """--against: the second session's plan is built with the switch set (here the 1x1 conv's
    general tile), the switch is gone afterwards, and both sessions' layers are read per round."""
    import os
    m = _two_convs().SerializeToString()
    monkeypatch.delenv("SNEP_C16_PW", raising=False)
    feed = {"x": np.random.default_rng(1).standard_normal((1, 32, 16, 16)).astype(np.float32)}
    b = bps.session_under(m, 1, feed, {"SNEP_C16_PW": "0"})
    assert "SNEP_C16_PW" not in os.environ
    so = snep.SessionOptions()
    so.intra_op_num_threads = 1
    s = snep.InferenceSession(m, so)
    np.testing.assert_allclose(b.run(None, feed)[0], s.run(None, feed)[0], rtol=1e-5, atol=1e-4)
    out, _ = bps.share_rounds(s, feed, rounds=3, repeats=2, peak_fn=lambda: 100.0, against=b)
    assert all(len(e[5]) == 3 and min(e[5]) > 0 for e in out.values())
