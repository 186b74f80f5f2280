#!/bin/sh
# Every C++ and CUDA source of the repository is formatted as .clang-format says (CI runs this as
# the format_check test). To fix: clang-format -i FILE.
set -eu
cd "$(dirname "$0")/.."
git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror
