#!/bin/sh
# Install the build tree into a scratch prefix, then configure, build and run the consumer.
# Usage: run.sh BUILD_DIR SOURCE_DIR SCRATCH
set -eu
build=$1; src=$2; scratch=$3
rm -rf "$scratch"
cmake --install "$build" --prefix "$scratch/prefix" > "$scratch.install.log" 2>&1 || { cat "$scratch.install.log"; exit 1; }
test -x "$scratch/prefix/bin/patchlearn"
test -f "$scratch/prefix/include/patchlearn/homog/cell2d.hpp"
test -f "$scratch/prefix/include/patchlearn/pipeline/jobs.hpp"
cmake -S "$src/tests/install_consumer" -B "$scratch/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" > /dev/null
cmake --build "$scratch/build" > /dev/null
"$scratch/build/consumer" "$scratch/runs"
