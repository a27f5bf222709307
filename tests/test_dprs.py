"""DPRS equals the brute-force optimum on every small graph, and the plan it
returns really costs what it says."""
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softneuro_ep.graph_passes.dprs import Candidate, Layer, Problem, evaluate, solve

FORMATS = ["nchw", "nhwc", "nchw16c"]


@st.composite
def problems(draw):
    n_src = draw(st.integers(1, 2))
    sources = {f"in{k}": draw(st.sampled_from(FORMATS)) for k in range(n_src)}
    tensors = list(sources)
    layers = []
    shape = draw(st.sampled_from(["chain", "diamond", "nested", "random"]))
    n = draw(st.integers(1, 6))
    for i in range(n):
        if shape == "chain":
            ins = [tensors[-1]]
        elif shape == "diamond" and i == n - 1 and len(tensors) > 2:
            ins = tensors[-2:]
        elif shape == "nested":
            k = draw(st.integers(1, min(3, len(tensors))))
            ins = draw(st.lists(st.sampled_from(tensors[-3:]), min_size=1, max_size=k, unique=True))
        else:
            ins = draw(st.lists(st.sampled_from(tensors), min_size=1, max_size=min(3, len(tensors)), unique=True))
        n_out = draw(st.integers(1, 2))
        outs = [f"t{i}_{k}" for k in range(n_out)]
        cands = []
        for c in range(draw(st.integers(1, 3))):
            cands.append(Candidate(
                f"r{i}_{c}", draw(st.floats(0.1, 10.0)),
                tuple(draw(st.sampled_from(FORMATS)) for _ in ins),
                tuple(draw(st.sampled_from(FORMATS)) for _ in outs)))
        layers.append(Layer(f"L{i}", ins, outs, cands))
        tensors += outs
    produced = [t for layer in layers for t in layer.outputs]
    consumed = {t for layer in layers for t in layer.inputs}
    sinks = {t: draw(st.sampled_from(FORMATS)) for t in produced if t not in consumed}
    extra = draw(st.lists(st.sampled_from(produced), max_size=2, unique=True))
    for t in extra:
        sinks[t] = draw(st.sampled_from(FORMATS))
    table = {}
    for t in tensors:
        for a in FORMATS:
            for b in FORMATS:
                if a != b:
                    table[(t, a, b)] = draw(st.one_of(st.floats(0.0, 5.0), st.just(math.inf)))

    def adapt(t, a, b):
        return table[(t, a, b)]
    return Problem(layers, sources, sinks, adapt)


def brute_force(p):
    best = math.inf
    for combo in itertools.product(*[layer.candidates for layer in p.layers]):
        total, _ = evaluate(p, {layer.name: c for layer, c in zip(p.layers, combo)})
        best = min(best, total)
    return best


@settings(max_examples=300, deadline=None)
@given(problems())
def test_dprs_equals_brute_force(p):
    best = brute_force(p)
    if best == math.inf:
        with pytest.raises(ValueError):
            solve(p, max_states=None)
        return
    sol = solve(p, max_states=None)
    assert sol.exact
    assert sol.total == pytest.approx(best, rel=1e-9, abs=1e-9)
    total, adapts = evaluate(p, sol.choice)
    assert total == pytest.approx(sol.total, rel=1e-9, abs=1e-9)
    assert set(sol.choice) == {layer.name for layer in p.layers}


def test_converted_tensor_serves_every_consumer():
    # one producer in nchw, three consumers needing nhwc: one adapt, not three
    c = Candidate("p", 1.0, ("nchw",), ("nchw",))
    layers = [Layer("P", ["x"], ["t"], [c])] + [
        Layer(f"C{k}", ["t"], [f"o{k}"], [Candidate(f"c{k}", 1.0, ("nhwc",), ("nchw",))]) for k in range(3)]
    p = Problem(layers, {"x": "nchw"}, {f"o{k}": "nchw" for k in range(3)}, lambda t, a, b: 10.0)
    sol = solve(p)
    assert sol.total == pytest.approx(4.0 + 10.0)
    assert len(sol.adapts) == 1


def test_chain_prefers_staying_in_one_format():
    fast_nhwc = Candidate("fast", 1.0, ("nhwc",), ("nhwc",))
    slow_nchw = Candidate("slow", 1.5, ("nchw",), ("nchw",))
    layers = [Layer(f"L{k}", [f"t{k}"], [f"t{k + 1}"], [fast_nhwc, slow_nchw]) for k in range(4)]
    p = Problem(layers, {"t0": "nchw"}, {"t4": "nchw"}, lambda t, a, b: 2.0)
    sol = solve(p)
    # all nhwc costs 4 + 2 adapts (4) = 8; all nchw costs 6; greedy would pick nhwc
    assert sol.total == pytest.approx(6.0)
    assert all(c.routine == "slow" for c in sol.choice.values())


def test_repeated_and_omitted_inputs_and_a_source_delivered_as_is():
    # Add(x, x) needing x in two formats (two adapts of one tensor, each counted once), an
    # omitted optional input (""), and a graph input that is also a graph output
    add = [Candidate("add_mixed", 1.0, ("nchw", "nhwc"), ("nchw",)),
           Candidate("add_nhwc", 3.0, ("nhwc", "nhwc"), ("nhwc",))]
    conv = [Candidate("conv", 1.5, ("nchw", "nchw"), ("nchw",)), Candidate("conv16", 0.5, ("nchw16c", "nchw"), ("nchw16c",))]
    layers = [Layer("A", ["x", "x"], ["t"], add), Layer("C", ["t", ""], ["y"], conv)]
    costs = {("x", "nchw", "nhwc"): 2.0, ("t", "nhwc", "nchw"): 2.0, ("t", "nchw", "nchw16c"): 0.25,
             ("t", "nhwc", "nchw16c"): 0.25, ("y", "nchw16c", "nchw"): 0.5}

    def adapt(t, a, b):
        return costs.get((t, a, b), math.inf)
    p = Problem(layers, {"x": "nchw"}, {"y": "nchw", "x": "nchw"}, adapt)
    sol = solve(p)
    assert sol.total == pytest.approx(brute_force(p))
    # add_mixed (1 + x to nhwc 2) then conv16 (0.5 + t to nchw16c 0.25 + y back 0.5) = 4.25 < conv 4.5
    assert sol.total == pytest.approx(4.25)
    assert [sol.choice[n].routine for n in ("A", "C")] == ["add_mixed", "conv16"]
