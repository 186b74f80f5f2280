#!/usr/bin/env bash
# The one device check for an NVIDIA H200 machine (no network, no package manager; its Python's
# torch provides LibTorch). It unpacks the carried .debs (tools/fetch_debs.sh) into a private prefix,
# builds for sm_90, runs the `gpu`-labelled tests and the benchmarks, writes logs to $OUT and prints
# a short table last. Meant to finish in under 8 minutes.
#   usage (device run, carry [".debs"]):  bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
PREFIX=/tmp/patchlearn-prefix
start=$(date +%s)
log() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$OUT/summary.log"; }

log "machine: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
log "nvcc: $(nvcc --version | tail -1)"
rm -rf "$PREFIX" && mkdir -p "$PREFIX"
shopt -s nullglob
debs=(.debs/*.deb)
[ ${#debs[@]} -gt 0 ] || { log "no .debs/ carried: run tools/fetch_debs.sh here and carry .debs"; exit 2; }
for f in "${debs[@]}"; do dpkg -x "$f" "$PREFIX"; done
LIBDIR=$PREFIX/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIBDIR:$LIBDIR/hdf5/serial:${LD_LIBRARY_PATH:-}
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)

log "configure + build (sm_90)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPATCHLEARN_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual" -DCMAKE_PREFIX_PATH="$PREFIX/usr;$TORCH_PREFIX" \
  >"$OUT/build.log" 2>&1 && cmake --build build-gpu -j "$(nproc)" >>"$OUT/build.log" 2>&1
rc_build=$?
log "build rc=$rc_build"
if [ $rc_build -ne 0 ]; then tail -30 "$OUT/build.log"; exit 1; fi
missing=$(ldd build-gpu/patchlearn | grep "not found")
[ -z "$missing" ] || log "unresolved libraries: $missing"

log "gpu tests"
ctest --test-dir build-gpu -L gpu --output-on-failure >"$OUT/ctest_gpu.log" 2>&1
rc_test=$?
log "gpu tests rc=$rc_test: $(grep -E 'tests passed|tests failed' "$OUT/ctest_gpu.log")"

log "kernel benchmarks"
timeout 180 build-gpu/bench/bench_kernels --benchmark_min_time=0.2 --benchmark_format=json \
  --benchmark_out="$OUT/bench_kernels.json" >"$OUT/bench_kernels.log" 2>&1
log "benchmarks rc=$?"

log "paper1d data set on the GPU"
timeout 150 build-gpu/patchlearn simulate configs/paper1d.toml --device cuda --out /tmp/paper1d --json --quiet \
  >"$OUT/paper1d.json" 2>"$OUT/paper1d.err"
log "paper1d rc=$?: $(tail -1 "$OUT/paper1d.json")"

log "paper1d end to end (run) on the GPU"
timeout 200 build-gpu/patchlearn run configs/paper1d.toml --device cuda --out /tmp/paper1d_run --json --quiet \
  >"$OUT/paper1d_run.json" 2>"$OUT/paper1d_run.err"
log "paper1d run rc=$?: $(tail -1 "$OUT/paper1d_run.json")"

log "paper2d end to end (run) on the GPU"
timeout 120 build-gpu/patchlearn run configs/paper2d.toml --device cuda --out /tmp/paper2d_run --json --quiet \
  >"$OUT/paper2d_run.json" 2>"$OUT/paper2d_run.err"
log "paper2d run rc=$?: $(tail -1 "$OUT/paper2d_run.json")"

python3 - "$OUT" <<'PY' | tee "$OUT/table.md"
import json, sys, os
out = sys.argv[1]
print("| benchmark | time/iter | cells/s | bytes/s | % of copy |")
print("|---|---|---|---|---|")
try:
    runs = json.load(open(os.path.join(out, "bench_kernels.json")))["benchmarks"]
except Exception as e:
    runs = []; print(f"| (no benchmark json: {e}) | | | | |")
copy = {r["name"].split("/")[1]: r.get("bytes/s", 0) for r in runs if r["name"].startswith("BM_Copy")}
for r in runs:
    if r.get("error_occurred"): continue
    dev = r["name"].split("/")[1]
    pct = 100 * r.get("bytes/s", 0) / copy[dev] if copy.get(dev) else float("nan")
    print(f'| {r["name"]} | {r["real_time"]:.3f} {r["time_unit"]} | {r.get("cells/s", 0):.3g} | {r.get("bytes/s", 0):.3g} | {pct:.0f}% |')
try:
    j = json.loads(open(os.path.join(out, "paper1d.json")).read().strip().splitlines()[-1])
    print(f'\npaper1d simulate on {j["device"]}: wall {j["wall_s"]:.2f} s, {j["point_steps"]:.3g} point-steps, rMSE vs homogenized {j["rmse_vs_homogenized"]:.3e}')
except Exception as e:
    print(f"\npaper1d simulate: no result ({e})")
try:
    j = json.loads(open(os.path.join(out, "paper1d_run.json")).read().strip().splitlines()[-1])
    print(f'paper1d run on {j["device"]}: wall {j["wall_s"]:.1f} s, a* regression {j["a_star_regression"]:.10g}')
    for k in ("functional", "discretized"):
        if k in j: print(f'  {k}: ' + ", ".join(f"{m} {v:.3e}" for m, v in j[k].items()))
except Exception as e:
    print(f"paper1d run: no result ({e})")
try:
    j = json.loads(open(os.path.join(out, "paper2d_run.json")).read().strip().splitlines()[-1])
    print(f'paper2d run on {j["device"]}: wall {j["wall_s"]:.1f} s, gap-tooth vs truth {j["gap_tooth_vs_homogenized_rmse"]:.2e}, '
          f'rhs rMSE {j["functional"]["rhs_rmse"]:.2e} / {j["discretized"]["rhs_rmse"]:.2e}, '
          f'rollout rMSE {j["functional"]["rollout_rmse"]:.2e} / {j["discretized"]["rollout_rmse"]:.2e}')
except Exception as e:
    print(f"paper2d run: no result ({e})")
PY
log "done in $(($(date +%s) - start)) s"
