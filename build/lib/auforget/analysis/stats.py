"""Statistical tests of the study: McNemar for forgetting, paired t-tests for the probes.

Forgetting (does FreezeBk still recognise emotions as well as the original model?) is a
comparison of two classifiers on the *same* test images, so it is McNemar's test on the
discordant pairs. Several k are tested against one reference, so the p-values get a
Holm-Bonferroni correction.

The concept probes give one F1 per cross-validation repetition for each model, on the same
folds; the paper compares them with a plain paired t-test. Repetitions of cross-validation
on one data set share most of their training data, so their scores are positively
correlated and the plain test is far too confident (its p-value shrinks with the number of
seeds whatever the effect). `corrected_resampled_t` is the Nadeau & Bengio (2003) correction
for that, reported beside the paper's test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of two classifiers A and B on the same samples.

    n01: samples A gets wrong and B gets right.
    n10: samples A gets right and B gets wrong.
    statistic: min(n01, n10) for the exact test; the continuity-corrected chi-square otherwise.
    pvalue: two-sided.
    method: "exact" (binomial on the n01 + n10 discordant pairs) or "chi2".
    """

    n01: int
    n10: int
    statistic: float
    pvalue: float
    method: str

    @property
    def discordant(self) -> int:
        return self.n01 + self.n10


def _as_correct(name: str, values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be one-dimensional (one entry per sample), got shape {arr.shape}"
        )
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} must hold booleans or 0/1 (is each prediction correct?), got other values"
            )
        arr = arr.astype(bool)
    return arr


def mcnemar(correct_a: ArrayLike, correct_b: ArrayLike, exact_below: int = 25) -> McNemarResult:
    """McNemar's test on per-sample correctness of two classifiers on the same samples.

    `correct_a[i]` / `correct_b[i]` say whether A / B classified sample i correctly; the
    two arrays must be aligned by sample. Only the discordant pairs matter:
    n01 (A wrong, B right) and n10 (A right, B wrong).

    With fewer than `exact_below` discordant pairs the exact binomial test is used
    (n01 ~ Binomial(n01 + n10, 1/2) under H0, two-sided p = min(1, 2 P[X <= min(n01, n10)])),
    because the chi-square approximation is poor for small counts (the usual rule of thumb is
    25). Otherwise the chi-square statistic with Edwards' continuity correction,
    (|n01 - n10| - 1)^2 / (n01 + n10) on 1 degree of freedom, which tracks the exact test
    more closely than the uncorrected statistic. No discordant pairs gives p = 1.
    """
    a = _as_correct("correct_a", correct_a)
    b = _as_correct("correct_b", correct_b)
    if a.shape != b.shape:
        raise ValueError(
            f"correct_a and correct_b must be aligned by sample: correct_a has {a.size} entries, "
            f"correct_b has {b.size}"
        )
    n00 = int(np.sum(~a & ~b))
    n01 = int(np.sum(~a & b))
    n10 = int(np.sum(a & ~b))
    n11 = int(np.sum(a & b))
    exact = n01 + n10 < exact_below
    method = "exact" if exact else "chi2"
    if n01 + n10 == 0:
        return McNemarResult(n01, n10, 0.0, 1.0, method)
    # statsmodels reads the off-diagonal cells table[0,1] and table[1,0]: rows = A, columns = B
    # (index 0 = wrong, 1 = right), so table[0,1] = A wrong & B right = n01.
    table = np.array([[n00, n01], [n10, n11]])
    res = _sm_mcnemar(table, exact=exact, correction=True)
    return McNemarResult(n01, n10, float(res.statistic), float(min(1.0, res.pvalue)), method)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order.

    NaN entries (tests that could not be run) stay NaN and do not count towards the number
    of tests. Adjusted values are capped at 1.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = _holm(p[ok])
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """statsmodels' `multipletests(p, method="holm")[1]`, the same operations in the same order
    (sorted p times m, m-1, ..., 1, running maximum, capped at 1), without the full garbage
    collection it runs on every call: about 0.8 s each in a process that holds torch and MLflow,
    some 20 s of a forgetting run's 26 corrections (a 2-core AMD EPYC, 2026-11-25)."""
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(np.take(p, order) * np.arange(p.size, 0, -1))
    adjusted[adjusted > 1] = 1
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _paired_diffs(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    a = np.asarray(a, dtype=float).reshape(-1)
    b = np.asarray(b, dtype=float).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"paired scores must have equal lengths: a has {a.size}, b has {b.size}")
    if a.size < 2:
        raise ValueError(f"a paired t-test needs at least 2 pairs, got {a.size}")
    return a - b


def paired_t(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Paired t-test of a against b (scipy.stats.ttest_rel): (t, two-sided p); t > 0 when a > b.

    When every pair differs by exactly the same amount the t statistic is undefined; scipy
    would give NaN for a zero difference. Identical inputs return (0.0, 1.0).
    """
    d = _paired_diffs(a, b)
    if np.all(d == 0):
        return 0.0, 1.0
    res = sps.ttest_rel(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(res.statistic), float(res.pvalue)


def corrected_resampled_t(
    a: ArrayLike, b: ArrayLike, n_train: int, n_test: int
) -> tuple[float, float]:
    """Nadeau & Bengio (2003) corrected resampled t-test: (t, two-sided p); t > 0 when a > b.

    a, b are the scores of two models on J train/test resamplings of one data set (paired by
    resampling). With d the J differences, mean m and sample variance s^2,

        t = m / sqrt((1/J + n_test/n_train) * s^2),   df = J - 1.

    The plain paired t uses 1/J alone; the n_test/n_train term accounts for the correlation
    between resamplings that share training data.

    How the probes use it: one score per seed = the mean F1 over that seed's 2 folds, so
    J = seeds and n_train = n_test = n/2 (each fold trains on half the images). The factor is
    then 1/J + 1, i.e. the whole 500-seed experiment counts for about one split: t_corrected
    is about t_plain / sqrt(J + 1). (Bouckaert & Frank's repeated-k-fold variant would use all
    2 x seeds fold scores with J = 2 x seeds; the factor is the same.) Zero differences give
    (0.0, 1.0).
    """
    if n_train <= 0 or n_test <= 0:
        raise ValueError(
            f"n_train and n_test must be positive, got n_train={n_train}, n_test={n_test}"
        )
    d = _paired_diffs(a, b)
    if np.all(d == 0):
        return 0.0, 1.0
    j = d.size
    var = d.var(ddof=1)
    m = d.mean()
    if var == 0:
        t = float(np.sign(m) * np.inf)
    else:
        t = float(m / np.sqrt((1.0 / j + n_test / n_train) * var))
    p = float(2 * sps.t.sf(abs(t), df=j - 1))
    return t, p


def mcnemar_table(
    pairs: Mapping[str, tuple[ArrayLike, ArrayLike]], *, alpha: float = 0.05, exact_below: int = 25
) -> pd.DataFrame:
    """McNemar for several comparisons at once, Holm-corrected across them.

    `pairs` maps a comparison name (e.g. "FreezeB0 vs FreezeB5") to (correct_a, correct_b).
    Returns one row per comparison with columns comparison, n01, n10, statistic, pvalue,
    method, pvalue_holm, significant (pvalue_holm < alpha), in the order given.
    """
    rows = []
    for name, (ca, cb) in pairs.items():
        r = mcnemar(ca, cb, exact_below=exact_below)
        rows.append(
            {
                "comparison": name,
                "n01": r.n01,
                "n10": r.n10,
                "statistic": r.statistic,
                "pvalue": r.pvalue,
                "method": r.method,
            }
        )
    df = pd.DataFrame(rows, columns=["comparison", "n01", "n10", "statistic", "pvalue", "method"])
    df["pvalue_holm"] = holm(df["pvalue"].to_numpy()) if len(df) else np.array([], dtype=float)
    df["significant"] = df["pvalue_holm"] < alpha
    return df


# ---- across training seeds ------------------------------------------------------------------
# One network per recipe answers "do these two networks differ on these images"; a finding about
# a training recipe must also hold across training runs. Each seed gives a difference (a recall,
# an F1) and a test of it on that seed's test images; the across-seed summaries below combine them.


@dataclass(frozen=True)
class SeedInterval:
    """Mean of one quantity over S training seeds with a two-sided t interval.

    low/high: mean -/+ t_{1-a/2, S-1} * sd / sqrt(S) (sd with S-1 degrees of freedom); NaN when
    S < 2, since one seed says nothing about training randomness.
    """

    mean: float
    low: float
    high: float
    n: int

    @property
    def available(self) -> bool:
        return self.n >= 2 and np.isfinite(self.low)


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> SeedInterval:
    """The t interval of the mean of per-seed values (NaN entries dropped)."""
    x = np.asarray(values, dtype=float).reshape(-1)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return SeedInterval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(x.mean())
    if x.size < 2:
        return SeedInterval(mean, float("nan"), float("nan"), int(x.size))
    half = float(sps.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return SeedInterval(mean, mean - half, mean + half, int(x.size))


def others_mean(values: ArrayLike) -> np.ndarray:
    """Row i: the mean of every other row (NaN rows left out), e.g. the other emotions' recall drop.

    Forgetting that every emotion shares cancels in `values - others_mean(values)`, which leaves
    what is specific to one emotion; an emotion without a recall (NaN) does not blank the
    others'."""
    x = np.asarray(values, dtype=float)
    return np.array([np.nanmean(np.delete(x, i, axis=0), axis=0) for i in range(len(x))])


def stouffer(pvalues: Sequence[float], signs: Sequence[float]) -> float:
    """Two-sided p of the signed Stouffer combination of per-seed two-sided p-values.

    Seed s's test turns into z_s = sign_s * Phi^-1(1 - p_s / 2) (sign_s > 0 when the difference
    points one way, < 0 the other, 0 when there is none); Z = sum z_s / sqrt(S) is standard
    normal when no seed's networks differ, and p = 2 (1 - Phi(|Z|)). Unlike Fisher's method,
    seeds that disagree in direction cancel, so a recipe difference must point the same way
    across training runs to reach a small p. NaN p-values (tests that could not run) are left
    out; none left gives NaN.
    """
    p = np.asarray(pvalues, dtype=float).reshape(-1)
    s = np.sign(np.asarray(signs, dtype=float).reshape(-1))
    if p.shape != s.shape:
        raise ValueError(f"one sign per p-value: {p.size} p-values, {s.size} signs")
    ok = ~np.isnan(p)
    if not ok.any():
        return float("nan")
    z = s[ok] * sps.norm.isf(np.clip(p[ok], 1e-300, 1.0) / 2)
    return float(min(1.0, 2 * sps.norm.sf(abs(z.sum()) / np.sqrt(ok.sum()))))


def top_share(rankings: Sequence[Sequence[str]]) -> dict[str, float]:
    """How often each item ranks first, as a share of the rankings (one ranking per seed)."""
    firsts = [r[0] for r in rankings if len(r)]
    if not firsts:
        return {}
    return {item: firsts.count(item) / len(firsts) for item in dict.fromkeys(firsts)}
