"""The onnxruntime API surface, compared with onnxruntime itself where it makes sense."""
import glob
import json
import os

import numpy as np
import onnx
import pytest

ort = pytest.importorskip("onnxruntime")
CPU = ["CPUExecutionProvider"]


def both(model, **kw):
    """(softneuro session, onnxruntime session) for the same model bytes."""
    import softneuro_ep
    b = model.SerializeToString()
    return softneuro_ep.InferenceSession(b, providers=CPU, **kw), ort.InferenceSession(b, providers=CPU)


def node_args(args):
    return [(a.name, a.shape, a.type) for a in args]


# ---- loading ------------------------------------------------------------------
def test_load_from_path_bytes_and_proto(sn, models, tmp_path):
    m = models.relu((2, 3))
    path = tmp_path / "relu.onnx"
    onnx.save(m, str(path))
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    expect = np.maximum(x, 0)
    sources = [str(path), path, m.SerializeToString(), bytearray(m.SerializeToString()), m]
    for src in sources:
        sess = sn.InferenceSession(src, providers=CPU)
        (y,) = sess.run(None, {"X": x})
        np.testing.assert_array_equal(y, expect)
    assert sn.InferenceSession(str(path))._model_path == str(path)


def test_constructor_keywords_and_positional(sn, models):
    b = models.relu((2, 3)).SerializeToString()
    so = sn.SessionOptions()
    s1 = sn.InferenceSession(b, so, CPU)
    s2 = sn.InferenceSession(path_or_bytes=b, sess_options=so, providers=CPU, provider_options=[{}])
    x = -np.ones((2, 3), np.float32)
    for s in (s1, s2):
        assert s.get_session_options() is so
        np.testing.assert_array_equal(s.run(None, {"X": x})[0], np.zeros((2, 3), np.float32))


def test_unsupported_source_type(sn):
    with pytest.raises(TypeError):
        sn.InferenceSession(12345)


# ---- run ------------------------------------------------------------------------
def test_run_output_selection_matches_onnxruntime(models):
    sess, ref = both(models.two_outputs())
    x = np.arange(-8, 8, dtype=np.float32).reshape(4, 4)
    feed = {"X": x}
    for names in (None, [], ["A"], ["C", "A"], ("B", "C", "A"), ["B", "B"]):
        got = sess.run(names, feed)
        want = ref.run(names, feed)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
    # outputs are fresh arrays: changing one does not change the next run's result
    a1 = sess.run(["A"], feed)[0]
    a1[...] = 42
    np.testing.assert_array_equal(sess.run(["A"], feed)[0], np.maximum(x, 0))


def test_run_options(sn, models):
    ro = sn.RunOptions()
    ref = ort.RunOptions()
    for attr in ("log_severity_level", "log_verbosity_level", "logid", "terminate", "only_execute_path_to_fetches"):
        assert getattr(ro, attr) == getattr(ref, attr), attr
    ro.log_severity_level = 3
    ro.logid = "run-1"
    ro.add_run_config_entry("key", "value")
    assert ro.get_run_config_entry("key") == "value"
    with pytest.raises(RuntimeError, match="nope"):
        ro.get_run_config_entry("nope")
    sess = sn.InferenceSession(models.relu((1, 3)).SerializeToString(), providers=CPU)
    x = np.array([[-1, 0, 2]], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"X": x}, ro)[0], [[0, 0, 2]])
    np.testing.assert_array_equal(sess.run(None, {"X": x}, run_options=ro)[0], [[0, 0, 2]])


def test_run_options_terminate(sn, models):
    b = models.relu((1, 3)).SerializeToString()
    sess, ref = sn.InferenceSession(b, providers=CPU), ort.InferenceSession(b, providers=CPU)
    x = np.array([[-1, 0, 2]], np.float32)
    ro, ro_ref = sn.RunOptions(), ort.RunOptions()
    ro.terminate = ro_ref.terminate = True
    with pytest.raises(sn.Fail) as e:
        sess.run(None, {"X": x}, ro)
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail) as e_ref:
        ref.run(None, {"X": x}, ro_ref)
    assert str(e.value) == str(e_ref.value)
    ro.terminate = False
    np.testing.assert_array_equal(sess.run(None, {"X": x}, ro)[0], [[0, 0, 2]])


def test_run_async(sn, models):
    import threading
    sess = sn.InferenceSession(models.relu((1, 3)).SerializeToString(), providers=CPU)
    x = np.array([[-1, 0, 2]], np.float32)
    done, got = threading.Event(), []

    def callback(outputs, user_data, err):
        got.append((outputs, user_data, err))
        done.set()

    sess.run_async(None, {"X": x}, callback, "token")
    assert done.wait(10)
    outputs, user_data, err = got[0]
    assert err == "" and user_data == "token"
    np.testing.assert_array_equal(outputs[0], [[0, 0, 2]])
    done.clear()
    sess.run_async(["nope"], {"X": x}, callback, 7)
    assert done.wait(10)
    assert got[1][0] == [] and got[1][1] == 7 and "nope" in got[1][2]
    sess.disable_fallback()
    sess.enable_fallback()
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], [[0, 0, 2]])


# ---- introspection -----------------------------------------------------------------
def test_node_args_match_onnxruntime(sn, models):
    h, vi = models.helper, models.vi
    m = models.make(
        [h.make_node("Relu", ["X"], ["Y"]), h.make_node("Identity", ["S"], ["T"]),
         h.make_node("Identity", ["I"], ["J"])],
        [vi("X", ["batch", None, 3]), vi("S", []), vi("I", [2], onnx.TensorProto.INT64)],
        [vi("Y", ["batch", None, 3]), vi("T", []), vi("J", [2], onnx.TensorProto.INT64)])
    sess, ref = both(m)
    assert node_args(sess.get_inputs()) == node_args(ref.get_inputs())
    assert node_args(sess.get_outputs()) == node_args(ref.get_outputs())
    assert node_args(sess.get_inputs()) == [("X", ["batch", None, 3], "tensor(float)"), ("S", [], "tensor(float)"),
                                            ("I", [2], "tensor(int64)")]
    arg = sess.get_inputs()[0]
    assert isinstance(arg, sn.NodeArg)
    assert all(isinstance(d, (int, str, type(None))) for d in arg.shape)
    assert "X" in repr(arg)
    assert sess.get_overridable_initializers() == [] and ref.get_overridable_initializers() == []


def test_overridable_initializers(sn, models):
    h, vi = models.helper, models.vi
    w = np.array([1, 2, 3], np.float32)
    m = models.make([h.make_node("Mul" if models.has("Mul") else "Add", ["X", "W"], ["Y"])],
                    [vi("X", [2, 3]), vi("W", [3])], [vi("Y", [2, 3])], [models.init("W", w)])
    if not models.has("Mul") and not models.has("Add"):
        pytest.skip("needs Mul or Add")
    sess, ref = both(m)
    assert node_args(sess.get_overridable_initializers()) == node_args(ref.get_overridable_initializers())
    assert node_args(sess.get_inputs()) == node_args(ref.get_inputs()) == [("X", [2, 3], "tensor(float)")]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    w2 = np.array([-1, 0, 5], np.float32)
    for feed in ({"X": x}, {"X": x, "W": w2}, {"X": x}):
        np.testing.assert_allclose(sess.run(None, feed)[0], ref.run(None, feed)[0])


def test_modelmeta_matches_onnxruntime(sn, models):
    m = models.relu((1, 3))
    m.producer_name, m.producer_version, m.domain, m.model_version = "prod", "9.9", "ai.test", 7
    m.doc_string, m.graph.doc_string, m.graph.name = "model doc", "graph doc", "the_graph"
    onnx.helper.set_model_props(m, {"author": "me", "licence": "none"})
    sess, ref = both(m)
    got, want = sess.get_modelmeta(), ref.get_modelmeta()
    assert isinstance(got, sn.ModelMetadata)
    for f in ("producer_name", "graph_name", "domain", "description", "graph_description", "version",
              "custom_metadata_map"):
        assert getattr(got, f) == getattr(want, f), f
    assert got.custom_metadata_map == {"author": "me", "licence": "none"}
    assert got.version == 7 and got.graph_name == "the_graph"


# ---- providers ---------------------------------------------------------------------
def test_module_level_functions(sn):
    avail = sn.get_available_providers()
    assert "CPUExecutionProvider" in avail and "SoftNeuroExecutionProvider" in avail
    assert set(avail) <= set(sn.get_all_providers())
    assert sn.get_device() == ort.get_device() == "CPU"
    assert isinstance(sn.__version__, str) and sn.__version__.count(".") >= 2


@pytest.mark.parametrize("providers, provider_options, expect", [
    (None, None, None),
    (["CPUExecutionProvider"], None, ["CPUExecutionProvider"]),
    ("CPUExecutionProvider", None, ["CPUExecutionProvider"]),
    (["SoftNeuroExecutionProvider"], None, ["SoftNeuroExecutionProvider"]),
    (["SoftNeuroExecutionProvider", "CPUExecutionProvider"], None,
     ["SoftNeuroExecutionProvider", "CPUExecutionProvider"]),
    ([("CPUExecutionProvider", {})], None, ["CPUExecutionProvider"]),
    ([("SoftNeuroExecutionProvider", {}), "CPUExecutionProvider"], None,
     ["SoftNeuroExecutionProvider", "CPUExecutionProvider"]),
    (["CPUExecutionProvider"], [{}], ["CPUExecutionProvider"]),
    ([], None, ["CPUExecutionProvider"]),
])
def test_providers_accepted(sn, models, providers, provider_options, expect):
    sess = sn.InferenceSession(models.relu((1, 2)).SerializeToString(), providers=providers,
                               provider_options=provider_options)
    got = sess.get_providers()
    if expect is not None:
        assert got == expect
    assert "CPUExecutionProvider" in got or "SoftNeuroExecutionProvider" in got
    opts = sess.get_provider_options()
    assert set(opts) == set(got) and all(isinstance(v, dict) for v in opts.values())
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([[-1, 1]], np.float32)})[0], [[0, 1]])


@pytest.mark.parametrize("providers, provider_options", [
    ([("CPUExecutionProvider", {"arena_extend_strategy": 1})], None),
    ([("CPUExecutionProvider", {"no_such_option": "1"})], None),
    (["CPUExecutionProvider"], [{"use_arena": 0}]),
])
def test_cpu_provider_options_ignored_like_onnxruntime(sn, models, providers, provider_options):
    b = models.relu((1, 2)).SerializeToString()
    sess = sn.InferenceSession(b, providers=providers, provider_options=provider_options)
    ref = ort.InferenceSession(b, providers=providers, provider_options=provider_options)
    assert sess.get_provider_options() == ref.get_provider_options() == {"CPUExecutionProvider": {}}
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([[-1, 1]], np.float32)})[0], [[0, 1]])


def test_unknown_softneuro_provider_option(sn, models):
    with pytest.raises(sn.InvalidArgument, match="no_such_option"):
        sn.InferenceSession(models.relu((1, 2)).SerializeToString(),
                            providers=[("SoftNeuroExecutionProvider", {"no_such_option": "1"})])


def test_unavailable_provider_warns_and_is_skipped(sn, models):
    b = models.relu((1, 2)).SerializeToString()
    with pytest.warns(UserWarning, match="FooExecutionProvider"):
        sess = sn.InferenceSession(b, providers=["FooExecutionProvider", "CPUExecutionProvider"])
    assert sess.get_providers() == ["CPUExecutionProvider"]
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        sess = sn.InferenceSession(b, providers=["CUDAExecutionProvider"])
    assert sess.get_providers() == ["CPUExecutionProvider"]  # onnxruntime falls back to CPU as well
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([[-1, 1]], np.float32)})[0], [[0, 1]])


@pytest.mark.parametrize("providers, provider_options", [
    (["CPUExecutionProvider"], [{}, {}]),                    # lengths differ
    ([("CPUExecutionProvider", {})], [{}]),                  # options given twice
])
def test_malformed_provider_arguments_fall_back_to_cpu(sn, models, providers, provider_options):
    """onnxruntime reports these ('EP Error') and retries on CPU; so do we, with a warning."""
    b = models.relu((1, 2)).SerializeToString()
    assert ort.InferenceSession(b, providers=providers, provider_options=provider_options).get_providers() == CPU
    with pytest.warns(UserWarning, match="EP Error"):
        sess = sn.InferenceSession(b, providers=providers, provider_options=provider_options)
    assert sess.get_providers() == CPU
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([[-1, 1]], np.float32)})[0], [[0, 1]])


def test_set_providers(sn, models):
    sess = sn.InferenceSession(models.relu((1, 2)).SerializeToString(), providers=CPU)
    sess.set_providers(["SoftNeuroExecutionProvider"])
    assert sess.get_providers() == ["SoftNeuroExecutionProvider"]
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([[-1, 1]], np.float32)})[0], [[0, 1]])


# ---- errors ------------------------------------------------------------------------------
ERRORS = ["Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError", "RuntimeException", "InvalidProtobuf",
          "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail", "NotFound"]


def test_error_classes_importable_and_shared(sn):
    from softneuro_ep.capi import onnxruntime_pybind11_state as state
    from softneuro_ep.capi.onnxruntime_pybind11_state import Fail, InvalidArgument  # noqa: F401
    for name in ERRORS:
        cls = getattr(sn, name)
        assert cls is getattr(state, name)
        assert issubclass(cls, Exception)
        # onnxruntime's own classes derive straight from Exception too
        assert getattr(ort.capi.onnxruntime_pybind11_state, name).__mro__[1:] == cls.__mro__[1:]


# ---- SessionOptions and enums -------------------------------------------------------------
def test_enums_match_onnxruntime(sn):
    for enum_name in ("GraphOptimizationLevel", "ExecutionMode"):
        ours, theirs = getattr(sn, enum_name), getattr(ort, enum_name)
        names = [n for n in dir(theirs) if n.startswith("ORT_")]
        assert names
        for n in names:
            assert int(getattr(ours, n)) == int(getattr(theirs, n)), n
            assert str(getattr(ours, n)) == str(getattr(theirs, n))


def test_session_options_defaults_match_onnxruntime(sn):
    ours, theirs = sn.SessionOptions(), ort.SessionOptions()
    for attr in ("intra_op_num_threads", "inter_op_num_threads", "graph_optimization_level", "execution_mode",
                 "log_severity_level", "log_verbosity_level", "logid", "enable_profiling", "profile_file_prefix",
                 "optimized_model_filepath", "enable_cpu_mem_arena", "enable_mem_pattern", "enable_mem_reuse",
                 "use_deterministic_compute"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr


@pytest.mark.parametrize("setting", [
    dict(intra_op_num_threads=1), dict(intra_op_num_threads=2), dict(inter_op_num_threads=2),
    dict(graph_optimization_level="ORT_DISABLE_ALL"), dict(graph_optimization_level="ORT_ENABLE_BASIC"),
    dict(execution_mode="ORT_PARALLEL"), dict(log_severity_level=3), dict(log_severity_level=0),
])
def test_session_options_settings_run(sn, models, setting):
    so = sn.SessionOptions()
    for k, v in setting.items():
        if k == "graph_optimization_level":
            v = getattr(sn.GraphOptimizationLevel, v)
        elif k == "execution_mode":
            v = getattr(sn.ExecutionMode, v)
        setattr(so, k, v)
        assert getattr(so, k) == v
    model, reference = models.chain()
    sess = sn.InferenceSession(model.SerializeToString(), so, providers=CPU)
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    np.testing.assert_allclose(sess.run(None, {"X": x})[0], reference(x)[0], rtol=1e-5, atol=1e-5)


def test_session_config_entries(sn):
    so = sn.SessionOptions()
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", "1")
    assert so.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    theirs = ort.SessionOptions()
    with pytest.raises(RuntimeError) as e_ref:
        theirs.get_session_config_entry("no.such.key")
    with pytest.raises(RuntimeError) as e:
        so.get_session_config_entry("no.such.key")
    assert type(e.value) is type(e_ref.value)
    assert str(e.value) == str(e_ref.value)


def test_free_dimension_override(sn, models):
    b = models.relu(("batch", 3)).SerializeToString()
    so, so_ref = sn.SessionOptions(), ort.SessionOptions()
    for s in (so, so_ref):
        s.add_free_dimension_override_by_name("batch", 2)
    sess = sn.InferenceSession(b, so, providers=CPU)
    ref = ort.InferenceSession(b, so_ref, providers=CPU)
    assert node_args(sess.get_inputs()) == node_args(ref.get_inputs()) == [("X", [2, 3], "tensor(float)")]
    assert node_args(sess.get_outputs()) == node_args(ref.get_outputs())
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], np.maximum(x, 0))
    bad = np.ones((3, 3), np.float32)
    with pytest.raises(sn.InvalidArgument) as e:
        sess.run(None, {"X": bad})
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.InvalidArgument) as e_ref:
        ref.run(None, {"X": bad})
    assert str(e.value) == str(e_ref.value)
    for fact in ("X", "Got: 3", "Expected: 2", "index: 0"):
        assert fact in str(e.value)
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], np.maximum(x, 0))


# ---- profiling ------------------------------------------------------------------------------
def test_profiling_writes_trace(sn, models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, reference = models.chain()
    so = sn.SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = "myprof"
    sess = sn.InferenceSession(model.SerializeToString(), so, providers=CPU)
    x = np.ones((2, 8), np.float32)
    runs = 3
    for _ in range(runs):
        np.testing.assert_allclose(sess.run(None, {"X": x})[0], reference(x)[0], rtol=1e-5, atol=1e-5)
    path = sess.end_profiling()
    assert os.path.basename(path).startswith("myprof") and path.endswith(".json")
    assert os.path.isfile(path)
    with open(path) as f:
        events = json.load(f)
    steps = sess.plan_summary()
    nodes = [e for e in events if e.get("cat") == "Node"]
    assert steps and len(nodes) == runs * len(steps)
    for e in nodes:
        assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0 and isinstance(e["name"], str)
        assert "op_name" in e["args"]
    assert {e["args"]["op_name"] for e in nodes} == {op for _, op, _ in steps}
    # profiling stops after end_profiling, as in onnxruntime
    sess.run(None, {"X": x})
    assert sess.end_profiling() == ""
    assert glob.glob(str(tmp_path / "myprof*")) == [path] or glob.glob("myprof*") == [path]


def test_profiling_two_sessions_do_not_overwrite(sn, models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    so = sn.SessionOptions()
    so.enable_profiling = True
    so.profile_file_prefix = "p"
    b = models.relu((1, 3)).SerializeToString()
    paths = []
    for _ in range(2):
        sess = sn.InferenceSession(b, so, providers=CPU)
        sess.run(None, {"X": np.ones((1, 3), np.float32)})
        paths.append(sess.end_profiling())
    assert paths[0] != paths[1]
    assert all(os.path.isfile(p) for p in paths)


def test_profiling_off(sn, models, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sess = sn.InferenceSession(models.relu((1, 3)).SerializeToString(), providers=CPU)
    sess.run(None, {"X": np.ones((1, 3), np.float32)})
    assert sess.end_profiling() == ""
    assert os.listdir(tmp_path) == []
    assert isinstance(sess.get_profiling_start_time_ns(), int)


# ---- optimized model -----------------------------------------------------------------------------
@pytest.mark.parametrize("batch", [4, "N"])
def test_optimized_model_filepath(sn, models, tmp_path, batch):
    model, reference = models.chain()
    if batch != "N":
        model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    out = tmp_path / "opt.onnx"
    so = sn.SessionOptions()
    so.optimized_model_filepath = str(out)
    sess = sn.InferenceSession(model.SerializeToString(), so, providers=CPU)
    assert out.is_file()  # written when the session is created, as onnxruntime does
    saved = onnx.load(str(out))
    onnx.checker.check_model(saved)
    assert [i.name for i in saved.graph.input] == ["X"]
    assert [o.name for o in saved.graph.output] == [o.name for o in model.graph.output]
    x = np.random.default_rng(2).standard_normal((4, 8)).astype(np.float32)
    again = sn.InferenceSession(str(out), providers=CPU)
    np.testing.assert_allclose(again.run(None, {"X": x})[0], reference(x)[0], rtol=1e-5, atol=1e-5)
    written = out.read_bytes()
    np.testing.assert_allclose(sess.run(None, {"X": x})[0], reference(x)[0], rtol=1e-5, atol=1e-5)
    # running (which builds a plan for a dynamic model) does not rewrite it with one batch size baked in
    assert out.read_bytes() == written


# ---- dynamic shapes -----------------------------------------------------------------------------
def test_dynamic_batch_plan_cache(sn, models):
    model, reference = models.chain()
    sess, ref = both(model)
    rng = np.random.default_rng(3)
    xs = {n: rng.standard_normal((n, 8)).astype(np.float32) for n in (1, 3)}
    for n in (1, 3, 1, 3, 1):
        x = xs[n]
        (y,) = sess.run(None, {"X": x})
        assert y.shape == (n, 4, 2)
        np.testing.assert_allclose(y, reference(x)[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(y, ref.run(None, {"X": x})[0], rtol=1e-5, atol=1e-5)
    assert len(sess._plans) == 2  # one plan per batch size, reused


def test_plan_cache_is_bounded(sn, models):
    from softneuro_ep import session as session_mod
    sess = sn.InferenceSession(models.relu(("N", 2)).SerializeToString(), providers=CPU)
    for n in range(1, session_mod.PLAN_CACHE_SIZE + 4):
        x = np.full((n, 2), -1.0, np.float32)
        x[:, 1] = n
        y = sess.run(None, {"X": x})[0]
        np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert len(sess._plans) == session_mod.PLAN_CACHE_SIZE


# ---- backend --------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # onnxruntime.backend imports onnx.version
def test_backend_prepare_and_run_model(sn, models, tmp_path):
    import onnxruntime.backend as ort_backend
    import softneuro_ep.backend as backend
    model = models.two_outputs()
    x = np.arange(-4, 4, dtype=np.float32).reshape(2, 4)
    want = ort_backend.run(model, [x])
    assert backend.supports_device("CPU") and not backend.supports_device("CUDA")
    assert backend.supports_device("CPU") == ort_backend.supports_device("CPU")
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    for src in (model, model.SerializeToString(), str(path)):
        rep = backend.prepare(src, "CPU")
        for inputs in ([x], x, {"X": x}):
            got = rep.run(inputs)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w)
    got = backend.run_model(model, [x])
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    got = backend.run(model, [x])  # onnxruntime.backend's name for run_model
    np.testing.assert_array_equal(got[0], want[0])
    sess = sn.InferenceSession(model.SerializeToString(), providers=CPU)
    assert backend.prepare(sess).run([x])[0].tolist() == want[0].tolist()
    with pytest.raises(RuntimeError):
        backend.prepare(model, "CUDA")


def test_backend_run_node(models):
    import softneuro_ep.backend as backend
    node = models.helper.make_node("Relu", ["x"], ["y"])
    x = np.array([[-1.5, 0, 2.5]], np.float32)
    (y,) = backend.run_node(node, [x])
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    (y,) = backend.run_node(node, {"x": x})
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    if models.has("Add"):
        add = models.helper.make_node("Add", ["a", "b"], ["c"])
        (c,) = backend.run_node(add, [x, np.float32(1)])
        np.testing.assert_array_equal(c, x + 1)
