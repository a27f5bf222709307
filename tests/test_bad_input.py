"""Bad models and bad feeds: a clear error of onnxruntime's class, with the
names that help, and the session still usable afterwards. Feeds onnxruntime
accepts (views, lists, scalars) give correct results."""
import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
ort_state = ort.capi.onnxruntime_pybind11_state
CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def relu_bytes():
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"], name="relu")], "g",
                          [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 3])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


@pytest.fixture(scope="module")
def pair(relu_bytes):
    import softneuro_ep
    return (softneuro_ep.InferenceSession(relu_bytes, providers=CPU),
            ort.InferenceSession(relu_bytes, providers=CPU))


GOOD = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)


def still_works(sess):
    np.testing.assert_array_equal(sess.run(None, {"X": GOOD})[0], np.maximum(GOOD, 0))


def same_error(sess, ref, cls_name, output_names, feed):
    """Both raise the class of that name (softneuro_ep's / onnxruntime's, or the
    builtin); returns (our message, theirs)."""
    import builtins

    import softneuro_ep
    ours_cls = getattr(softneuro_ep, cls_name, None) or getattr(builtins, cls_name)
    theirs_cls = getattr(ort_state, cls_name, None) or getattr(builtins, cls_name)
    with pytest.raises(ours_cls) as e:
        sess.run(output_names, feed)
    with pytest.raises(theirs_cls) as e_ref:
        ref.run(output_names, feed)
    return str(e.value), str(e_ref.value)


# ---- models that cannot load -----------------------------------------------------------------
def test_missing_file(sn, tmp_path, relu_bytes):
    path = tmp_path / "nope.onnx"
    with pytest.raises(sn.NoSuchFile, match="nope.onnx"):
        sn.InferenceSession(str(path), providers=CPU)
    with pytest.raises(ort_state.NoSuchFile):
        ort.InferenceSession(str(path), providers=CPU)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


@pytest.mark.parametrize("junk", [b"this is not an onnx model", b"\x08\x07\x12\xff\xff\xff", bytes(range(256))])
def test_not_a_model(sn, junk, tmp_path, relu_bytes):
    with pytest.raises(sn.InvalidProtobuf):
        sn.InferenceSession(junk, providers=CPU)
    with pytest.raises(ort_state.InvalidProtobuf):
        ort.InferenceSession(junk, providers=CPU)
    path = tmp_path / "junk.onnx"
    path.write_bytes(junk)
    with pytest.raises(sn.InvalidProtobuf, match="junk.onnx"):
        sn.InferenceSession(str(path), providers=CPU)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


def test_empty_bytes(sn, relu_bytes):
    with pytest.raises(ort_state.InvalidArgument, match="No graph"):
        ort.InferenceSession(b"", providers=CPU)
    # onnxruntime: InvalidArgument "No graph was found in the protobuf."; the loader says InvalidProtobuf
    with pytest.raises((sn.InvalidArgument, sn.InvalidProtobuf), match="graph"):
        sn.InferenceSession(b"", providers=CPU)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


def test_output_without_shape_loads(sn, models):
    m = models.make([models.helper.make_node("Relu", ["X"], ["Y"])], [models.vi("X", [2])], [models.vi("Y", None)])
    b = m.SerializeToString()
    sess = sn.InferenceSession(b, providers=CPU)
    assert sess.get_outputs()[0].shape == ort.InferenceSession(b, providers=CPU).get_outputs()[0].shape
    np.testing.assert_array_equal(sess.run(None, {"X": np.array([-1, 1], np.float32)})[0], [0, 1])


def test_model_failing_checker(sn, models, relu_bytes):
    h = models.helper
    bad = models.make([h.make_node("Relu", ["X", "X"], ["Y"], name="two_in")], [models.vi("X", [2])],
                      [models.vi("Y", [2])])
    b = bad.SerializeToString()
    with pytest.raises(sn.InvalidGraph) as e:
        sn.InferenceSession(b, providers=CPU)
    with pytest.raises(ort_state.InvalidGraph):
        ort.InferenceSession(b, providers=CPU)
    assert "Relu" in str(e.value) and "input size 2" in str(e.value)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


def test_undefined_tensor(sn, models):
    h = models.helper
    bad = models.make([h.make_node("Relu", ["Q"], ["Y"])], [models.vi("X", [2])], [models.vi("Y", [2])])
    # onnxruntime: InvalidArgument; onnx.checker (which we run first) calls it an invalid graph
    with pytest.raises((sn.InvalidGraph, sn.InvalidArgument), match="'Q'"):
        sn.InferenceSession(bad.SerializeToString(), providers=CPU)


def test_op_without_routine(sn, models, relu_bytes):
    # RoiAlign: a valid standard op onnxruntime runs and this engine has no routine for
    assert not models.has("RoiAlign")
    h, vi = models.helper, models.vi
    m = models.make([h.make_node("Relu", ["X"], ["R"], name="first"),
                     h.make_node("RoiAlign", ["R", "rois", "bi"], ["Y"], output_height=2, output_width=2,
                                 name="the_culprit")],
                    [vi("X", [1, 1, 4, 4]), vi("rois", [1, 4]), vi("bi", [1], 7)], [vi("Y", None)])  # 7: INT64
    b = m.SerializeToString()
    ort.InferenceSession(b, providers=CPU)  # onnxruntime runs it: the model is valid
    with pytest.raises(sn.NotImplemented) as e:
        sn.InferenceSession(b, providers=CPU)
    assert "RoiAlign" in str(e.value) and "the_culprit" in str(e.value)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


def test_custom_domain_op(sn, models, relu_bytes):
    h, vi = models.helper, models.vi
    m = models.make([h.make_node("FancyOp", ["X"], ["Y"], name="fancy", domain="com.acme")],
                    [vi("X", [2])], [vi("Y", [2])])
    m.opset_import.append(h.make_opsetid("com.acme", 1))
    b = m.SerializeToString()
    with pytest.raises(ort_state.Fail):  # onnxruntime: not a registered op
        ort.InferenceSession(b, providers=CPU)
    with pytest.raises(sn.NotImplemented) as e:
        sn.InferenceSession(b, providers=CPU)
    for fact in ("FancyOp", "fancy", "com.acme"):
        assert fact in str(e.value)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


def test_ai_onnx_ml_ops(sn, models, relu_bytes):
    """The ai.onnx.ml ops with routines load and run next to default-domain ops;
    other ai.onnx.ml ops stay a clear NotImplemented naming op and domain."""
    h, vi = models.helper, models.vi
    m = models.make([h.make_node("Binarizer", ["X"], ["B"], name="bin", domain="ai.onnx.ml", threshold=0.5),
                     h.make_node("ArrayFeatureExtractor", ["B", "I"], ["C"], name="afe", domain="ai.onnx.ml"),
                     h.make_node("Neg", ["C"], ["Y"], name="neg")],
                    [vi("X", [2, 4]), vi("I", [2], models.helper.TensorProto.INT64)], [vi("Y", [2, 2])])
    m.opset_import.append(h.make_opsetid("ai.onnx.ml", 1))
    x = np.array([[0.1, 0.7, 0.5, 2.0], [-1.0, 0.6, 0.4, 0.51]], np.float32)
    idx = np.array([3, 1], np.int64)
    (y,) = sn.InferenceSession(m.SerializeToString(), providers=CPU).run(None, {"X": x, "I": idx})
    np.testing.assert_array_equal(y, -(x > 0.5).astype(np.float32)[:, [3, 1]])
    m = models.make([h.make_node("Normalizer", ["X"], ["Y"], name="norm_node", domain="ai.onnx.ml", norm="L1")],
                    [vi("X", [2, 4])], [vi("Y", [2, 4])])
    m.opset_import.append(h.make_opsetid("ai.onnx.ml", 1))
    with pytest.raises(sn.NotImplemented) as e:
        sn.InferenceSession(m.SerializeToString(), providers=CPU)
    for fact in ("Normalizer", "norm_node", "ai.onnx.ml"):
        assert fact in str(e.value)
    still_works(sn.InferenceSession(relu_bytes, providers=CPU))


# ---- bad feeds ----------------------------------------------------------------------------------------
def test_unknown_feed_name(pair):
    sess, ref = pair
    # only the unknown name: onnxruntime reports the missing one (ValueError)
    ours, theirs = same_error(sess, ref, "ValueError", None, {"Z": GOOD})
    assert ours == theirs and "X" in ours and "Z" in ours
    # the right name plus an unknown one: InvalidArgument naming it
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": GOOD, "Z": GOOD})
    assert ours == theirs and "Invalid input name: Z" in ours
    still_works(sess)


def test_missing_feed(pair):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "ValueError", None, {})
    assert ours == theirs and "'X'" in ours
    still_works(sess)


@pytest.mark.parametrize("dtype, name", [(np.float64, "double"), (np.int64, "int64"), (np.int32, "int32"),
                                         (np.float16, "float16"), (np.bool_, "bool"), (np.uint8, "uint8")])
def test_wrong_dtype(pair, dtype, name):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": GOOD.astype(dtype)})
    assert ours == theirs
    assert f"Actual: (tensor({name}))" in ours and "expected: (tensor(float))" in ours
    still_works(sess)


def test_string_feed_dtype(pair):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": np.array([["a", "b", "c"]])})
    assert ours == theirs and "tensor(string)" in ours
    still_works(sess)


@pytest.mark.parametrize("shape", [(3,), (1, 2, 3), (1, 1, 1, 3)])
def test_wrong_rank(pair, shape):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": np.ones(shape, np.float32)})
    assert ours == theirs
    assert f"Invalid rank for input: X Got: {len(shape)} Expected: 2" in ours
    still_works(sess)


@pytest.mark.parametrize("shape", [(2, 4), (1, 1), (5, 0)])
def test_wrong_fixed_dim(pair, shape):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": np.ones(shape, np.float32)})
    assert ours == theirs
    assert "input: X" in ours and f"Got: {shape[1]} Expected: 3" in ours and "index: 1" in ours
    still_works(sess)


def test_several_wrong_dims_listed(sn, models):
    b = models.relu((2, 3)).SerializeToString()
    sess, ref = sn.InferenceSession(b, providers=CPU), ort.InferenceSession(b, providers=CPU)
    ours, theirs = same_error(sess, ref, "InvalidArgument", None, {"X": np.ones((4, 5), np.float32)})
    assert ours == theirs and "index: 0 Got: 4 Expected: 2" in ours and "index: 1 Got: 5 Expected: 3" in ours
    np.testing.assert_array_equal(sess.run(None, {"X": GOOD})[0], np.maximum(GOOD, 0))


@pytest.mark.parametrize("names", [["Q"], ["Y", "Q"], [""]])
def test_wrong_output_name(pair, names):
    sess, ref = pair
    ours, theirs = same_error(sess, ref, "InvalidArgument", names, {"X": GOOD})
    assert ours == theirs and "Invalid output name" in ours and (names[-1] in ours)
    still_works(sess)


def test_output_names_as_str(pair):
    sess, ref = pair
    with pytest.raises(TypeError):
        ref.run("Y", {"X": GOOD})
    with pytest.raises(TypeError):
        sess.run("Y", {"X": GOOD})
    still_works(sess)


def test_feed_that_is_not_an_array(pair):
    sess, ref = pair
    for bad in (None, "abc", object()):
        with pytest.raises(RuntimeError) as e:
            sess.run(None, {"X": bad})
        assert "'X'" in str(e.value)
    with pytest.raises(RuntimeError):
        ref.run(None, {"X": "abc"})
    with pytest.raises(RuntimeError, match="'X'"):
        sess.run(None, {"X": [[1, 2, 3], [1]]})  # ragged
    with pytest.raises(RuntimeError):
        ref.run(None, {"X": [[1, 2, 3], [1]]})
    with pytest.raises((TypeError, AttributeError)):
        sess.run(None, [GOOD])
    still_works(sess)


def test_run_time_shape_error_leaves_session_usable(sn, models):
    h = models.helper
    m = models.make([h.make_node("Reshape", ["X", "s"], ["Y"], name="resh")], [models.vi("X", ["N", 3])],
                    [models.vi("Y", [2, None])], [models.init("s", np.array([2, -1], np.int64))])
    sess = sn.InferenceSession(m.SerializeToString(), providers=CPU)
    with pytest.raises((sn.Fail, sn.InvalidArgument, sn.NotImplemented)) as e:
        sess.run(None, {"X": np.ones((3, 3), np.float32)})  # 9 elements do not reshape to [2, -1]
    assert "resh" in str(e.value)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], x.reshape(2, 3))


def test_run_time_shape_error_class(sn, models):
    h = models.helper
    m = models.make([h.make_node("Reshape", ["X", "s"], ["Y"], name="resh")], [models.vi("X", ["N", 3])],
                    [models.vi("Y", [2, None])], [models.init("s", np.array([2, -1], np.int64))])
    sess = sn.InferenceSession(m.SerializeToString(), providers=CPU)
    with pytest.raises((sn.Fail, sn.InvalidArgument)):
        sess.run(None, {"X": np.ones((3, 3), np.float32)})


# ---- feeds that are accepted ---------------------------------------------------------------------------
def _views():
    base = np.arange(-12, 12, dtype=np.float32).reshape(4, 6)
    return {
        "strided": base[:, ::2],
        "transposed": base[:3, :3].T,
        "fortran": np.asfortranarray(base[:, :3]),
        "reversed": base[::-1, 1:4],
        "read_only": np.frombuffer(base[:, :3].tobytes(), np.float32).reshape(4, 3),
        "big_endian": base[:, :3].astype(">f4"),
        "empty_batch": base[:0, :3],
    }


@pytest.mark.parametrize("kind", list(_views()))
def test_non_contiguous_and_odd_arrays(pair, kind):
    sess, ref = pair
    x = _views()[kind]
    (y,) = sess.run(None, {"X": x})
    want = np.maximum(x.astype(np.float32), 0)
    assert y.shape == want.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, want)
    if kind != "big_endian":  # onnxruntime reads big-endian data as native (garbage); we convert it
        np.testing.assert_array_equal(y, ref.run(None, {"X": x})[0])
    still_works(sess)


def test_list_feed(pair):
    sess, ref = pair
    for feed in ([[1.5, -2, 3]], [[1, -2, 3], [-4, 5, -6]], [(1, 2, 3)], ((1, 2, 3),)):
        (y,) = sess.run(None, {"X": feed})
        want = np.maximum(np.array(feed, np.float32), 0)
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, want)
        if isinstance(feed, list):  # onnxruntime takes lists only; a tuple is our extra
            np.testing.assert_array_equal(y, ref.run(None, {"X": feed})[0])
    still_works(sess)


def test_int_and_bool_list_feeds(sn, models):
    from onnx import TensorProto
    h, vi = models.helper, models.vi
    for elem, feed, dtype in ((TensorProto.INT64, [1, -2, 3], np.int64), (TensorProto.BOOL, [True, False, True], np.bool_)):
        m = models.make([h.make_node("Identity", ["I"], ["J"])], [vi("I", [3], elem)], [vi("J", [3], elem)])
        (y,) = sn.InferenceSession(m.SerializeToString(), providers=CPU).run(None, {"I": feed})
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, np.array(feed, dtype))


def test_scalar_input(sn, models):
    h, vi = models.helper, models.vi
    m = models.make([h.make_node("Relu", ["S"], ["T"], name="r")], [vi("S", [])], [vi("T", [])])
    b = m.SerializeToString()
    sess, ref = sn.InferenceSession(b, providers=CPU), ort.InferenceSession(b, providers=CPU)
    for feed, want in ((np.array(-2.5, np.float32), 0.0), (np.array(3.5, np.float32), 3.5),
                       (np.float32(4), 4.0), (2.0, 2.0), (-1, 0.0)):
        (y,) = sess.run(None, {"S": feed})
        assert y.shape == () and y.dtype == np.float32 and float(y) == want
    (y_ref,) = ref.run(None, {"S": np.array(3.5, np.float32)})
    assert y_ref.shape == () and float(y_ref) == 3.5
    # onnxruntime checks no shape for an input declared as a scalar: [1] passes through
    one = np.array([-7.0], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"S": one})[0], ref.run(None, {"S": one})[0])
    with pytest.raises(sn.InvalidArgument, match="tensor\\(double\\)"):
        sess.run(None, {"S": np.float64(1)})
    assert float(sess.run(None, {"S": np.array(3.5, np.float32)})[0]) == 3.5


def test_model_with_external_data_loads_from_path(sn, tmp_path):
    """Weights stored beside the model (onnx external data) load by path."""
    import onnx
    from onnx import helper, numpy_helper
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "ext",
                          [helper.make_tensor_value_info("x", 1, [2, 3])],
                          [helper.make_tensor_value_info("y", 1, [2, 4])], [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="ext.data", size_threshold=0)
    assert (tmp_path / "ext.data").exists()
    sess = sn.InferenceSession(str(path), providers=CPU)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], x @ w, rtol=1e-6)
    (tmp_path / "ext.data").unlink()
    with pytest.raises((sn.NoSuchFile, sn.InvalidProtobuf, sn.InvalidGraph)):
        sn.InferenceSession(str(path), providers=CPU)
