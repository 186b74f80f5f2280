#!/usr/bin/env python3
"""The regression's state weights (regression.weights) on media no config ships: the measurement
behind bench/RESULTS.md, "Residual weights".

Each medium is a shipped config with its medium (and scheme) changed; its data are simulated once,
then the regression alone is trained with every weighting (one functional epoch, no L-BFGS), and the
run's own "vs cell problems" line is printed, with the worst relative coefficient against the closed
forms where the effective equation is a polynomial the library holds.

    python3 bench/regression_weights.py [--patchlearn build/patchlearn] [--out /tmp/weights] [--u-degree 2]
                                        [--weights residuals]

--u-degree sets regression.u_degree in every fit (the library's degree in U; "auto" is the default);
the data are simulated once per --out folder and reused.

About 8 minutes on 2 cores (the lattice's simulation 1.5 of them). Timings are not its point (run it on an idle machine all the same).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sub(text, key, value):
    """The first line `key = ...` of the TOML text with the value replaced."""
    new, n = re.subn(r"(?m)^" + re.escape(key) + r"\s*=.*$", f"{key} = {value}", text, count=1)
    if n != 1:
        raise KeyError(key)
    return new


def medium(text, body):
    """The [medium] table replaced by `body`."""
    return re.sub(r"(?ms)^\[medium\].*?^\[domain\]", "[medium]\n" + body + "\n\n[domain]", text)


def auto_keys(text):
    for k in ["buffer_width", "burst", "substeps", "heal_substeps", "method"]:
        text = sub(text, k, '"auto"')
    return text


def config(name):
    return open(os.path.join(ROOT, "configs", name + ".toml")).read()


S5 = math.sqrt(1.25)  # the harmonic mean of 1.5 + cos 2 pi y
A_LAM = 1 / (17 / 50 / 0.6 + 33 / 50 / 2.2)  # the laminate's, 17 of 50 bonds at 0.6

GRADED_DRIFT = ('expression = "(1 + 0.5*x^2) * (1 + 0.4*u^2) * (1.5 + cos(2*pi*y))"\n'
                'drift = "(0.5 - x) * u * (1 + 0.5*cos(2*pi*y))"\n'
                'coefficient = "expression"\nepsilon = 1e-3\nu_range = [0.0, 2.0]')
GRADED_DRIFT_TRUTH = {  # a* = S5 (1 + x^2/2)(1 + 0.4 U^2), c* = a* <c/a> = S5 (0.5 + 0.25/S5)(0.5 - x) U
    "U_xx": S5, "x^2*U_xx": S5 / 2, "U^2*U_xx": 0.4 * S5, "x^2*U^2*U_xx": 0.2 * S5, "U*U_x^2": 0.8 * S5,
    "x^2*U*U_x^2": 0.4 * S5, "x*U_x": S5, "x*U^2*U_x": 0.4 * S5,
    "U*U_x": 0.5 * S5 * (0.5 + 0.25 / S5), "x*U*U_x": -S5 * (0.5 + 0.25 / S5)}


def media():
    """name -> (config text, truth {term: coefficient} or None)."""
    m = {}
    g = medium(config("graded_nonlinear1d"), GRADED_DRIFT)
    g = sub(auto_keys(g), "position_degree", '"auto"')
    m["graded drift, gap-tooth"] = (sub(g, "type", '"gap_tooth"'), GRADED_DRIFT_TRUTH)
    m["graded drift, patch dynamics"] = (g, GRADED_DRIFT_TRUTH)
    lam = medium(config("nonlinear1d"), 'coefficient = "expression"\n'
                 'expression = "(y < 0.35 ? 0.6 : 2.2) * (1 - 0.2*u + 0.05*u^2)"\n'
                 'drift = "0.2*u"\nreaction = "0.4*u*(1 - u)"\nepsilon = 1e-3\nu_range = [0.0, 2.0]')
    lam = auto_keys(sub(sub(lam, "dx", "2e-5"), "type", '"gap_tooth"'))
    lam = sub(sub(sub(lam, "trajectories", "14"), "train_trajectories", "11"), "t_end", "0.5")
    m["u-dependent laminate, gap-tooth"] = (lam, {
        "U": 0.4, "U^2": -0.4, "U*U_x": 0.2, "U_xx": A_LAM, "U*U_xx": -0.2 * A_LAM, "U^2*U_xx": 0.05 * A_LAM,
        "U_x^2": -0.2 * A_LAM, "U*U_x^2": 0.1 * A_LAM})
    m["exponential grading, drift"] = (medium(config("graded1d"), 'coefficient = "expression"\n'
                                              'expression = "exp(0.7*x) * (1.5 + cos(2*pi*y))"\n'
                                              'drift = "0.4*(1 - x)"\nepsilon = 1e-3'), None)
    fr = medium(config("fisher1d"), 'coefficient = "expression"\n'
                'expression = "(2 + sin(2*pi*y) + 0.5*cos(4*pi*y)) * (1 + 0.3*u)^2"\n'
                'drift = "0.3 * (1 + cos(2*pi*y))"\n'
                'reaction = "3 * (1 + 0.5*sin(2*pi*y)) * u * (1 - u) * (1 + 0.5*u)"\n'
                'epsilon = 1e-3\nu_range = [-0.1, 1.2]')
    m["fronts, phase-varying drift, gap-tooth"] = (auto_keys(sub(fr, "type", '"gap_tooth"')), None)
    m["Burgers-like, phase-varying advection"] = (
        medium(config("burgers1d"), 'coefficient = "expression"\n'
               'expression = "(1.5 + cos(2*pi*y)) * (1 + 0.5*u - 0.1*u^2)"\n'
               'drift = "-u * (1 + 0.4*sin(2*pi*y))"\nepsilon = 1e-3\nu_range = [0.0, 2.0]'), None)
    # Not a polynomial in u: the library holds a*(u) to its quadratic only (bench/RESULTS.md,
    # "Residual weights": the weighted fits follow the slow states' narrow range of u).
    ex = medium(config("nonlinear1d"), 'coefficient = "expression"\nexpression = "2*exp(-0.3*u)"\n'
                'epsilon = 1e-3\nu_range = [0.0, 2.0]')
    m["a = 2 exp(-0.3u), gap-tooth"] = (auto_keys(sub(ex, "type", '"gap_tooth"')), None)
    # A graded medium whose u-dependence is not a polynomial: a*(x, u) = sqrt(0.21) (1 + x) 2 exp(-0.4u).
    m["graded, a = (1 + x) 2 exp(-0.4u)"] = (
        sub(config("graded_nonlinear1d"), "expression", '"(1 + x) * 2*exp(-0.4*u) * (1.1 + sin(2*pi*y))"'), None)
    # The lattice's g(u) not a polynomial either: D*(u) = exp(0.4u) D on u in [-3.2, 3.2].
    m["lattice, g = exp(0.4u)"] = (sub(config("nonlinear2d"), "conductance_factor", '"exp(0.4*u)"'), None)
    # a(y, u) not a product of a function of y and one of u: a*(u) = sqrt(4 - (1 + u/2)^2), with its
    # branch point at u = 2 close to the data's range, needs degrees past 6 (bench/RESULTS.md, "Past degree 6").
    ns = medium(config("nonlinear1d"), 'coefficient = "expression"\nexpression = "2 + (1 + 0.5*u)*sin(2*pi*y)"\n'
                'reaction = "u*(1 - u)*(1 + 0.5*sin(2*pi*y))"\nepsilon = 1e-3\nu_range = [0.0, 1.6]')
    m["non-separable a = 2 + (1 + u/2) sin 2 pi y, reaction"] = (auto_keys(ns), None)
    return m


def regression_only(text, weights, u_degree=None):
    text = sub(sub(sub(text, "networks", '["functional"]'), "epochs", "1"), "lbfgs_iterations", "0")
    text = re.sub(r"(?m)^(weights|u_degree)\s*=.*\n", "", text)
    keys = f'weights = "{weights}"\n' + (f"u_degree = {u_degree}\n" if u_degree else "")
    return text.replace("[regression]\n", "[regression]\n" + keys, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--patchlearn", default=os.path.join(ROOT, "build", "patchlearn"))
    ap.add_argument("--out", default="/tmp/regression_weights")
    ap.add_argument("--u-degree", default=None,
                    help='regression.u_degree for every fit (a number, or "auto"); default: the config default')
    ap.add_argument("--weights", default="none,rates,residuals",
                    help="the weightings to fit, comma-separated (default: all three)")
    args = ap.parse_args()
    u_degree = None if args.u_degree is None else (
        '"auto"' if args.u_degree == "auto" else str(int(args.u_degree)))
    os.makedirs(args.out, exist_ok=True)
    print("| medium | weights | u degree | vs cell problems (max error / max size) | on the data's range | "
          "worst coefficient |")
    print("|---|---|---|---|---|---|")
    for k, (name, (text, truth)) in enumerate(media().items()):
        d = os.path.join(args.out, f"m{k}")
        os.makedirs(d, exist_ok=True)
        data = os.path.join(d, "data.h5")
        if not os.path.exists(data):
            cfg = os.path.join(d, "sim.toml")
            open(cfg, "w").write(regression_only(text, "none"))
            subprocess.run([args.patchlearn, "simulate", cfg, "--out", d, "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
        for w in args.weights.split(","):
            cfg = os.path.join(d, w + ".toml")
            open(cfg, "w").write(regression_only(text, w, u_degree))
            out = os.path.join(d, w)
            log = subprocess.run([args.patchlearn, "train", cfg, "--data", data, "--out", out],
                                 check=True, capture_output=True, text=True).stdout
            lines = [ln for ln in log.splitlines() if "vs cell problems" in ln]
            line = lines[-1].split(":", 1)[1].split(" (max error")[0].strip() if lines else ""
            worst = ""
            summary = json.load(open(os.path.join(out, "summary.json")))
            reg = summary["regression"]
            tail = "_max_error_on_data"
            curves = summary.get("regression_effective", summary.get("regression_graded_effective", {}))
            on_data = ", ".join(f"{k[:-len(tail)]} {v:.2e}" for k, v in curves.items() if k.endswith(tail))
            if truth:
                c = reg["coefficients"]
                e, t = max((abs(c.get(t, 0.0) / v - 1), t) for t, v in truth.items())
                absent = max((abs(v) for t, v in c.items() if t not in truth), default=0.0)
                worst = f"{e:.2e} ({t}); absent terms {absent:.1e}"
            print(f"| {name} | {w} | {reg['u_degree']} | {line} | {on_data} | {worst} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
