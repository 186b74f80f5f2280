#!/usr/bin/env python3
"""Figures and report.md for a patchlearn run directory (data.h5, rollout.h5, summary.json) or a
benchmark directory (bench.json from `patchlearn bench`: the cost-scaling figure).

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
        if "D_cell" in f:
            out["data"]["D_cell"] = f["D_cell"][()]
        if "a_star_realizations" in f:  # a random medium's several realizations: each one's a*
            out["data"]["a_star_realizations"] = f["a_star_realizations"][()]
        out["data_attrs"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        if "medium_a" in f:
            out["medium"] = {"x": f["medium_x"][()], "a": f["medium_a"][()],
                             "a_star_x": f["a_star_x"][()] if "a_star_x" in f else None}
        if "medium_kx" in f:
            out["lattice_medium"] = f["medium_kx"][()]
        if "fine_u" in f:
            out["fine"] = {"u": f["fine_u"][()], "x": f["fine_x"][()], "t": float(f.attrs["fine_t"]),
                           "epsilon": float(f.attrs["epsilon"]), "tooth_width": float(f.attrs["tooth_width"])}
    path = os.path.join(d, "rollout.h5")
    if os.path.exists(path):
        with h5py.File(path, "r") as f:
            out["roll"] = {k: f[k][()] for k in f.keys()}
    path = os.path.join(d, "summary.json")
    if os.path.exists(path):
        with open(path) as f:
            out["summary"] = json.load(f)
    return out


def fig_cost_scaling(b, figdir):
    """Wall time and micro point-steps of patch and full-resolution data against eps (bench.json)."""
    two_d = b["dimension"] == 2
    full = [e for e in b["sweep"] if "full_wall_s" in e]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in zip(axes, ("wall_s", "point_steps"), ("wall time [s]", "micro point-steps")):
        ax.loglog([e["eps"] for e in b["sweep"]], [e["patch_" + key] for e in b["sweep"]], "o-", color="C1",
                  label="gap-tooth" if two_d else "patch dynamics")
        ax.loglog([e["eps"] for e in full], [e["full_" + key] for e in full], "s-", color="k",
                  label="full lattice" if two_d else "full resolution")
        if key == "point_steps" and not two_d:
            ax.loglog([e["eps"] for e in b["sweep"]], [e["nominal"]["full_point_steps"] for e in b["sweep"]], "s:",
                      color="gray", label="full, nominal (paper)")
            ax.loglog([e["eps"] for e in b["sweep"]], [e["nominal"]["patch_point_steps"] for e in b["sweep"]], "o:",
                      color="C1", alpha=0.5, label="patch, nominal (paper)")
        ax.set_xlabel("eps"); ax.set_ylabel(label); ax.invert_xaxis(); ax.grid(True, which="both", alpha=0.3)
    ex = b["exponents"]
    fmt = lambda v: "n/a" if v is None else f"{v:+.2f}"
    axes[0].set_title(f"cost ~ eps^p: patch p = {fmt(ex['patch'])}, full p = {fmt(ex['full'])}", fontsize=9)
    axes[1].set_title(f"matched accuracy: rMSE <= {b['rmse_target']:.0e} vs homogenized", fontsize=9)
    axes[0].legend(fontsize=7); axes[1].legend(fontsize=7)
    fig.suptitle(f"Cost of coarse data, {b['dimension']}D ({b['device']})")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_cost_scaling.png"), dpi=120); plt.close(fig)
    return "fig_cost_scaling.png"


def bench_figures(d, figdir):
    """The cost-scaling figure when a bench also wrote into this run directory."""
    path = os.path.join(d, "bench.json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [fig_cost_scaling(json.load(f), figdir)]


def report_bench(d, figdir):
    with open(os.path.join(d, "bench.json")) as f:
        b = json.load(f)
    fig = fig_cost_scaling(b, figdir)
    two_d = b["dimension"] == 2
    lines = ["# patchlearn benchmark", "", f"- patches: {b['patch_solver']}", f"- full: {b['full_solver']}",
             f"- device: {b['device']}; {b['trajectories']} trajectories, {b['times']} sample times; "
             f"matched accuracy: rMSE (eq. 24) <= {b['rmse_target']:.1e} against the homogenized truth", "",
             "| " + ("lattice" if two_d else "eps") + " | patch wall [s] | full wall [s] | speed-up | patch point-steps | "
             "full point-steps | patch rMSE | full rMSE | nominal ratio (paper) |", "|---|---|---|---|---|---|---|---|---|"]
    for e in b["sweep"]:
        size = f"{e['lattice']}^2" if two_d else f"{e['eps']:.0e}"
        if "full_wall_s" in e:
            lines.append(f"| {size} | {e['patch_wall_s']:.3f} | {e['full_wall_s']:.3f} | {e['wall_ratio']:.1f}x | "
                         f"{e['patch_point_steps']:.3e} | {e['full_point_steps']:.3e} | {e['patch_rmse']:.2e} | "
                         f"{e['full_rmse']:.2e} | {e['nominal']['ratio']:.3g} |")
        else:
            lines.append(f"| {size} | {e['patch_wall_s']:.3f} | - | - | {e['patch_point_steps']:.3e} | - | "
                         f"{e['patch_rmse']:.2e} | - ({e['full_error']}) | {e['nominal']['ratio']:.3g} |")
    ex = b["exponents"]
    fmt = lambda v: "n/a" if v is None else f"{v:+.3f}"
    lines += ["", "Cost exponents (wall time ~ eps^p): patch " + fmt(ex["patch"]) + ", full " + fmt(ex["full"]) + ".",
              "Full resolution is faster at eps = " + (", ".join(f"{e:.0e}" for e in b["full_faster_at_eps"]) or "none") + ".",
              ""]
    write_report(d, lines, [fig])


def fig_snapshots(r, figdir):
    """Paper Fig. 2: homogenized solution, coarse data and, for patch dynamics, the fine field in the
    patches with a zoom into one patch and into the eps-scale (the micro-scale corrector)."""
    d = r["data"]
    t, x = d["t"], d["x"]
    fine = r.get("fine")
    n = min(range(len(t)), key=lambda i: abs(t[i] - (fine["t"] if fine else 0.05)))
    ncols = 3 if fine else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 3.8))
    ax = axes[0]
    ax.plot(x, d["U_hom"][0, 0], ":", color="gray", label="t = 0")
    ax.plot(x, d["U_hom"][0, n], "-", color="k", label=f"homogenized, t = {t[n]:.3f}")
    if fine:
        for p in range(fine["u"].shape[0]):
            ax.plot(fine["x"][p], fine["u"][p], "-", color="C0", lw=2.5, label="fine field in the patches" if p == 0 else None)
    ax.plot(x, d["U"][0, n], "o", color="C1", ms=4, label=f'coarse data ({r["data_attrs"].get("scheme", "patches")})')
    ax.set_xlabel("x"); ax.set_ylabel("u"); ax.set_title("trajectory 0"); ax.legend(fontsize=7)
    if fine:
        # One patch (the middle one): the fine field across tooth and buffers, after the burst.
        p = fine["u"].shape[0] // 2
        xp, up = fine["x"][p], fine["u"][p]
        xc, h, eps = 0.5 * (xp[0] + xp[-1]), fine["tooth_width"], fine["epsilon"]
        ax = axes[1]
        ax.plot(xp, up, "-", color="C0", lw=1)
        ax.axvspan(xc - h / 2, xc + h / 2, color="C1", alpha=0.25, label=f"tooth (h = {h:.2g})")
        ax.plot([xc], [d["U"][0, n, p + 1]], "o", color="C1", label="tooth average U")
        ax.set_xlabel("x"); ax.set_title(f"patch at x = {xc:.3g}: tooth and buffers"); ax.legend(fontsize=7)
        # eps-zoom: a few periods around the tooth, the smooth macro profile (a quadratic fit over
        # the patch) removed: what is left is the eps-periodic corrector eps chi(x/eps) u_x.
        ax = axes[2]
        sel = np.abs(xp - xc) <= 2 * eps
        c = np.polyfit(xp - xc, up, 2)
        ax.plot((xp[sel] - xc) / eps, up[sel] - np.polyval(c, xp[sel] - xc), "-", color="C0")
        ax.axvspan(-h / 2 / eps, h / 2 / eps, color="C1", alpha=0.15)
        ax.set_xlabel("(x - x_patch) / eps"); ax.set_ylabel("u - smooth part")
        ax.set_title(f"eps-scale zoom (eps = {eps:.0e}): the micro-scale corrector", fontsize=9)
    else:
        ax = axes[1]
        tr = min(1, d["U"].shape[0] - 1)
        ax.plot(x, d["U_hom"][tr, n], "-", color="k"); ax.plot(x, d["U"][tr, n], "o", color="C1")
        ax.set_xlabel("x"); ax.set_title(f"trajectory {tr} (no fine field stored for this scheme)")
    fig.suptitle("Fine, homogenized and coarse solutions (paper Fig. 2)")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig2_snapshots.png"), dpi=120); plt.close(fig)
    return "fig2_snapshots.png"


def scored_models(s):
    """The networks and the discovered equation that were scored (the summary's own order)."""
    return [k for k in ("functional", "discretized", "regression") if k in s and "rhs_rmse" in s[k]]


def score(q, key):
    """A score of the report's tables, or why it is missing (a rollout that blew up)."""
    if key in q and q[key] is not None:
        return f"{q[key]:.3e}"
    return "rollout failed" if "rollout_error" in q else "n/a"


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


# The effective coefficient curves of a nonlinear medium (summary "effective"), by key.
CURVE_NAMES = {"a_star": "a*(u)", "drift": "c*(u)", "D_xx": "D*_xx(u)", "D_xy": "D*_xy(u)", "D_yy": "D*_yy(u)",
               "reaction": "r*(u)"}


def curve_accuracy(e):
    """The largest errors of learned effective curves (KEY_max_error) as one phrase; where the curves say the
    range of U the data visit (u_data), also the errors inside it (KEY_max_error_on_data)."""
    phrase = "against the cell problems: " + ", ".join(
        f"{name} {e[k + '_max_error']:.2e}" for k, name in CURVE_NAMES.items() if k + "_max_error" in e)
    if "u_data" in e:
        lo, hi = e["u_data"]
        phrase += f"; on the data's range of U [{lo:.3g}, {hi:.3g}]: " + ", ".join(
            f"{name} {e[k + '_max_error_on_data']:.2e}" for k, name in CURVE_NAMES.items()
            if k + "_max_error_on_data" in e)
    return phrase


def curve_errors(curves, k):
    """A learned curve's largest error (KEY_max_error) and, where it has it, the same on the data's range of U."""
    text = f"max error {curves[k + '_max_error']:.1e}"
    if k + "_max_error_on_data" in curves:
        text += f", {curves[k + '_max_error_on_data']:.1e} on the data"
    return text


def fit_lines(reg):
    """How the regression was fitted (summary "regression"): the library's degree in U, STLSQ's threshold and the
    states' weights, each as given or as chosen from the data; one report line, none for an older summary."""
    parts = []
    if "u_degree" in reg:
        d = reg["u_degree"]
        parts.append("a library linear in U" if d == 0 else f"a library of degree {d} in U (`regression.u_degree`)")
    if "threshold" in reg:
        parts.append(f"STLSQ threshold {reg['threshold']:.3g}")
    if "weights" in reg:
        parts.append(f"weights \"{reg['weights']}\"")
    return ["- the fit: " + ", ".join(parts)] if parts else []


def net_rates_lines(s):
    """Where the regression's patch scales took some terms alone, the nets trained on its descaled rates: one line."""
    if not s.get("train", {}).get("net_rates_descaled"):
        return []
    return ["- the nets trained on the regression's rates with each patch's scales taken out "
            "(`train.net_rates_descaled`: a net's rate has no split into the terms a piece of the medium scales)"]


def patch_scales_phrase(p):
    """The regression's patch scales (summary "regression_patch_scales", `learn.patch_scales`) as one phrase."""
    per, mean = p.get("scales_per_patch", 1), p.get("mean", "harmonic")
    if p.get("known"):
        return (f"fitted with each of {p['patches']} patches' own piece of the medium: its a*_p on the U_xx terms "
                f"(spread {p['spread']:.3g}, harmonic mean 1), its tooth's corrector on the U_x^2 and drift terms "
                "(`learn.patch_scales`)")
    scales = f"{p['patches']} patch scales" if per == 1 else f"{per} scales on each of {p['patches']} patches"
    return (f"fitted with {scales} of spread {p['spread']:.3g}, {mean} mean 1{'' if per == 1 else ' in each group'} "
            "(`learn.patch_scales`)")


def fig_effective(r, figdir):
    """A nonlinear medium: a*(u), c*(u), r*(u) (the 2D lattice: D*(u), r*(u)) from the cell problems against
    the regression's and (1D) the functional net's (probed at quadratic states), the data's range of U shaded."""
    s = r["summary"]
    cell, reg = s["effective"], s.get("regression_effective", {})
    net = s.get("functional", {}).get("effective", {})
    keys = [k for k in CURVE_NAMES if k in cell and any(v != 0 for v in cell[k])]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, k in zip(axes[0], keys):
        if "u_data" in reg:  # beyond it the learned curves extrapolate
            ax.axvspan(*reg["u_data"], color="0.92", zorder=0, label="the data's range of U")
        ax.plot(cell["u"], cell[k], "-", label="cell problems")
        if k in reg:
            ax.plot(reg["u"], reg[k], "o", ms=4, label=f"regression ({curve_errors(reg, k)})")
        if k in net:
            ax.plot(net["u"], net[k], "x", ms=4, label=f"functional net, probed ({curve_errors(net, k)})")
        ax.ticklabel_format(useOffset=False)
        if k in ("a_star", "D_xx", "D_yy"):
            ax.set_ylim(bottom=0)
        ax.set_xlabel("u"); ax.set_title(CURVE_NAMES[k]); ax.legend(fontsize=7)
    fig.suptitle("Effective coefficients: cell problems against the learned ones", fontsize=10)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_effective.png"), dpi=120); plt.close(fig)
    return "fig_effective.png"


def fig_graded(r, figdir):
    """A graded medium: the local a*(x) of the cell problems against the regression's (the coefficient of U_xx with
    its position factors) at the interior macro nodes."""
    g = r["summary"]["regression_graded"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(g["x"], g["a_star_cell"], "-", label="local cell problems")
    ax.plot(g["x"], g["a_star_regression"], "o", ms=5,
            label=f"regression (max relative error {g['max_relative_error']:.1e})")
    ax.set_xlabel("x"); ax.set_ylabel("a*(x)"); ax.set_ylim(bottom=0); ax.legend(fontsize=8)
    ax.set_title("Graded medium: the effective diffusivity across the domain", fontsize=10)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_graded.png"), dpi=120); plt.close(fig)
    return "fig_graded.png"


def fig_patch_estimates(r, figdir):
    """Patch dynamics on a medium that is not periodic: each node's own effective diffusivity, the least-squares fit
    of its dU/dt to the second difference of U over each trajectory, against the whole realization's a* (the
    truth's; of several realizations their ensemble's); on a random medium the scatter of these estimates is that of
    the patches' harmonic means. Under medium.translations and medium.realizations every medium puts another piece
    in each patch, so a node has one estimate per medium; otherwise its trajectories agree."""
    U, R, x = r["data"]["U"], r["data"]["dUdt"], r["data"]["x"]
    dX = x[1] - x[0]
    D2 = (U[:, :, 2:] - 2 * U[:, :, 1:-1] + U[:, :, :-2]) / dX**2
    est = (D2 * R[:, :, 1:-1]).sum(axis=1) / np.maximum((D2 * D2).sum(axis=1), 1e-300)  # [trajectory, node]
    distinct = np.unique(np.round(est, 6), axis=0)  # one row per medium (equal to ~1e-10)
    a_star = r["data_attrs"].get("a_star_cell")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    xs = np.broadcast_to(x[1:-1], distinct.shape)
    what = "per-node estimates" if len(distinct) == 1 else f"per-node estimates of {len(distinct)} media"
    ax.plot(xs.ravel(), distinct.ravel(), "o", ms=3 if len(distinct) > 1 else 6, alpha=0.7,
            label=f"{what} (mean {distinct.mean():.4f}, scatter {distinct.std(ddof=1):.3g})")
    if a_star is not None:
        whose = "the realizations' ensemble" if "a_star_realizations" in r["data"] else "the realization"
        ax.axhline(a_star, color="k", lw=1, label=f"a* of {whose} {a_star:.4f}")
    ax.set_xlabel("x"); ax.set_ylabel("a* estimate"); ax.legend(fontsize=7)
    ax.set_title("The patches' estimates of a* (each patch's own piece of the medium)", fontsize=9)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_patch_estimates.png"), dpi=120); plt.close(fig)
    return "fig_patch_estimates.png"


def fig_modulated(r, figdir):
    """A modulated 2D lattice: D_xx(x, y) and D_yy(x, y) of the position regression at the patch centres against
    A(x, y) D of the cell problem, and their relative difference."""
    g = r["summary"]["regression_modulated"]
    P = len(g["centres"])
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    for row, c in enumerate(("xx", "yy")):
        reg = np.array(g[f"D_{c}"]).reshape(P, P)
        cell = np.array(g[f"D_{c}_cell"]).reshape(P, P)
        for ax, v, title, cmap in ((axes[row][0], cell, f"A(x, y) D_{c} (cell problem)", "viridis"),
                                   (axes[row][1], reg, f"D_{c}(x, y), regression", "viridis"),
                                   (axes[row][2], reg / cell - 1, "relative difference", "RdBu_r")):
            im = ax.imshow(v, origin="lower", cmap=cmap, extent=[g["centres"][0], g["centres"][-1]] * 2)
            ax.set_title(title, fontsize=9); fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle(f"Modulated lattice: the local tensor at the patch centres (max relative error "
                 f"{g['max_relative_error']:.1e})")
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_modulated.png"), dpi=110); plt.close(fig)
    return "fig_modulated.png"


def fig_medium(r, figdir):
    """A medium that is not periodic (a random realization, a graded medium): a over the domain, the macro nodes
    (dotted) and the teeth the patch schemes simulate (shaded), the local a*(x) of a graded one, and a zoom into
    the middle macro interval."""
    m, a = r["medium"], r["data_attrs"]
    x = r["data"]["x"]
    tooth = a.get("tooth_width")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    mid = len(x) // 2
    for ax, lo, hi in ((axes[0], x[0], x[-1]), (axes[1], x[mid] - 0.5 * (x[1] - x[0]), x[mid] + 0.5 * (x[1] - x[0]))):
        sel = (m["x"] >= lo) & (m["x"] <= hi)
        ax.plot(m["x"][sel], m["a"][sel], "-", lw=0.4, color="tab:blue", label="a(x, x/eps) on the micro lattice")
        if m["a_star_x"] is not None:
            ax.plot(x, m["a_star_x"], "k-", lw=1.5, label="local a*(x) (cell problems)")
        for xi in x[1:-1]:
            if lo <= xi <= hi:
                ax.axvline(xi, color="gray", ls=":", lw=0.8)
                if tooth:
                    ax.axvspan(xi - tooth / 2, xi + tooth / 2, color="tab:orange", alpha=0.4)
        ax.set_xlim(lo, hi); ax.set_xlabel("x")
    axes[0].set_ylabel("a"); axes[0].legend(fontsize=7)
    axes[0].set_title(a.get("medium", "medium"), fontsize=8)
    axes[1].set_title("zoom: one macro interval" + (" (teeth shaded)" if tooth else ""), fontsize=9)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_medium.png"), dpi=120); plt.close(fig)
    return "fig_medium.png"


def fig_lattice_medium(r, figdir):
    """A 2D lattice that is not periodic (a random realization, a modulated lattice): the x-bonds over the whole
    lattice with the patches' m x m evolving (restricted) points outlined, and a zoom into one macro cell."""
    k, a = r["lattice_medium"], r["data_attrs"]
    stride, N = int(a["medium_stride"]), int(a["lattice_points"])
    first, spacing, m = int(a["patch_first"]), int(a["patch_spacing"]), int(a["patch_points"])
    P = N // spacing
    teeth = "teeth" if a.get("scheme") == "gap_tooth" else "restriction boxes"
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    c = P // 2
    for ax, (lo, hi) in ((axes[0], (0, N)), (axes[1], (first + c * spacing - spacing // 2, first + c * spacing + m + spacing // 2))):
        i0, i1 = max(lo // stride, 0), min((hi + stride - 1) // stride, k.shape[0])
        im = ax.imshow(np.log(k[i0:i1, i0:i1]), origin="lower", cmap="viridis",
                       extent=(i0 * stride - 0.5, i1 * stride - 0.5, i0 * stride - 0.5, i1 * stride - 0.5))
        for J in range(P):
            for I in range(P):
                x0, y0 = first + I * spacing, first + J * spacing
                if lo - m <= x0 <= hi and lo - m <= y0 <= hi:
                    ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), m, m, fill=False, ec="white", lw=0.6 if P > 8 and ax is axes[0] else 1.2))
        ax.set_xlim(lo - 0.5, hi - 0.5); ax.set_ylim(lo - 0.5, hi - 0.5)
        ax.set_xlabel("site x"); ax.set_ylabel("site y")
        fig.colorbar(im, ax=ax, fraction=0.046, label="log kappa_x")
    axes[0].set_title(f"{a.get('medium', 'medium')}\n{N} x {N} sites, the {teeth} outlined", fontsize=8)
    axes[1].set_title("zoom: one macro cell", fontsize=9)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_lattice_medium.png"), dpi=110); plt.close(fig)
    return "fig_lattice_medium.png"


def fig_patch_estimates_2d(r, figdir):
    """A random lattice: each patch mean's own effective tensor, the least-squares fit of its dU/dt (samples after
    t = 0, whose rates carry the initial layer) to the spectral U_xx, 2 U_xy, U_yy of the patch means over the
    data, against the representative-volume estimate D (the truth's); their scatter is that of the patches'
    pieces of the realization."""
    U, R = r["data"]["U"][:, 1:], r["data"]["dUdt"][:, 1:]
    P, L = U.shape[-1], float(r["data"]["x"][1] - r["data"]["x"][0]) * U.shape[-1]
    k = 2 * np.pi * np.fft.fftfreq(P, L / P)
    ko = k.copy()
    if P % 2 == 0:
        ko[P // 2] = 0.0
    Uh = np.fft.fft2(U)
    d = {"xx": np.real(np.fft.ifft2(-Uh * k[None, :] ** 2)), "xy": np.real(np.fft.ifft2(-Uh * ko[:, None] * ko[None, :])),
         "yy": np.real(np.fft.ifft2(-Uh * k[:, None] ** 2))}
    A = np.stack([d["xx"], 2 * d["xy"], d["yy"]], axis=-1).reshape(-1, P, P, 3)
    b = R.reshape(-1, P, P)
    est = np.zeros((P, P, 3))
    for j in range(P):
        for i in range(P):
            est[j, i] = np.linalg.lstsq(A[:, j, i, :], b[:, j, i], rcond=None)[0]
    Dc = r["data"].get("D_cell")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, c, name in ((axes[0], 0, "D_xx"), (axes[1], 2, "D_yy")):
        im = ax.imshow(est[:, :, c], origin="lower", cmap="viridis"); fig.colorbar(im, ax=ax, fraction=0.046)
        ax.set_title(f"{name} of each patch mean (scatter {est[:, :, c].std(ddof=1):.3g})", fontsize=9)
        ax.set_xlabel("patch I"); ax.set_ylabel("patch J")
    for c, name in ((0, "D_xx"), (2, "D_yy")):
        axes[2].hist(est[:, :, c].ravel(), bins=24, alpha=0.5, label=f"{name}: mean {est[:, :, c].mean():.4f}")
    if Dc is not None:
        axes[2].axvline(Dc[0][0], color="C0", lw=1.5, label=f"D_xx of the representative volumes {Dc[0][0]:.4f}")
        axes[2].axvline(Dc[1][1], color="C1", lw=1.5, ls="--", label=f"D_yy {Dc[1][1]:.4f}")
    axes[2].legend(fontsize=7); axes[2].set_xlabel("estimate")
    fig.suptitle("The patch means' own effective tensors on the random lattice (each its own piece of it)", fontsize=10)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_patch_estimates_2d.png"), dpi=110); plt.close(fig)
    return "fig_patch_estimates_2d.png"


def fig_scales_against_teeth(s, figdir):
    """Closed teeth with patch scales: each tooth's x and y scales, fitted by the regression from the patch means
    alone, against its own cell tensor's D_xx and D_yy over the teeth's means."""
    scales, teeth = np.asarray(s["regression_patch_scales"]["scales"]), np.asarray(s["D_teeth_each"])
    ratios = teeth[:, [0, 2]] / teeth[:, [0, 2]].mean(0)  # D_xx and D_yy of each tooth over the teeth's mean
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for k, name in enumerate("xy"):
        vs = s["patch_scales_vs_teeth"][name]
        ax.plot(ratios[:, k], scales[:, k], "o" if k == 0 else "x", ms=3.5, alpha=0.7,
                label=f"{name}: correlation {vs['correlation']:.3f}, rms difference {vs['rms_difference']:.2e}")
    lo, hi = min(scales.min(), ratios.min()), max(scales.max(), ratios.max())
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    ax.set_xlabel("tooth's cell tensor D_i / the teeth's mean"); ax.set_ylabel("the regression's scale of the tooth")
    ax.legend(fontsize=8); ax.set_title("Patch scales against the teeth's own cell problems", fontsize=10)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_scales_against_teeth.png"), dpi=110); plt.close(fig)
    return "fig_scales_against_teeth.png"


def front_positions(V, dx):
    """Where each state of V[T, M] falls through 1/2 (linear interpolation between nodes), NaN if nowhere."""
    out = np.full(V.shape[0], np.nan)
    for n, u in enumerate(V):
        i = np.nonzero((u[:-1] >= 0.5) & (u[1:] < 0.5))[0]
        if len(i):
            i = i[0]; out[n] = dx * (i + (u[i] - 0.5) / (u[i] - u[i + 1]))
    return out


def fig_front(r, figdir, kinds):
    """Front data: the front's position against time, truth and every model, test trajectory 0."""
    ro = r["roll"]
    t, truth = ro["t"], ro["truth"]
    dx = 1.0 / (truth.shape[2] - 1)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(t, front_positions(truth[0], dx), "k-", lw=2, label="effective PDE (truth)")
    for c, k in enumerate(kinds + ["regression"]):
        if f"{k}_rollout" in ro:
            err = r["summary"][k]["front"]["max_relative_error"]
            ax.plot(t, front_positions(ro[f"{k}_rollout"][0], dx), "--", color=f"C{c}", label=f"{k} (speed error {err:.1e})")
    ax.set_xlabel("t"); ax.set_ylabel("front position (U = 1/2)"); ax.legend(fontsize=7)
    floor = next((r["summary"][k]["front"].get("floor_relative_error") for k in kinds if "front" in r["summary"][k]), None)
    ax.set_title("Front position, unseen test trajectory"
                 + (f"\n(the exact coarse operator's speed error, the grid's floor: {floor:.1e})" if floor is not None else ""),
                 fontsize=9)
    fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig_front.png"), dpi=120); plt.close(fig)
    return "fig_front.png"


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


def training_notes(s):
    """A line for each net whose L-BFGS polish ran out while still gaining (summary `lbfgs_still_improving`)."""
    notes = []
    for k in ("functional", "discretized"):
        q = s.get(k, {})
        if q.get("lbfgs_still_improving"):
            a, b = q["lbfgs_loss"][-2], q["lbfgs_loss"][-1]
            notes.append(f"- {k}: the L-BFGS polish was still improving when its {q['lbfgs_iterations']} iterations "
                         f"ran out (loss {a:.3e} -> {b:.3e} over the last 50): where the net is above its floor, "
                         "more `learn.lbfgs_iterations` (or `learn.epochs`) may bring it down")
    return notes + [""] if notes else []


def model_table(s):
    """Each scored model's rates and rollouts (against the truth, the exact coarse operator's rollout
    and the floor: in 2D the spectral operator, so the floor is the integrator's error alone), then
    the training's notes."""
    lines = ["| model | rhs rMSE | rollout rMSE | vs coarse operator | floor |", "|---|---|---|---|---|"]
    for k in scored_models(s):
        q = s[k]
        lines.append(f"| {k} | {q['rhs_rmse']:.3e} | {score(q, 'rollout_rmse')} | {score(q, 'rollout_rmse_vs_coarse')} | "
                     f"{score(q, 'floor_rmse')} |")
    return lines + [""] + training_notes(s)


def write_report(d, lines, figs):
    """DIR/report.md: the lines, then the figures; its path on stdout."""
    lines = lines + ["## Figures", ""] + [f"![{f}](figures/{f})" for f in figs] + [""]
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write("\n".join(lines))
    print(os.path.join(d, "report.md"))


def report_2d(r, d, figdir):
    """2D lattice runs (data [trajectory, time, patch y, patch x]): paper Figs. 6-8."""
    s, ro, data = r.get("summary"), r.get("roll"), r["data"]
    P = data["U"].shape[-1]
    figs = []
    kinds = [k for k in ("functional", "discretized") if s and k in s and "rollout_rmse" in s[k]]
    if s and ro is not None and kinds:
        t = ro["t"]
        picks = [i for i in (0, 10, 30, 100) if i < len(t)]
        truth = ro["truth"][0].reshape(len(t), P, P)
        rows = 1 + len(kinds)
        fig, axes = plt.subplots(rows, len(picks), figsize=(3 * len(picks), 2.8 * rows), squeeze=False)
        for j, i in enumerate(picks):
            im = axes[0][j].imshow(truth[i], origin="lower"); axes[0][j].set_title(f"truth, t = {t[i]:.2f}", fontsize=9)
            fig.colorbar(im, ax=axes[0][j], fraction=0.046)
            for k_i, k in enumerate(kinds):
                roll = ro[f"{k}2d_rollout"][0].reshape(len(t), P, P)
                im = axes[1 + k_i][j].imshow(roll[i] - truth[i], origin="lower", cmap="RdBu_r")
                axes[1 + k_i][j].set_title(f"{k} - truth", fontsize=9); fig.colorbar(im, ax=axes[1 + k_i][j], fraction=0.046)
        for a in axes.ravel():
            a.set_xticks([]); a.set_yticks([])
        fig.suptitle("Rollout of a test trajectory against the tensor-homogenized truth (paper Fig. 7)")
        fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig7_rollout_2d.png"), dpi=110); plt.close(fig)
        figs.append("fig7_rollout_2d.png")

        exact = ro["exact_rhs"].reshape(-1, P * P)
        fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
        for ax, k in zip(axes[0], kinds):
            pred = ro[f"{k}2d_rhs"].reshape(-1, P * P)
            sel = np.linspace(0, exact.size - 1, min(exact.size, 20000)).astype(int)
            ax.plot(exact.ravel()[sel], pred.ravel()[sel], ".", ms=1)
            lim = [exact.min(), exact.max()]
            ax.plot(lim, lim, "k-", lw=0.5)
            ax.set_xlabel("true dU/dt"); ax.set_ylabel(f"{k} dU/dt"); ax.set_title(f"{k}: rhs rMSE {s[k]['rhs_rmse']:.2e}")
        fig.suptitle("Learned against true right-hand side on the test states (paper Figs. 4, 6)")
        fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig6_rhs_2d.png"), dpi=110); plt.close(fig)
        figs.append("fig6_rhs_2d.png")

        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for k in kinds:  # from the first sample after t = 0 (where every rollout starts exact)
            axes[0].semilogy(t[1:], np.maximum(s[k]["mse_over_time"][1:], 1e-30), label=k)
        axes[0].set_xlabel("t"); axes[0].set_ylabel("MSE vs truth"); axes[0].legend(fontsize=8)
        f = s[kinds[0]]["fourier"]
        for b, tr in enumerate(f["trajectories"][:4]):
            a = np.array(tr["truth"]).reshape(-1, len(f["modes"]))
            axes[1].plot(a[:, 0], a[:, 1], "-", color=f"C{b}", label="truth" if b == 0 else None)
            for k, mk in zip(kinds, ("o", "x")):
                am = np.array(s[k]["fourier"]["trajectories"][b]["model"]).reshape(-1, len(f["modes"]))
                axes[1].plot(am[::5, 0], am[::5, 1], mk, color=f"C{b}", ms=4, label=k if b == 0 else None)
        m = f["modes"]
        axes[1].set_xlabel(f"|c| of mode {tuple(m[0])}"); axes[1].set_ylabel(f"|c| of mode {tuple(m[1])}"); axes[1].legend(fontsize=7)
        fig.suptitle("Error over time and the Fourier-amplitude state space (paper Fig. 8)")
        fig.tight_layout(); fig.savefig(os.path.join(figdir, "fig8_mse_fourier.png"), dpi=110); plt.close(fig)
        figs.append("fig8_mse_fourier.png")
        figs.append(fig_loss(r, figdir, kinds))
    nonlinear = bool(s) and "effective" in s
    if nonlinear:
        figs.append(fig_effective(r, figdir))
    if s and "regression_modulated" in s:
        figs.append(fig_modulated(r, figdir))
    if "lattice_medium" in r:
        figs.append(fig_lattice_medium(r, figdir))
        if str(r["data_attrs"].get("medium", "")).startswith("random") and r["data"]["U"].shape[1] > 4:
            figs.append(fig_patch_estimates_2d(r, figdir))
    if s and "patch_scales_vs_teeth" in s:
        figs.append(fig_scales_against_teeth(s, figdir))
    a = r["data_attrs"]
    lines = ["# patchlearn report (2D lattice)", "", f"Directory: `{d}`", "",
             "## Data", "", f"- scheme: {a.get('scheme')}, device: {a.get('device')}, wall {a.get('wall_s', 0):.2f} s, "
             f"{a.get('point_steps', 0):.3g} micro point-steps",
             f"- rMSE of the patch means against the {'effective-PDE' if nonlinear else 'tensor-homogenized'} truth "
             f"(all times): {a.get('rmse_vs_homogenized', float('nan')):.3e}", ""]
    if s:
        Dc, Dr = s["D_cell"], s["D_regression"]
        lines += ["## Effective tensor", "", f"- cell problem: [[{Dc[0][0]:.6f}, {Dc[0][1]:.6f}], [{Dc[1][0]:.6f}, {Dc[1][1]:.6f}]]",
                  f"- regression: [[{Dr[0][0]:.6f}, {Dr[0][1]:.6f}], [{Dr[1][0]:.6f}, {Dr[1][1]:.6f}]] (`{s['regression']['equation']}`)",
                  f"- gap-tooth against the truth at t = 0.3: rMSE {s.get('gap_tooth_vs_homogenized_rmse', float('nan')):.3e}"]
        if "regression_effective" in s:
            e = s["regression_effective"]
            where = (f" (D(x, y, u) / A(x, y) at the {e['centres']} patch centres: their mean drawn, the worst centre's "
                     "errors)" if "centres" in e else "")
            lines.append(f"- D*(u), r*(u) from the regression{where}, {curve_accuracy(e)}")
        if "regression_patch_scales" in s:
            lines.append(f"- the regression {patch_scales_phrase(s['regression_patch_scales'])}")
            if "patch_scales_vs_teeth" in s:
                lines.append("- the scales against each closed tooth's own cell tensor D_i / the teeth's mean: " + "; ".join(
                    f"{axis} correlation {v['correlation']:.3f}, rms difference {v['rms_difference']:.2e}"
                    for axis, v in s["patch_scales_vs_teeth"].items()))
        if "regression_modulated" in s:
            lines.append(f"- D(x, y) of the position regression at the patch centres against A(x, y) D: max relative "
                         f"error {s['regression_modulated']['max_relative_error']:.2e} (the cell problem row is the "
                         f"period's D)")
        lines += fit_lines(s["regression"]) + net_rates_lines(s) + [""] + model_table(s)
    write_report(d, lines, figs + bench_figures(d, figdir))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: report.py DIR")
    d = sys.argv[1]
    if not os.path.isdir(d):
        sys.exit(f"report: {d} is not a directory")
    figdir = os.path.join(d, "figures")
    if os.path.exists(os.path.join(d, "bench.json")) and not os.path.exists(os.path.join(d, "data.h5")):
        os.makedirs(figdir, exist_ok=True)
        return report_bench(d, figdir)
    r = load(d)
    os.makedirs(figdir, exist_ok=True)
    if r["data"]["U"].ndim == 4:
        return report_2d(r, d, figdir)
    figs = [fig_snapshots(r, figdir)]
    s = r.get("summary")
    kinds = [k for k in ("functional", "discretized") if s and k in s and "rollout_rmse" in s[k]]
    if s and "roll" in r and kinds:
        figs += [fig_rhs(r, figdir, kinds), fig_rollout(r, figdir, kinds), fig_mse_fourier(r, figdir, kinds), fig_loss(r, figdir, kinds)]
        if "front" in s[kinds[0]]:
            figs.append(fig_front(r, figdir, kinds))
    if s and "effective" in s:
        figs.append(fig_effective(r, figdir))
    if s and "regression_graded" in s:
        figs.append(fig_graded(r, figdir))
    if "medium" in r:
        figs.append(fig_medium(r, figdir))
        kind = r["data_attrs"].get("medium_kind", "graded" if r["medium"]["a_star_x"] is not None else "random")
        if r["data_attrs"].get("scheme") == "patch_dynamics" and kind == "random":
            figs.append(fig_patch_estimates(r, figdir))
    lines = ["# patchlearn report", "", f"Directory: `{d}`", ""]
    a = r["data_attrs"]
    lines += ["## Data", "", f"- scheme: {a.get('scheme')}, device: {a.get('device')}, wall {a.get('wall_s', 0):.2f} s, "
              f"{a.get('point_steps', 0):.3g} micro point-steps",
              f"- rMSE of the data against the {'effective-PDE' if s and 'effective' in s else 'homogenized'} truth: "
              f"{a.get('rmse_vs_homogenized', float('nan')):.3e}"]
    lines += [f"- a* from the cell problem: {a['a_star_cell']:.12g}", ""] if "a_star_cell" in a else [""]
    if s:
        if "regression_effective" in s:
            accuracy = curve_accuracy(s["regression_effective"])
        elif "regression_graded_effective" in s:
            accuracy = "a*(x, u), c*(x, u), r*(x, u) at the interior nodes " + curve_accuracy(s["regression_graded_effective"])
        elif "regression_graded" in s:
            accuracy = f"a*(x) against the local cell problems: max relative error {s['regression_graded']['max_relative_error']:.2e}"
        else:
            accuracy = f"a* relative error {s.get('a_star_regression_relative_error', float('nan')):.2e}"
            if "a_star_regression_standard_errors" in s:  # a random medium
                whose = ("the realizations' ensemble (in series)" if "a_star_realizations" in s
                         else "the realization's cell problem")
                accuracy += (f" against {whose}; {s['a_star_regression_standard_errors']:+.2f} "
                             f"standard errors from the ergodic 1/E[1/a] = {s['ergodic']:.10g} (standard error "
                             f"{s['a_star_rve_stderr']:.3g}: the representative volumes' scatter / sqrt(windows))")
        if "regression_patch_scales" in s:
            accuracy += "; " + patch_scales_phrase(s["regression_patch_scales"])
        if "data_rhs_rmse" in s:
            reference = s.get("data_rhs_reference", "the exact coarse operator's")
            data_line = f"- the training data's dU/dt against {reference}: {s['data_rhs_rmse']:.3e} (eq. 24)"
            if s.get("data_rhs_unresolved"):
                data_line += (" — **the macro grid does not resolve these data: every model below fits the difference** "
                              "(README, summary.json)")
            lines += ["## Learned effective PDE", "", data_line]
        else:
            lines += ["## Learned effective PDE", ""]
        lines += [f"- regression: `{s['regression']['equation']}` ({accuracy})"]
        lines += fit_lines(s["regression"]) + net_rates_lines(s) + [""] + model_table(s)
    write_report(d, lines, figs + bench_figures(d, figdir))


if __name__ == "__main__":
    main()
