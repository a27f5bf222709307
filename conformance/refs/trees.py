"""References for the ai.onnx.ml tree ensembles: TreeEnsemble (ai.onnx.ml 5),
TreeEnsembleRegressor and TreeEnsembleClassifier (ai.onnx.ml 3; the classifier
with integer labels and three or more classes).

Trees are drawn in preorder (a node's index precedes its subtrees', the true
subtree first), so membership sets listed in node order are also listed in the
order onnx's reference evaluator consumes them. Values come from a grid of
halves that also holds the splits, so EQ/NEQ/MEMBER branches are taken both
ways, and some inputs are NaN (missing). The numpy walk here follows the spec
and onnxruntime where onnx's reference evaluator does not implement something:
post_transform (the spec's math: softmax of one target is 1, where onnxruntime
passes it through), a target no leaf reaches (0 with no base value, as
onnxruntime; for MIN/MAX the evaluator gives +-max).
tests/test_tree_ensemble.py checks this walk against onnx's reference evaluator
and onnxruntime on cases where they define the answer.
"""
import numpy as np
from hypothesis import strategies as st
from onnx import helper

from .base import Reference, reference

GRID = [x / 2 for x in range(-6, 7)]
MODES_V3 = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]


def draw_forest(draw, n_features, n_targets, member=True, max_trees=3, max_depth=3):
    """A list of trees; each node a dict (feature, mode, split, members, miss, t, f)
    with t/f ('n', node index) or ('l', leaf index); leaves (target, weight)."""
    nodes, leaves, roots = [], [], []

    def leaf():
        leaves.append((draw(st.integers(0, n_targets - 1)), draw(st.sampled_from(GRID + [0.25, -1.75]))))
        return ("l", len(leaves) - 1)

    def node(depth):
        k = len(nodes)
        mode = draw(st.integers(0, 6 if member else 5))
        nd = {"feature": draw(st.integers(0, n_features - 1)), "mode": mode, "miss": draw(st.booleans()),
              "split": draw(st.sampled_from(GRID)), "members": []}
        if mode == 6:  # members: nonzero integers (onnx's evaluator stops a set at a falsy 0.0; onnxruntime
            # takes integer members only)
            nd["members"] = draw(st.lists(st.sampled_from([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]), min_size=1, max_size=3,
                                          unique=True))
            nd["split"] = float("nan")
        nodes.append(nd)
        nd["t"] = node(depth + 1) if depth < max_depth and draw(st.booleans()) else leaf()
        nd["f"] = node(depth + 1) if depth < max_depth and draw(st.booleans()) else leaf()
        return ("n", k)

    for _ in range(draw(st.integers(1, max_trees))):
        if draw(st.integers(0, 5)) == 0:  # a one-leaf tree: its root's branches name the same leaf
            lf = leaf()
            nodes.append({"feature": 0, "mode": 0, "miss": False, "split": 0.0, "members": [], "t": lf, "f": lf})
            roots.append(len(nodes) - 1)
        else:
            roots.append(node(0)[1])
    return nodes, leaves, roots


def draw_x(draw, n_features, dtype):
    rows = draw(st.integers(0, 6))
    vals = draw(st.lists(st.sampled_from(GRID + [0.3, -2.2, float("nan")]), min_size=rows * n_features,
                         max_size=rows * n_features))
    x = np.array(vals, dtype=np.float64).reshape(rows, n_features)
    if np.dtype(dtype).kind == "i":
        x = np.nan_to_num(np.round(x)).astype(dtype)
    return x.astype(dtype)


def _go(nd, v):
    m = nd["mode"]
    if m == 6:
        go = v in nd["members"]
    else:
        s = nd["split"]
        go = [v <= s, v < s, v >= s, v > s, v == s, v != s][m]
    return bool(go or (nd["miss"] and np.isnan(v)))


def forest_eval(x, nodes, leaf_targets, roots, n_targets, agg, post, base=None):
    """Scores (N, n_targets) in float64. roots: ('n', i) or ('l', leaf);
    leaf_targets: leaf -> list of (target, weight)."""
    out = np.zeros((x.shape[0], n_targets))
    for r in range(x.shape[0]):
        s, has = _walk(x[r], nodes, leaf_targets, roots, n_targets, agg)
        if agg == 0:
            s /= len(roots)
        if base is not None:  # onnxruntime leaves a target no leaf reached at 0, base value not added
            s += np.where(has, np.asarray(base, np.float64), 0.0)
        out[r] = _post(s, post)
    return out


def _walk(xr, nodes, leaf_targets, roots, n_targets, agg):
    """One row: (scores, reached) before averaging, base values and post_transform."""
    s, has = np.zeros(n_targets), np.zeros(n_targets, bool)
    for c in roots:
        while c[0] == "n":
            nd = nodes[c[1]]
            c = nd["t"] if _go(nd, float(xr[nd["feature"]])) else nd["f"]
        for j, w in leaf_targets[c[1]]:
            if agg in (2, 3) and has[j]:
                s[j] = min(s[j], w) if agg == 2 else max(s[j], w)
            elif agg in (2, 3):
                s[j] = w
            else:
                s[j] += w
            has[j] = True
    return s, has


def _post(v, post):
    if post == 1:
        e = np.exp(v - v.max())
        return e / e.sum()
    if post == 2:
        return 1 / (1 + np.exp(-v))
    if post == 3:
        m = v.max()
        nz = np.abs(v) > 1e-7
        e = np.where(nz, np.exp(v - m), v * np.exp(-m))
        return e / e[nz].sum()
    if post == 4:
        from scipy.special import erfinv
        return np.sqrt(2) * erfinv(2 * v - 1)
    return v


def _draw_agg_post(draw, n_targets):
    agg = draw(st.integers(0, 3))
    post = draw(st.sampled_from([0, 0, 1, 2, 3] + ([4] if n_targets == 1 else [])))
    return agg, post


@reference
class TreeEnsembleRef(Reference):
    op = "TreeEnsemble"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.float16])))
        nf, nt = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        nodes, leaves, roots = draw_forest(draw, nf, nt)
        agg, post = _draw_agg_post(draw, nt)
        if post == 4:  # PROBIT needs scores in (0, 1)
            leaves = [(t, abs(w) / 8 + 0.05) for t, w in leaves]
            agg = draw(st.sampled_from([0, 2, 3]))
        mem = [m for nd in nodes if nd["mode"] == 6 for m in nd["members"] + [float("nan")]]
        leaf_idx = lambda c: c[1]  # noqa: E731
        attrs = {
            "n_targets": nt, "aggregate_function": agg, "post_transform": post, "tree_roots": roots,
            "nodes_featureids": [nd["feature"] for nd in nodes],
            "nodes_modes": np.array([nd["mode"] for nd in nodes], np.uint8),
            "nodes_splits": np.array([nd["split"] for nd in nodes], dt),
            "nodes_truenodeids": [leaf_idx(nd["t"]) for nd in nodes],
            "nodes_trueleafs": [int(nd["t"][0] == "l") for nd in nodes],
            "nodes_falsenodeids": [leaf_idx(nd["f"]) for nd in nodes],
            "nodes_falseleafs": [int(nd["f"][0] == "l") for nd in nodes],
            "leaf_targetids": [t for t, _ in leaves],
            "leaf_weights": np.array([w for _, w in leaves], dt),
        }
        if any(nd["miss"] for nd in nodes) and draw(st.booleans()):
            attrs["nodes_missing_value_tracks_true"] = [int(nd["miss"]) for nd in nodes]
        if mem:
            attrs["membership_values"] = np.array(mem, dt)
        return [draw_x(draw, nf, dt)], attrs

    def compute(self, inputs, attrs):
        return [v5_eval(inputs[0], attrs).astype(inputs[0].dtype)]


def v5_eval(x, attrs):
    """TreeEnsemble (ai.onnx.ml 5) attributes -> forest_eval, float64 scores."""
    a = attrs
    n = len(a["nodes_featureids"])
    miss = a.get("nodes_missing_value_tracks_true") or [0] * n
    mem = list(np.asarray(a.get("membership_values", []), np.float64))
    nodes = []
    for i in range(n):
        members = []
        if int(a["nodes_modes"][i]) == 6:
            while not np.isnan(mem[0]):
                members.append(mem.pop(0))
            mem.pop(0)
        ref = lambda ids, lf: ("l", ids[i]) if lf[i] else ("n", ids[i])  # noqa: E731
        nodes.append({"feature": a["nodes_featureids"][i], "mode": int(a["nodes_modes"][i]), "miss": bool(miss[i]),
                      "split": float(np.asarray(a["nodes_splits"], np.float64)[i]), "members": members,
                      "t": ref(a["nodes_truenodeids"], a["nodes_trueleafs"]),
                      "f": ref(a["nodes_falsenodeids"], a["nodes_falseleafs"])})
    roots = []
    for r in a["tree_roots"]:
        nd = nodes[r]
        roots.append(nd["t"] if nd["t"] == nd["f"] and nd["t"][0] == "l" else ("n", r))
    w = np.asarray(a["leaf_weights"], np.float64)
    leaf_targets = [[(t, float(w[k]))] for k, t in enumerate(a["leaf_targetids"])]
    return forest_eval(x, nodes, leaf_targets, roots, a.get("n_targets", 1), a.get("aggregate_function", 1),
                       a.get("post_transform", 0))


AGG_V3 = ["AVERAGE", "SUM", "MIN", "MAX"]
POST_V3 = ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]


def to_v3(nodes, leaves, roots, extra_targets):
    """The forest as TreeEnsembleRegressor attributes: tree k holds the nodes
    and leaves reachable from root k, ids numbered in preorder from 0."""
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_modes", "nodes_featureids", "nodes_values",
                         "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true",
                         "target_treeids", "target_nodeids", "target_ids", "target_weights")}
    for tree, root in enumerate(roots):
        ids = {}

        def number(c):
            ids[c] = len(ids)
            if c[0] == "n":
                number(nodes[c[1]]["t"])
                number(nodes[c[1]]["f"])
        rc = ("n", root)
        nd = nodes[root]
        if nd["t"] == nd["f"] and nd["t"][0] == "l":
            rc = nd["t"]
        number(rc)
        for c, i in sorted(ids.items(), key=lambda kv: kv[1]):
            a["nodes_treeids"].append(tree)
            a["nodes_nodeids"].append(i)
            if c[0] == "n":
                nd = nodes[c[1]]
                a["nodes_modes"].append(MODES_V3[nd["mode"]])
                a["nodes_featureids"].append(nd["feature"])
                a["nodes_values"].append(nd["split"])
                a["nodes_truenodeids"].append(ids[nd["t"]])
                a["nodes_falsenodeids"].append(ids[nd["f"]])
                a["nodes_missing_value_tracks_true"].append(int(nd["miss"]))
            else:
                a["nodes_modes"].append("LEAF")
                a["nodes_featureids"].append(0)
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["nodes_missing_value_tracks_true"].append(0)
                for t, w in [leaves[c[1]]] + extra_targets.get(c[1], []):
                    a["target_treeids"].append(tree)
                    a["target_nodeids"].append(i)
                    a["target_ids"].append(t)
                    a["target_weights"].append(w)
    return a


def v3_eval(x, a, classifier=False):
    """TreeEnsembleRegressor attributes -> forest_eval, float64 scores; with
    classifier, TreeEnsembleClassifier's (labels, scores)."""
    index = {(t, i): k for k, (t, i) in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"]))}
    targets = {}
    p = "class_" if classifier else "target_"
    for t, i, j, w in zip(a[p + "treeids"], a[p + "nodeids"], a[p + "ids"], a[p + "weights"]):
        targets.setdefault(index[t, i], []).append((j, w))
    miss = a.get("nodes_missing_value_tracks_true") or [0] * len(index)

    def ref(k, child):
        c = index[a["nodes_treeids"][k], child]
        return ("l", c) if a["nodes_modes"][c] == "LEAF" else ("n", c)
    nodes, leaf_targets = {}, {}
    for k, m in enumerate(a["nodes_modes"]):
        if m == "LEAF":
            leaf_targets[k] = targets.get(k, [])
        else:
            nodes[k] = {"feature": a["nodes_featureids"][k], "mode": MODES_V3.index(m), "miss": bool(miss[k]),
                        "split": float(np.float32(a["nodes_values"][k])), "members": [],
                        "t": ref(k, a["nodes_truenodeids"][k]), "f": ref(k, a["nodes_falsenodeids"][k])}
    roots, seen = [], set()
    for k, t in enumerate(a["nodes_treeids"]):
        if t not in seen:
            seen.add(t)
            roots.append(("l", k) if a["nodes_modes"][k] == "LEAF" else ("n", k))
    if classifier:  # as onnxruntime for 3+ classes: a class no leaf reached scores its base value
        k = len(a["classlabels_int64s"])
        base = np.asarray(a.get("base_values", []), np.float64)
        labels, scores = [], np.zeros((x.shape[0], k))
        for r in range(x.shape[0]):
            s, has = _walk(x[r].astype(np.float64), nodes, leaf_targets, roots, k, 1)
            if base.size:
                s, has = s + base, np.ones(k, bool)
            best = int(np.argmax(np.where(has, s, -np.inf))) if has.any() else 0
            labels.append(a["classlabels_int64s"][best])
            scores[r] = _post(s, POST_V3.index(a.get("post_transform", "NONE")))
        return np.array(labels, np.int64), scores
    return forest_eval(x.astype(np.float64), nodes, leaf_targets, roots, a.get("n_targets", 1),
                       AGG_V3.index(a.get("aggregate_function", "SUM")), POST_V3.index(a.get("post_transform", "NONE")),
                       a.get("base_values"))


@reference
class TreeEnsembleRegressorRef(Reference):
    op = "TreeEnsembleRegressor"

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64])))
        nf, nt = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        nodes, leaves, roots = draw_forest(draw, nf, nt, member=False)
        agg, post = _draw_agg_post(draw, nt)
        extra = {}
        for k in range(len(leaves)):  # a leaf may feed several targets
            if draw(st.integers(0, 3)) == 0:
                extra[k] = [(draw(st.integers(0, nt - 1)), draw(st.sampled_from(GRID)))]
        if post == 4:
            leaves = [(t, abs(w) / 8 + 0.05) for t, w in leaves]
            extra = {}
            agg = draw(st.sampled_from([0, 2, 3]))
        attrs = to_v3(nodes, leaves, roots, extra)
        attrs.update({"n_targets": nt, "aggregate_function": AGG_V3[agg], "post_transform": POST_V3[post]})
        if post != 4 and draw(st.booleans()):
            attrs["base_values"] = [draw(st.sampled_from(GRID)) for _ in range(nt)]
        if not any(attrs["nodes_missing_value_tracks_true"]) and draw(st.booleans()):
            del attrs["nodes_missing_value_tracks_true"]
        return [draw_x(draw, nf, dt)], attrs

    def compute(self, inputs, attrs):
        return [v3_eval(inputs[0], attrs).astype(np.float32)]


@reference
class TreeEnsembleClassifierRef(Reference):
    op = "TreeEnsembleClassifier"
    n_outputs = 2

    def draw(self, draw, descriptor):
        dt = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.int64])))
        nf, nc = draw(st.integers(1, 3)), draw(st.integers(3, 4))
        nodes, leaves, roots = draw_forest(draw, nf, nc, member=False)
        extra = {k: [(draw(st.integers(0, nc - 1)), draw(st.sampled_from(GRID)))]
                 for k in range(len(leaves)) if draw(st.integers(0, 2)) == 0}
        a = to_v3(nodes, leaves, roots, extra)
        for f in ("treeids", "nodeids", "ids", "weights"):
            a["class_" + f] = a.pop("target_" + f)
        a["classlabels_int64s"] = draw(st.lists(st.integers(-5, 20), min_size=nc, max_size=nc, unique=True))
        a["post_transform"] = draw(st.sampled_from(POST_V3[:4]))
        if draw(st.booleans()):
            a["base_values"] = [draw(st.sampled_from(GRID)) for _ in range(nc)]
        return [draw_x(draw, nf, dt)], a

    def compute(self, inputs, attrs):
        labels, scores = v3_eval(inputs[0], attrs, classifier=True)
        return [labels, scores.astype(np.float32)]


def tree_model(op, attrs, x_dtype, ml_opset, n_rows=None, n_features=None):
    """A one-node ModelProto (for tests against onnxruntime / onnx's evaluator)."""
    from onnx import TensorProto, numpy_helper
    kw = {k: (numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v) for k, v in attrs.items()}
    outs = ["Y", "Z"] if op == "TreeEnsembleClassifier" else ["Y"]
    node = helper.make_node(op, ["X"], outs, domain="ai.onnx.ml", **kw)
    y_type = helper.np_dtype_to_tensor_dtype(np.dtype(x_dtype)) if op == "TreeEnsemble" else TensorProto.FLOAT
    if op == "TreeEnsembleClassifier":
        y_type = TensorProto.INT64
    graph = helper.make_graph([node], "tree", [helper.make_tensor_value_info("X", helper.np_dtype_to_tensor_dtype(
        np.dtype(x_dtype)), [n_rows, n_features])], [helper.make_tensor_value_info("Y", y_type, None)] +
        ([helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)] if len(outs) == 2 else []))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", ml_opset)],
                             ir_version=10)
