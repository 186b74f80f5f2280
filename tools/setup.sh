#!/usr/bin/env bash
# patchlearn quick start on Debian 12: installs what is missing, builds, then
#   tools/setup.sh run    runs the main job (`patchlearn run`: the embedded quick 1D case, end to
#                         end, into out/quick1d)
#   tools/setup.sh test   runs the test suite, the gpu tests on the emulated CUDA backend, then the
#                         numerics and emulated gpu tests under ASan + UBSan (what CI runs)
# Environment: BUILD_DIR (default build), PATCHLEARN_CUDA (AUTO|ON|OFF, default AUTO: the CUDA
# backend is compiled when nvcc is found, e.g. /usr/local/cuda/bin/nvcc), PATCHLEARN_WERROR (ON:
# warnings are errors; CI sets it).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
BUILD_DIR=${BUILD_DIR:-build}
# An unknown mode is refused before anything is installed or built.
case "$mode" in
  run | test) ;;
  *)
    echo "usage: tools/setup.sh [run|test]" >&2
    exit 2
    ;;
esac

# libopenblas0-openmp: Debian's LibTorch otherwise runs its matrix products on the reference BLAS
# (~3x slower training); the OpenMP build shares libgomp with LibTorch and our kernels.
packages=(cmake ninja-build g++ pkg-config libgtest-dev libbenchmark-dev libhdf5-dev libtomlplusplus-dev
          libmuparser-dev libcli11-dev libfmt-dev clang-format nlohmann-json3-dev libtorch-dev libopenblas0-openmp
          libopenmpi-dev openmpi-bin python3 python3-h5py python3-matplotlib)
# Thrust, for the emulated CUDA backend's reductions (the test command): the CUDA toolkit's, else Debian's.
[ -f /usr/local/cuda/include/cccl/thrust/version.h ] || [ -f /usr/local/cuda/include/thrust/version.h ] ||
  packages+=(libthrust-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPATCHLEARN_CUDA="${PATCHLEARN_CUDA:-AUTO}" \
  -DPATCHLEARN_WERROR="${PATCHLEARN_WERROR:-OFF}"
cmake --build "$BUILD_DIR" -j "$(nproc)"

case "$mode" in
  run)
    "$BUILD_DIR/patchlearn" run --out out/quick1d
    ;;
  test)
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
    # The CUDA backend compiled by g++ and run on the host emulator (CMakePresets.json: emu; no GPU,
    # no LibTorch): every gpu test, threads in order and reversed. PATCHLEARN_EMU_TESTS=0 skips it.
    if [ "${PATCHLEARN_EMU_TESTS:-1}" != 0 ]; then
      cmake --preset emu > /dev/null
      cmake --build --preset emu -j "$(nproc)"
      ctest --preset emu -j "$(nproc)"
    fi
    # The numerics unit tests and the gpu tests on the emulated backend (threads in order) again under
    # AddressSanitizer + UndefinedBehaviorSanitizer (CMakePresets.json: asan; no LibTorch in that
    # build). PATCHLEARN_SANITIZE_TESTS=0 skips it.
    if [ "${PATCHLEARN_SANITIZE_TESTS:-1}" != 0 ]; then
      cmake --preset asan > /dev/null
      cmake --build --preset asan -j "$(nproc)"
      ctest --preset asan -j "$(nproc)"
    fi
    # The GPU machine's setup rehearsed (bench/gpu_check.sh --dry-run: the carried .debs unpacked
    # into a private prefix and configured for sm_90 against it), where nvcc is installed. A failed
    # download (no package lists, no network) is said and skipped; a failed configure fails.
    # PATCHLEARN_GPU_DRY_RUN=0 skips it.
    if [ "${PATCHLEARN_GPU_DRY_RUN:-1}" != 0 ] && [ -x /usr/local/cuda/bin/nvcc ]; then
      if bash tools/fetch_debs.sh > /dev/null 2>&1 || { apt-get update -qq > /dev/null 2>&1 && bash tools/fetch_debs.sh > /dev/null 2>&1; }; then
        PATH=/usr/local/cuda/bin:$PATH OUT=${GPU_DRY_RUN_OUT:-$PWD/gpu_out} bash bench/gpu_check.sh --dry-run
      else
        echo "gpu_check.sh --dry-run skipped: tools/fetch_debs.sh could not download the packages"
      fi
    fi
    ;;
esac
