#!/bin/bash
# The CPU kernels' AVX2 versions (kernels/cpu_support.hpp, run_avx2) get their target from the one
# function around them: whatever they call must be inlined there. A lambda or template of a
# kernel's run<double4> compiled out of line has the baseline's target (SSE2), and its loops run at
# half width (the 2D gap-tooth's series in u did, 1.6x slower in all; bench/RESULTS.md).
# Usage: avx2_kernels_inline.sh libpatchlearn_numerics.a
# Fails, listing them, if a function other than run_avx2 itself is defined with a 4-double vector
# in its name.
set -euo pipefail
outlined=$(nm -C --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[tTwW]$/ { $1 = ""; $2 = ""; print substr($0, 3) }' |
           grep -F '__vector(4)' | grep -v -E '^(void )?patchlearn::kernels::cpu::run_avx2<' | sort -u || true)
if [[ -n "$outlined" ]]; then
  echo "pieces of AVX2 kernels compiled out of line, for the baseline's target (mark them always_inline):"
  echo "$outlined"
  exit 1
fi
echo "every AVX2 kernel is one function"
