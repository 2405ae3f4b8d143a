#!/usr/bin/env bash
# GPU parity check for a lent GPU machine that has torch (CUDA), onnx and onnxruntime but no
# TensorFlow and no modelport install: lays the package out on PYTHONPATH, then runs
# `modelport validate` with CUDA candidates against a CPU ONNX Runtime reference.
# Usage: bash scripts/gpu_check.sh OUTDIR   (reports: OUTDIR/*.json, summary on stdout)
set -u
OUT=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
LAYOUT=$(mktemp -d)
mkdir -p "$LAYOUT/modelport"
cp "$ROOT"/modelport/*.py "$ROOT"/modelport/constraints.txt "$LAYOUT/modelport/"
for pkg in converters validators cli; do ln -s "$ROOT/$pkg" "$LAYOUT/modelport/$pkg"; done
# Pure-Python dependencies the machine may lack (click, rich and its own), carried in gpu_vendor/.
export PYTHONPATH="$LAYOUT:$ROOT/gpu_vendor:${PYTHONPATH:-}"
export TF_CPP_MIN_LOG_LEVEL=3
$PY - <<'PYEOF'
import sys, torch, onnxruntime as ort, numpy
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("onnxruntime", ort.__version__, ort.get_available_providers(), "| numpy", numpy.__version__)
PYEOF
F="$ROOT/fixtures"
run() {  # name, expected exit code, args...
  local name=$1 expect=$2; shift 2
  local t0=$(date +%s%N)
  # From the layout folder: in the repository root, ./modelport (without cli/) would shadow it.
  (cd "$LAYOUT" && $PY -m modelport.cli validate "$@" --json "$OUT/$name.json") > "$OUT/$name.txt" 2>&1
  local rc=$? t1=$(date +%s%N)
  local verdict=ok; [ "$rc" = "$expect" ] || verdict=UNEXPECTED
  printf '%-34s exit %s (expected %s) %-10s %6d ms\n' "$name" "$rc" "$expect" "$verdict" "$(( (t1 - t0) / 1000000 ))"
  [ "$verdict" = ok ] || tail -5 "$OUT/$name.txt"
}
DEV=${GPU_DEVICE:-cuda}
CPU_REF="--reference-device cpu --device $DEV --samples 3"
run cnn_callable_cuda        0 "$F/onnx/cnn.onnx" "$F/models.py:cnn" $CPU_REF --input-shape image:8,3,32,32
run cnn_torchscript_cuda     0 "$F/onnx/cnn.onnx" "$F/pytorch/cnn.pt" $CPU_REF --input-shape image:8,3,32,32
run cnn_exported_cuda        0 "$F/onnx/cnn.onnx" "$F/pytorch/cnn.pt2" $CPU_REF --input-shape image:8,3,32,32
run mlp_callable_cuda        0 "$F/onnx/mlp.onnx" "$F/models.py:mlp" $CPU_REF --input-shape features:64,20
run encoder_callable_cuda    0 "$F/onnx/encoder.onnx" "$F/models.py:encoder" $CPU_REF --input-shape input_ids:1,48 --value-range input_ids:0,100
run two_io_callable_cuda     0 "$F/onnx/two_io.onnx" "$F/models.py:two_io" $CPU_REF
run cnn_onnxruntime_cuda     0 "$F/onnx/cnn.onnx" "$F/onnx/cnn.onnx" --reference-device cpu --device auto --samples 3 --input-shape image:8,3,32,32
run cnn_mutant_cuda_fails    1 "$F/onnx/cnn.onnx" "$F/models.py:untrained_cnn" $CPU_REF --input-shape image:8,3,32,32
run tflite_on_cuda_refused   4 "$F/onnx/cnn.onnx" "$F/tflite/keras_cnn.tflite" --device cuda --reference-device cpu
$PY - "$OUT" <<'PYEOF'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    r = json.load(open(path))
    for c in r["candidates"]:
        for o in c["outputs"]:
            rows.append((os.path.basename(path)[:-5], c["runtime"], c["device"], o["output"], o["passed"], o["max_abs"], o["max_rel"], o["cosine"]))
print(f"{'check':<28} {'runtime':<12} {'device':<6} {'output':<9} {'pass':<5} {'max_abs':>9} {'max_rel':>9} {'cosine':>10}")
for row in rows:
    fmt = lambda x: "-" if x is None else f"{x:.2e}" if isinstance(x, float) else str(x)
    print(f"{row[0]:<28} {row[1]:<12} {row[2]:<6} {row[3]:<9} {str(row[4]):<5} {fmt(row[5]):>9} {fmt(row[6]):>9} {fmt(row[7]):>10}")
PYEOF
rm -rf "$LAYOUT"
