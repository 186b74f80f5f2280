#!/usr/bin/env bash
# Fetch the Debian packages of patchlearn's C++ dependencies into .debs/ (git-ignored), so that
# bench/gpu_check.sh can unpack them with `dpkg -x` into a private prefix on a GPU machine that
# has no network and no package manager. Run here, then name .debs in the device run's `carry`.
#   .debs/*.deb          what we build against: header-only toml++, CLI11, nlohmann-json, fmt (its
#                        header-only target); muParser,
#                        HDF5 (+ szip/aec), GoogleTest, Google Benchmark
#   .debs/runtime/*.deb  what those libraries load in turn (HDF5 links libcurl, which brings TLS,
#                        Kerberos, LDAP, ...), found with ldd here; gpu_check.sh uses each only
#                        where the GPU machine lacks that library. The C and C++ runtimes are the
#                        machine's own.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .debs && mkdir -p .debs/runtime
pkgs=(libtomlplusplus-dev libcli11-dev libfmt-dev libfmt9 nlohmann-json3-dev libmuparser-dev libmuparser2v5
      libhdf5-dev libhdf5-103-1 libsz2 libaec0 libgtest-dev libbenchmark-dev libbenchmark1debian)
(cd .debs && apt-get download "${pkgs[@]}")

owner() {  # the package that installed a file (dpkg may know it under /lib rather than /usr/lib)
  dpkg -S "$1" 2>/dev/null || dpkg -S "${1#/usr}" 2>/dev/null || true
}
libs=(/usr/lib/x86_64-linux-gnu/libhdf5_serial.so.103 /usr/lib/x86_64-linux-gnu/libmuparser.so.2
      /usr/lib/x86_64-linux-gnu/libbenchmark.so.1)
runtime=$(for l in $(ldd "${libs[@]}" | awk '$3 ~ /^\// {print $3}' | sort -u); do owner "$(readlink -f "$l")"; done |
  cut -d: -f1 | sort -u | grep -vxE 'libc6|libgcc-s1|libstdc\+\+6|libhdf5-103-1|libmuparser2v5|libbenchmark1debian|libsz2|libaec0')
[ -n "$runtime" ] || { echo "fetch_debs: found no runtime dependencies of ${libs[*]}" >&2; exit 1; }
(cd .debs/runtime && apt-get download $runtime)
du -sh .debs .debs/runtime
ls .debs .debs/runtime
