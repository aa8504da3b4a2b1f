"""Concept-probe speed: precomputed linear kernel vs SVC(kernel="linear") on raw rows.

Run by hand:
    python bench/bench_probes.py               # CK+-sized, small-profile features (256 dims)
    python bench/bench_probes.py --dim 25088   # paper-sized features (512*7*7)
    python bench/bench_probes.py --smoke       # seconds; exits 1 if the routes disagree

Synthetic features with a planted concept for two "models" (a strong and a weak encoding),
probed on the same folds: seeds x folds x 2 models fits per route, as in `compare_probes`
without its shuffled-label baseline (the full `compare_probes` is timed on its own line).
The reference route is run on the first --ref-seeds seeds and its time extrapolated to all
seeds when that is fewer; the output says so. Both routes are timed in this one process, so
the ratio is a same-machine comparison. `--json` writes the numbers to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from auforget.analysis.linear_probes import compare_probes, probe_f1_scores


def synthetic(
    n: int, dim: int, prevalence: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ReLU-like float32 activations of two "models". Like CNN features they are low-rank: a
    32-dimensional latent code, mixed into `dim` features, plus independent noise. The concept
    shifts one latent coordinate, by 3 SDs in the first model and 1.5 SDs in the second."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[: max(2, int(round(prevalence * n)))] = 1
    rng.shuffle(y)
    out = []
    for strength in (3.0, 1.5):
        latent = rng.normal(size=(n, 32))
        latent[:, 0] += strength * y
        mixing = rng.normal(size=(32, dim)) / np.sqrt(32)
        z = (latent @ mixing).astype(np.float32)
        z += rng.normal(size=(n, dim)).astype(np.float32)
        out.append(np.maximum(z, 0, out=z))
    return out[0], out[1], y


def linearsvc_scores(
    X: np.ndarray, y: np.ndarray, seeds: int, folds: int, C: float, seed: int
) -> np.ndarray:
    """Same folds with liblinear's LinearSVC (squared hinge, penalised intercept): for
    information only."""
    scores = []
    for rep in range(seeds):
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + rep)
        f1 = []
        for tr, te in skf.split(X, y):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                pred = LinearSVC(C=C, max_iter=20000).fit(X[tr], y[tr]).predict(X[te])
            tp = np.sum((pred == 1) & (y[te] == 1))
            f1.append(2 * tp / max(1, np.sum(pred == 1) + np.sum(y[te] == 1)))
        scores.append(np.mean(f1))
    return np.array(scores)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="images (CK+ in the paper: about 600)")
    ap.add_argument(
        "--dim", type=int, default=256, help="feature dimension (small profile 64*2*2; paper 25088)"
    )
    ap.add_argument("--seeds", type=int, default=500)
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument(
        "--prevalence", type=float, default=0.2, help="fraction of images with the concept"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--ref-seeds",
        type=int,
        default=None,
        help="seeds for the slow reference route (default: all "
        "when n*dim <= 600*1024, else 10), extrapolated to --seeds",
    )
    ap.add_argument(
        "--no-linearsvc", action="store_true", help="skip the LinearSVC information line"
    )
    ap.add_argument(
        "--smoke", action="store_true", help="tiny sizes for CI; exit 1 if the routes disagree"
    )
    ap.add_argument("--json", action="store_true", help="write results to bench/results/")
    args = ap.parse_args(argv)
    if args.smoke:
        args.n, args.dim, args.seeds = 80, 32, 20
    ref_seeds = args.ref_seeds or (args.seeds if args.n * args.dim <= 600 * 1024 else 10)
    ref_seeds = min(ref_seeds, args.seeds)

    xa, xb, y = synthetic(args.n, args.dim, args.prevalence, args.seed)
    common = dict(folds=args.folds, C=args.C, seed=args.seed)
    print(
        f"probe bench: n={args.n} dim={args.dim} positives={int(y.sum())} seeds={args.seeds} "
        f"folds={args.folds} C={args.C}; cpus={os.cpu_count()} "
        f"python={platform.python_version()} numpy={np.__version__}"
    )

    t0 = time.perf_counter()
    fast = [probe_f1_scores(x, y, seeds=args.seeds, **common) for x in (xa, xb)]
    t_fast = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref = [probe_f1_scores(x, y, seeds=ref_seeds, route="linear", **common) for x in (xa, xb)]
    t_ref_run = time.perf_counter() - t0
    t_ref = t_ref_run * args.seeds / ref_seeds

    diff = max(float(np.max(np.abs(f[:ref_seeds] - r))) for f, r in zip(fast, ref))
    extrap = (
        ""
        if ref_seeds == args.seeds
        else (
            f" (measured {t_ref_run:.2f} s on {ref_seeds} seeds, "
            f"extrapolated x{args.seeds / ref_seeds:g})"
        )
    )
    print(
        f"fast  (kernel = X X^T once, SVC precomputed): {t_fast:8.2f} s "
        f"for {args.seeds} seeds x {args.folds} folds x 2 models"
    )
    print(f"ref   (SVC(kernel='linear') on raw rows)     : {t_ref:8.2f} s{extrap}")
    print(f"ratio ref / fast: {t_ref / t_fast:.1f}x")
    print(f"mean F1: model A {fast[0].mean():.4f}, model B {fast[1].mean():.4f}")
    print(f"largest |fast - ref| per-seed mean F1 over {ref_seeds} seeds x 2 models: {diff:.3g}")

    t0 = time.perf_counter()
    res = compare_probes(
        xa, xb, y, seeds=args.seeds, **common, concept="the planted concept", names=("A", "B")
    )
    t_cmp = time.perf_counter() - t0
    print(
        f"compare_probes (fast, + {res.baseline_f1_b5.size}-seed shuffled baseline, tests): "
        f"{t_cmp:.2f} s"
    )
    print(f"  {res.conclusion()}")

    out = {
        "n": args.n,
        "dim": args.dim,
        "seeds": args.seeds,
        "folds": args.folds,
        "C": args.C,
        "positives": int(y.sum()),
        "fast_s": t_fast,
        "ref_s": t_ref,
        "ref_measured_s": t_ref_run,
        "ref_seeds": ref_seeds,
        "ratio": t_ref / t_fast,
        "max_abs_diff_f1": diff,
        "compare_probes_s": t_cmp,
        "cpus": os.cpu_count(),
    }
    if not args.no_linearsvc:
        lin = linearsvc_scores(xa, y, ref_seeds, args.folds, args.C, args.seed)
        ldiff = float(np.max(np.abs(lin - fast[0][:ref_seeds])))
        out["linearsvc_max_abs_diff_f1"] = ldiff
        print(
            f"info: LinearSVC (a different objective) vs SVC, model A, {ref_seeds} seeds: mean F1 "
            f"{lin.mean():.4f} vs {fast[0][:ref_seeds].mean():.4f}, "
            f"largest per-seed |diff| {ldiff:.3g}"
        )

    if args.json:
        path = (
            Path(__file__).parent
            / "results"
            / f"bench_probes-n{args.n}-d{args.dim}-s{args.seeds}.json"
        )
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(out, indent=2))
        print(f"wrote {path}")
    if diff > 1e-9:
        print("ROUTES DISAGREE", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
