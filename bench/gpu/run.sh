#!/usr/bin/env bash
# The GPU check in one script, for a machine with an NVIDIA GPU, CMake and nvcc (Node is
# not needed):
#   1. configures and builds the native core's own executables with CMake (TF_CUDA=ON,
#      Release, SASS for this machine's GPU only, to keep the build short);
#   2. runs ctest: the CPU tests, then every CUDA-vs-CPU comparison (each test in its own
#      process, so a faulting kernel fails its test only); the full log, with each
#      comparison's worst error, goes to $OUT/ctest.txt, and a test that crashed is
#      run again under compute-sanitizer (memcheck) when the machine has it;
#   3. runs tf_gpu_bench (GEMM, ViT forward and training step, BERT masked-LM forward on
#      full and padded batches, Sinkhorn; GPU vs our CPU);
#   4. runs bench/gpu/torch_gpu.py (PyTorch on the GPU: the same ViT and BERT shapes, a
#      torch log-domain Sinkhorn, and POT's ot.sinkhorn on CUDA tensors when POT is there) when python3 has torch;
#   5. the whole fusion run, when the machine has Node and the checkout its node_modules
#      (carry them along): builds the addon with CMake against the local Node's headers,
#      then bench/fusion/run.ts on a ViT-B/16-sized random pair (the bundled demo pair
#      with QUICK=1), ours on the GPU and on the CPU: fusion-cuda.json, fusion-cpu.json, and
#      on the GPU with the maps solved one by one: fusion-cuda-one-by-one.json;
#      and the package's mocha suite with that addon, on the GPU: mocha-gpu.txt;
#      then a BERT-base-sized pair through `otfuse run` on each device: bert-cuda.json,
#      bert-cpu.json (each step only while BUDGET has time for it);
#   6. joins everything into one table: $OUT/summary.txt and $OUT/summary.json.
# OUT defaults to ./gpu-results; it receives summary.txt, summary.json, native.json,
# torch.json, native-bench.txt, ctest.txt, build.log, machine.txt, steps.txt and the fusion files. Other knobs: BUILD_DIR (build/gpu), JOBS (16), QUICK=1
# (small benchmark sizes), CUDA_ARCH (e.g. 90; default: the GPU's compute capability),
# BUDGET (seconds for the whole script: each step's timeout is cut to what is left, less
# 20 s kept for the summary, and a step with under 20 s left is skipped; 0, the default,
# leaves the steps' own timeouts).
# Without a GPU every step still runs: the CUDA tests are reported skipped and the
# benchmarks say "no GPU". Exit status: 0 when the build and ctest passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/gpu-results}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=${BUILD_DIR:-$ROOT/build/gpu}
JOBS=${JOBS:-16}
QUICK=${QUICK:-0}
started=$SECONDS
BUDGET=${BUDGET:-0}
: > "$OUT/steps.txt"
# within <seconds>: the step's own timeout, cut to what BUDGET has left.
within() {
  local want=$1
  if [ "$BUDGET" -gt 0 ]; then
    local left=$((BUDGET - (SECONDS - started) - 20))
    [ "$left" -lt "$want" ] && want=$left
  fi
  echo $((want > 0 ? want : 0))
}
# enough <seconds>: whether a step that needs at least that long still fits the budget.
enough() { [ "$(within "$1")" -ge "$1" ]; }
step() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - started)); }
took() { echo "$1=$((SECONDS - $2))s" >> "$OUT/steps.txt"; }
status=0

step "machine"
{
  uname -a
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv
  nproc
} 2>&1 | tee "$OUT/machine.txt"

export PATH="$PATH:/usr/local/cuda/bin"
cuda_flag=-DTF_CUDA=ON
if ! command -v nvcc >/dev/null 2>&1; then
  echo "nvcc not found: building without CUDA (only the CPU side can run)" | tee -a "$OUT/machine.txt"
  cuda_flag=-DTF_CUDA=OFF
fi
# cuBLAS is opened at run time (dlopen). Where the toolkit has none on the loader's
# path, use the one a Python CUDA stack ships (PyTorch's nvidia-cublas wheel).
if [ -z "${TF_CUBLAS_PATH:-}" ]; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    for f in "$d"/libcublas.so.13 "$d"/libcublas.so.12; do
      [ -z "${TF_CUBLAS_PATH:-}" ] && [ -e "$f" ] && TF_CUBLAS_PATH=$f
    done
  done
  if [ -z "${TF_CUBLAS_PATH:-}" ] && command -v python3 >/dev/null 2>&1; then
    TF_CUBLAS_PATH=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
roots = list(site.getsitepackages()) + [site.getusersitepackages()]
found = sorted(f for r in roots for f in glob.glob(os.path.join(r, "nvidia", "**", "libcublas.so.*"), recursive=True))
print(found[-1] if found else "")
PY
)
  fi
fi
if [ -n "${TF_CUBLAS_PATH:-}" ]; then
  export TF_CUBLAS_PATH
  echo "cuBLAS: $TF_CUBLAS_PATH" | tee -a "$OUT/machine.txt"
else
  echo "cuBLAS: none found (the GPU GEMM runs our own kernels)" | tee -a "$OUT/machine.txt"
fi
command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -2 | tee -a "$OUT/machine.txt"

arch=${CUDA_ARCH:-}
if [ -z "$arch" ] && command -v nvidia-smi >/dev/null 2>&1; then
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  [[ "$arch" =~ ^[0-9]+$ ]] || arch=""
fi
arch_flag=()
[ -n "$arch" ] && arch_flag=(-DCMAKE_CUDA_ARCHITECTURES="$arch")

step "configure + build (${arch:+sm_$arch, }-j$JOBS)"
t=$SECONDS
# The tests and the benchmark are built one target at a time, so that one that does not
# compile leaves the other to run; a failed build marks the run failed and goes on.
if cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$cuda_flag" "${arch_flag[@]}" > "$OUT/build.log" 2>&1; then
  for target in tf_native_tests tf_gpu_bench; do
    if ! cmake --build "$BUILD" -j"$JOBS" --target "$target" >> "$OUT/build.log" 2>&1; then
      tail -40 "$OUT/build.log"
      echo "BUILD FAILED: $target (full log: $OUT/build.log)"
      status=1
    fi
  done
else
  tail -40 "$OUT/build.log"
  echo "CONFIGURE FAILED (full log: $OUT/build.log)"
  status=1
fi
grep -E "CPU GEMM|CUDA" "$OUT/build.log" | head -5
took build "$t"

step "ctest (CPU tests, then the CUDA-vs-CPU comparisons)"
t=$SECONDS
if [ -x "$BUILD/tf_native_tests" ]; then
  timeout "$(within 600)" ctest --test-dir "$BUILD" -V > "$OUT/ctest.txt" 2>&1
  ctest_rc=$?
  grep -E "^[0-9]+: (FAIL|CRASH|SKIPPED)|^[0-9]+: [0-9]+ tests,|tests passed|Skipped|\*\*\*" "$OUT/ctest.txt" | head -60
  [ $ctest_rc -ne 0 ] && { echo "ctest FAILED (exit $ctest_rc; full log: $OUT/ctest.txt)"; status=1; }
else
  echo "no tf_native_tests (the build failed): no tests ran"
fi
# A CUDA test that crashed its process: run it again under compute-sanitizer (at most
# three, two minutes each) and append what it finds to ctest.txt.
if command -v compute-sanitizer >/dev/null 2>&1 && [ -f "$OUT/ctest.txt" ]; then
  grep -E "^[0-9]+: CRASH " "$OUT/ctest.txt" | sed -E 's/^[0-9]+: CRASH (.*) \((signal|exit status|could not).*$/\1/' | head -3 |
    while IFS= read -r name; do
      echo "=== compute-sanitizer memcheck: $name" | tee -a "$OUT/ctest.txt"
      enough 30 || break
      timeout "$(within 120)" compute-sanitizer --tool memcheck --print-limit 20 "$BUILD/tf_native_tests" --device cuda "$name" \
        >> "$OUT/ctest.txt" 2>&1
      tail -5 "$OUT/ctest.txt"
    done
fi
took ctest "$t"

step "native benchmarks (tf_gpu_bench)"
t=$SECONDS
quick=()
[ "$QUICK" = 1 ] && quick=(--quick)
if [ -x "$BUILD/tf_gpu_bench" ] && enough 20; then
  # Its table goes to $OUT as well: native.json is written only at the end, so a run
  # stopped by the timeout leaves its rows there alone.
  timeout "$(within 420)" "$BUILD/tf_gpu_bench" --out "$OUT" "${quick[@]}" 2>&1 | tee "$OUT/native-bench.txt"
else
  echo "no tf_gpu_bench (the build failed): no native benchmarks"
fi
took native_bench "$t"

step "PyTorch side (torch_gpu.py)"
t=$SECONDS
if command -v python3 >/dev/null 2>&1 && enough 20; then
  PYTHONUNBUFFERED=1 timeout "$(within 240)" python3 bench/gpu/torch_gpu.py --out "$OUT" "${quick[@]}" 2>&1
else
  echo "python3 not found: no PyTorch comparison"
fi
took torch_bench "$t"

step "whole fusion run (Node): ours on the GPU and on the CPU"
t=$SECONDS
node_inc=""
command -v node >/dev/null 2>&1 && node_inc=$(node -p "require('path').resolve(process.execPath, '../../include/node')")
if ! enough 60; then
  echo "the budget has under a minute left: no whole-run comparison"
elif [ -z "$node_inc" ] || [ ! -f "$node_inc/node_api.h" ] || [ ! -d node_modules/tsx ]; then
  echo "no Node with its headers, or no node_modules in the checkout: no whole-run comparison"
  took fusion_run "$t"
elif ! cmake -S . -B "$BUILD" -DCMAKE_JS_INC="$node_inc" >> "$OUT/build.log" 2>&1 ||
     ! cmake --build "$BUILD" -j"$JOBS" --target transformer_fusion >> "$OUT/build.log" 2>&1; then
  echo "the addon did not build against $node_inc (see $OUT/build.log)"
  took fusion_run "$t"
else
  export OTFUSE_ADDON="$BUILD/Release/transformer_fusion.node"
  node bin/otfuse.js doctor 2>&1 | tee -a "$OUT/machine.txt"
  experiment=configs/demo.yaml
  if [ "$QUICK" != 1 ]; then
    pair="$BUILD/vitb-pair"
    [ -f "$pair/experiment.yaml" ] || timeout "$(within 180)" node --import tsx bench/fusion/make-vitb-pair.ts "$pair" > /dev/null
    [ -f "$pair/experiment.yaml" ] && experiment="$pair/experiment.yaml"
  fi
  # fusion_run <name>: bench/fusion/run.ts on the pair, on the device the name starts with;
  # cuda-one-by-one solves each layer's map as the walk meets it, to set against the
  # default there (a pair's maps solved ahead, batched by shape).
  fusion_run() {
    local run=$1 dev=${1%%-*} extra=()
    [ "$run" = cuda-one-by-one ] && extra=(--set runtime.solve_ahead=false)
    enough 20 || { echo "$run: skipped, the budget is spent"; return; }
    timeout "$(within 300)" node --import tsx bench/fusion/run.ts "$experiment" --set runtime.device="$dev" "${extra[@]}" \
      --json "$OUT/fusion-$run.json" 2>&1 | tail -8
  }
  fusion_run cuda
  fusion_run cpu
  took fusion_run "$t"
  # The package's own test suite with the CUDA addon: device 'auto' puts every forward
  # pass, store, transport map and training step of the tests on the GPU.
  step "npm test on the GPU (mocha, device auto)"
  t=$SECONDS
  # Node alone runs it (npx may not be there: a carried Node binary has no npm).
  if enough 30; then
    timeout "$(within 300)" node node_modules/mocha/bin/mocha.js --reporter dot > "$OUT/mocha-gpu.txt" 2>&1
    echo "mocha exit $?" >> "$OUT/mocha-gpu.txt"
  else
    echo "under 30 s of the budget left: mocha not run" > "$OUT/mocha-gpu.txt"
  fi
  grep -E "passing|failing|pending|mocha exit" "$OUT/mocha-gpu.txt"
  took mocha_gpu "$t"
  step "whole fusion run on the GPU, maps solved one by one"
  t=$SECONDS
  fusion_run cuda-one-by-one
  took fusion_one_by_one "$t"
  # A BERT-base-sized pair through `otfuse run` (activations, fusion, evaluation of four
  # models), on each device: its report.json as bert-<device>.json.
  step "BERT-base-sized pair: otfuse run on the GPU and on the CPU"
  t=$SECONDS
  if [ "$QUICK" != 1 ] && enough 90; then
    bpair="$BUILD/bert-base-pair"
    [ -f "$bpair/experiment.yaml" ] ||
      timeout "$(within 120)" node --import tsx bench/fusion/make-bert-base-pair.ts "$bpair" > /dev/null
    for dev in cuda cpu; do
      [ -f "$bpair/experiment.yaml" ] || break
      enough 30 || { echo "bert $dev: skipped, the budget is spent"; continue; }
      timeout "$(within 240)" node bin/otfuse.js run "$bpair/experiment.yaml" --device "$dev" --json \
        > "$OUT/bert-$dev.json" 2> "$OUT/bert-$dev.log"
      echo "bert $dev: exit $?"
    done
  else
    echo "QUICK=1 or under 90 s of the budget left: no BERT-base run"
  fi
  took bert_run "$t"
fi

step "summary"
echo "total=$((SECONDS - started))s" >> "$OUT/steps.txt"
if command -v python3 >/dev/null 2>&1; then
  python3 bench/gpu/summarize.py "$OUT"
else
  cat "$OUT/native-bench.txt" > "$OUT/summary.txt" 2>/dev/null
  echo "python3 not found: $OUT/summary.txt is tf_gpu_bench's own table ($OUT/native.json holds it as JSON)"
fi
echo "results in $OUT (summary.txt, summary.json, ctest.txt, build.log); $((SECONDS - started)) s in all"
exit $status
