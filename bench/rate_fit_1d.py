#!/usr/bin/env python3
"""The a each learned 1D model acts with, and the part of its rate that is not a D2U.

Usage: /usr/bin/python3 bench/rate_fit_1d.py RUN_DIR [RUN_DIR ...]

Reads RUN_DIR/rollout.h5 (written by `patchlearn run`): the test states and every model's
right-hand side on them; the macro grid from RUN_DIR/data.h5. For each model it fits its rate at the interior nodes to
a * D2U (D2 the 3-point second difference on the macro grid) by least squares, and reports a and
the relative rms of the residual. For a linear medium the exact coarse operator has residual 0;
a model's residual is U-dependence that the effective equation does not have (on a random medium:
the patches' scatter learnt as a function of the state).
"""
import sys

import h5py
import numpy as np


def main(dirs):
    for d in dirs:
        with h5py.File(f"{d}/data.h5", "r") as g:
            dX = g["x"][1] - g["x"][0]
        with h5py.File(f"{d}/rollout.h5", "r") as f:
            S = f["test_states"][()]
            D2 = (S[:, 2:] - 2 * S[:, 1:-1] + S[:, :-2]) / dX**2
            parts = []
            for name in ["exact", "functional", "discretized", "regression"]:
                if f"{name}_rhs" not in f:
                    continue
                R = f[f"{name}_rhs"][()][:, 1:-1]
                a = (R * D2).sum() / (D2 * D2).sum()
                rest = np.sqrt(((R - a * D2) ** 2).mean() / (R**2).mean())
                parts.append(f"{name}: a = {a:.4f}, {100 * rest:.2g}% not a D2U")
        print(f"{d}: " + " | ".join(parts))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: rate_fit_1d.py RUN_DIR [RUN_DIR ...]")
    main(sys.argv[1:])
