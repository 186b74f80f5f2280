#!/usr/bin/env bash
# Weak scaling of `patchlearn simulate` over MPI ranks, one core each: N ranks simulate N x B
# trajectories of CONFIG, one trajectory per chunk, OMP_NUM_THREADS=1, each rank bound to a core
# by mpirun; the wall time of the whole command (start, simulation, rank 0's gather, truth and
# data.h5) for each N, and the efficiency T(1) / T(N). Run it on an otherwise idle machine.
# Usage: bench/mpi_weak_scaling.sh CONFIG B "1 2" [BUILD_DIR] [SCRATCH]
# (CONFIG has a `trajectories = …` line in [initial] and a [run] table; B >= 2.)
set -euo pipefail
config=$1
per_rank=$2
ranks=$3
bin=${4:-build}/patchlearn
scratch=${5:-/tmp/pl_weak_scaling}
mpi=(mpirun --bind-to core)
[ "$(id -u)" -ne 0 ] || mpi+=(--allow-run-as-root)
export OMP_NUM_THREADS=1
mkdir -p "$scratch"
t1=""
for n in $ranks; do
  case_toml="$scratch/weak_$n.toml"
  total=$((n * per_rank))
  sed -e "s/^trajectories = .*/trajectories = $total/" -e "s/^train_trajectories = .*/train_trajectories = $((total - 1))/" \
    -e 's/^\[run\]/[run]\nchunk_trajectories = 1/' "$config" > "$case_toml"
  start=$(date +%s.%N)
  "${mpi[@]}" -np "$n" "$bin" simulate "$case_toml" --out "$scratch/out_$n" --quiet > /dev/null
  t=$(echo "$(date +%s.%N) - $start" | bc -l)
  [ -n "$t1" ] || t1=$t
  printf "ranks %d  trajectories %d  wall %.2f s  efficiency %.1f %%\n" "$n" $((n * per_rank)) "$t" \
    "$(echo "100 * $t1 / $t" | bc -l)"
done
