#!/usr/bin/env bash
# Regenerates the damaged-file corpus beside it from tiny.toml with the program given (build/patchlearn):
# the files are committed, so that every later version of the program is checked against the same
# damage. cases.txt says, for each file, the command it is given to and what the refusal must say.
#   usage: bash tests/damaged_files/make.sh build/patchlearn
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
PATCHLEARN_PYTHON=/bin/true "$bin" run "$here/tiny.toml" --quiet --out o >/dev/null
# A committed chunk: chunk 1 is made unreadable, so the resumed run commits chunk 0 and stops there.
mkdir -p c/data.h5.chunks && echo "not a chunk" >c/data.h5.chunks/chunk_1_1.h5
"$bin" simulate "$here/tiny.toml" --quiet --out c --resume >/dev/null 2>&1 && { echo "make.sh: expected a refusal"; exit 1; }
# The same chunk from another config (another random stream of initial conditions).
sed 's/^trajectories = 3$/trajectories = 3\nseed = 7/' "$here/tiny.toml" >other.toml
mkdir -p d/data.h5.chunks && echo "not a chunk" >d/data.h5.chunks/chunk_1_1.h5
"$bin" simulate other.toml --quiet --out d --resume >/dev/null 2>&1 && { echo "make.sh: expected a refusal"; exit 1; }

# A training checkpoint: tiny_state.toml trains for 100000 epochs with a checkpoint after each, on
# tiny_data.h5 (the data of the run above); interrupted once a checkpoint exists, it leaves
# t/models/functional.pt.state, which a resume from the same config and data would continue.
sed 's/^epochs = 2$/epochs = 100000\ncheckpoint_every = 1/' "$here/tiny.toml" >"$here/tiny_state.toml"
grep -q '^checkpoint_every = 1$' "$here/tiny_state.toml" || { echo "make.sh: tiny.toml has no 'epochs = 2'"; exit 1; }
cp o/data.h5 "$here/tiny_data.h5"
"$bin" train "$here/tiny_state.toml" --data "$here/tiny_data.h5" --out t --quiet >/dev/null 2>&1 &
for _ in $(seq 600); do [ -s t/models/functional.pt.state ] && break; sleep 0.05; done
sleep 0.5
kill -TERM $! && wait $! || true  # (a background job of a script ignores SIGINT)
[ -s t/models/functional.pt.state ] || { echo "make.sh: no training checkpoint was left"; exit 1; }

/usr/bin/python3 - "$here" <<'PY'
import os, shutil, sys
import h5py
here = sys.argv[1]
def flip(src, dst, dataset):  # 8 bytes in the middle of a dataset's stored values, inverted
    shutil.copy(src, dst)
    with h5py.File(src, "r") as f:
        d = f[dataset]
        off = d.id.get_offset() + (d.size // 2) * d.dtype.itemsize
    with open(dst, "r+b") as f:
        f.seek(off); b = f.read(8); f.seek(off); f.write(bytes(x ^ 0xFF for x in b))
def truncate(src, dst):
    data = open(src, "rb").read()
    open(dst, "wb").write(data[: len(data) // 2])
flip("o/data.h5", os.path.join(here, "data_flipped_U.h5"), "U")
truncate("o/data.h5", os.path.join(here, "data_truncated.h5"))
open(os.path.join(here, "data_text.h5"), "w").write("t,U\n0,1\n")
open(os.path.join(here, "data_empty.h5"), "w").close()
chunk = "c/data.h5.chunks/chunk_0_1.h5"
flip(chunk, os.path.join(here, "chunk_flipped_U.h5"), "U")
flip(chunk, os.path.join(here, "chunk_flipped_truth.h5"), "U_truth")
truncate(chunk, os.path.join(here, "chunk_truncated.h5"))
shutil.copy("d/data.h5.chunks/chunk_0_1.h5", os.path.join(here, "chunk_other_config.h5"))
shutil.copy(chunk, os.path.join(here, "chunk_of_trajectory_0.h5"))  # whole, for another chunk's name
model = "o/models/functional.pt"
data = open(model, "rb").read()
mid = len(data) // 2  # inside the tensors' bytes, the bulk of the archive
open(os.path.join(here, "model_flipped.pt"), "wb").write(data[:mid] + bytes(x ^ 0xFF for x in data[mid:mid + 16]) + data[mid + 16:])
truncate(model, os.path.join(here, "model_truncated.pt"))
state = "t/models/functional.pt.state"
data = open(state, "rb").read()
mid = len(data) // 2
open(os.path.join(here, "state_flipped.pt.state"), "wb").write(data[:mid] + bytes(x ^ 0xFF for x in data[mid:mid + 16]) + data[mid + 16:])
truncate(state, os.path.join(here, "state_truncated.pt.state"))
PY
echo "wrote the corpus in $here"
