#!/usr/bin/env python3
"""Static check of docker/Dockerfile (no Docker engine here): every instruction is a known one
with arguments, the image builds with the README quick start's CMake configure and build steps
(plus PATCHLEARN_CUDA=ON and LibTorch's prefix), installs, and has `patchlearn` as its
entrypoint; docker/README.md's commands use that image and real subcommands.
Usage: check_dockerfile.py SOURCE_DIR"""
import json
import re
import sys

src = sys.argv[1]
text = open(f"{src}/docker/Dockerfile").read()
# Join continuation lines, drop comments and blank lines.
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if not cur and (not s or s.startswith("#")):
        continue
    cur += " " + s.rstrip("\\").strip() if cur else s.rstrip("\\").strip()
    if not s.endswith("\\"):
        lines.append(cur)
        cur = ""
assert not cur, "Dockerfile ends inside a continued line"
known = {"FROM", "ARG", "ENV", "RUN", "WORKDIR", "COPY", "ENTRYPOINT", "CMD", "LABEL", "USER", "EXPOSE", "VOLUME", "SHELL"}
instr = []
for l in lines:
    word, _, rest = l.partition(" ")
    assert word in known, f"unknown instruction {word!r}"
    assert rest.strip(), f"{word} without arguments"
    instr.append((word, rest.strip()))
assert instr[0][0] in ("FROM", "ARG"), "the first instruction must be FROM (or ARG)"
assert any(w == "FROM" and "nvidia/cuda" in a and "devel" in a for w, a in instr), "a CUDA devel base is expected"
for w, a in instr:
    if w in ("ENTRYPOINT", "CMD") and a.startswith("["):
        json.loads(a)  # exec form must be valid JSON
entry = [json.loads(a) for w, a in instr if w == "ENTRYPOINT"]
assert entry and entry[-1] == ["patchlearn"], "the entrypoint must be patchlearn"
run = " ".join(a for w, a in instr if w == "RUN")
readme = open(f"{src}/README.md").read() + open(f"{src}/tools/setup.sh").read()
# The quick start's configure and build steps, as tools/setup.sh runs them.
for step in ("cmake -S . -B", "-G Ninja", "-DCMAKE_BUILD_TYPE=Release", "cmake --build"):
    assert step in readme, f"quick start lacks {step!r}"
    assert step in run, f"the Dockerfile does not build with {step!r}"
assert "-DPATCHLEARN_CUDA=ON" in run and "cmake_prefix_path" in run and "cmake --install" in run
# OpenMPI for several ranks (mpirun in the container, Slurm across nodes).
assert "-DPATCHLEARN_MPI=ON" in run and "libopenmpi-dev" in run and "openmpi-bin" in run
dreadme = open(f"{src}/docker/README.md").read()
assert "docker build -f docker/Dockerfile -t patchlearn ." in dreadme
subcommands = {"run", "simulate", "train", "rollout", "cell", "validate", "report", "bench"}
for m in re.finditer(r"docker run --gpus all[^\n]*?patchlearn(?: +([a-z]+))?", dreadme):
    sub = m.group(1)
    assert sub is None or sub in subcommands, f"docker/README.md runs unknown subcommand {sub!r}"
assert "mpirun" in dreadme and "#SBATCH" in dreadme, "docker/README.md shows no multi-GPU or Slurm run"
print(f"Dockerfile: {len(instr)} instructions checked")
