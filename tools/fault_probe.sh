#!/usr/bin/env bash
# The fault probe of issue 19, as a black box: each case of the issue run against a built program,
# one line per case, "ok" or "FAIL" with what was seen. A case passes when the program gives either
# a one-line message and the expected non-zero exit, leaving nothing that looks finished, or the
# correct result. Needs root for the disk-full cases (a small tmpfs); without it those are skipped.
#   usage: bash tools/fault_probe.sh build/patchlearn        (about 90 s on 2 cores)
set -uo pipefail
bin=$(realpath "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
tiny="$src/tests/damaged_files/tiny.toml"
work=$(mktemp -d)
mounts=()
cleanup() {
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export PATCHLEARN_PYTHON=/bin/true  # the report is the case of its own below
passed=0
failed=0

ok() { echo "ok    $1"; passed=$((passed + 1)); }
bad() { echo "FAIL  $1: $2"; failed=$((failed + 1)); }
skip() { echo "skip  $1: $2"; }

# refuses NAME RC CMD...: the command exits with RC, its stderr is one line, at most 600 characters.
refuses() {
  local name=$1 want=$2
  shift 2
  "$@" >out.txt 2>err.txt
  local rc=$? lines chars
  lines=$(grep -c . err.txt)
  chars=$(wc -c <err.txt)
  if [ "$rc" -ne "$want" ]; then
    bad "$name" "exit $rc (want $want): $(head -c 300 err.txt | head -3)"
  elif [ "$lines" -ne 1 ] || [ "$chars" -gt 600 ]; then
    bad "$name" "$lines lines, $chars characters on stderr"
  else
    ok "$name  [$(head -c 160 err.txt)]"
  fi
}
# says NAME FRAGMENT: the last refusal's line contains FRAGMENT.
says() { grep -qF -- "$2" err.txt || bad "$1" "the message lacks '$2': $(head -c 300 err.txt)"; }
# with KEY=VALUE...: tiny.toml with each [section] key set (added when absent), written to stdout.
with() {
  /usr/bin/python3 - "$tiny" "$@" <<'PROBE'
import re, sys
text = open(sys.argv[1]).read()
for kv in sys.argv[2:]:
    key, value = kv.split("=", 1)
    section, name = key.split(".", 1)
    head = "[" + section + "]"
    if head not in text:
        text += "\n" + head + "\n"
    start = text.index(head) + len(head)
    end = text.find("\n[", start)
    end = len(text) if end < 0 else end
    body = text[start:end]
    line = re.compile(r"^" + re.escape(name) + r"\s*=.*$", re.M)
    if line.search(body):
        body = line.sub(name + " = " + value, body)
    else:
        body = body.rstrip("\n") + "\n" + name + " = " + value + "\n"
    text = text[:start] + body + text[end:]
print(text)
PROBE
}
# foreground CMD...: runs CMD in its own process group with SIGINT at its default, as a terminal's
# Ctrl-C finds a foreground job (a script's background job would ignore SIGINT); use it with &, so
# that it replaces the background subshell and $! is the command's own process.
foreground() {
  exec /usr/bin/python3 -c '
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setpgid(0, 0)
os.execv(sys.argv[1], sys.argv[1:])' "$@"
}
flip() {  # flip FILE: 16 bytes in the middle of the file inverted (inside a model's tensor data)
  /usr/bin/python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); m = len(b) // 2
b[m:m + 16] = bytes(x ^ 0xFF for x in b[m:m + 16]); open(p, 'wb').write(bytes(b))" "$1"
}
tmpfs() {  # tmpfs SIZE DIR: a small file system at DIR, or non-zero where mounting is not allowed
  mkdir -p "$2" && mount -t tmpfs -o "size=$1" tmpfs "$2" 2>/dev/null && mounts+=("$2")
}
# h5set FILE DATASET INDEX VALUE [drop]: one stored value changed, the checksum left as it was (a
# damaged file) or, with "drop", removed (a file from a writer that stores none, read as it is).
h5set() {
  /usr/bin/python3 -c "
import h5py, sys
with h5py.File(sys.argv[1], 'r+') as f:
    d = f[sys.argv[2]]; v = d[...]; v.flat[int(sys.argv[3])] = float(sys.argv[4]); d[...] = v
    if sys.argv[5:] == ['drop']: del d.attrs['checksum']
" "$@"
}

# ---- a healthy run to start from -------------------------------------------------------------
"$bin" run "$tiny" --out base --quiet >/dev/null 2>&1 || { echo "the healthy run of tiny.toml failed"; exit 1; }

# ---- crashes ---------------------------------------------------------------------------------
if tmpfs 100k full1; then
  refuses "disk full while committing a chunk" 1 "$bin" simulate "$tiny" --out full1/o --quiet
  [ -e full1/o/data.h5 ] && bad "disk full while committing a chunk" "a data.h5 was left"
  if tmpfs 40k full2; then
    refuses "disk full while saving a model" 1 "$bin" train "$tiny" --data base/data.h5 --out full2/t --quiet
    [ -n "$(find full2 -name '*.partial')" ] && bad "disk full while saving a model" "a .partial file was left"
  fi
else
  skip "disk full (chunk, model)" "this machine does not allow mounting a tmpfs"
fi
with homogenized.dx=1e-9 >dx9.toml
refuses "homogenized.dx = 1e-9" 2 "$bin" validate dx9.toml
with homogenized.dx=1e-6 >dx6.toml
refuses "homogenized.dx = 1e-6 (minutes of silent work)" 2 "$bin" validate dx6.toml

# A training checkpoint, interrupted, to resume under changed settings.
with learn.epochs=100000 learn.checkpoint_every=1 >long.toml
foreground "$bin" train long.toml --data base/data.h5 --out ck --quiet >/dev/null 2>&1 &
for _ in $(seq 600); do [ -s ck/models/functional.pt.state ] && break; sleep 0.05; done
sleep 0.5
kill -INT $! 2>/dev/null
wait $!
if [ -s ck/models/functional.pt.state ]; then
  with learn.epochs=100000 learn.checkpoint_every=1 'learn.precision="fp32"' >fp32.toml
  refuses "train --resume with learn.precision changed" 2 "$bin" train fp32.toml --data base/data.h5 --out ck --resume --quiet
  with learn.epochs=100000 learn.checkpoint_every=1 learn.lr=0.002 >lr.toml
  refuses "train --resume with learn.lr changed" 2 "$bin" train lr.toml --data base/data.h5 --out ck --resume --quiet
  with learn.epochs=99999 learn.checkpoint_every=1 >epochs.toml
  refuses "train --resume with learn.epochs changed" 2 "$bin" train epochs.toml --data base/data.h5 --out ck --resume --quiet
  with learn.epochs=100000 learn.checkpoint_every=1 learn.standardize=false >std.toml
  refuses "train --resume with learn.standardize changed" 2 "$bin" train std.toml --data base/data.h5 --out ck --resume --quiet
  cp -r ck ckf
  flip ckf/models/functional.pt.state
  refuses "flipped bytes in a .pt.state" 2 "$bin" train long.toml --data base/data.h5 --out ckf --resume --quiet
  says "flipped bytes in a .pt.state" "functional.pt.state"
else
  bad "train --resume (checkpoint)" "the interrupted training left no functional.pt.state"
fi

# ---- silently wrong results --------------------------------------------------------------------
# Resume after an interruption in the first network's L-BFGS reproduces the uninterrupted run.
with macro.t_end=0.2 initial.trajectories=4 learn.epochs=5 learn.lbfgs_iterations=300 learn.checkpoint_every=5 \
  learn.train_trajectories=3 rollout.t_end=0.2 >resume.toml
"$bin" simulate resume.toml --out rs --quiet >/dev/null 2>&1
"$bin" train resume.toml --data rs/data.h5 --out whole --quiet >/dev/null 2>&1
foreground "$bin" train resume.toml --data rs/data.h5 --out cut >cut.log 2>&1 &
for _ in $(seq 1200); do grep -q "functional: epoch 5/5" cut.log && break; sleep 0.05; done
kill -INT $! 2>/dev/null
wait $!
cut_rc=$?
"$bin" train resume.toml --data rs/data.h5 --out cut --resume --quiet >/dev/null 2>&1
if [ $cut_rc -eq 0 ]; then
  bad "train --resume after the first net's last epoch" "the interrupt came too late: the training had ended"
elif cmp -s <(grep -E '"(rhs|rollout)_rmse"' whole/summary.json) <(grep -E '"(rhs|rollout)_rmse"' cut/summary.json) &&
  grep -q '"rhs_rmse"' whole/summary.json; then
  ok "train --resume after the first net's last epoch reproduces the whole run"
else
  bad "train --resume after the first net's last epoch" "the summaries differ"
fi

mkdir -p c1/data.h5.chunks && echo "not a chunk" >c1/data.h5.chunks/chunk_1_1.h5
"$bin" simulate "$tiny" --out c1 --resume --quiet >/dev/null 2>&1
if [ -e c1/data.h5.chunks/chunk_0_1.h5 ]; then
  cp -r c1 c2
  h5set c1/data.h5.chunks/chunk_0_1.h5 U 17 4.3
  refuses "a changed value in a committed chunk" 2 "$bin" simulate "$tiny" --out c1 --resume --quiet
  cp c2/data.h5.chunks/chunk_0_1.h5 c2/data.h5.chunks/chunk_2_1.h5
  rm c2/data.h5.chunks/chunk_1_1.h5
  refuses "a chunk copied over another" 2 "$bin" simulate "$tiny" --out c2 --resume --quiet
else
  bad "committed chunks" "the interrupted simulate left no chunk_0_1.h5"
fi
cp base/models/functional.pt flipped.pt
flip flipped.pt
refuses "flipped bytes in a .pt" 2 "$bin" rollout "$tiny" --model flipped.pt
says "flipped bytes in a .pt" "flipped.pt"
grep -q "pt.state" err.txt && bad ".pt damage blamed on the .state" "$(cat err.txt)"

for v in nan inf; do
  cp base/data.h5 "u_$v.h5" && h5set "u_$v.h5" U 5 "$v" drop
  refuses "$v in data.h5 U" 2 "$bin" train "$tiny" --data "u_$v.h5" --out "t_$v" --quiet
done
cp base/data.h5 t_nan.h5 && h5set t_nan.h5 t 3 nan drop
refuses "nan in data.h5 t" 2 "$bin" train "$tiny" --data t_nan.h5 --out tt --quiet
with 'initial.amplitude=[-inf, inf]' >a_inf.toml
refuses "initial.amplitude = [-inf, inf]" 2 "$bin" validate a_inf.toml
with 'initial.frequency=[0.0, inf]' >f_inf.toml
refuses "initial.frequency = [0, inf]" 2 "$bin" validate f_inf.toml
with 'initial.amplitude=[-1e300, 1e300]' >a_big.toml
refuses "initial.amplitude = [-1e300, 1e300]" 2 "$bin" validate a_big.toml

# The report: a failed, missing or interrupted report script fails the run and leaves no old report.
cat >slow_python <<'PROBE'
#!/bin/sh
touch "$PROBE_DIR/report_started"
sleep 5
touch "$PROBE_DIR/report_wrote_late"
exit 0
PROBE
chmod +x slow_python
export PROBE_DIR=$work
for how in missing interrupted killed; do
  cp -r base "rep_$how"
  echo "# the previous run's report" >"rep_$how/report.md"
  rm -f report_started report_wrote_late
  case $how in
  missing) PATCHLEARN_PYTHON=/nonexistent "$bin" run "$tiny" --out "rep_$how" --quiet >/dev/null 2>err.txt ;;
  *)
    PATCHLEARN_PYTHON=$work/slow_python foreground "$bin" run "$tiny" --out "rep_$how" --quiet >/dev/null 2>err.txt &
    pid=$!
    for _ in $(seq 1200); do [ -e report_started ] && break; sleep 0.05; done
    if [ $how = interrupted ]; then kill -INT -- "-$pid"; else kill -TERM "$pid"; fi
    wait $pid
    ;;
  esac
  rc=$?
  sleep 0.1
  if [ $rc -eq 0 ]; then
    bad "report $how" "run exited 0"
  elif [ -e "rep_$how/report.md" ]; then
    bad "report $how" "the previous run's report.md is still there"
  else
    ok "report $how: exit $rc, no old report.md  [$(head -c 120 err.txt)]"
  fi
done
sleep 6
[ -e report_wrote_late ] && bad "report killed" "the report script outlived patchlearn and wrote afterwards"
bench_cfg=$(ls "$src"/tests/bench_configs/*.toml | head -1)
PATCHLEARN_PYTHON=/nonexistent "$bin" bench "$bench_cfg" --out bench_out --quiet >/dev/null 2>err.txt
rc=$?
[ $rc -ne 0 ] && ok "bench with a failing report: exit $rc" || bad "bench with a failing report" "exit 0"

# ---- lesser ------------------------------------------------------------------------------------
with macro.t_end=2.0 rollout.t_end=0.02 >slow.toml
"$bin" simulate slow.toml --out same --quiet >/dev/null 2>first.txt &
first=$!
sleep 1
refuses "two simulates on one --out" 1 "$bin" simulate slow.toml --out same --quiet
wait $first
rc=$?
[ $rc -eq 0 ] && [ -s same/data.h5 ] && ok "the first of two simulates on one --out finishes" ||
  bad "the first of two simulates on one --out" "exit $rc: $(head -c 200 first.txt)"
strace -f -e trace=fsync,fdatasync,rename -o trace.txt "$bin" simulate "$tiny" --out fs --quiet >/dev/null 2>&1
if grep -q 'rename(.*data.h5.partial' trace.txt; then
  awk '/fsync|fdatasync/ {s = 1} /rename\(.*data.h5.partial/ {print (s ? "ok" : "no"); exit}' trace.txt | grep -q ok &&
    ok "fsync before renaming data.h5.partial" || bad "fsync" "data.h5.partial renamed without an fsync"
else
  skip "fsync" "no rename of data.h5.partial traced"
fi
mkdir -p tr/data.h5.chunks && cp "$src/tests/damaged_files/chunk_truncated.h5" tr/data.h5.chunks/chunk_0_1.h5
refuses "a half-truncated chunk" 2 "$bin" simulate "$tiny" --out tr --resume --quiet
grep -q "attribute" err.txt && bad "a half-truncated chunk" "blamed on an attribute: $(cat err.txt)"
printf '%s\n' -1 -2 -3 >table.txt
with 'medium.coefficient="table"' "medium.table=\"$work/table.txt\"" >table.toml
refuses "a table of 3 non-positive values" 2 "$bin" validate table.toml
grep -q "0 values" err.txt && bad "a table of 3 non-positive values" "called a table of 0 values"
/usr/bin/python3 -c "print(open('$tiny').read().replace('[medium]', '[medium]\ncoefficient = \"expression\"\nexpression = \"' + '1+' * 5000000 + 'y\"'))" >huge.toml
refuses "a 10 MB value" 2 "$bin" validate huge.toml
printf '%s\n' '[medium]' 'coefficient = "expression"' 'expression = """1 +' 'y +"""' >nl.toml
sed -n '/^\[micro\]/,$p' "$tiny" >>nl.toml
refuses "a message with a newline in the value" 2 "$bin" validate nl.toml
with 'initial.amplitude=[0.0, 0.0]' 'initial.positivity_shift=false' >zero.toml
if "$bin" simulate zero.toml --out zero --quiet >/dev/null 2>&1; then
  refuses "all-zero data" 2 "$bin" train zero.toml --data zero/data.h5 --out zt --quiet
  grep -q "learn.lr" err.txt && bad "all-zero data" "blamed on learn.lr"
else
  ok "all-zero data refused at simulate"
fi
touch afile
SECONDS=0
refuses "train --out FILE" 2 "$bin" train "$tiny" --data base/data.h5 --out afile --quiet
[ $SECONDS -gt 5 ] && bad "train --out FILE" "refused only after $SECONDS s"
"$bin" validate dx9.toml --json >out.txt 2>/dev/null
/usr/bin/python3 -c "import json; assert 'error' in json.load(open('out.txt'))" 2>/dev/null &&
  ok "--json failure prints an object with error" || bad "--json failure" "stdout: $(head -c 200 out.txt)"
with initial.trajectories=1000000 macro.t_end=0.999 >many.toml
refuses "1e6 trajectories" 2 "$bin" validate many.toml
with micro.dx=1e-12 >fine.toml
refuses "micro.dx giving 1e9 points per patch" 2 "$bin" validate fine.toml
with rollout.dt=1e-15 'rollout.method="bdf"' >bdf.toml
refuses "rollout.dt = 1e-15 with BDF" 2 "$bin" validate bdf.toml
sed 's/^patches = .*/patches = 1000/; s/^trajectories = .*/trajectories = 1/' "$src/configs/paper2d.toml" >p1000.toml
grep -q '^patches = 1000' p1000.toml || bad "2D patches = 1000" "configs/paper2d.toml has no 'patches =' line to set"
PATCHLEARN_PROGRESS_SECONDS=2 timeout 20 "$bin" simulate p1000.toml --out p1000 >/dev/null 2>p1000.txt
if grep -q "%" p1000.txt; then ok "2D patches = 1000 shows progress  [$(grep % p1000.txt | tail -1 | head -c 120)]"; else
  bad "2D patches = 1000" "no progress line in 20 s: $(head -c 200 p1000.txt)"; fi
mkdir -p moved && cp "$bin" moved/patchlearn
env -u PATCHLEARN_PYTHON -u PATCHLEARN_TOOLS_DIR moved/patchlearn report base >/dev/null 2>err.txt
rc=$?
[ $rc -eq 0 ] && [ -s base/report.md ] && ok "a moved binary writes the report" ||
  bad "a moved binary" "exit $rc: $(head -c 200 err.txt)"
# OpenMP's waiting threads beside another job (libgomp spins 300,000 times before it sleeps).
seconds() { local t0; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
alone=$(seconds "$bin" simulate "$tiny" --out spin1 --quiet)
sh -c 'while :; do :; done' &
busy=$!
beside=$(seconds "$bin" simulate "$tiny" --out spin2 --quiet)
kill $busy
if awk -v a="$alone" -v b="$beside" 'BEGIN { exit !(b <= 3 * a + 1) }'; then ok "beside a busy process: $beside s (alone $alone s)"; else
  bad "OpenMP beside a busy process" "$beside s against $alone s alone"; fi

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
