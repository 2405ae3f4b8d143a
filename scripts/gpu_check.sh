#!/usr/bin/env bash
# GPU checks for a lent GPU machine that has torch (CUDA), onnx and onnxruntime but no TensorFlow
# and no modelport install: lays the package out on PYTHONPATH, then
#   1. `modelport validate` with CUDA candidates against a CPU ONNX Runtime reference;
#   2. ONNX -> PyTorch conversions made there (.pt2 and the Python package), run on CUDA;
#   3. one training step of a converted package on CUDA;
#   4. `modelport bench --device cuda` (latency and peak GPU memory);
#   5. the ONNX node tests through the converter's package output on CPU and on CUDA, and the
#      tests that pass on one device only.
# Usage: [SECTIONS="1 2 3 4 5"] bash scripts/gpu_check.sh OUTDIR
#   (summary on stdout; every report in OUTDIR/gpu_check.tgz)
# onnxsim (which folds shape arithmetic for the .pt2 output) travels as a wheel in .whl/ when the
# machine lacks it; PYTHONPATH may point at where it was installed. An onnx install without its
# node tests gets them from .gpu_data/node.tgz (tar czf of onnx/backend/test/data/node).
set -u
OUT=${1:-${OUT:-/tmp/gpu_check}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
LAYOUT=$WORK/layout
mkdir -p "$LAYOUT/modelport" "$WORK/reports"
cp "$ROOT"/modelport/*.py "$ROOT"/modelport/constraints.txt "$LAYOUT/modelport/"
for pkg in converters validators cli; do ln -s "$ROOT/$pkg" "$LAYOUT/modelport/$pkg"; done
# Pure-Python dependencies the machine may lack (click, rich and its own), carried in gpu_vendor/.
export PYTHONPATH="$LAYOUT:${PYTHONPATH:-}:$ROOT/gpu_vendor"
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
R=$WORK/reports
$PY - <<'PYEOF'
import sys, torch, onnx, onnxruntime as ort, numpy
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
print("onnx", onnx.__version__, "| onnxruntime", ort.__version__, ort.get_available_providers(), "| numpy", numpy.__version__)
try:
    import onnxsim; print("onnxsim", onnxsim.__version__)
except ImportError:
    print("onnxsim missing: .pt2 conversions of models with shape arithmetic may fail")
PYEOF
F="$ROOT/fixtures"
mp() { (cd "$LAYOUT" && $PY -m modelport.cli "$@"); }  # from the layout: ./modelport in the repo lacks cli/
check() {  # name, expected exit code, subcommand, args... (reports: $R/name.*)
  local name=$1 expect=$2 sub=$3; shift 3
  local t0=$(date +%s%N)
  if [ "$sub" = validate ]; then mp validate "$@" --json "$R/$name.json" > "$R/$name.txt" 2>&1
  else mp "$sub" "$@" > "$R/$name.txt" 2>&1; fi
  local rc=$? t1=$(date +%s%N)
  local verdict=ok; [ "$rc" = "$expect" ] || verdict=UNEXPECTED
  printf '%-34s exit %s (expected %s) %-10s %6d ms\n' "$name" "$rc" "$expect" "$verdict" "$(( (t1 - t0) / 1000000 ))"
  [ "$verdict" = ok ] || tail -5 "$R/$name.txt"
}
DEV=${GPU_DEVICE:-cuda}
SECTIONS=" ${SECTIONS:-1 2 3 4 5} "
on() { [[ "$SECTIONS" == *" $1 "* ]]; }
CPU_REF="--reference-device cpu --device $DEV --samples 3"
if on 1; then
echo "== 1. validate: CUDA candidates against CPU ONNX Runtime"
check cnn_callable_cuda        0 validate "$F/onnx/cnn.onnx" "$F/models.py:cnn" $CPU_REF --input-shape image:8,3,32,32
check cnn_torchscript_cuda     0 validate "$F/onnx/cnn.onnx" "$F/pytorch/cnn.pt" $CPU_REF --input-shape image:8,3,32,32
check mlp_callable_cuda        0 validate "$F/onnx/mlp.onnx" "$F/models.py:mlp" $CPU_REF --input-shape features:64,20
check encoder_callable_cuda    0 validate "$F/onnx/encoder.onnx" "$F/models.py:encoder" $CPU_REF --input-shape input_ids:1,48 --value-range input_ids:0,100
check two_io_callable_cuda     0 validate "$F/onnx/two_io.onnx" "$F/models.py:two_io" $CPU_REF
check cnn_onnxruntime_auto     0 validate "$F/onnx/cnn.onnx" "$F/onnx/cnn.onnx" --reference-device cpu --device auto --samples 3 --input-shape image:8,3,32,32
check cnn_mutant_cuda_fails    1 validate "$F/onnx/cnn.onnx" "$F/models.py:untrained_cnn" $CPU_REF --input-shape image:8,3,32,32
check tflite_on_cuda_refused   4 validate "$F/onnx/cnn.onnx" "$F/tflite/keras_cnn.tflite" --device cuda --reference-device cpu
fi
echo "== 2. ONNX -> PyTorch made here, run on CUDA"
A=$WORK/artifacts; mkdir -p "$A"
for m in cnn mlp encoder two_io; do
  check ${m}_to_pt2              0 convert "$F/onnx/$m.onnx" --to pytorch -o "$A/$m.pt2" --device auto
  check ${m}_to_package          0 convert "$F/onnx/$m.onnx" --to pytorch --pytorch-format package -o "$A/${m}_pytorch" --device auto
done
check cnn_package_cuda         0 validate "$F/onnx/cnn.onnx" "$A/cnn_pytorch" $CPU_REF --input-shape image:8,3,32,32
check encoder_package_cuda     0 validate "$F/onnx/encoder.onnx" "$A/encoder_pytorch" $CPU_REF --input-shape input_ids:1,48 --value-range input_ids:0,100
check two_io_pt2_cuda          0 validate "$F/onnx/two_io.onnx" "$A/two_io.pt2" $CPU_REF
if on 3; then
echo "== 3. a training step of the cnn package on CUDA"
$PY - "$A/cnn_pytorch" <<'PYEOF'
import sys, torch
sys.modules["modelport"] = None
from importlib import util
spec = util.spec_from_file_location("cnn_model", sys.argv[1] + "/model.py"); mod = util.module_from_spec(spec); spec.loader.exec_module(mod)
dev = "cuda" if torch.cuda.is_available() else "cpu"
model = mod.load(device=dev).train()
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x, y = torch.randn(32, 3, 32, 32, device=dev), torch.randint(0, 10, (32,), device=dev)
losses = []
for _ in range(10):
    opt.zero_grad(); loss = torch.nn.functional.cross_entropy(model(x), y); loss.backward(); opt.step(); losses.append(loss.item())
print(f"train step on {next(model.parameters()).device}: loss {losses[0]:.4f} -> {losses[-1]:.4f}",
      "ok" if losses[-1] < losses[0] else "UNEXPECTED")
PYEOF
fi
if on 4; then
echo "== 4. bench on CUDA"
check bench_cuda               0 bench "$F/models.py:cnn" "$A/cnn_pytorch" "$A/cnn.pt2" --device cuda --batch-sizes 1,64 \
  --input-shape image:batch,3,32,32 --runs 100 --duration 1 --json "$R/bench_cuda.json"
tail -12 "$R/bench_cuda.txt"
fi
if on 5; then
echo "== 5. ONNX node tests, package form, CPU vs CUDA"
if [ ! -d "$(cd "$LAYOUT" && $PY -c 'from modelport.converters.onnx_torch.conformance import node_tests_dir; print(node_tests_dir())' 2>/dev/null)" ] \
   && [ -f "$ROOT/.gpu_data/node.tgz" ]; then
  tar xzf "$ROOT/.gpu_data/node.tgz" -C "$WORK" && export MODELPORT_ONNX_NODE_TESTS="$WORK/node"
fi
for d in cpu cuda; do
  (cd "$LAYOUT" && timeout "${NODE_TESTS_TIMEOUT:-240}" $PY "$ROOT/benchmarks/onnx_node_coverage.py" --form package \
    --device $d --json "$R/nodes_$d.json") > "$R/nodes_$d.txt" 2>"$R/nodes_$d.err" || echo "node tests on $d: exit $?"
  head -1 "$R/nodes_$d.txt"; grep -E "all must-pass|failures by reason" "$R/nodes_$d.txt"
done
[ -f "$R/nodes_cpu.json" ] && [ -f "$R/nodes_cuda.json" ] && $PY - "$R" <<'PYEOF'
import json, sys
cpu, cuda = (json.load(open(f"{sys.argv[1]}/nodes_{d}.json")) for d in ("cpu", "cuda"))
only_cpu = sorted(n for n in cpu if cpu[n]["status"] == "pass" and cuda.get(n, {}).get("status") != "pass")
only_cuda = sorted(n for n in cuda if cuda[n]["status"] == "pass" and cpu.get(n, {}).get("status") != "pass")
print(f"pass on CPU only: {len(only_cpu)}; on CUDA only: {len(only_cuda)}")
for n in only_cpu:
    print(f"  {n}: {cuda[n]['status']}: {cuda[n]['detail'][:150]}")
PYEOF
fi
echo "== parity figures"
$PY - "$R" <<'PYEOF'
import glob, json, os, sys
print(f"{'check':<28} {'runtime':<12} {'device':<6} {'output':<9} {'pass':<5} {'max_abs':>9} {'max_rel':>9} {'cosine':>10}")
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    r = json.load(open(path))
    if "candidates" not in r:
        continue
    for c in r["candidates"]:
        for o in c["outputs"]:
            fmt = lambda x: "-" if x is None else f"{x:.2e}" if isinstance(x, float) else str(x)
            print(f"{os.path.basename(path)[:-5]:<28} {c['runtime']:<12} {c['device']:<6} {o['output']:<9} {str(o['passed']):<5} "
                  f"{fmt(o['max_abs']):>9} {fmt(o['max_rel']):>9} {fmt(o['cosine']):>10}")
PYEOF
tar czf "$OUT/gpu_check.tgz" -C "$WORK" reports
rm -rf "$WORK"
