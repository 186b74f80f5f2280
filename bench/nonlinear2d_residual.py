#!/usr/bin/env python3
"""How far 2D gap-tooth rates are from the leading-order effective PDE, and how much of that a
local library could absorb (bench/RESULTS.md, nonlinear2d).

    /usr/bin/python3 bench/nonlinear2d_residual.py DIR/data.h5

DIR/data.h5 from `patchlearn simulate configs/nonlinear2d.toml` (g = 1 + u^2/2, f = u - u^3).
From t >= 0.3 (learn.train_t_min) the patch means and rates are turned into point values (each
mode divided by s(kx) s(ky), as regress_2d does), the effective PDE's rate
N0 = g(U) D:grad grad U + g'(U) grad U . D grad U + <rho> f(U) is evaluated spectrally, and the
residual e = dU/dt - N0 is fitted by least squares on U^p (p <= 3) times every derivative, pair
and triple of derivatives up to total order 4. Printed: |e| relative to |dU/dt|, per wavenumber
and per time, the share of |e|^2 no local term explains, and the same for the truth's own
rates (the evaluation's floor).
"""
import itertools
import sys
import tomllib

import h5py
import numpy as np

f = h5py.File(sys.argv[1], "r")
cfg = tomllib.loads(f.attrs["config"].decode())
assert cfg["lattice"]["conductance_factor"].replace(" ", "") == "1+0.5*u^2", "g must be 1 + u^2/2"
assert cfg["lattice"]["reaction"].replace(" ", "") == "u-u^3", "f must be u - u^3"
L, P = cfg["domain"]["length"], cfg["domain"]["patches"]
m = cfg["patch"]["points"] - 2
h = cfg["patch"]["ratio"] * (L / P) / m
D = f["D_cell"][:]
rho = np.array(cfg["lattice"].get("reaction_rate", [[1.0]])).mean()
t = f["t"][:]
sel = t >= cfg["learn"].get("train_t_min", 0.0) - 1e-12

k = np.fft.fftfreq(P, 1 / P) * 2 * np.pi / L
KY, KX = np.meshgrid(k, k, indexing="ij")
nyq = np.abs(k).max()
s = lambda q: np.mean([np.cos(q * (j - (m - 1) / 2) * h) for j in range(m)], axis=0)
S = s(KX) * s(KY)


def der(A, nx, ny):
    mult = (1j * KX) ** nx * (1j * KY) ** ny
    if nx % 2:
        mult = mult * (np.abs(KX) != nyq)
    if ny % 2:
        mult = mult * (np.abs(KY) != nyq)
    return np.real(np.fft.ifft2(np.fft.fft2(A) * mult))


def analyse(ukey, rkey):
    U = np.real(np.fft.ifft2(np.fft.fft2(f[ukey][:][:, sel].reshape(-1, P, P)) / S))
    R = np.real(np.fft.ifft2(np.fft.fft2(f[rkey][:][:, sel].reshape(-1, P, P)) / S))
    d = {(a, b): der(U, a, b) for a in range(5) for b in range(5 - a) if a + b}
    Ux, Uy, Uxx, Uxy, Uyy = d[1, 0], d[0, 1], d[2, 0], d[1, 1], d[0, 2]
    N0 = (1 + U**2 / 2) * (D[0, 0] * Uxx + 2 * D[0, 1] * Uxy + D[1, 1] * Uyy)
    N0 += U * (D[0, 0] * Ux**2 + 2 * D[0, 1] * Ux * Uy + D[1, 1] * Uy**2) + rho * (U - U**3)
    e = R - N0
    ders = list(d)
    cols = []
    for p in range(4):
        w = U.ravel() ** p
        for n in (1, 2, 3):
            for c in itertools.combinations_with_replacement(ders, n):
                if sum(map(sum, c)) <= 4:
                    cols.append(w * np.prod([d[q].ravel() for q in c], axis=0))
    A = np.stack(cols, 1)
    A /= np.linalg.norm(A, axis=0)
    coef, *_ = np.linalg.lstsq(A, e.ravel(), rcond=None)
    left = np.sum((e.ravel() - A @ coef) ** 2) / np.sum(e**2)
    return U, R, e, left, A.shape[1]


for label, ukey, rkey in (("data", "U", "dUdt"), ("truth", "U_hom", "dUdt_hom")):
    U, R, e, left, n = analyse(ukey, rkey)
    print(f"{label}: |e|/|dU/dt| = {np.sqrt(np.sum(e**2) / np.sum(R**2)):.2e}; "
          f"share of |e|^2 no local term explains ({n} columns): {left:.2f}")
    if label == "data":
        E, Y = np.abs(np.fft.fft2(e)).mean(0), np.abs(np.fft.fft2(R)).mean(0)
        print("  |e|/|dU/dt| by wavenumber kx (ky = 0):",
              " ".join(f"{E[0, q] / Y[0, q]:.1e}" for q in range(1, P // 2)))
        nt = int(sel.sum())
        ee, rr = e.reshape(-1, nt, P * P), R.reshape(-1, nt, P * P)
        print("  by time:", " ".join(f"t={t[sel][i]:.2f}: {np.sqrt(np.sum(ee[:, i]**2) / np.sum(rr[:, i]**2)):.1e}"
                                     for i in range(0, nt, 14)))
