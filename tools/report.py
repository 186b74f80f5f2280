#!/usr/bin/env python3
"""Figures and report.md for a patchlearn run directory (data.h5, rollout.h5, summary.json).

Usage: python3 tools/report.py DIR        (what `patchlearn report DIR` runs)
Writes DIR/figures/*.png and DIR/report.md. Needs Debian's python3-matplotlib and python3-h5py.
"""
import json
import os
import sys

try:
    import h5py
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
except ImportError as e:  # one clear line, non-zero exit
    sys.exit(f"report: missing Python package ({e.name}); install python3-matplotlib and python3-h5py")


def load(d):
    out = {}
    path = os.path.join(d, "data.h5")
    if not os.path.exists(path):
        sys.exit(f"report: {path} is missing (run `patchlearn simulate` or `run` first)")
    with h5py.File(path, "r") as f:
        out["data"] = {k: f[k][()] for k in ("U", "dUdt", "U_hom", "dUdt_hom", "t", "x")}
        out["data_attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    path = os.path.join(d, "rollout.h5")
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            out["roll"] = {k: f[k][()] for k in f.keys()}
    path = os.path.join(d, "summary.json")
    if os.path.exists(path):
        with open(path) as f:
            out["summary"] = json.load(f)
    return out


def fig_snapshots(r, figdir):
    d = r["data"]
    t, x = d["t"], d["x"]
    n = min(range(len(t)), key=lambda i: abs(t[i] - 0.05))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, tr in zip(axes, (0, min(1, d["U"].shape[0] - 1))):
        ax.plot(x, d["U_hom"][tr, 0], ":", color="gray", label="t = 0")
        ax.plot(x, d["U_hom"][tr, n], "-", color="k", label=f"homogenized, t = {t[n]:.3f}")
        ax.plot(x, d["U"][tr, n], "o", color="C1", label=f'{r["data_attrs"].get("scheme", "patches")}')
        ax.set_xlabel("x"); ax.set_ylabel("U"); ax.set_title(f"trajectory {tr}")
    axes[0].legend(fontsize=8)
    fig.suptitle("Coarse data against the homogenized solution (paper Fig. 2, top)")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig2_snapshots.png"), dpi=120); plt.close(fig)
    return "fig2_snapshots.png"


def fig_rhs(r, figdir, kinds):
    ro = r["roll"]
    exact = ro["exact_rhs"][:, 1:-1].ravel()
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, k in zip(axes[0], kinds):
        pred = ro[f"{k}_rhs"][:, 1:-1].ravel()
        lim = [exact.min(), exact.max()]
        ax.plot(lim, lim, "-", color="gray", lw=1)
        ax.plot(exact, pred, ".", ms=2, color="C0")
        rm = r["summary"][k]["rhs_rmse"]
        ax.set_title(f"{k}: rhs rMSE {rm:.2e}"); ax.set_xlabel("a* D2 U (exact coarse operator)"); ax.set_ylabel("network dU/dt")
    fig.suptitle("Learned right-hand side on unseen test states (paper Fig. 4)")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig4_rhs.png"), dpi=120); plt.close(fig)
    return "fig4_rhs.png"


def fig_rollout(r, figdir, kinds):
    ro = r["roll"]
    t, truth = ro["t"], ro["truth"]
    x = np.linspace(0, 1, truth.shape[2])
    idx = [i for i in (0, len(t) // 10, len(t) // 3, len(t) - 1)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, k in zip(axes[0], kinds):
        Y = ro[f"{k}_rollout"]
        for c, i in enumerate(idx):
            ax.plot(x, truth[0, i], "-", color=f"C{c}", label=f"truth t={t[i]:.3f}")
            ax.plot(x, Y[0, i], "o", color=f"C{c}", ms=4)
        ax.set_title(f'{k}: rollout rMSE {r["summary"][k]["rollout_rmse"]:.2e}'); ax.set_xlabel("x"); ax.set_ylabel("U")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Rollout from an unseen initial condition (markers) against the homogenized truth (paper Figs. 5, 7)")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig5_rollout.png"), dpi=120); plt.close(fig)
    return "fig5_rollout.png"


def fig_mse_fourier(r, figdir, kinds):
    s, t = r["summary"], r["roll"]["t"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k in kinds:
        axes[0].semilogy(t, np.maximum(s[k]["mse_over_time"], 1e-30), label=k)
    axes[0].semilogy(t, np.maximum(s[kinds[0]]["floor_mse_over_time"], 1e-30), "k--", label="coarse operator (floor)")
    axes[0].set_xlabel("t"); axes[0].set_ylabel("MSE vs truth"); axes[0].legend(fontsize=8)
    f = s[kinds[0]]["fourier"]
    m = f["modes"]
    for b, tr in enumerate(f["trajectories"]):
        a = np.array(tr["truth"]).reshape(-1, len(m))
        axes[1].plot(a[:, 0], a[:, 1], "-", color=f"C{b}", label=f"truth, test trajectory {b}")
        for k, mk in zip(kinds, ("o", "x")):
            am = np.array(s[k]["fourier"]["trajectories"][b]["model"]).reshape(-1, len(m))
            axes[1].plot(am[::max(1, len(am) // 25), 0], am[::max(1, len(am) // 25), 1], mk, color=f"C{b}", ms=4, label=f"{k}" if b == 0 else None)
    axes[1].set_xlabel(f"sine amplitude, mode {m[0]}"); axes[1].set_ylabel(f"sine amplitude, mode {m[1]}"); axes[1].legend(fontsize=7)
    fig.suptitle("Error over time and the Fourier-amplitude state space (paper Fig. 8)")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig8_mse_fourier.png"), dpi=120); plt.close(fig)
    return "fig8_mse_fourier.png"


def fig_loss(r, figdir, kinds):
    s = r["summary"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for k in kinds:
        ax.semilogy(s[k]["train_loss"], label=f"{k} train")
        ax.semilogy([v if v == v else np.nan for v in s[k]["val_loss"]], "--", label=f"{k} validation")
    ax.set_xlabel("epoch"); ax.set_ylabel("standardized MSE"); ax.legend(fontsize=8)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "loss.png"), dpi=120); plt.close(fig)
    return "loss.png"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py DIR")
    d = sys.argv[1]
    if not os.path.isdir(d):
        sys.exit(f"report: {d} is not a directory")
    r = load(d)
    figdir = os.path.join(d, "figures")
    os.makedirs(figdir, exist_ok=True)
    figs = [fig_snapshots(r, figdir)]
    s = r.get("summary")
    kinds = [k for k in ("functional", "discretized") if s and k in s]
    if s and "roll" in r and kinds:
        figs += [fig_rhs(r, figdir, kinds), fig_rollout(r, figdir, kinds), fig_mse_fourier(r, figdir, kinds), fig_loss(r, figdir, kinds)]
    lines = ["# patchlearn report", "", f"Directory: `{d}`", ""]
    a = r["data_attrs"]
    lines += ["## Data", "", f"- scheme: {a.get('scheme')}, device: {a.get('device')}, wall {a.get('wall_s', 0):.2f} s, "
              f"{a.get('point_steps', 0):.3g} micro point-steps",
              f"- rMSE of the data against the homogenized truth: {a.get('rmse_vs_homogenized', float('nan')):.3e}",
              f"- a* from the cell problem: {a.get('a_star_cell', float('nan')):.12g}", ""]
    if s:
        lines += ["## Learned effective PDE", "", f"- regression: `{s['regression']['equation']}` "
                  f"(a* relative error {s.get('a_star_regression_relative_error', float('nan')):.2e})", "",
                  "| network | rhs rMSE | rollout rMSE | vs coarse operator | floor |", "|---|---|---|---|---|"]
        for k in kinds:
            q = s[k]
            lines.append(f"| {k} | {q['rhs_rmse']:.3e} | {q['rollout_rmse']:.3e} | {q['rollout_rmse_vs_coarse']:.3e} | {q['floor_rmse']:.3e} |")
        lines.append("")
    lines += ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figs] + [""]
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print(os.path.join(d, "report.md"))


if __name__ == "__main__":
    main()
