#!/usr/bin/env python3
"""How well can patch data pin a random 1D medium's a*? (issue 17; README, "Random media").

The patches of a 1D random medium see pieces of it; each piece's rate carries its own harmonic
mean 1/<1/a>_piece. The realization's a* is the harmonic mean over all its cells. A linear
estimator from the pieces, sum_p w_p <1/a>_p / sum_p w_p, is exact for every medium only if the
weights make every cell count equally, sum over the pieces p holding cell c of w_p = const. This
script takes a patch geometry (cells, node spacing, patch width, translates, as in a config),
finds the best nonnegative least-squares weights by projected gradient, and draws independent
lognormal media (log a ~ N(0, sigma^2)) to measure the RMS relative error of a* from
  - equal weights (what learn.patch_scales' normalization does),
  - the least-squares weights,
  - the cells the patches see, each once (the bound no patch-level weighting reaches where the
    pieces overlap by part of their length).
Pure Python; a few seconds. The defaults are random1d.toml with 8 translates of 40-cell patches.

  python3 bench/cover_limit.py [--cells 1000] [--spacing 100] [--nodes 11] [--width 40]
                               [--translations 8] [--sigma 0.5] [--draws 2000] [--iterations 300]
"""
import argparse
import math
import random


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=1000, help="cells of the realization (L / eps)")
    p.add_argument("--spacing", type=int, default=100, help="cells between macro nodes")
    p.add_argument("--nodes", type=int, default=11, help="macro nodes (patches at the interior ones)")
    p.add_argument("--width", type=int, default=40, help="cells per patch (even)")
    p.add_argument("--translations", type=int, default=8)
    p.add_argument("--sigma", type=float, default=0.5)
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, default=300, help="of the least-squares weights' solver")
    a = p.parse_args()
    N = a.cells
    pieces = [[(a.spacing * i - a.width // 2 + (N * r) // a.translations + k) % N for k in range(a.width)]
              for r in range(a.translations) for i in range(1, a.nodes - 1)]
    seen = [0] * N
    for cs in pieces:
        for c in cs:
            seen[c] += 1
    covered = [c for c in range(N) if seen[c] > 0]
    print(f"{len(pieces)} pieces of {a.width} cells; cells seen {min(seen[c] for c in covered)} to {max(seen)} "
          f"times, {N - len(covered)} of {N} never")

    # Nonnegative least squares for the weights, every covered cell's total weight equal:
    # accelerated projected gradient (FISTA), step 1 / Lipschitz = width / (most pieces on a cell).
    P, L = len(pieces), a.width
    target = 1.0 / len(covered)
    step = L / max(seen)

    def cell_weights(v):
        r = [0.0] * N
        for q in range(P):
            for c in pieces[q]:
                r[c] += v[q] / L
        return r

    w = y = [1.0 / P] * P
    t = 1.0
    for _ in range(a.iterations):
        r = cell_weights(y)
        w_next = [max(0.0, y[q] - step * sum(r[c] - target for c in pieces[q]) / L) for q in range(P)]
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = [x + (t - 1) / t_next * (x - x0) for x, x0 in zip(w_next, w)]
        w, t = w_next, t_next
    r = cell_weights(w)
    spread = math.sqrt(sum((r[c] - target) ** 2 for c in covered) / len(covered)) / target
    print(f"least-squares weights leave each cell's weight within {100 * spread:.1f}% RMS of equal")

    rng = random.Random(a.seed)
    errors = {"equal weights": [], "least-squares weights": [], "the cells seen, once each": []}
    for _ in range(a.draws):
        inv = [math.exp(-rng.gauss(0.0, a.sigma)) for _ in range(N)]
        whole = sum(inv) / N  # 1 / a* of the realization
        means = [sum(inv[c] for c in cs) / L for cs in pieces]
        errors["equal weights"].append(sum(means) / P / whole - 1)
        errors["least-squares weights"].append(sum(x * y for x, y in zip(w, means)) / sum(w) / whole - 1)
        errors["the cells seen, once each"].append(sum(inv[c] for c in covered) / len(covered) / whole - 1)
    for name, e in errors.items():
        print(f"{name:>26}: a* to {100 * math.sqrt(sum(x * x for x in e) / len(e)):.3f}% RMS over {a.draws} media")


if __name__ == "__main__":
    main()
