"""ai.onnx.ml tree ensembles (TreeEnsemble 5, TreeEnsembleRegressor/Classifier 3) in whole
sessions: against onnxruntime on hypothesis-drawn forests, the conformance
reference against onnx's reference evaluator where that defines the answer,
and bad attributes as InvalidArgument naming the node."""
import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conformance"))
from refs import REFS  # noqa: E402
from refs.trees import tree_model, v3_eval, v5_eval  # noqa: E402

ort = pytest.importorskip("onnxruntime")
CPU = ["CPUExecutionProvider"]


def _ort_run(model, x):
    sess = ort.InferenceSession(model.SerializeToString(), providers=CPU)
    return sess.run(None, {"X": x})[0]


def _sn_run(model, x):
    import softneuro_ep
    return softneuro_ep.InferenceSession(model.SerializeToString(), providers=CPU).run(None, {"X": x})[0]


def _draw(data, op, dtypes):
    inputs, attrs = REFS[op].draw(data.draw, "cpu/direct")
    x = inputs[0]
    if x.dtype not in dtypes:
        x = x.astype(dtypes[0]) if dtypes[0].kind == "f" else np.nan_to_num(x).astype(dtypes[0])
    if x.shape[0] == 0:
        x = np.zeros((1, x.shape[1]), x.dtype)
    if op == "TreeEnsemble":  # tensor attributes in X's type
        attrs = {k: (v.astype(x.dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                 for k, v in attrs.items()}
    return x, attrs


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_regressor_matches_onnxruntime(data):
    x, attrs = _draw(data, "TreeEnsembleRegressor", [np.dtype(np.float32), np.dtype(np.float64)])
    # onnxruntime's inverse erf is a 1e-3 approximation; it passes one target through SOFTMAX/LOGISTIC untransformed
    if attrs["post_transform"] == "PROBIT" or attrs["n_targets"] == 1:
        attrs["post_transform"] = "NONE"
    keys = list(zip(attrs["target_treeids"], attrs["target_nodeids"], attrs["target_ids"]))
    if len(set(keys)) < len(keys):
        return  # one leaf weighting one target twice: onnxruntime keeps one of the weights for a single target
    model = tree_model("TreeEnsembleRegressor", attrs, x.dtype, 3, n_features=x.shape[1])
    np.testing.assert_allclose(_sn_run(model, x), _ort_run(model, x), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_classifier_matches_onnxruntime(data):
    import softneuro_ep
    x, attrs = _draw(data, "TreeEnsembleClassifier", [np.dtype(np.float32), np.dtype(np.float64)])
    model = tree_model("TreeEnsembleClassifier", attrs, x.dtype, 3, n_features=x.shape[1])
    ours = softneuro_ep.InferenceSession(model.SerializeToString(), providers=CPU).run(None, {"X": x})
    theirs = ort.InferenceSession(model.SerializeToString(), providers=CPU).run(None, {"X": x})
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-5)


def test_classifier_bad_class_and_binary_not_implemented():
    import softneuro_ep
    attrs = dict(nodes_treeids=[0], nodes_nodeids=[0], nodes_modes=["LEAF"], nodes_featureids=[0], nodes_values=[0.0],
                 nodes_truenodeids=[0], nodes_falsenodeids=[0], class_treeids=[0], class_nodeids=[0], class_ids=[1],
                 class_weights=[0.7], classlabels_int64s=[0, 1])
    model = tree_model("TreeEnsembleClassifier", attrs, np.float32, 3, n_features=1)
    bad = dict(attrs, classlabels_int64s=[0, 1, 2], class_ids=[3])
    model_bad = tree_model("TreeEnsembleClassifier", bad, np.float32, 3, n_features=1)
    model_bad.graph.node[0].name = "cls"
    with pytest.raises(softneuro_ep.InvalidArgument) as e:  # class id out of range
        softneuro_ep.InferenceSession(model_bad.SerializeToString(), providers=CPU).run(None, {"X": np.zeros((2, 1),
                                                                                                     np.float32)})
    assert "cls" in str(e.value) and "class_ids" in str(e.value), str(e.value)
    with pytest.raises(softneuro_ep.NotImplemented) as e:  # two classes: onnxruntime's binary rules, not yet
        softneuro_ep.InferenceSession(model.SerializeToString(), providers=CPU).run(None, {"X": np.zeros((2, 1),
                                                                                                 np.float32)})
    assert "TreeEnsembleClassifier" in str(e.value)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_tree_ensemble_matches_onnxruntime(data):
    x, attrs = _draw(data, "TreeEnsemble", [np.dtype(np.float32), np.dtype(np.float64)])
    # onnxruntime 1.2x swaps TreeEnsemble's post_transform 1 (SOFTMAX) and 2 (LOGISTIC), passes one
    # target through untransformed, approximates PROBIT's inverse erf to 1e-3, and tests
    # membership on the input truncated to an integer
    if attrs["post_transform"] in (1, 2, 4) or attrs["n_targets"] == 1:
        attrs["post_transform"] = 0
    if "membership_values" in attrs:
        x = np.round(x)
    model = tree_model("TreeEnsemble", attrs, x.dtype, 5, n_features=x.shape[1])
    np.testing.assert_allclose(_sn_run(model, x), _ort_run(model, x), rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_reference_matches_onnx_evaluator(data):
    """The conformance walk agrees with onnx's reference evaluator where the
    evaluator implements the case (no post_transform, no base values; a target
    no leaf reaches is +-max there under MIN/MAX, 0 here)."""
    from onnx.reference import ReferenceEvaluator
    op = data.draw(st.sampled_from(["TreeEnsemble", "TreeEnsembleRegressor"]))
    x, attrs = _draw(data, op, [np.dtype(np.float64)])
    if op == "TreeEnsemble":
        attrs.update(post_transform=0)
        want = v5_eval(x, attrs)
        if any(attrs["nodes_trueleafs"][r] and attrs["nodes_falseleafs"][r] and
               attrs["nodes_truenodeids"][r] == attrs["nodes_falsenodeids"][r] for r in attrs["tree_roots"]):
            return  # the evaluator takes a one-leaf tree's leaf at the root's index, not the one it names
        model = tree_model(op, attrs, x.dtype, 5, n_features=x.shape[1])
    else:
        attrs.update(post_transform="NONE", aggregate_function=data.draw(st.sampled_from(["SUM", "AVERAGE"])))
        attrs.pop("base_values", None)  # the evaluator adds them to targets no leaf reached too
        if "BRANCH_NEQ" in attrs["nodes_modes"]:  # the evaluator sends NaN by the missing flag, not NaN != split
            x = np.nan_to_num(x)
        want = v3_eval(x, attrs)
        model = tree_model(op, attrs, x.dtype, 3, n_features=x.shape[1])
    got = ReferenceEvaluator(model).run(None, {"X": x})[0]
    got = np.where(np.abs(got) == np.finfo(np.float64).max, 0.0, got)  # MIN/MAX: a target no leaf reached
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def _v5_attrs(**over):
    a = dict(n_targets=2, aggregate_function=1, tree_roots=[0], nodes_modes=np.array([0, 0], np.uint8),
             nodes_featureids=[0, 1], nodes_splits=np.array([0.5, 1.5], np.float32),
             nodes_truenodeids=[1, 0], nodes_trueleafs=[0, 1], nodes_falsenodeids=[1, 2], nodes_falseleafs=[1, 1],
             leaf_targetids=[0, 1, 1], leaf_weights=np.array([1, 2, 3], np.float32))
    a.update(over)
    return a


def _v5_model(**over):
    from onnx import TensorProto, helper, numpy_helper
    attrs = {k: (numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v) for k, v in _v5_attrs(**over).items()}
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], name="trees", domain="ai.onnx.ml", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 2])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    return m


def test_small_forest_and_ml_opset_follows_model():
    x = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, 0.0], [np.nan, 1.0]], np.float32)
    y = _sn_run(_v5_model(), x)
    np.testing.assert_array_equal(y, [[1, 0], [0, 3], [0, 2], [0, 2]])
    np.testing.assert_array_equal(y, _ort_run(_v5_model(), x))


@pytest.mark.parametrize("over, fact", [
    (dict(nodes_featureids=[0]), "nodes_featureids"),                    # lengths differ
    (dict(nodes_truenodeids=[7, 0]), "nodes_truenodeids"),              # node id out of range
    (dict(nodes_falsenodeids=[1, 9]), "nodes_falsenodeids"),            # leaf id out of range
    (dict(tree_roots=[5]), "tree_roots"),                               # root out of range
    (dict(leaf_targetids=[0, 1, 2]), "leaf_targetids"),                 # target >= n_targets
    (dict(nodes_featureids=[0, 4]), "feature"),                          # feature >= F
    (dict(nodes_truenodeids=[1, 0], nodes_trueleafs=[0, 0]), "cycle"),  # 0 -> 1 -> 0
    (dict(aggregate_function=9), "aggregate_function"),
])
def test_bad_attributes_are_invalid_argument(over, fact):
    """The routine's own checks (the plan built directly, as constant folding
    and the conformance runner do) name the node; a session names it too, with
    onnx shape inference's Fail where that sees the fault first (as onnxruntime)."""
    import softneuro_ep
    from softneuro_ep.graph_passes.node_eval import build_node_plan
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(softneuro_ep.InvalidArgument) as e:
        plan, feeds = build_node_plan("TreeEnsemble", [x], _v5_attrs(**over), [(np.float32, (2, 2))], name="trees",
                                      const_inputs=False)
        plan.run(feeds)
    assert "trees" in str(e.value) and fact in str(e.value), str(e.value)
    with pytest.raises((softneuro_ep.InvalidArgument, softneuro_ep.Fail)) as e:
        softneuro_ep.InferenceSession(_v5_model(**over).SerializeToString(), providers=CPU).run(None, {"X": x})
    assert "trees" in str(e.value)


def test_regressor_bad_attributes():
    import softneuro_ep
    attrs = dict(n_targets=1, nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
                 nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[0.5, 0, 0], nodes_truenodeids=[1, 0, 0],
                 nodes_falsenodeids=[2, 0, 0], target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
                 target_weights=[1.0, 2.0])
    x = np.array([[0.0], [1.0]], np.float32)
    np.testing.assert_array_equal(_sn_run(tree_model("TreeEnsembleRegressor", attrs, np.float32, 3, n_features=1), x),
                                  [[1.0], [2.0]])
    for over, fact in [(dict(nodes_falsenodeids=[5, 0, 0]), "not in tree"), (dict(target_nodeids=[1, 0]), "LEAF"),
                       (dict(nodes_modes=["BRANCH_XX", "LEAF", "LEAF"]), "BRANCH_XX"),
                       (dict(nodes_values=[0.5]), "nodes_values"), (dict(target_ids=[0, 3]), "target_ids")]:
        m = tree_model("TreeEnsembleRegressor", dict(attrs, **over), np.float32, 3, n_features=1)
        m.graph.node[0].name = "reg"
        with pytest.raises(softneuro_ep.InvalidArgument) as e:
            softneuro_ep.InferenceSession(m.SerializeToString(), providers=CPU).run(None, {"X": x})
        assert "reg" in str(e.value) and fact in str(e.value), str(e.value)


def _random_forest(rng, n_trees, depth, n_features, n_targets, mode="BRANCH_LEQ"):
    """A full-depth random forest as TreeEnsembleRegressor attributes (a model's size, not a test's)."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "target_treeids", "target_nodeids", "target_ids",
                         "target_weights")}
    for t in range(n_trees):
        n_nodes = 2 ** (depth + 1) - 1
        for i in range(n_nodes):
            leaf = i >= 2 ** depth - 1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_modes"].append("LEAF" if leaf else mode)
            a["nodes_featureids"].append(0 if leaf else int(rng.integers(n_features)))
            a["nodes_values"].append(0.0 if leaf else float(np.float32(rng.normal())))
            a["nodes_truenodeids"].append(0 if leaf else 2 * i + 1)
            a["nodes_falsenodeids"].append(0 if leaf else 2 * i + 2)
            if leaf:
                for j in range(n_targets):
                    a["target_treeids"].append(t)
                    a["target_nodeids"].append(i)
                    a["target_ids"].append(j)
                    a["target_weights"].append(float(np.float32(rng.normal())))
    a.update(n_targets=n_targets, aggregate_function="AVERAGE", base_values=[0.5] * n_targets)
    return a


@pytest.mark.parametrize("mode", ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_forest_model_matches_onnxruntime(mode, dtype):
    """Forests of one comparison take the walk's specialised paths (float compares for float32)."""
    rng = np.random.default_rng(7)
    attrs = _random_forest(rng, n_trees=30, depth=6, n_features=8, n_targets=2, mode=mode)
    x = rng.normal(size=(500, 8)).astype(dtype)
    x[::7, attrs["nodes_featureids"][0]] = attrs["nodes_values"][0]  # rows on the first split
    model = tree_model("TreeEnsembleRegressor", attrs, dtype, 3, n_features=8)
    np.testing.assert_allclose(_sn_run(model, x), _ort_run(model, x), rtol=1e-5, atol=1e-5)
