#!/usr/bin/env bash
# What contraction to FMA (nvcc's default) does to the per-point functions the device tests compare
# the CUDA kernels with: bench/fma_contraction.cpp compiled with -ffp-contract=off and with
# -mfma -ffp-contract=fast (needs a host with FMA), run, and compared case by case: the largest
# difference, absolute and relative to the case's largest value. Usage: bash bench/fma_contraction.sh
set -euo pipefail
cd "$(dirname "$0")/.."
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
for v in plain contracted; do
  flags=-ffp-contract=off
  [ $v = contracted ] && flags="-mfma -ffp-contract=fast"
  # shellcheck disable=SC2086
  "${CXX:-g++}" -std=c++17 -O2 $flags -Iinclude bench/fma_contraction.cpp -o "$w/$v"
  "$w/$v" >"$w/$v.out"
done
python3 - "$w/plain.out" "$w/contracted.out" <<'PY'
import struct, sys
def cases(path):
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        j = data.index(b"\n", i)
        name, n = data[i:j].decode().rsplit(" ", 1)
        n = int(n)
        out.append((name, struct.unpack(f"{n}d", data[j + 1:j + 1 + 8 * n])))
        i = j + 1 + 8 * n
    return out
print(f"{'case':48} {'max |diff|':>11} {'of the scale':>13} {'scale':>9}")
for (name, a), (_, b) in zip(cases(sys.argv[1]), cases(sys.argv[2])):
    d = max(abs(x - y) for x, y in zip(a, b))
    s = max(abs(x) for x in a)
    print(f"{name:48} {d:11.2e} {d / s:13.2e} {s:9.3g}")
PY
