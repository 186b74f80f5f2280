#!/usr/bin/env bash
# MPI ranks (pipeline/ranks.hpp), run through Open MPI's mpirun, oversubscribed (CI has 2 cores):
#  1. `mpirun -np 2 patchlearn simulate` on a small 1D and a small 2D config gives a data.h5 equal
#     to the serial one bit for bit (every dataset and attribute but the measured wall_s), with
#     one result line (the simulation time named as summed over the ranks) and one device line (rank
#     0 alone prints); a u-dependent 2D config too, the serial run on two threads;
#  2. a rank that fails (a damaged chunk of rank 1's share, on --resume) stops both ranks with a
#     non-zero status and one line naming rank 1, and leaves no data.h5;
#  3. a rank killed (SIGKILL) while simulating stops the job, leaves no data.h5, and --resume
#     with 3 ranks completes the committed chunks to the serial run's data (a longer case, six
#     chunks of ~0.4 s, so that rank 1 is still at work when it is killed);
#  4. `mpirun -np 2 patchlearn run` trains on rank 0 alone, from the gathered data, to the serial
#     run's models: every score and coefficient of the summary equal, one result line.
# Usage: mpi_ranks.sh PATCHLEARN MPIEXEC SCRATCH_DIR
set -euo pipefail
bin=$1
scratch=$3
mpi=("$2" --oversubscribe)
[ "$(id -u)" -ne 0 ] || mpi+=(--allow-run-as-root)
export OMP_NUM_THREADS=1
rm -rf "$scratch"
mkdir -p "$scratch"
cd "$scratch"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Five 1D trajectories, one per chunk (rank 0 takes chunks 0, 2, 4; rank 1 chunks 1, 3), and eight
# 2D trajectories, three per chunk (chunks of 3, 3, 2).
cat > case1d.toml <<'EOF'
[medium]
epsilon = 1e-3
[micro]
dx = 1e-5
[patch]
tooth_width = 2e-3
buffer_width = 1.2e-2
[macro]
t_end = 0.2
[initial]
trajectories = 5
[run]
chunk_trajectories = 1
EOF
sed -e 's/^t_end = 0.2/t_end = 1.0/' -e 's/^trajectories = 5/trajectories = 6/' case1d.toml > long1d.toml
cat > case2d.toml <<'EOF'
[domain]
dimension = 2
patches = 8
[initial]
trajectories = 8
wavenumbers = [1, 2]
[time]
t_end = 0.1
[run]
chunk_trajectories = 3
EOF

# Whether two data.h5 files hold the same datasets and attributes, bit for bit (but wall_s and
# the attributes named after the two files).
same_data() {
  /usr/bin/python3 - "$@" <<'EOF'
import sys
import h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
skip = {"wall_s", *sys.argv[3:]}
def attrs(o):
    return {k: (v.tobytes() if hasattr(v, "tobytes") else v) for k, v in o.attrs.items() if k not in skip}
assert set(a) == set(b), f"datasets differ: {sorted(a)} vs {sorted(b)}"
assert attrs(a) == attrs(b), "file attributes differ"
for k in a:
    x, y = a[k][()], b[k][()]
    assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), f"dataset {k} differs"
    assert attrs(a[k]) == attrs(b[k]), f"attributes of {k} differ"
print(f"{sys.argv[1]} == {sys.argv[2]}: {len(a)} datasets")
EOF
}

# 1. Two ranks against one, 1D and 2D.
for case in case1d case2d; do
  "$bin" simulate $case.toml --out serial_$case --quiet
  "${mpi[@]}" -np 2 "$bin" simulate $case.toml --out ranks_$case > ranks_$case.out 2> ranks_$case.err ||
    fail "mpirun -np 2 simulate $case: $(cat ranks_$case.err)"
  same_data serial_$case/data.h5 ranks_$case/data.h5
  [ "$(grep -c '^wrote ' ranks_$case.out)" -eq 1 ] || fail "$case: not one result line: $(cat ranks_$case.out)"
  # The chunks' times add up over the ranks: the line calls them that, not the wall.
  grep -q '^simulation time summed over 2 ranks .* s in all' ranks_$case.out ||
    fail "$case: the summed simulation time is not named: $(cat ranks_$case.out)"
  [ "$(grep -c '^device: .* on each of 2 ranks' ranks_$case.err)" -eq 1 ] || fail "$case: not one device line"
  [ ! -e ranks_$case/data.h5.chunks ] || fail "$case: the chunk folder is left"
done

# 1a. A u-dependent lattice, whose truth is an adaptive integration of its effective PDE: the
# serial run on two threads, each rank on one, still bit for bit (LibTorch's reductions split by
# the thread count; the truth runs on one).
cat case2d.toml - > nonlinear2d.toml <<'EOF'
[lattice]
conductance_factor = "1 + 0.5*u^2"
reaction = "u - u^3"
EOF
OMP_NUM_THREADS=2 "$bin" simulate nonlinear2d.toml --out serial_nonlinear2d --quiet
"${mpi[@]}" -np 2 "$bin" simulate nonlinear2d.toml --out ranks_nonlinear2d --quiet > /dev/null 2> ranks_nonlinear2d.err ||
  fail "mpirun -np 2 simulate nonlinear2d: $(cat ranks_nonlinear2d.err)"
same_data serial_nonlinear2d/data.h5 ranks_nonlinear2d/data.h5 device  # "cpu (2 OpenMP threads)" and 1

# 1b. One chunk for two ranks: one warning names the setting that gives both ranks work.
sed 's/^chunk_trajectories = 3/chunk_trajectories = 8/' case2d.toml > onechunk2d.toml
"${mpi[@]}" -np 2 "$bin" simulate onechunk2d.toml --out onechunk --quiet > onechunk.out 2> onechunk.err ||
  fail "mpirun -np 2 simulate with one chunk: $(cat onechunk.err)"
[ "$(grep -c 'so 1 rank will have nothing to simulate: set run.chunk_trajectories to at most 4' onechunk.err)" -eq 1 ] ||
  fail "not one warning of the idle rank: $(cat onechunk.err)"

# 2. Rank 1 fails: its chunk 1 is damaged and --resume reads it back.
mkdir -p failed/data.h5.chunks
echo "not a chunk" > failed/data.h5.chunks/chunk_1_1.h5
status=0
"${mpi[@]}" -np 2 "$bin" simulate case1d.toml --out failed --resume --quiet > failed.out 2> failed.err || status=$?
[ "$status" -eq 2 ] || fail "a damaged chunk on rank 1: exit $status, not 2: $(cat failed.err)"
[ "$(grep -c '^patchlearn: ' failed.err)" -eq 1 ] || fail "not one patchlearn line: $(cat failed.err)"
grep -q '^patchlearn: input error: rank 1: .*chunk_1_1.h5' failed.err || fail "the line names neither rank 1 nor the chunk: $(cat failed.err)"
[ ! -e failed/data.h5 ] || fail "a data.h5 after a failed rank"
rm failed/data.h5.chunks/chunk_1_1.h5
"${mpi[@]}" -np 3 "$bin" simulate case1d.toml --out failed --resume --quiet > /dev/null
same_data serial_case1d/data.h5 failed/data.h5

# 3. Rank 1 is killed once it has committed a chunk.
"$bin" simulate long1d.toml --out serial_long1d --quiet
"${mpi[@]}" -np 2 "$bin" simulate long1d.toml --out killed --quiet > killed.out 2> killed.err &
launcher=$!
for _ in $(seq 600); do
  [ -e killed/data.h5.chunks/chunk_1_1.h5 ] && break
  sleep 0.1
done
[ -e killed/data.h5.chunks/chunk_1_1.h5 ] || fail "rank 1 committed no chunk"
victim=""
for p in $(pgrep -P $launcher); do
  if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1'; then victim=$p; fi
done
[ -n "$victim" ] || fail "rank 1's process not found (the run ended first?)"
kill -KILL "$victim"
status=0
wait $launcher || status=$?
[ "$status" -ne 0 ] || fail "a killed rank, yet exit 0"
grep -q 'rank 1' killed.err || fail "the launcher does not name rank 1: $(cat killed.err)"
[ ! -e killed/data.h5 ] || fail "a data.h5 after a killed rank"
"${mpi[@]}" -np 3 "$bin" simulate long1d.toml --out killed --resume --quiet > /dev/null
same_data serial_long1d/data.h5 killed/data.h5

# 4. The whole pipeline under two ranks (one thread each way, so the seeded training is the same).
cat case1d.toml - > run1d.toml <<'EOF'
[learn]
epochs = 2
lbfgs_iterations = 5
train_trajectories = 4
[rollout]
t_end = 0.2
EOF
PATCHLEARN_PYTHON=/bin/true "$bin" run run1d.toml --out serial_run --quiet > /dev/null
PATCHLEARN_PYTHON=/bin/true "${mpi[@]}" -np 2 "$bin" run run1d.toml --out ranks_run > ranks_run.out 2> ranks_run.err ||
  fail "mpirun -np 2 run: $(cat ranks_run.err)"
[ "$(grep -c '^wall .* outputs in ranks_run' ranks_run.out)" -eq 1 ] || fail "run: not one result line: $(cat ranks_run.out)"
same_data serial_run/data.h5 ranks_run/data.h5
/usr/bin/python3 - serial_run/summary.json ranks_run/summary.json <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for model in ("functional", "discretized", "regression"):
    for key in ("rhs_rmse", "rollout_rmse", "rollout_rmse_per_trajectory", "floor_rmse"):
        assert a[model][key] == b[model][key], f"{model} {key}: {a[model][key]} vs {b[model][key]}"
assert a["regression"]["coefficients"] == b["regression"]["coefficients"], "the discovered equations differ"
print("run under 2 ranks == serial run: every score and coefficient")
EOF

echo "mpi ranks: all checks passed"
