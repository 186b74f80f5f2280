#!/bin/bash
# The CPU kernels' AVX2 and AVX-512 versions (kernels/cpu_support.hpp, run_avx2, run_avx512) get
# their target from the one function around them: whatever they call must be inlined there. A
# lambda or template of a kernel's run<double4> or run<double8> compiled out of line has the
# baseline's target (SSE2), and its loops run at half width or worse (the 2D gap-tooth's series in
# u did, 1.6x slower in all; bench/RESULTS.md).
# Usage: vector_kernels_inline.sh libpatchlearn_numerics.a
# Fails, listing them, if a function other than run_avx2 and run_avx512 themselves is defined with
# a vector of 4 or 8 doubles in its name.
set -euo pipefail
outlined=$(nm -C --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[tTwW]$/ { $1 = ""; $2 = ""; print substr($0, 3) }' |
           grep -E '__vector\((4|8)\)' |
           grep -v -E '^(void )?patchlearn::kernels::cpu::run_avx(2|512)<' | sort -u || true)
if [[ -n "$outlined" ]]; then
  echo "pieces of AVX2 or AVX-512 kernels compiled out of line, for the baseline's target (mark them always_inline):"
  echo "$outlined"
  exit 1
fi
echo "every AVX2 and AVX-512 kernel is one function"
