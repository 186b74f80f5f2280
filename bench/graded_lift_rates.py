#!/usr/bin/env python3
"""How far the patch-dynamics dU/dt of a graded 1D config are from the effective rate of the lifted
profile (issue 15's data target), from the closed forms (bench/RESULTS.md, "The patch-parameter
probe on the medium's own pieces").

    /usr/bin/python3 bench/graded_lift_rates.py DIR/data.h5 [EXACT.h5]
    /usr/bin/python3 bench/graded_lift_rates.py --coefficients T/summary.json

DIR/data.h5 from `patchlearn simulate` of configs/graded1d.toml or configs/graded_nonlinear1d.toml
(or a variant with other patch keys; the medium must be one of the two). At every interior node and
sample, the reference is the tooth average (Simpson, 201 points) of the effective rate along the
quadratic lift whose tooth averages are the node's and its neighbours' values:
  graded1d            a*(x) p'' + a*'(x) p',  a*(x) = sqrt((1 + x)^2 - (0.5 + 0.4 x)^2)
  graded_nonlinear1d  a*(x, p) p'' + d_u a* p'^2 + d_x a* p' + r*(x, p),
                      a* = sqrt(0.21) (1 + x)(1 + u/2),  r* = (1 + x) u (1 - u)
Printed: the largest |dU/dt - reference| over the largest |reference|, over all samples, at t = 0
and after it. With EXACT.h5, a copy of data.h5 whose dU/dt is the reference (its checksum attribute
removed, so the program reads it as written) for `patchlearn train` to fit the regression on.
With --coefficients, a graded_nonlinear1d summary's regression.coefficients against the effective
PDE's: each true term's relative error, the worst, and every other term kept.
"""
import shutil
import sys
import tomllib

import h5py
import numpy as np

GRADED = "1 + x + (0.5 + 0.4*x) * sin(2*pi*y)"
GRADED_U = "(1 + x) * (1 + 0.5*u) * (1.1 + sin(2*pi*y))"
S21 = np.sqrt(0.21)


def graded(x, v, v1, v2):
    a = np.sqrt((1 + x) ** 2 - (0.5 + 0.4 * x) ** 2)
    da = ((1 + x) - 0.4 * (0.5 + 0.4 * x)) / a
    return a * v2 + da * v1


def graded_u(x, v, v1, v2):
    return S21 * (1 + x) * (1 + v / 2) * v2 + S21 * (1 + x) / 2 * v1 * v1 + S21 * (1 + v / 2) * v1 + (1 + x) * v * (1 - v)


if sys.argv[1] == "--coefficients":
    import json

    truth = {"U_xx": S21, "x*U_xx": S21, "U*U_xx": S21 / 2, "x*U*U_xx": S21 / 2, "U_x": S21, "U*U_x": S21 / 2,
             "U_x^2": S21 / 2, "x*U_x^2": S21 / 2, "U": 1, "x*U": 1, "U^2": -1, "x*U^2": -1}
    got = json.load(open(sys.argv[2]))["regression"]["coefficients"]
    for term in sorted(set(got) | set(truth)):
        if term in truth:
            print(f"{term:10s} {got.get(term, 0.0):.9f}  relative error {abs(got.get(term, 0.0) / truth[term] - 1):.2e}")
        elif got[term] != 0:
            print(f"{term:10s} {got[term]:.9f}  (not in the effective PDE)")
    print(f"worst: {max(abs(got.get(k, 0.0) / v - 1) for k, v in truth.items()):.2e}")
    sys.exit(0)

with h5py.File(sys.argv[1], "r") as f:
    cfg = tomllib.loads(f.attrs["config"].decode() if isinstance(f.attrs["config"], bytes) else f.attrs["config"])
    U, R, x, t = f["U"][...], f["dUdt"][...], f["x"][...], f["t"][...]
rate = {GRADED: graded, GRADED_U: graded_u}.get(cfg["medium"]["expression"])
assert rate, "the medium must be graded1d's or graded_nonlinear1d's"
assert "reaction" not in cfg["medium"] or rate is graded_u, "graded1d's medium has no reaction"
h, dX, n = cfg["patch"]["tooth_width"], x[1] - x[0], 201
z = -0.5 * h + h * np.arange(n) / (n - 1)
w = np.where((np.arange(n) == 0) | (np.arange(n) == n - 1), 1.0, np.where(np.arange(n) % 2, 4.0, 2.0))
um, u0, up = U[..., :-2], U[..., 1:-1], U[..., 2:]
c2, c1 = (up - 2 * u0 + um) / (2 * dX * dX), (up - um) / (2 * dX)
c0 = u0 - c2 * h * h / 12  # the lift's tooth average is U_i
ref = sum(w[q] * rate(x[1:-1] + z[q], c0 + c1 * z[q] + c2 * z[q] ** 2, c1 + 2 * c2 * z[q], 2 * c2) for q in range(n))
ref /= 3 * (n - 1)
d, scale = np.abs(R[..., 1:-1] - ref), np.abs(ref).max()
print(f"dU/dt against the effective rate of the lift, of the largest rate {scale:.4g}: "
      f"{d.max() / scale:.3e} (t = 0: {d[:, 0].max() / scale:.3e}, t >= {t[1]:.4g}: {d[:, 1:].max() / scale:.3e})")
if len(sys.argv) > 2:
    shutil.copy(sys.argv[1], sys.argv[2])
    with h5py.File(sys.argv[2], "r+") as f:
        f["dUdt"][..., 1:-1] = ref
        f["dUdt"].attrs.pop("checksum", None)
    print(f"wrote {sys.argv[2]}")
