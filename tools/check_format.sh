#!/bin/sh
# Every C++ and CUDA source of the repository is formatted as .clang-format says (CI runs this as
# the format_check test). To fix: clang-format -i FILE.
# It also refuses std::filesystem::remove_all anywhere but the comment that explains why: a program
# linked to the LibTorch of PyTorch's wheels binds to that library's own copy, which crashes there
# (core/durable.hpp: remove_tree_quietly is the one to use).
set -eu
cd "$(dirname "$0")/.."
git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh' | xargs clang-format --dry-run --Werror
if git grep -nE '(filesystem|fs)::remove_all *\(' -- '*.cpp' '*.hpp' '*.cu' '*.cuh'; then
  echo "check_format: std::filesystem::remove_all crashes under PyTorch's LibTorch; use remove_tree_quietly" >&2
  exit 1
fi
