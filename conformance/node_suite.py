"""Run the ONNX backend node-test cases (shipped with the installed ``onnx``)
on softneuro_ep and on onnxruntime, side by side, and classify every case.

    python -m conformance.node_suite --report conformance/REPORT.md [--jobs 2] [-k relu] [--json out.json]

Each case's model and data set come from ``onnx.backend.test.case.node``
(collected in memory, once, in this process). The cases run in worker
processes (spawned, never forked from a process that may hold engine threads):
a worker that dies (segfault, abort) or hangs past ``--timeout`` is replaced,
the case it was running is marked ``crashed`` (``signal SIGSEGV`` /
``timeout``) and the run goes on with the remaining cases.

Classes, per engine and case:

passed       outputs match, compared as onnx's BackendTest compares them
             (``Runner.assert_similar_outputs``: count, shape, dtype, strings
             exactly, numbers with assert_allclose at the case's rtol/atol,
             NaN equal to NaN, sequences element by element, an empty
             optional (None) equal only to None; see _assert_similar)
failed       ran, but wrong numbers / shape / dtype / output count
unsupported  the engine raised its NotImplemented (a clear not-implemented)
crashed      any other exception (type and first line kept), or the process
             died on a signal, or the case hung past the timeout

Only the onnx package is imported in this (parent) process; onnxruntime and
softneuro_ep are imported in the workers.
"""
import argparse
import json
import multiprocessing as mp
import os
import re
import signal
import sys
import time
import traceback
import warnings
from collections import Counter, OrderedDict, defaultdict
from multiprocessing.connection import wait

ENGINES = ("ort", "ours")
STATUSES = ("passed", "failed", "unsupported", "crashed")
DEFAULT_TIMEOUT = 30.0
DEFAULT_TASKS_PER_CHILD = 400
STARTUP_GRACE = 20.0  # seconds a fresh worker may take to import the engines


# --------------------------------------------------------------------------
# collecting the cases
# --------------------------------------------------------------------------
def _normalize(x):
    """TensorProto -> ndarray, recursively through sequences (as BackendTest does)."""
    import onnx
    if isinstance(x, onnx.TensorProto):
        return onnx.numpy_helper.to_array(x)
    if isinstance(x, list):
        return [_normalize(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_normalize(v) for v in x)
    return x


def _op_of(name, model, nodes_by_name):
    base = re.sub(r"_expanded(_ver\d+)?$", "", name)
    node = nodes_by_name.get(base) or nodes_by_name.get(name)
    if node is not None:
        return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    if len(model.graph.node) == 1:
        return model.graph.node[0].op_type
    return "?"


def collect(patterns=None):
    """The node-test cases as plain dicts: name, op, model (bytes), inputs, outputs, rtol, atol.

    ``patterns``: substrings; a case is kept when its name contains any of them.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import onnx.backend.test.case.node as node_cases
        testcases = node_cases.collect_testcases()
    nodes_by_name = getattr(node_cases, "_existing_names", {})
    cases = []
    seen = set()
    for tc in testcases:
        if tc.name in seen or tc.model is None or not tc.data_sets:
            continue
        seen.add(tc.name)
        if patterns and not any(p in tc.name for p in patterns):
            continue
        data = [([_normalize(i) for i in ins], [_normalize(o) for o in outs]) for ins, outs in tc.data_sets]
        cases.append(dict(
            name=tc.name, op=_op_of(tc.name, tc.model, nodes_by_name),
            model=tc.model.SerializeToString(), data_sets=data,
            rtol=float(tc.rtol), atol=float(tc.atol)))
    cases.sort(key=lambda c: c["name"])
    return cases


# --------------------------------------------------------------------------
# one case on one engine (runs in a worker)
# --------------------------------------------------------------------------
_PREPARED = {}


def _backend(engine):
    if engine not in _PREPARED:
        if engine == "ort":
            import onnxruntime
            import onnxruntime.backend as b
            onnxruntime.set_default_logger_severity(4)  # its errors are classified here
            unsupported = (onnxruntime.capi.onnxruntime_pybind11_state.NotImplemented,)
        else:
            import softneuro_ep
            import softneuro_ep.backend as b
            unsupported = (softneuro_ep.NotImplemented,)
        _PREPARED[engine] = (b, unsupported)
    return _PREPARED[engine]


def _first_line(e):
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else ""


def _tb_tail(e, n=6):
    lines = traceback.format_exception(type(e), e, e.__traceback__)
    text = "".join(lines).rstrip().splitlines()
    return "\n".join(text[-n * 2:])


def _assert_similar(want, got, rtol, atol):
    """Runner.assert_similar_outputs, with each sequence element compared as an
    output of its own (Runner recurses into an element as if it were a list of
    outputs, which breaks on 0-d elements) and an empty optional (None) equal
    only to None."""
    from onnx.backend.test.runner import Runner
    if len(got) != len(want):
        raise AssertionError(f"Output count: got {len(got)}, expected {len(want)}")
    for i, (w, g) in enumerate(zip(want, got)):
        if w is None or g is None:
            if not (w is None and g is None):
                raise AssertionError(f"Output {i}: got {type(g).__name__}, expected {type(w).__name__}")
        elif isinstance(w, (list, tuple)) or isinstance(g, (list, tuple)):
            if not (isinstance(w, (list, tuple)) and isinstance(g, (list, tuple))):
                raise AssertionError(f"Output {i}: got {type(g).__name__}, expected {type(w).__name__}")
            _assert_similar(list(w), list(g), rtol, atol)
        else:
            Runner.assert_similar_outputs([w], [g], rtol=rtol, atol=atol)


def run_case(case, engine):
    """Run one case on one engine; return a dict: status, detail, error_type, traceback, seconds."""
    import onnx

    t0 = time.perf_counter()
    res = {"status": None, "detail": "", "error_type": "", "traceback": ""}
    try:
        backend, unsupported = _backend(engine)
    except Exception as e:  # noqa: BLE001 - e.g. an installed package without .backend
        res.update(status="crashed", error_type=type(e).__name__, detail=f"import: {_first_line(e)}",
                   traceback=_tb_tail(e), seconds=0.0)
        return res
    try:
        model = onnx.ModelProto()
        model.ParseFromString(case["model"])
        with warnings.catch_warnings(), __import__("numpy").errstate(all="ignore"):
            warnings.simplefilter("ignore")
            rep = backend.prepare(model, "CPU", intra_op_num_threads=1)
            results = [list(rep.run(list(ins))) for ins, _ in case["data_sets"]]
    except unsupported as e:
        res.update(status="unsupported", error_type=type(e).__name__, detail=_first_line(e))
    except Exception as e:  # noqa: BLE001 - classify, never crash the run
        res.update(status="crashed", error_type=type(e).__name__, detail=_first_line(e),
                   traceback=_tb_tail(e))
    else:
        try:
            for (_, want), got in zip(case["data_sets"], results):
                _assert_similar(list(want), got, case["rtol"], case["atol"])
            res["status"] = "passed"
        except Exception as e:  # noqa: BLE001 - AssertionError, or TypeError on a wrong output kind
            msg = str(e).strip()
            lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
            keys = ("Output", "Mismatch", "nan location", "+inf location", "-inf location", "x and y",
                    "Max absolute", "Max relative", "(shapes", "Items", "Arrays", "Unable", "Unexpected")
            picked = [ln for ln in lines if ln.startswith(keys)][:3] or lines[:1]
            res.update(status="failed", error_type=type(e).__name__, detail="; ".join(picked)[:300])
    res["seconds"] = round(time.perf_counter() - t0, 4)
    return res


def engine_info_here():
    """Where each engine is imported from, and its version or import error (in this process)."""
    info = {}
    for engine, mod in (("ort", "onnxruntime"), ("ours", "softneuro_ep")):
        try:
            _backend(engine)
            m = sys.modules[mod]
            info[engine] = {"module": mod, "version": getattr(m, "__version__", "?"), "path": os.path.dirname(m.__file__)}
        except Exception as e:  # noqa: BLE001
            info[engine] = {"module": mod, "error": f"{type(e).__name__}: {_first_line(e)}"}
    return info


def engine_info():
    """engine_info_here(), asked of a fresh spawned process (this one never imports the engines)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(engine_info_here)


def _worker(conn):
    """Worker loop: receive (idx, engines, case), send ("res", idx, engine, result) per engine."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:
        pass
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        idx, engines, case = msg
        for engine in engines:
            try:
                res = run_case(case, engine)
            except BaseException as e:  # noqa: BLE001 - keep the worker alive whatever happens
                res = {"status": "crashed", "error_type": type(e).__name__, "detail": _first_line(e),
                       "traceback": _tb_tail(e), "seconds": None}
            conn.send(("res", idx, engine, res))


# --------------------------------------------------------------------------
# the pool with a watchdog
# --------------------------------------------------------------------------
def _signame(code):
    try:
        return signal.Signals(-code).name
    except (ValueError, TypeError):
        return f"signal {-code}"


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.task = None      # (idx, [engines still to report])
        self.deadline = None
        self.done = 0

    def give(self, idx, engines, case, timeout):
        self.task = (idx, list(engines))
        # a fresh worker first imports both engines: not the case's time
        self.deadline = time.monotonic() + timeout + (STARTUP_GRACE if self.done == 0 else 0.0)
        self.conn.send((idx, list(engines), case))
        self.done += 1

    def stop(self):
        try:
            self.conn.send(None)
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()


def run_suite(cases, jobs=2, timeout=DEFAULT_TIMEOUT, engines=ENGINES,
              tasks_per_child=DEFAULT_TASKS_PER_CHILD, progress=None):
    """Run every case on each engine; return {name: {"op":..., engine: result, ...}} in case order."""
    ctx = mp.get_context("spawn")
    results = OrderedDict((c["name"], {"op": c["op"]}) for c in cases)
    queue = [(k, list(engines)) for k in range(len(cases))]
    queue.reverse()  # pop() from the end
    workers = []
    finished = 0
    total = len(cases) * len(engines)

    def record(idx, engine, res):
        nonlocal finished
        results[cases[idx]["name"]][engine] = res
        finished += 1
        if progress:
            progress(finished, total)

    def feed(w):
        if w.done >= tasks_per_child:
            return False
        if queue:
            idx, engs = queue.pop()
            w.give(idx, engs, cases[idx], timeout)
            return True
        return False

    try:
        for _ in range(max(1, min(jobs, len(queue)))):
            w = _Worker(ctx)
            workers.append(w)
            feed(w)
        while any(w.task for w in workers) or queue:
            # refill idle or retired workers
            for i, w in enumerate(workers):
                if w.task is None and queue:
                    if not feed(w):
                        w.stop()
                        workers[i] = w = _Worker(ctx)
                        feed(w)
            busy = [w for w in workers if w.task]
            if not busy:
                continue
            now = time.monotonic()
            wait_for = max(0.0, min(w.deadline for w in busy) - now)
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wait_for)
            for i, w in enumerate(workers):
                if not w.task:
                    continue
                idx, pending = w.task
                alive = w.proc.is_alive()  # before draining: a result sent before dying is kept
                # drain whatever results it has sent
                try:
                    while w.conn.poll():
                        _, ridx, engine, res = w.conn.recv()
                        record(ridx, engine, res)
                        pending.remove(engine)
                        w.deadline = time.monotonic() + timeout
                except (EOFError, OSError):
                    pass
                if not pending:
                    w.task = None
                    continue
                dead = not alive
                hung = time.monotonic() > w.deadline
                if not (dead or hung):
                    continue
                if dead:
                    w.proc.join()
                    code = w.proc.exitcode
                    why = f"signal {_signame(code)}" if code is not None and code < 0 else f"worker exited ({code})"
                    etype = "signal" if code is not None and code < 0 else "exit"
                else:
                    why, etype = f"timeout after {timeout:g}s", "timeout"
                w.kill()
                record(idx, pending[0], {"status": "crashed", "error_type": etype, "detail": why,
                                         "traceback": "", "seconds": None})
                if pending[1:]:
                    queue.append((idx, pending[1:]))
                workers[i] = _Worker(ctx)
                feed(workers[i])
    finally:
        for w in workers:
            if w.task:
                w.kill()
            else:
                w.stop()
    return results


# --------------------------------------------------------------------------
# summaries and reports
# --------------------------------------------------------------------------
_NODE_NAME = re.compile(r"\(node '[^']*'\)|node '[^']*'")


def reason_key(res):
    """A grouping key for a non-passing result: status plus the message with names stripped."""
    d = _NODE_NAME.sub("", res.get("detail", "")).strip()
    d = re.sub(r"\[[\d, ?a-zA-Z_]*\]", "[..]", d)   # shapes: group float32[3,4] with float32[5]
    d = re.sub(r"'[^']*'", "'..'", d)                # tensor / value names
    d = re.sub(r"\s+", " ", d)
    if res["status"] == "failed":
        d = d.split("; ")[0]
        d = re.sub(r"\(mismatch [^)]*\)", "", d)
        d = re.sub(r"\d+ / \d+", "N / M", d)
        d = d[:120]
    elif res["status"] == "crashed" and res.get("error_type") not in ("signal", "timeout", "exit"):
        d = f"{res.get('error_type')}: {d}"[:160]
    return f"{res['status']}: {d}"


def summarize(results):
    n = len(results)
    count = {e: Counter(r[e]["status"] for r in results.values() if e in r) for e in ENGINES}
    gap = [name for name, r in results.items()
           if r.get("ort", {}).get("status") == "passed" and r.get("ours", {}).get("status") != "passed"]
    ours_only = [name for name, r in results.items()
                 if r.get("ours", {}).get("status") == "passed" and r.get("ort", {}).get("status") != "passed"]
    ort_not = [name for name, r in results.items() if r.get("ort", {}).get("status") != "passed"]
    signals = [name for name, r in results.items()
               if r.get("ours", {}).get("status") == "crashed"
               and r["ours"].get("error_type") in ("signal", "timeout", "exit")]
    per_op = defaultdict(lambda: [0, 0, 0])
    for r in results.values():
        row = per_op[r["op"]]
        row[0] += 1
        row[1] += r.get("ours", {}).get("status") == "passed"
        row[2] += r.get("ort", {}).get("status") == "passed"
    return {
        "cases": n,
        "ours": {s: count["ours"].get(s, 0) for s in STATUSES},
        "ort": {s: count["ort"].get(s, 0) for s in STATUSES},
        "gap": gap,
        "ours_only": ours_only,
        "ort_not_passed": ort_not,
        "ours_signal_or_timeout": signals,
        "per_op": {op: {"cases": v[0], "ours_passed": v[1], "ort_passed": v[2]} for op, v in sorted(per_op.items())},
    }


def write_json(path, results, summary, meta):
    doc = {"meta": meta, "summary": summary, "cases": results}
    text = json.dumps(doc, indent=1, sort_keys=False)
    if path == "-":
        sys.stdout.write(text + "\n")
    else:
        with open(path, "w") as f:
            f.write(text + "\n")


def render_markdown(results, summary, meta):
    n = summary["cases"]
    o, r = summary["ours"], summary["ort"]
    L = []
    L.append("# ONNX backend node tests: softneuro_ep vs onnxruntime")
    L.append("")
    L.append(f"Generated by `{meta['command']}` on {meta['date']} "
             f"(onnx {meta['onnx']}, onnxruntime {meta['onnxruntime']}, {meta['jobs']} jobs, "
             f"wall time {meta['wall_s']:.1f} s incl. {meta['collect_s']:.1f} s collecting).")
    L.append("")
    for e, i in meta.get("engines", {}).items():
        L.append(f"- {e}: `{i['module']}` " + (f"{i['version']} from `{i['path']}`" if "path" in i
                                             else f"**not importable**: {i['error']}"))
    L.append("")
    L.append("## Summary")
    L.append("")
    L.append(f"- ours: **{o['passed']} passed**, {o['failed']} failed, {o['unsupported']} unsupported, "
             f"{o['crashed']} crashed, of {n}")
    L.append(f"- onnxruntime: **{r['passed']} passed** of {n} "
             f"({r['failed']} failed, {r['unsupported']} unsupported, {r['crashed']} errors)")
    L.append(f"- gap (onnxruntime passes, we don't): **{len(summary['gap'])}**")
    L.append(f"- we pass, onnxruntime doesn't: {len(summary['ours_only'])}")
    L.append(f"- onnxruntime does not pass: {len(summary['ort_not_passed'])} (listed at the end; its business)")
    L.append(f"- ours crashed on a signal or hung: {len(summary['ours_signal_or_timeout'])}")
    L.append("")
    L.append("Classes: *passed* (matches, compared as onnx's BackendTest compares), *failed* (wrong numbers, "
             "shape, dtype or output count), *unsupported* (`softneuro_ep.NotImplemented`), *crashed* (any "
             "other exception, a signal, or a hang).")
    L.append("")

    # gap grouped by reason
    L.append("## Gap: cases onnxruntime passes and we don't, by reason")
    L.append("")
    L.append("Why the remaining kinds are open: string tensors (StringSplit, StringConcat, RegexFullMatch, "
             "StringNormalizer, Equal on strings, LabelEncoder's string maps) are not an engine dtype — the C++ "
             "executor's tensors are fixed-size numeric buffers, and a string dtype (variable-length storage, its "
             "own arena handling) is a separate piece of work; every numeric op onnxruntime runs here, we run.")
    L.append("")
    groups = defaultdict(list)
    for name in summary["gap"]:
        groups[reason_key(results[name]["ours"])].append(name)
    order = {s: k for k, s in enumerate(STATUSES)}
    for key, names in sorted(groups.items(), key=lambda kv: (order[kv[0].split(":")[0]], -len(kv[1]), kv[0])):
        L.append(f"### {key} ({len(names)})")
        L.append("")
        L.append(", ".join(f"`{x}`" for x in names))
        L.append("")

    crashed = [(name, r["ours"]) for name, r in results.items() if r.get("ours", {}).get("status") == "crashed"]
    if crashed:
        L.append(f"## Our crashes ({len(crashed)}): each one is a bug")
        L.append("")
        L.append("A signal or a hang kills the process; any other exception should have been a "
                 "`softneuro_ep.NotImplemented` naming the op / type, or a right answer.")
        L.append("")
        for name, o in crashed:
            L.append(f"- `{name}`: {o.get('error_type')}: {o.get('detail')}")
            if o.get("traceback"):
                L.append("")
                L.append("  ```")
                L.extend("  " + ln for ln in o["traceback"].splitlines()[-6:])
                L.append("  ```")
        L.append("")

    # per-op table
    L.append("## Per op")
    L.append("")
    L.append("| op | cases | ours passed | ORT passed |")
    L.append("|---|---:|---:|---:|")
    for op, v in summary["per_op"].items():
        L.append(f"| {op} | {v['cases']} | {v['ours_passed']} | {v['ort_passed']} |")
    L.append("")

    if summary["ours_only"]:
        L.append("## We pass, onnxruntime doesn't")
        L.append("")
        L.append(", ".join(f"`{x}`" for x in summary["ours_only"]))
        L.append("")

    L.append(f"## Not passed by onnxruntime ({len(summary['ort_not_passed'])})")
    L.append("")
    groups = defaultdict(list)
    for name in summary["ort_not_passed"]:
        groups[reason_key(results[name]["ort"])[:140]].append(name)
    for key, names in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        L.append(f"- {key} ({len(names)}): " + ", ".join(f"`{x}`" for x in names))
    L.append("")
    return "\n".join(L)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m conformance.node_suite", description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", help="write the markdown report here")
    ap.add_argument("--json", dest="json_path", help="write the machine-readable results here ('-' for stdout)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("-k", action="append", dest="patterns", help="only cases whose name contains this (repeatable)")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case and engine")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of ort,ours")
    ap.add_argument("--tasks-per-child", type=int, default=DEFAULT_TASKS_PER_CHILD)
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    info = engine_info()
    cases = collect(args.patterns)
    collect_s = time.perf_counter() - t0
    engines = tuple(e for e in args.engines.split(",") if e)

    def progress(done, total):
        if not args.quiet and (done % 200 == 0 or done == total):
            print(f"  {done}/{total} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    if not args.quiet:
        for e, i in info.items():
            print(f"{e}: {i.get('path') or i.get('error')}", file=sys.stderr)
        print(f"{len(cases)} cases collected in {collect_s:.1f} s; running on {args.jobs} jobs",
              file=sys.stderr, flush=True)
    results = run_suite(cases, jobs=args.jobs, timeout=args.timeout, engines=engines,
                        tasks_per_child=args.tasks_per_child, progress=progress)
    wall = time.perf_counter() - t0
    summary = summarize(results)

    import onnx
    try:
        from importlib.metadata import version
        ort_version = version("onnxruntime")
    except Exception:  # noqa: BLE001
        ort_version = "?"
    cmd = "python -m conformance.node_suite " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"command": cmd.strip(), "date": time.strftime("%Y-%m-%d %H:%M"), "onnx": onnx.__version__,
            "onnxruntime": ort_version, "jobs": args.jobs, "wall_s": round(wall, 1),
            "collect_s": round(collect_s, 1), "timeout_s": args.timeout, "engines": info}
    if args.report:
        with open(args.report, "w") as f:
            f.write(render_markdown(results, summary, meta))
    if args.json_path:
        write_json(args.json_path, results, summary, meta)
    o = summary["ours"]
    print(f"ours: {o['passed']} passed, {o['failed']} failed, {o['unsupported']} unsupported, "
          f"{o['crashed']} crashed of {summary['cases']}; onnxruntime: {summary['ort']['passed']} passed; "
          f"gap {len(summary['gap'])}; wall {wall:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
