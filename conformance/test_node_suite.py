"""The ONNX backend node-test cases, on softneuro_ep and onnxruntime (see node_suite.py).

Runs the whole suite once per session (about 20 s on 2 cores), or reads a fresh
run's JSON when NODE_SUITE_JSON names one
(``python -m conformance.node_suite --json PATH``), and checks:

- no case kills the engine (signal: segfault, abort) or hangs: always a bug;
- the number of cases we pass does not fall below PASSED_FLOOR (raise the
  floor when more pass: regressions then fail here);
- every case of the MUST_PASS_OPS that onnxruntime passes, we pass too.
"""
import json
import os

import pytest

import node_suite

# Measured with `python -m conformance.node_suite` (see conformance/REPORT.md).
PASSED_FLOOR = 1600

# Ops we support: each of their cases that onnxruntime passes must pass here.
# The "_expanded" cases (the op's function body, built from other ops) are left
# out: they test those other ops.
MUST_PASS_OPS = (
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
    "Exp", "Log", "Sqrt", "Abs", "Neg", "Where", "Greater", "Less", "Gemm",
    "Transpose", "Concat", "Flatten", "Gather", "Shape",
    # add "Conv", "MatMul" once their routines land (unsupported at the time of writing)
)


@pytest.fixture(scope="module")
def suite():
    path = os.environ.get("NODE_SUITE_JSON")
    if path:
        with open(path) as f:
            doc = json.load(f)
        return doc["cases"]
    info = node_suite.engine_info()
    broken = {e: i["error"] for e, i in info.items() if "error" in i}
    if broken:
        pytest.fail(f"engine(s) not importable, nothing to run: {broken}")
    cases = node_suite.collect()
    jobs = max(1, min(2, len(os.sched_getaffinity(0))))
    return node_suite.run_suite(cases, jobs=jobs, timeout=60.0)


def test_no_case_kills_or_hangs_the_engine(suite):
    bad = {name: f"{r['ours']['detail']}" for name, r in suite.items()
           if r["ours"]["status"] == "crashed" and r["ours"].get("error_type") in ("signal", "timeout", "exit")}
    assert not bad, f"{len(bad)} case(s) crashed the process or hung: {bad}"


def test_passed_count_does_not_regress(suite):
    passed = sum(r["ours"]["status"] == "passed" for r in suite.values())
    assert passed >= PASSED_FLOOR, f"{passed} node-test cases pass, fewer than the floor {PASSED_FLOOR}"


def test_must_pass_ops(suite):
    wanted = {op: [] for op in MUST_PASS_OPS}
    for name, r in suite.items():
        if r["op"] in wanted and "_expanded" not in name and r["ort"]["status"] == "passed":
            wanted[r["op"]].append(name)
    empty = [op for op, names in wanted.items() if not names]
    assert not empty, f"no onnxruntime-passing case for must-pass op(s) {empty}: fix MUST_PASS_OPS"
    bad = {name: f"{suite[name]['ours']['status']}: {suite[name]['ours']['detail']}"
           for names in wanted.values() for name in names if suite[name]["ours"]["status"] != "passed"}
    assert not bad, f"{len(bad)} must-pass case(s) do not pass: {bad}"


def test_every_case_is_classified(suite):
    for name, r in suite.items():
        for engine in node_suite.ENGINES:
            assert r[engine]["status"] in node_suite.STATUSES, (name, engine, r[engine])
