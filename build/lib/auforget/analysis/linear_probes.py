"""Concept probes: does a model's last conv block still encode a facial action unit?

A probe is a linear SVM that detects one AU (present / absent) from the flattened features of
CK+ images (n_images x d; 512*7*7 in the paper's VGG16). Its skill is measured as in the
paper: stratified 2-fold cross-validation repeated over 500 seeds, F1 of the "AU present"
class on the test fold, averaged over the folds of each seed. Two models (FreezeB5, whose
conv blocks are the emotion model's, and a fine-tuned FreezeBk) are probed on the *same*
folds so their per-seed scores can be compared with a paired test (see `stats`).

The linear SVM is sklearn's `SVC(kernel="linear")` (libsvm: hinge loss, unpenalised
intercept). Fitting it on raw rows 2 x 500 x 2 times is slow for d = 25088, so the default
route computes the linear kernel K = X X^T once and fits `SVC(kernel="precomputed")` on
K[train, train]. libsvm sees exactly the same numbers either way (its linear kernel is the
dot product), so the two routes solve the same problem and agree up to floating-point
rounding; `route="linear"` is kept as the reference (bench/bench_probes.py compares them).
`LinearSVC` (liblinear: squared hinge, penalised intercept) is a different objective and is
not used.

Feature scaling: none by default, as the paper fits the SVM on raw activations. A
fold-specific StandardScaler would change K per fold and cost a full d-dimensional product
per fold, which is what the fast route avoids; `standardize=True` instead standardises every
feature once over all images (unsupervised and label-free, so no label leakage; the test
fold's feature statistics do enter the scaling). It is applied identically on both routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from auforget.analysis.stats import corrected_resampled_t, paired_t
from auforget.data.manifest import parse_aus

ROUTES = ("kernel", "linear")
BASELINE_SEEDS = 50


def au_labels(aus_column: Sequence[str], au: int) -> np.ndarray:
    """Manifest `aus` strings ("1:2;14:0") -> int array, 1 where `au` is coded.

    Presence is what counts: CK+ codes some AUs with intensity 0 (present, intensity not
    graded), so "14:0" is a positive. Empty or missing strings are negatives.
    """
    return np.array([int(au in parse_aus(text)) for text in aus_column], dtype=int)


def make_probe(C: float = 1.0) -> SVC:
    """The probe as an estimator on raw feature rows (the reference route)."""
    return SVC(kernel="linear", C=C)


def _check_inputs(
    features: np.ndarray, labels: np.ndarray, folds: int, concept: str, standardize: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return (float64 (n, d) features, int 0/1 labels)."""
    X = np.asarray(features)
    if X.ndim < 2:
        raise ValueError(
            "features must be (n_images, d) (or (n_images, C, H, W), flattened), got shape "
            f"{X.shape}"
        )
    X = X.reshape(X.shape[0], -1).astype(np.float64, copy=False)
    y = np.asarray(labels).reshape(-1)
    if X.shape[0] != y.size:
        raise ValueError(
            f"features have {X.shape[0]} rows but labels have {y.size} entries; they must be "
            "aligned by image"
        )
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(
            f"labels must be 0/1 (1 = {concept} present), got values {sorted(set(y.tolist()))[:5]}"
        )
    y = y.astype(int)
    if not np.isfinite(X).all():
        raise ValueError("features contain NaN or infinite values")
    pos = int(y.sum())
    neg = y.size - pos
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    if pos < folds or neg < folds:
        raise ValueError(
            f"{concept} present in {pos} of {y.size} images (absent in {neg}); "
            f"stratified {folds}-fold CV needs >= {folds} of each"
        )
    if standardize:
        sd = X.std(axis=0)
        X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return X, y


def _f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of class 1; 0 when there are neither true nor predicted positives (sklearn's
    zero_division=0)."""
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    denom = int(np.sum(y_true == 1) + np.sum(y_pred == 1))
    return 2.0 * tp / denom if denom else 0.0


def _fold_f1(
    data: np.ndarray, route: str, y: np.ndarray, train: np.ndarray, test: np.ndarray, C: float
) -> float:
    if route == "kernel":
        svm = SVC(kernel="precomputed", C=C).fit(data[np.ix_(train, train)], y[train])
        pred = svm.predict(data[np.ix_(test, train)])
    else:
        svm = make_probe(C).fit(data[train], y[train])
        pred = svm.predict(data[test])
    return _f1(y[test], pred)


def _cv_scores(
    datas: list[np.ndarray],
    route: str,
    y: np.ndarray,
    *,
    reps: int,
    folds: int,
    C: float,
    seed: int,
    shuffle: bool = False,
    progress: bool = False,
    desc: str = "probes",
) -> np.ndarray:
    """Per-repetition mean F1 for each entry of `datas` on shared folds: shape (len(datas), reps).

    Repetition r splits with StratifiedKFold(folds, shuffle=True, random_state=seed + r), so
    seed=0 gives random states 0..reps-1, as the paper's loop over seeds. With `shuffle`,
    each repetition first permutes the labels (np.random.default_rng(seed)), the same
    permutation for every model: the random-concept baseline.
    """
    out = np.zeros((len(datas), reps))
    rng = np.random.default_rng(seed)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=reps, desc=desc, leave=False)
    for r in range(reps):
        yr = rng.permutation(y) if shuffle else y
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        for train, test in skf.split(np.zeros((yr.size, 1)), yr):
            for m, data in enumerate(datas):
                out[m, r] += _fold_f1(data, route, yr, train, test, C)
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return out / folds


def _prepare(X: np.ndarray, route: str) -> np.ndarray:
    if route not in ROUTES:
        raise ValueError(f"route {route!r} is not one of {list(ROUTES)}")
    # float64 product so the kernel matches libsvm's own (double) dot products.
    return X @ X.T if route == "kernel" else X


def probe_f1_scores(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    seeds: int = 500,
    folds: int = 2,
    C: float = 1.0,
    seed: int = 0,
    route: str = "kernel",
    standardize: bool = False,
    concept: str = "the concept",
    progress: bool = False,
) -> np.ndarray:
    """Per-seed mean F1 of a linear-SVM probe, shape (seeds,).

    features: (n_images, d) (higher-dimensional arrays are flattened per image).
    labels: 0/1 per image, 1 = concept present (the positive class of F1).
    For each of `seeds` repetitions, stratified `folds`-fold CV with random_state seed + rep;
    the probe is fitted on each train fold and scored on its test fold.
    route: "kernel" (default, the precomputed linear kernel) or "linear" (SVC on raw rows,
    the slow reference); see the module docstring. Raises ValueError when either class has
    fewer than `folds` images.
    """
    X, y = _check_inputs(features, labels, folds, concept, standardize)
    data = _prepare(X, route)
    return _cv_scores([data], route, y, reps=seeds, folds=folds, C=C, seed=seed, progress=progress)[
        0
    ]


@dataclass(frozen=True, eq=False)
class ProbeComparison:
    """Two models' probes on the same folds, and the tests comparing them.

    f1_b5 / f1_bk: per-seed mean F1 (paired by seed). t, p: plain paired t-test (the paper's);
    t_corrected, p_corrected: Nadeau-Bengio corrected resampled t-test (J = seeds,
    n_train = n_test = n/2 for 2 folds). baseline_f1_*: the same probes on shuffled labels
    (a random concept with the same prevalence), per baseline seed. t < 0 means B5 is better
    (the paper's sign: the tests compare Bk - B5).
    """

    f1_b5: np.ndarray
    f1_bk: np.ndarray
    t: float
    p: float
    t_corrected: float
    p_corrected: float
    baseline_f1_b5: np.ndarray
    baseline_f1_bk: np.ndarray
    n_images: int
    n_positive: int
    folds: int
    concept: str = "the concept"
    names: tuple[str, str] = ("B5", "Bk")
    params: dict = field(default_factory=dict)

    def above_baseline(self) -> tuple[bool, bool]:
        """Whether each model's mean F1 exceeds the 95th percentile of its shuffled-label F1s."""
        return (
            bool(self.f1_b5.mean() > np.percentile(self.baseline_f1_b5, 95)),
            bool(self.f1_bk.mean() > np.percentile(self.baseline_f1_bk, 95)),
        )

    def summary(self) -> dict[str, float]:
        """Flat dict of floats for MLflow metrics."""
        above = self.above_baseline()
        return {
            "f1_b5_mean": float(self.f1_b5.mean()),
            "f1_b5_std": float(self.f1_b5.std(ddof=1)),
            "f1_bk_mean": float(self.f1_bk.mean()),
            "f1_bk_std": float(self.f1_bk.std(ddof=1)),
            "f1_diff_mean": float((self.f1_b5 - self.f1_bk).mean()),
            "t": float(self.t),
            "p": float(self.p),
            "t_corrected": float(self.t_corrected),
            "p_corrected": float(self.p_corrected),
            "baseline_f1_b5_mean": float(self.baseline_f1_b5.mean()),
            "baseline_f1_bk_mean": float(self.baseline_f1_bk.mean()),
            "baseline_f1_b5_p95": float(np.percentile(self.baseline_f1_b5, 95)),
            "baseline_f1_bk_p95": float(np.percentile(self.baseline_f1_bk, 95)),
            "above_baseline_b5": float(above[0]),
            "above_baseline_bk": float(above[1]),
            "seeds": float(self.f1_b5.size),
            "baseline_seeds": float(self.baseline_f1_b5.size),
            "folds": float(self.folds),
            "n_images": float(self.n_images),
            "n_positive": float(self.n_positive),
        }

    def conclusion(self, alpha: float = 0.05) -> str:
        """One paragraph saying which conclusions survive which test."""
        a, b = self.names
        ma, mb = float(self.f1_b5.mean()), float(self.f1_bk.mean())
        if ma > mb:
            claim = f"{a} encodes {self.concept} better than {b}"
        elif mb > ma:
            claim = f"{b} encodes {self.concept} better than {a}"
        else:
            claim = f"{a} and {b} encode {self.concept} equally well"
        plain = self.p < alpha
        corr = self.p_corrected < alpha
        tests = (
            f"the plain paired t-test (t={self.t:.2f}, {_fmt_p(self.p)})",
            f"the corrected resampled t-test (t={self.t_corrected:.2f}, "
            f"{_fmt_p(self.p_corrected)})",
        )
        if plain and corr:
            verdict = f"significant under {tests[0]} and under {tests[1]}"
        elif plain:
            verdict = f"significant under {tests[0]} but not under {tests[1]}"
        elif corr:
            verdict = f"significant under {tests[1]} but not under {tests[0]}"
        else:
            verdict = f"not significant under {tests[0]} nor under {tests[1]}"
        above = self.above_baseline()
        p95 = (np.percentile(self.baseline_f1_b5, 95), np.percentile(self.baseline_f1_bk, 95))
        base = f"shuffled-label baseline (95th percentile F1 {a} {p95[0]:.3f}, {b} {p95[1]:.3f})"
        if all(above):
            base_txt = f"both above the {base}"
        elif any(above):
            who, not_who = (a, b) if above[0] else (b, a)
            base_txt = f"{who} is above the {base} but {not_who} is not"
        else:
            base_txt = f"neither is above the {base}"
        return (
            f"{claim} (mean F1 {a} {ma:.3f} vs {b} {mb:.3f}, {self.f1_b5.size} seeds x "
            f"{self.folds} folds, {self.n_positive} of {self.n_images} images positive): "
            f"{verdict} at alpha={alpha}; {base_txt}."
        )


def _fmt_p(p: float) -> str:
    # a t-test p below the smallest double prints as 0; say what it means
    return "p<1e-300" if p < 1e-300 else f"p={p:.3g}"


# Over 50 lines only through its keyword signature and the result's named fields; the work is in
# _cv_scores and auforget.analysis.stats.
def compare_probes(
    features_b5: np.ndarray,
    features_bk: np.ndarray,
    labels: np.ndarray,
    *,
    seeds: int = 500,
    folds: int = 2,
    C: float = 1.0,
    seed: int = 0,
    route: str = "kernel",
    standardize: bool = False,
    baseline_seeds: int | None = None,
    concept: str = "the concept",
    names: tuple[str, str] = ("B5", "Bk"),
    progress: bool = False,
) -> ProbeComparison:
    """Probe two models' features for one concept on the same folds and compare them.

    Both feature arrays must have one row per image in the same order as `labels`. Every
    repetition's folds are shared by the two models, so the per-seed F1s are paired. The
    shuffled-label baseline uses min(seeds, 50) repetitions unless `baseline_seeds` is given.
    `concept` (e.g. "AU14") and `names` (e.g. ("B5", "B0")) only label the conclusion text.
    """
    if seeds < 2:
        raise ValueError(f"seeds must be at least 2 (a t-test needs two values), got {seeds}")
    na, nb = len(features_b5), len(features_bk)
    if na != nb:
        raise ValueError(
            f"features_b5 has {na} rows but features_bk has {nb}; both must hold the same images "
            "in the same order"
        )
    Xa, y = _check_inputs(features_b5, labels, folds, concept, standardize)
    Xb, _ = _check_inputs(features_bk, labels, folds, concept, standardize)
    datas = [_prepare(Xa, route), _prepare(Xb, route)]
    scores = _cv_scores(
        datas,
        route,
        y,
        reps=seeds,
        folds=folds,
        C=C,
        seed=seed,
        progress=progress,
        desc=f"probes {concept}",
    )
    n_base = min(seeds, BASELINE_SEEDS) if baseline_seeds is None else baseline_seeds
    if n_base < 1:
        raise ValueError(f"baseline_seeds must be at least 1, got {n_base}")
    base = _cv_scores(
        datas,
        route,
        y,
        reps=n_base,
        folds=folds,
        C=C,
        seed=seed,
        shuffle=True,
        progress=progress,
        desc="baseline",
    )
    # The paper's sign: t = t(Bk - B5), negative when FreezeB5's probe is better.
    t, p = paired_t(scores[1], scores[0])
    # Each fold trains on (folds-1)/folds of the images and tests on 1/folds.
    n = y.size
    n_test = n // folds
    tc, pc = corrected_resampled_t(scores[1], scores[0], n_train=n - n_test, n_test=n_test)
    return ProbeComparison(
        f1_b5=scores[0],
        f1_bk=scores[1],
        t=t,
        p=p,
        t_corrected=tc,
        p_corrected=pc,
        baseline_f1_b5=base[0],
        baseline_f1_bk=base[1],
        n_images=n,
        n_positive=int(y.sum()),
        folds=folds,
        concept=concept,
        names=tuple(names),
        params={
            "seeds": seeds,
            "folds": folds,
            "C": C,
            "seed": seed,
            "route": route,
            "standardize": standardize,
        },
    )
