"""Does a seeded stochastic SVM change the probe's numbers? Exact SVM vs SGD hinge loss, same folds.

The paper's probe seeds vary the folds and, in its wording, the classifier's initialisation.
auforget's probe is the exact linear SVM (libsvm on a precomputed linear kernel), which has no
initialisation: its objective, 1/2 |w|^2 + C sum hinge, is strictly convex in w, so every solver
that converges, from any start, lands on the same w. A seed can only change a stochastic
solver's path, i.e. add optimisation noise on top of the fold noise. This measures that noise:
per seed, the exact route and `SGDClassifier(loss="hinge", alpha=1/(C n_train),
random_state=seed)` (the same objective, scaled) on the same folds; printed: mean F1 of each,
the spread over seeds, the per-seed F1 difference and the share of test predictions that agree.

    python bench/bench_probe_seeds.py [--n 600] [--dim 2048] [--seeds 100] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC


def planted(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ReLU-like non-negative features; the concept (30 % of images) lifts 5 % of the dimensions."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = np.maximum(rng.normal(0.0, 1.0, (n, dim)), 0.0)
    X[:, : dim // 20] += 0.35 * y[:, None]
    return X, y


def f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = int(np.sum((y == 1) & (pred == 1)))
    denom = int(np.sum(y == 1) + np.sum(pred == 1))
    return 2.0 * tp / denom if denom else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=600, help="images (CK+ peaks: about 600)")
    ap.add_argument("--dim", type=int, default=2048, help="feature dimension (paper: 25088)")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.n, args.dim, args.seeds = 120, 64, 4
    X, y = planted(args.n, args.dim)
    K = X @ X.T
    exact, sgd, agree = np.zeros(args.seeds), np.zeros(args.seeds), []
    t_exact = t_sgd = 0.0
    for r in range(args.seeds):
        for train, test in StratifiedKFold(2, shuffle=True, random_state=r).split(X, y):
            start = time.perf_counter()
            p_exact = (
                SVC(kernel="precomputed", C=args.C)
                .fit(K[np.ix_(train, train)], y[train])
                .predict(K[np.ix_(test, train)])
            )
            t_exact += time.perf_counter() - start
            start = time.perf_counter()
            model = SGDClassifier(
                loss="hinge",
                alpha=1.0 / (args.C * len(train)),
                max_iter=2000,
                tol=1e-6,
                random_state=r,
            ).fit(X[train], y[train])
            p_sgd = model.predict(X[test])
            t_sgd += time.perf_counter() - start
            exact[r] += f1(y[test], p_exact) / 2
            sgd[r] += f1(y[test], p_sgd) / 2
            agree.append(float(np.mean(p_exact == p_sgd)))
    diff = sgd - exact
    result = {
        "n": args.n,
        "dim": args.dim,
        "seeds": args.seeds,
        "f1_exact_mean": round(float(exact.mean()), 4),
        "f1_sgd_mean": round(float(sgd.mean()), 4),
        "f1_exact_sd_over_seeds": round(float(exact.std(ddof=1)), 4) if args.seeds > 1 else 0.0,
        "f1_sgd_sd_over_seeds": round(float(sgd.std(ddof=1)), 4) if args.seeds > 1 else 0.0,
        "per_seed_abs_diff_mean": round(float(np.abs(diff).mean()), 4),
        "per_seed_abs_diff_max": round(float(np.abs(diff).max()), 4),
        "prediction_agreement": round(float(np.mean(agree)), 4),
        "seconds_exact": round(t_exact, 2),
        "seconds_sgd": round(t_sgd, 2),
    }
    print(f"{args.seeds} seeds x 2 folds, {args.n} images x {args.dim} dims, C={args.C}")
    print(
        f"mean F1: exact {result['f1_exact_mean']}, seeded SGD {result['f1_sgd_mean']}; "
        "spread over seeds (sd): "
        f"exact {result['f1_exact_sd_over_seeds']}, SGD {result['f1_sgd_sd_over_seeds']}"
    )
    print(
        f"per-seed |F1 difference|: mean {result['per_seed_abs_diff_mean']}, "
        f"max {result['per_seed_abs_diff_max']}; "
        f"test predictions agreeing: {100 * result['prediction_agreement']:.1f} %; "
        f"time: SGD {t_sgd / max(t_exact, 1e-9):.1f}x the exact route"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
