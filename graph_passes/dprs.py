"""DPRS: choose one routine per layer minimising total time, adapt costs included.

The solver is a pure function over a small data structure:

    solve(problem: Problem) -> Solution

Problem
  tensors:  names of the graph's tensors (any hashable ids)
  sources:  {tensor: format} graph inputs / constants, the format they arrive in
  layers:   [Layer] in topological order; Layer(name, inputs=[tensor...],
            outputs=[tensor...], candidates=[Candidate(routine, time,
            in_formats=(fmt per input), out_formats=(fmt per output))])
  sinks:    {tensor: format} graph outputs and the format the caller receives
  adapt:    adapt(tensor, from_format, to_format) -> cost (math.inf if impossible)

Cost model (DESIGN.md, DPRS): the sum of chosen routines' times plus, for each
tensor, one adapt per distinct format its consumers (or the sink) need other
than the one it was produced in: a tensor converted to a format once serves
every consumer needing that format.

Method: dynamic programming over the layers in topological order. The state is
the frontier: for each live tensor (produced, some consumer still to come) its
format and the set of formats it has already been converted to. A chain keeps
one live tensor, so this is the paper's O(layers x routines^2) chain DP; at a
branch point the state is kept per format of the branching tensor and the
branches are solved together given it; at the join the frontier shrinks again
(nested branches likewise); several inputs and outputs are the sources and
sinks. Candidates with identical formats are first reduced to the fastest, so
the branching factor is the number of distinct format signatures. The result
is exact while the frontier has at most `max_states` states per layer; beyond
that (DenseNet-style blocks where a concat keeps many tensors live) the
cheapest `max_states` are kept (a beam) and Solution.exact is False.
"""
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Hashable, List, Sequence, Tuple

MAX_STATES = 32  # frontier states kept per layer (DenseNet-style concats make frontiers wide)


@dataclass(frozen=True)
class Candidate:
    routine: str
    time: float
    in_formats: Tuple[str, ...]
    out_formats: Tuple[str, ...]


@dataclass
class Layer:
    name: str
    inputs: Sequence[Hashable]
    outputs: Sequence[Hashable]
    candidates: Sequence[Candidate]


@dataclass
class Problem:
    layers: List[Layer]
    sources: Dict[Hashable, str]
    sinks: Dict[Hashable, str]
    adapt: Callable[[Hashable, str, str], float]


@dataclass
class Solution:
    choice: Dict[str, Candidate]                  # layer name -> chosen candidate
    total: float                                  # routines + adapts, as the DP counted them
    adapts: List[Tuple[Hashable, str, str, float]] = field(default_factory=list)  # (tensor, from, to, cost)
    exact: bool = True


def _last_uses(problem):
    last = {}
    for i, layer in enumerate(problem.layers):
        for t in layer.inputs:
            last[t] = i
    n = len(problem.layers)
    for t in problem.sinks:
        last[t] = n  # the sink is a pseudo-layer after every real one
    return last


def _reduce(cands):
    best = {}
    for c in cands:
        key = (c.in_formats, c.out_formats)
        if key not in best or c.time < best[key].time:
            best[key] = c
    return list(best.values())


def _consume(entries, positions, formats, adapt, tensors):
    """Makes each input available in its required format, in place on a state's entries
    ((format, formats converted to) per live tensor); returns the adapt cost, or inf."""
    cost = 0.0
    for p, r, t in zip(positions, formats, tensors):
        if p is None:  # an omitted optional input
            continue
        f, conv = entries[p]
        if r != f and r not in conv:
            c = adapt(t, f, r)
            if c == math.inf:
                return math.inf
            cost += c
            entries[p] = (f, conv | frozenset([r]))
    return cost


def _memo(adapt):
    """adapt with its answers kept for the solve (it is asked the same (tensor, from, to) once per
    state and candidate)."""
    seen = {}

    def cached(t, a, b):
        k = (t, a, b)
        if k not in seen:
            seen[k] = adapt(t, a, b)
        return seen[k]
    return cached


def solve(problem: Problem, max_states: int = MAX_STATES) -> Solution:
    """max_states=None keeps every state (exact on any graph, possibly slow).

    The live tensors before each layer do not depend on the choices (they follow from the
    order), so a state is a tuple of (format, converted-to formats) entries, one per live
    tensor in a fixed order: a layer rewrites its inputs' entries, drops those it consumes
    last and appends its outputs' (DenseNet's concats keep about 30 tensors live: a dict per
    state and candidate cost most of the solve)."""
    last = _last_uses(problem)
    adapt = _memo(problem.adapt)
    live = [t for t in problem.sources if t in last]
    states = {tuple((problem.sources[t], frozenset()) for t in live): 0.0}
    back = []  # per layer: new_key -> (prev_key, candidate)
    exact = True
    for i, layer in enumerate(problem.layers):
        cands = _reduce(layer.candidates)
        pos = {t: k for k, t in enumerate(live)}
        in_pos = [None if t is None or t == "" else pos[t] for t in layer.inputs]
        dying = {t for t in layer.inputs if last.get(t) == i}  # no consumer after this layer
        keep = [k for k, t in enumerate(live) if t not in dying]
        out_live = [k for k, t in enumerate(layer.outputs) if t in last]
        produced = [tuple((c.out_formats[k], frozenset()) for k in out_live) for c in cands]
        new_states, bp = {}, {}
        for key, cost in states.items():
            for c, outs in zip(cands, produced):
                entries = list(key)
                add = _consume(entries, in_pos, c.in_formats, adapt, layer.inputs)
                if add == math.inf:
                    continue
                nk = tuple(entries[k] for k in keep) + outs
                total = cost + c.time + add
                if total < new_states.get(nk, math.inf):
                    new_states[nk] = total
                    bp[nk] = (key, c)
        if not new_states:
            raise ValueError(f"DPRS: no feasible routine path through layer {layer.name}")
        if max_states is not None and len(new_states) > max_states:
            exact = False
            keep_states = sorted(new_states, key=new_states.get)[:max_states]
            new_states = {k: new_states[k] for k in keep_states}
        states = new_states
        back.append(bp)
        live = [live[k] for k in keep] + [layer.outputs[k] for k in out_live]
    # Sink: every graph output delivered in its required format.
    best_key, best_total = None, math.inf
    sink_t = list(problem.sinks)
    pos = {t: k for k, t in enumerate(live)}
    sink_pos = [pos[t] for t in sink_t]
    for key, cost in states.items():
        add = _consume(list(key), sink_pos, [problem.sinks[t] for t in sink_t], adapt, sink_t)
        if cost + add < best_total:
            best_key, best_total = key, cost + add
    if best_key is None:
        raise ValueError("DPRS: the outputs cannot be delivered in their required formats")
    choice = {}
    key = best_key
    for i in range(len(problem.layers) - 1, -1, -1):
        prev, c = back[i][key]
        choice[problem.layers[i].name] = c
        key = prev
    _, adapts = evaluate(problem, choice)
    return Solution(choice, best_total, adapts, exact)


def evaluate(problem: Problem, choice: Dict[str, Candidate]):
    """Total cost of a given choice under the same cost model, and its adapt steps."""
    produced = dict(problem.sources)
    needs = {}  # tensor -> set of formats required
    total = 0.0
    for layer in problem.layers:
        c = choice[layer.name]
        total += c.time
        for t, r in zip(layer.inputs, c.in_formats):
            if t is not None and t != "":
                needs.setdefault(t, set()).add(r)
        for t, f in zip(layer.outputs, c.out_formats):
            produced[t] = f
    for t, r in problem.sinks.items():
        needs.setdefault(t, set()).add(r)
    adapts = []
    for t, fmts in needs.items():
        for r in sorted(fmts):
            if r != produced[t]:
                cost = problem.adapt(t, produced[t], r)
                adapts.append((t, produced[t], r, cost))
                total += cost
    return total, adapts
