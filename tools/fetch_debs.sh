#!/usr/bin/env bash
# Fetch the Debian packages of patchlearn's C++ dependencies into .debs/ (git-ignored), so that
# bench/gpu_check.sh can unpack them with `dpkg -x` into a private prefix on a GPU machine that
# has no network and no package manager. Run here, then name .debs in the device run's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .debs
cd .debs
# Header-only: toml++, CLI11, nlohmann-json. Libraries: muParser, HDF5 (+ szip/aec), GoogleTest,
# Google Benchmark. libcurl4 / libssl3 (HDF5's ros3 driver needs them) are expected on the image;
# gpu_check.sh reports any library that does not resolve.
pkgs=(libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libmuparser-dev libmuparser2v5
      libhdf5-dev libhdf5-103-1 libsz2 libaec0 libgtest-dev libbenchmark-dev libbenchmark1debian)
apt-get download "${pkgs[@]}"
ls -la
