"""Run the corpus through the modelport CLI, one isolated cell per model × target, and print the matrix.

Why a script of subprocesses: the question is how often `modelport convert` works on real
architectures *as a user runs it*, so every cell is the real command line in its own process
(`modelport convert benchmarks/zoo/models.py:NAME --to TARGET -o ... --samples 2 --force --json`),
with a timeout; a crash, a hang or a runaway converter is that cell's result and the run goes on.
Every result is appended (and fsynced) to OUT/results.jsonl as soon as the cell ends, and a re-run
skips the cells already recorded (unless --fresh), so an interrupted run loses at most the cell
that was running. Beside each modelport cell, the anchor cell (anchor.py) glues the same
conversion by hand and is judged by `modelport validate` against the same source.

    python benchmarks/zoo/run.py                                   # everything (hours on 2 cores)
    python benchmarks/zoo/run.py --targets onnx --out /tmp/zoo     # one column
    python benchmarks/zoo/run.py --models 'resnet*' mobilevit_xxs --targets onnx,tflite --no-anchors
    python benchmarks/zoo/run.py --out /tmp/zoo --report-only --markdown zoo.md   # re-print a run

Exit status: 0 when the run completed (whatever the cells' verdicts: failures are data), 2 for a
bad option, 130 when interrupted (Ctrl-C or SIGTERM: the running cell's process tree is killed
and that cell is not recorded).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.zoo import report  # noqa: E402
from benchmarks.zoo.anchor import ANCHORED  # noqa: E402
from benchmarks.zoo.models import Case, cases  # noqa: E402

TARGETS = ("onnx", "tflite", "savedmodel", "pytorch")
EXTENSIONS = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel", "pytorch": ".pt2"}
STATUS_OF_EXIT = {0: "valid", 1: "parity failed", 2: "usage error", 3: "conversion failed", 4: "missing library"}
MODELPORT = [sys.executable, "-m", "modelport.cli"]
# Library names looked for in an error line, to say which converter failed.
LIBRARIES = ("onnx2tf", "tf2onnx", "torch.onnx", "torch.export", "onnxscript", "onnxruntime", "onnxsim", "onnxslim",
             "TFLiteConverter", "tflite", "LiteRT", "keras", "Keras", "tensorflow", "TensorFlow", "dynamo", "TorchScript")
OPERATOR = re.compile(r"(?:unsupported|custom|unknown)\s+(?:operators?|ops?)\W+([A-Za-z_][\w.:]*(?:,\s*[A-Za-z_][\w.:]*)*)"
                      r"|\b(ONNX_[A-Za-z0-9_]+|FlexOp\w*|Flex[A-Z]\w+)\b|\bop(?:erator)?\s+['\"`]([A-Za-z_][\w.:]*)['\"`]",
                      re.IGNORECASE)


class Interrupted(Exception):
    pass


# ------------------------------------------------------------------------------ processes

def run_process(cmd: list[str], timeout: float, log_stem: str, cwd: str = ROOT) -> dict:
    """Run `cmd` in its own session with stdout/stderr in log files; on timeout or Ctrl-C kill its
    whole process tree (modelport's own workers included). Returns rc, output, seconds, timed_out."""
    os.makedirs(os.path.dirname(log_stem), exist_ok=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    with open(log_stem + ".out", "w") as out, open(log_stem + ".err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc)
        except (KeyboardInterrupt, Interrupted):  # Ctrl-C, or SIGTERM through _terminate
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
            _kill_tree(proc)
            raise Interrupted() from None
    seconds = time.perf_counter() - start
    with open(log_stem + ".out", errors="replace") as f:
        stdout = f.read()
    with open(log_stem + ".err", errors="replace") as f:
        stderr = f.read()
    return {"rc": proc.returncode, "stdout": stdout, "stderr": stderr, "seconds": round(seconds, 2),
            "timed_out": timed_out}


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGTERM the child and its descendants (by pid, children first found through psutil), then SIGKILL."""
    try:
        import psutil

        parent = psutil.Process(proc.pid)
        family = parent.children(recursive=True) + [parent]
    except Exception:
        family = []
    for stop in ("terminate", "kill"):  # SIGTERM, then SIGKILL to whatever still runs, each given 10 s
        for p in family:
            try:
                if p.is_running():
                    getattr(p, stop)()
            except Exception:
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# ------------------------------------------------------------------------------ parsing

def parse_json(stdout: str):
    """The JSON object `--json` printed, or None (a failed conversion prints none today)."""
    text = stdout.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            return None
    return None


def error_line(stderr: str) -> str:
    """modelport's one error line, else the last line that looks like an error, else the last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("modelport: error:"):
            return ln[len("modelport: error:"):].strip()
        if ln.startswith("modelport: internal error:"):
            return ln[len("modelport: "):].strip()
    errors = [ln for ln in lines if re.search(r"(Error|Exception|error:)", ln)]
    return (errors or lines or [""])[-1][:400]


def find_attempts(data) -> list[dict]:
    """steps[].attempts ({strategy, outcome, reason, seconds}) wherever the JSON has them, read defensively."""
    found: list[dict] = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "attempts" and isinstance(v, list):
                    for a in v:
                        if isinstance(a, dict):
                            found.append({"strategy": a.get("strategy") or a.get("name"), "outcome": a.get("outcome"),
                                          "reason": a.get("reason"), "seconds": a.get("seconds"),
                                          "edge": node.get("edge")})
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    return found


def operator_in(text: str) -> str | None:
    m = OPERATOR.search(text or "")
    if not m:
        return None
    return next(g for g in m.groups() if g)


def without_paths(text: str) -> str:
    """The text with file paths shortened to their last part (a cause fit for a table cell)."""
    return re.sub(r"(?<![\w.])/(?:[^\s/:()'\"]+/)+([^\s/:()'\"]+)", r"\1", text or "")


def library_in(text: str) -> str | None:
    """The first converter library named in an error line (paths removed: a model named
    keras_resnet50 says nothing about Keras)."""
    text = re.sub(r"\S*/\S*", " ", text or "")
    hits = [(m.start(), name) for name in LIBRARIES for m in [re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", text)] if m]
    return min(hits)[1] if hits else None


def parity_detail(data) -> tuple[str | None, float | None]:
    """(the worst failing output of the first failing candidate, the worst max abs error) of a
    validation report (convert's `validation`, or validate's whole report)."""
    if not isinstance(data, dict):
        return None, None
    validation = data.get("validation") if isinstance(data.get("validation"), dict) else data
    worst_abs = None
    detail = None
    for cand in validation.get("candidates") or []:
        if not isinstance(cand, dict):
            continue
        for o in cand.get("outputs") or []:
            if isinstance(o, dict) and isinstance(o.get("max_abs"), (int, float)):
                worst_abs = max(worst_abs or 0.0, float(o["max_abs"]))
        if cand.get("passed") is False and detail is None:
            where = f"{cand.get('format') or os.path.basename(str(cand.get('path')))}"
            if cand.get("error"):
                detail = f"{where}: {str(cand['error']).splitlines()[0][:200]}"
                continue
            bad = [o for o in cand.get("outputs") or [] if isinstance(o, dict) and o.get("passed") is False]
            if bad:
                o = max(bad, key=lambda o: o.get("severity") or 0)
                worst = o.get("max_abs")  # null in the JSON when the output holds NaN or Inf
                shown = f"{worst:.3g}" if isinstance(worst, (int, float)) else "n/a"
                detail = f"{where}: output {o.get('output')} max abs {shown} ({o.get('reason')})"
    return detail, worst_abs


def summarise(data) -> dict:
    """What a successful (or parity-failed) convert JSON says about the route it took."""
    if not isinstance(data, dict):
        return {}
    steps = [s for s in data.get("steps") or [] if isinstance(s, dict)]
    return {
        "route": data.get("route"),
        "steps": [{"edge": s.get("edge"), "converter": s.get("converter"), "seconds": s.get("seconds"),
                   "exporter": (s.get("details") or {}).get("exporter"),
                   "strategy": (s.get("details") or {}).get("strategy") or s.get("strategy")} for s in steps],
        "modelport_seconds": data.get("seconds"),
    }


# ------------------------------------------------------------------------------ cells

def output_path(out: str, case: Case, target: str, column: str, source_kind: str) -> str:
    folder = os.path.join(out, case.name, "anchor" if column == "anchor" else "")
    if source_kind == "savedmodel":
        folder = os.path.join(folder, "from_savedmodel")
    return os.path.join(folder, case.name + EXTENSIONS[target])


def base_record(case: Case, row: str, source_kind: str, source: str, target: str, column: str) -> dict:
    return {"model": case.name, "row": row, "library": case.library, "family": case.family,
            "source_kind": source_kind, "source": source, "target": target, "column": column,
            "recorded_at": _dt.datetime.now().isoformat(timespec="seconds")}


def modelport_cell(case: Case, row: str, source_kind: str, source: str, target: str, args) -> dict:
    output = output_path(args.out, case, target, "modelport", source_kind)
    cmd = MODELPORT + ["convert", source, "--to", target, "-o", output] + case.cli_args() + [
        "--samples", str(args.samples), "--force", "--json"]
    if source_kind != "callable":  # files carry their shapes; the NHWC image shape is for validate only
        cmd = MODELPORT + ["convert", source, "--to", target, "-o", output, "--samples", str(args.samples),
                           "--force", "--json"]
    if args.attempt_timeout:  # a global option: it goes before the subcommand
        cmd[len(MODELPORT):len(MODELPORT)] = ["--attempt-timeout", f"{args.attempt_timeout:g}"]
    if source_kind == "callable" and target == "pytorch":
        # A PyTorch source "to pytorch" is the round trip a user asks for with --via onnx: torch.onnx's
        # export, then modelport's own ONNX -> PyTorch converter, the written .pt2 proven on the source.
        cmd += ["--via", "onnx"]
    log = os.path.join(args.out, "logs", f"{_slug(row)}.{target}.modelport")
    proc = run_process(cmd, args.timeout, log)
    record = base_record(case, row, source_kind, source, target, "modelport")
    record.update(command=_display(cmd), artifact=output, seconds=proc["seconds"], exit_code=proc["rc"], log=log)
    data = parse_json(proc["stdout"])
    record.update(summarise(data))
    record["attempts"] = find_attempts(data) if data is not None else []
    _judge(record, proc, data)
    return record


def anchor_cell(case: Case, row: str, source_kind: str, source: str, target: str, args) -> dict:
    record = base_record(case, row, source_kind, source, target, "anchor")
    if (source_kind, target) not in ANCHORED:
        record.update(status="n/a", exit_code=None, seconds=0.0, cause="no by-hand route")
        return record
    output = output_path(args.out, case, target, "anchor", source_kind)
    cmd = [sys.executable, os.path.join(HERE, "anchor.py"), "--model", case.name, "--target", target,
           "--source-kind", source_kind, "--out", output]
    if source_kind != "callable":
        cmd += ["--source", source]
    log = os.path.join(args.out, "logs", f"{_slug(row)}.{target}.anchor")
    proc = run_process(cmd, args.timeout, log)
    result = next((json.loads(ln.split(" ", 1)[1]) for ln in reversed(proc["stdout"].splitlines())
                   if ln.startswith("ANCHOR-RESULT ")), None)
    record.update(command=_display(cmd), artifact=output, log=log, convert_seconds=proc["seconds"])
    if proc["timed_out"] or result is None or not result.get("ok"):
        cause = (result or {}).get("error") or error_line(proc["stderr"])
        if proc["timed_out"]:
            status, cause = "timeout", f"no result after {proc['seconds']:.0f} s (killed)"
        elif result is None and proc["rc"] is not None and proc["rc"] < 0:
            status, cause = "crashed", f"killed by signal {-proc['rc']}: {cause}"
        else:
            status = "conversion failed"
        record.update(status=status, exit_code=proc["rc"], seconds=proc["seconds"], cause=cause,
                      short=without_paths(cause), operator=operator_in(cause), failing_library=library_in(cause))
        return record
    report_path = output + ".validate.json"
    if os.path.exists(report_path):
        os.remove(report_path)  # never judge by an earlier run's report
    vcmd = MODELPORT + ["validate", source, output] + case.cli_args() + ["--samples", str(args.samples),
                                                                          "--json", report_path]
    vproc = run_process(vcmd, args.timeout, log + ".validate")
    record.update(validate_command=_display(vcmd), validate_seconds=vproc["seconds"],
                  seconds=round(proc["seconds"] + vproc["seconds"], 2), exit_code=vproc["rc"])
    data = None
    if os.path.isfile(report_path):
        try:
            with open(report_path) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError):
            data = None
    _judge(record, vproc, data, anchor=True)
    return record


def _judge(record: dict, proc: dict, data, anchor: bool = False) -> None:
    """Status, cause, operator and library of a cell from its process and JSON report."""
    rc = proc["rc"]
    detail, worst = parity_detail(data)
    record["max_abs"] = worst
    if proc["timed_out"]:
        record.update(status="timeout", cause=f"no result after {proc['seconds']:.0f} s (killed)")
        return
    if rc is not None and rc < 0:
        record.update(status="crashed", cause=f"killed by signal {-rc}: {error_line(proc['stderr'])}")
        return
    if rc == 130:
        raise Interrupted()
    status = STATUS_OF_EXIT.get(rc, "crashed")
    if anchor and rc in (2, 3):
        status = "conversion failed"  # validate could not load or run the by-hand artifact
    cause = short = None
    library = None
    if status != "valid":
        line = error_line(proc["stderr"])
        cause, short = line, without_paths(line)
        library = library_in(line)
        if status == "parity failed":
            if detail:
                short = without_paths(detail)
                if detail not in (line or ""):
                    cause = f"{line} — {detail}" if line else detail
            steps = record.get("steps") or []
            if steps and steps[-1].get("converter"):
                library = steps[-1]["converter"]  # the step that wrote the failing artifact
    record.update(status=status, cause=cause, short=short, operator=operator_in(cause or ""),
                  failing_library=library)


def _display(cmd: list[str]) -> str:
    shown = list(cmd)
    if shown[:3] == MODELPORT:
        shown = ["modelport"] + shown[3:]
    elif shown and shown[0] == sys.executable:
        shown[0] = "python"
    return " ".join(shlex.quote(os.path.relpath(c, ROOT) if c.startswith(ROOT + os.sep) else c) for c in shown)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


# ------------------------------------------------------------------------------ plan

def keras_sources(case: Case, args) -> dict:
    """Write the case's .keras and SavedModel (once, in its own process): {"keras": path,
    "savedmodel": path}, or {"error": first line, ...} if that failed."""
    folder = os.path.join(args.out, case.name, "source")
    cmd = [sys.executable, os.path.join(HERE, "keras_models.py"), case.name, folder]
    proc = run_process(cmd, args.timeout, os.path.join(args.out, "logs", f"{case.name}.build"))
    result = None
    for line in reversed(proc["stdout"].splitlines()):
        try:
            result = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    if proc["rc"] == 0 and isinstance(result, dict):
        return result
    return {"error": "timeout" if proc["timed_out"] else error_line(proc["stderr"]), "rc": proc["rc"],
            "seconds": proc["seconds"]}


def rows_of(selected: list[Case]) -> list[tuple[str, str]]:
    rows = []
    for c in selected:
        rows.append((c.name, c.library))
        if c.library == "keras":
            rows.append((f"{c.name} (savedmodel)", c.library))
    return rows


def cells_of(case: Case, targets: list[str]) -> list[tuple[str, str, str]]:
    """(row, source kind, target) of a case: torch cases from their callable; Keras cases from the
    .keras file (every target) and from the SavedModel (every target but savedmodel)."""
    if case.library != "keras":
        return [(case.name, "callable", t) for t in targets]
    cells = [(case.name, "keras", t) for t in targets]
    cells += [(f"{case.name} (savedmodel)", "savedmodel", t) for t in targets if t != "savedmodel"]
    return cells


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Run the benchmarks/zoo corpus through modelport and print the matrix.",
                                epilog=__doc__.split("\n\n", 2)[2] if __doc__ else None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", default=None, metavar="PATTERN",
                   help="glob patterns on the case name, family or library (default: every case)")
    p.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of onnx,tflite,savedmodel,pytorch")
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "out", "zoo"),
                   help="artifacts, logs and results.jsonl (default benchmarks/out/zoo, git-ignored)")
    p.add_argument("--json", dest="json_path", metavar="FILE", help="write all results and the pass rates as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the matrix as a Markdown table")
    p.add_argument("--timeout", type=float, default=900, help="seconds per process (default 900)")
    p.add_argument("--attempt-timeout", type=float, default=0,
                   help="pass `modelport --attempt-timeout SECONDS` to modelport's cells, so one hung strategy "
                        "does not use the whole --timeout (default 0: none, as a user runs it by default)")
    p.add_argument("--samples", type=int, default=2, help="validation samples per cell (default 2)")
    p.add_argument("--anchors", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the by-hand anchor column (default: on)")
    p.add_argument("--fresh", action="store_true", help="re-run cells already recorded in OUT/results.jsonl")
    p.add_argument("--report-only", action="store_true", help="only print (and write) the reports of OUT's results")
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")
    args = p.parse_args(argv)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    bad = [t for t in targets if t not in TARGETS]
    if bad or not targets:
        p.error(f"--targets: unknown {bad or 'empty'}; choose from {','.join(TARGETS)}")
    args.targets = targets
    args.out = os.path.abspath(args.out)
    if args.samples < 1 or args.timeout <= 0:
        p.error("--samples must be >= 1 and --timeout > 0")
    return args


def _terminate(signum, frame):
    raise Interrupted()


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # `kill PID`: stop the running cell cleanly, as Ctrl-C does
    selected = cases(args.models)
    if not selected:
        print(f"no case matches {args.models}", file=sys.stderr)
        return 2
    if args.list:
        for c in selected:
            print(f"{c.name:34s} {c.library:12s} {c.family:16s} {' '.join(c.input_shapes)}  {c.note}")
        return 0
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.jsonl")
    done = report.load(results_path)
    columns = ["modelport"] + (["anchor"] if args.anchors else [])
    plan = []
    for case in selected:
        for row, kind, target in cells_of(case, args.targets):
            for column in columns:
                if args.fresh or (row, target, column) not in done:
                    plan.append((case, row, kind, target, column))
    skipped = sum(1 for case in selected for row, _, t in cells_of(case, args.targets) for c in columns) - len(plan)
    started = time.perf_counter()
    if not args.report_only:
        print(f"{len(plan)} cell(s) to run, {skipped} already recorded in {results_path}"
              + (" (--fresh: none skipped)" if args.fresh else ""), flush=True)
        try:
            _run_plan(plan, args, results_path)
        except (Interrupted, KeyboardInterrupt):
            print("\ninterrupted: the running cell was stopped and not recorded", file=sys.stderr)
            _print_reports(args, report.load(results_path), rows_of(selected), columns, time.perf_counter() - started)
            return 130
    _print_reports(args, report.load(results_path), rows_of(selected), columns,
                   None if args.report_only else time.perf_counter() - started)
    return 0


def _run_plan(plan, args, results_path) -> None:
    sources: dict[str, dict] = {}
    for i, (case, row, kind, target, column) in enumerate(plan, 1):
        source = case.source if kind == "callable" else None
        if kind != "callable":
            if case.name not in sources:
                sources[case.name] = keras_sources(case, args)
            built = sources[case.name]
            if "error" in built:
                record = base_record(case, row, kind, "", target, column)
                record.update(status="conversion failed", exit_code=built.get("rc"), seconds=0.0,
                              cause=f"building the Keras model failed: {built['error']}")
                report.append(results_path, record)
                _progress(i, len(plan), record)
                continue
            source = built[kind]
        if column == "modelport":
            record = modelport_cell(case, row, kind, source, target, args)
        else:
            record = anchor_cell(case, row, kind, source, target, args)
        report.append(results_path, record)
        _progress(i, len(plan), record)


def _progress(i: int, n: int, record: dict) -> None:
    print(f"[{i}/{n}] {record['row']:40s} {record['target']:10s} {record['column']:9s} "
          f"{report.cell_text(record, 90)} ({record.get('seconds') or 0:.1f} s)", flush=True)


def _print_reports(args, records: dict, rows, columns, wall: float | None) -> None:
    print()
    print(report.text_table(records, rows, args.targets, columns))
    print()
    print("pass rates:")
    print(report.rates_text(records, rows, args.targets, columns))
    causes = report.causes_text(records, rows, args.targets, columns)
    if causes:
        print("\nnot valid, with causes:")
        print(causes)
    seconds = {t: round(sum(r.get("seconds") or 0 for k, r in records.items()
                            if k[0] in {row for row, _ in rows} and k[1] == t and k[2] == "modelport"), 1)
               for t in args.targets}
    print("\nseconds per target (modelport cells, summed): " + ", ".join(f"{t} {s}" for t, s in seconds.items()))
    if wall is not None:
        print(f"this run: {wall:.0f} s wall")
    meta = {"generated_at": _dt.datetime.now().isoformat(timespec="seconds"), "out": args.out,
            "samples": args.samples, "timeout": args.timeout, "seconds_per_target": seconds}
    if args.json_path:
        report.write_json(args.json_path, records, rows, args.targets, columns, meta)
        print(f"wrote {args.json_path}")
    if args.markdown:
        report.write_markdown(args.markdown, records, rows, args.targets, columns)
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    sys.exit(main())
