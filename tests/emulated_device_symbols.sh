#!/bin/bash
# The emulated device code must not call an out-of-line function it shares with the CPU backend:
# the linker keeps one copy of such a function, possibly the CPU's, compiled without the
# multiply-add contraction the emulated device code gets (core/defs.hpp forces PL_HD inline there).
# Usage: emulated_device_symbols.sh libpatchlearn_cuda.a libpatchlearn_numerics.a
# Fails, listing them, if a function of patchlearn's is defined weak (inline or template) in both
# archives (the libraries', such as std's, are left alone); constructors and destructors carry no
# arithmetic and are allowed.
set -euo pipefail
weak() { nm -C --defined-only "$1" 2>/dev/null | awk '$2 == "W" { $1 = ""; $2 = ""; print substr($0, 3) }' | sort -u; }
shared=$(comm -12 <(weak "$1") <(weak "$2") | grep -E '^([^(<]* )?patchlearn::' |
         grep -v -E '::([A-Za-z_][A-Za-z0-9_]*)::\1\(|::~[A-Za-z_]' || true)
if [[ -n "$shared" ]]; then
  echo "emulated device code and the CPU backend share out-of-line functions (one copy is linked):"
  echo "$shared"
  exit 1
fi
echo "no out-of-line function shared by the emulated device code and the CPU backend"
