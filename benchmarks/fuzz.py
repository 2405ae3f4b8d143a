"""Fuzz modelport with damaged model files: every case must end in a verdict, never a crash.

Valid fixtures of every format are mutated, seeded: bits flipped, the file truncated, bytes
inserted, 4-byte integers overwritten with extreme values (what flatbuffer offsets and protobuf
lengths are made of), chunks deleted or repeated; for zip formats (.pt2, TorchScript, .keras) a
member's bytes are mutated too and the archive rewritten with valid checksums, so that the damage
reaches the loaders behind the zip layer; for a SavedModel, its saved_model.pb; for a TF.js graph model,
its model.json (or, one case in five, its weight shard).

Each case goes through the public API exactly as `modelport inspect` runs it
(`modelport.api.inspect_model`: format detection, then each format's own reader), in a worker
process that takes many cases in a row. A case is fine when it returns (the damage left a valid
model) or raises a ModelportError (the CLI prints it as one line with exit code 2, 3 or 4). It is a
failure when it raises anything else (the CLI's "internal error"), kills the process (a signal:
the worker is restarted after it), or runs past the time limit. `--cli N` also runs N cases through
the real CLI, checking the exit code, the single error line, no traceback, and that a failed
`convert` leaves nothing in its output folder.

    python benchmarks/fuzz.py                                   # 2000 cases per format (the benchmark)
    python benchmarks/fuzz.py --cases 100 --formats onnx,tflite --cli 20 --json fuzz.json
    python benchmarks/fuzz.py --formats torchscript --start 1000 --cases 1000   # cases 1000-1999 only

Exit status: 0 when every case ended in a verdict, 1 when one did not, 2 for bad options.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "fixtures")

# format -> the valid files its cases are made from
SEEDS = {
    "onnx": ["onnx/cnn.onnx", "onnx/encoder.onnx"],
    "tflite": ["tflite/mlp.tflite", "tflite/keras_cnn.tflite"],
    "exported_program": ["pytorch/cnn.pt2"],
    "torchscript": ["pytorch/mlp.pt"],
    "keras": ["keras/keras_cnn.keras"],
    "savedmodel": ["savedmodel/keras_mlp"],
    "tfjs": ["tfjs/keras_cnn"],
}
EXTREMES = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
CASE_SECONDS = 60.0  # per case: a SavedModel load takes seconds on a busy machine


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One seeded mutation of a byte string, and its name."""
    b = bytearray(data)
    kind = rng.choice(["bitflip", "truncate", "insert", "overwrite_int", "delete_chunk", "repeat_chunk"])
    if not b:
        return bytes(rng.randbytes(16)), "random"
    if kind == "bitflip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[:rng.randrange(len(b))]
    elif kind == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.randbytes(rng.randint(1, 64))
    elif kind == "overwrite_int":
        i = rng.randrange(max(1, len(b) - 4)) & ~3
        value = rng.choice(EXTREMES + (len(b), len(b) * 2, rng.getrandbits(32)))
        b[i:i + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    elif kind == "delete_chunk":
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 256)]
    else:
        i = rng.randrange(len(b))
        chunk = b[i:i + rng.randint(1, 256)]
        b[i:i] = chunk * rng.randint(1, 8)
    return bytes(b), kind


def _mutate_zip_member(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Mutate one member of a zip and rewrite the archive with valid checksums."""
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = src.infolist()
        victim = rng.choice(infos)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in infos:
                content = src.read(info)
                if info.filename == victim.filename:
                    content, kind = mutate_bytes(content, rng)
                dst.writestr(info, content)
    return out.getvalue(), f"member {victim.filename.split('/')[-1]}: {kind}"


def make_case(fmt: str, index: int, seed: int, folder: str) -> dict:
    """Write case `index` of a format into `folder`; return its description."""
    rng = random.Random(f"{seed}:{fmt}:{index}")
    source = os.path.join(FIXTURES, rng.choice(SEEDS[fmt]))
    name = os.path.join(folder, f"{fmt}_{index}")
    if os.path.isdir(source):  # a SavedModel: damage its saved_model.pb; a TF.js folder: model.json or a shard
        shutil.copytree(source, name)
        if os.path.exists(os.path.join(name, "saved_model.pb")):
            target = "saved_model.pb"
        else:
            target = "model.json" if rng.random() < 0.8 else "group1-shard1of1.bin"
        with open(os.path.join(name, target), "rb") as f:
            data, kind = mutate_bytes(f.read(), rng)
        with open(os.path.join(name, target), "wb") as f:
            f.write(data)
        kind = f"{target}: {kind}" if target != "saved_model.pb" else kind
        path = name
    else:
        with open(source, "rb") as f:
            data = f.read()
        if data[:2] == b"PK" and rng.random() < 0.5:
            data, kind = _mutate_zip_member(data, rng)
        else:
            data, kind = mutate_bytes(data, rng)
        path = name + os.path.splitext(source)[1]
        with open(path, "wb") as f:
            f.write(data)
    return {"format": fmt, "index": index, "path": path, "seed_file": os.path.relpath(source, ROOT), "mutation": kind}


# ------------------------------------------------------------------ the worker side


def _worker(cases_path: str, results_path: str) -> int:
    """Run inspect_model on each case in turn; one JSON line per case, flushed before the next."""
    sys.path.insert(0, ROOT)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import traceback

    from modelport.api import inspect_model
    from modelport.errors import ModelportError

    with open(cases_path) as f:
        cases = json.load(f)
    with open(results_path, "a") as out:
        for case in cases:
            out.write(json.dumps({"index": case["index"], "format": case["format"], "started": True}) + "\n")
            out.flush()
            t0 = time.perf_counter()
            try:
                inspect_model(case["path"])
                verdict = {"outcome": "ok"}
            except ModelportError as e:
                verdict = {"outcome": "refused", "exit_code": e.exit_code, "message": e.message[:300]}
            except BaseException as e:  # what the CLI would print as an internal error
                verdict = {"outcome": "bug", "message": f"{type(e).__name__}: {str(e)[:300]}",
                           "traceback": traceback.format_exc()[-3000:]}
            out.write(json.dumps({"index": case["index"], "format": case["format"],
                                  "seconds": round(time.perf_counter() - t0, 3), **verdict}) + "\n")
            out.flush()
    return 0


def run_api_cases(cases: list[dict], scratch: str, limit: float = CASE_SECONDS) -> list[dict]:
    """Every case through a worker; a death or a hang is that case's verdict, the next case goes on."""
    verdicts: dict[tuple, dict] = {}
    pending = list(cases)
    round_no = 0
    while pending:
        round_no += 1
        cases_path = os.path.join(scratch, f"cases{round_no}.json")
        results_path = os.path.join(scratch, f"results{round_no}.jsonl")
        with open(cases_path, "w") as f:
            json.dump(pending, f)
        open(results_path, "w").close()
        with open(os.path.join(scratch, f"worker{round_no}.log"), "w") as log:
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", cases_path, results_path],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=scratch)
            last_size, last_change, killed = 0, time.monotonic(), False
            while proc.poll() is None:
                time.sleep(0.2)
                size = os.path.getsize(results_path)
                if size != last_size:
                    last_size, last_change = size, time.monotonic()
                elif time.monotonic() - last_change > limit:
                    proc.kill()
                    proc.wait()
                    killed = True
        started = None
        with open(results_path) as f:
            for line in f:
                row = json.loads(line)
                key = (row["format"], row["index"])
                if row.get("started"):
                    started = key
                else:
                    verdicts[key] = row
                    started = None
        done = {(c["format"], c["index"]) for c in pending if (c["format"], c["index"]) in verdicts}
        if started is not None:  # the case that was running when the worker died or hung
            how = f"hang (no verdict in {limit:.0f} s)" if killed else f"crash (exit {proc.returncode})"
            verdicts[started] = {"format": started[0], "index": started[1], "outcome": how}
            done.add(started)
        if not done:  # the worker itself does not start: every case left is a failure, once
            for c in pending:
                verdicts[(c["format"], c["index"])] = {"outcome": f"worker failed (exit {proc.returncode})"}
            break
        pending = [c for c in pending if (c["format"], c["index"]) not in done]
    return [dict(c, **verdicts[(c["format"], c["index"])]) for c in cases]


# ------------------------------------------------------------------ the CLI sample


def run_cli_case(case: dict, scratch: str, timeout: float = 300) -> dict:
    """One case through `modelport convert` (to a format other than its own): the exit code, one
    error line, no traceback, nothing left in the output folder when it fails."""
    out_dir = os.path.join(scratch, f"cli_{case['format']}_{case['index']}")
    os.makedirs(out_dir)
    target = "onnx" if case["format"] in ("tflite", "savedmodel", "keras") else "tflite"
    out = os.path.join(out_dir, "artifact." + ("onnx" if target == "onnx" else "tflite"))
    cmd = [sys.executable, "-m", "modelport.cli", "convert", case["path"], "--to", target, "-o", out, "--no-validate"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return dict(case, cli="hang")
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("modelport: error:")]
    problems = []
    if proc.returncode not in (0, 2, 3, 4):
        problems.append(f"exit {proc.returncode}")
    if "Traceback" in proc.stdout + proc.stderr or "internal error" in proc.stderr:
        problems.append("traceback or internal error")
    if proc.returncode != 0 and len(errors) != 1:
        problems.append(f"{len(errors)} error lines")
    if proc.returncode != 0 and os.listdir(out_dir):
        problems.append(f"left {os.listdir(out_dir)} in the output folder")
    return dict(case, cli="; ".join(problems) or "fine", cli_exit=proc.returncode)


def summarise(results: list[dict]) -> dict:
    by_format: dict[str, dict] = {}
    for r in results:
        s = by_format.setdefault(r["format"], {"cases": 0, "ok": 0, "refused": 0, "failures": 0})
        s["cases"] += 1
        if r["outcome"] in ("ok", "refused"):
            s[r["outcome"]] += 1
        else:
            s["failures"] += 1
    return by_format


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Fuzz modelport with damaged model files (benchmarks/fuzz.py's "
                                                 "docstring says what is mutated and what counts as a failure).")
    parser.add_argument("--cases", type=int, default=2000, help="cases per format (default 2000)")
    parser.add_argument("--start", type=int, default=0, metavar="N",
                        help="index of the first case (default 0): cases are seeded by index, so a long run can be "
                             "split, e.g. --start 0 --cases 1000, then --start 1000 --cases 1000")
    parser.add_argument("--formats", default=",".join(SEEDS), help="comma-separated subset of " + ",".join(SEEDS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cli", type=int, default=0, metavar="N", help="also run N cases per format through the CLI")
    parser.add_argument("--json", help="write every case's verdict here")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(*args.worker)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in SEEDS]
    if unknown or args.cases < 1 or args.start < 0:
        parser.error(f"unknown format(s) {unknown}" if unknown else "--cases must be at least 1 and --start at least 0")
    scratch = tempfile.mkdtemp(prefix="modelport-fuzz-")
    try:
        t0 = time.perf_counter()
        cases = [make_case(f, i, args.seed, scratch) for f in formats for i in range(args.start, args.start + args.cases)]
        results = run_api_cases(cases, scratch)
        cli = [run_cli_case(c, scratch) for f in formats for c in [c for c in cases if c["format"] == f][:args.cli]]
        summary = summarise(results)
        for fmt, s in summary.items():
            print(f"{fmt:<17} {s['cases']:>5} cases: {s['ok']:>5} still load, {s['refused']:>5} refused with a "
                  f"one-line error, {s['failures']} failures")
        bad = [r for r in results if r["outcome"] not in ("ok", "refused")]
        bad_cli = [c for c in cli if c["cli"] != "fine"]
        for r in bad[:20]:
            print(f"FAILURE {r['format']} #{r['index']} ({r['seed_file']}, {r['mutation']}): {r['outcome']} "
                  f"{r.get('message', '')}")
        for c in bad_cli[:20]:
            print(f"CLI FAILURE {c['format']} #{c['index']} ({c['mutation']}): {c['cli']}")
        if cli:
            print(f"CLI sample: {len(cli) - len(bad_cli)} of {len(cli)} convert runs ended as documented")
        print(f"{len(results)} cases in {time.perf_counter() - t0:.0f} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"summary": summary, "cases": results, "cli": cli}, f, indent=1)
        return 1 if bad or bad_cli else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
