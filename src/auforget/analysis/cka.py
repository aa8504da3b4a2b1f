"""Debiased linear CKA: how similar two networks' representations of the same images are.

Why CKA: it compares two layers' activations on the same images up to rotation and isotropic
scaling, so it says how much a block changed in what it computes, not in its weights. Why the
debiased form: the plain (biased) HSIC estimator gives CKA near 1 to unrelated wide features
when images are few against the feature dimension; the unbiased HSIC (Song et al. 2012) does not.
Why minibatches: the Gram matrices of a whole test split do not need to be held at once;
Nguyen, Raghu & Kornblith (2021) average the unbiased HSIC over minibatches of the same images
for both networks, and take

    CKA = mean_b HSIC_1(K_b, L_b) / sqrt(mean_b HSIC_1(K_b, K_b) * mean_b HSIC_1(L_b, L_b)),

K_b = X_b X_b^T and L_b = Y_b Y_b^T the linear Gram matrices of minibatch b (n images, n >= 4),
and, with K~, L~ the Gram matrices with their diagonals set to zero,

    HSIC_1(K, L) = [tr(K~ L~) + (1'K~1)(1'L~1) / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)).

Everything is in float64: the numerator and denominator of identical features must cancel to
1.0 within rounding, which is the check that frozen blocks really stayed frozen.
`hsic_u_direct` is the U-statistic definition the formula above reduces to, for the tests.
"""

from __future__ import annotations

import itertools

import numpy as np

FROZEN_TOLERANCE = 1e-6  # |CKA - 1| allowed for a block both networks share


def _gram(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x @ x.T


def hsic_u(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741 (the paper's names)
    """Unbiased HSIC estimator of two n x n Gram matrices (n >= 4), Song et al. (2012)."""
    n = k.shape[0]
    if n < 4 or k.shape != (n, n) or l.shape != (n, n):
        raise ValueError(
            f"hsic_u needs two n x n Gram matrices with n >= 4, got {k.shape}, {l.shape}"
        )
    k = np.array(k, dtype=np.float64)
    l = np.array(l, dtype=np.float64)  # noqa: E741
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k, ones_l = k.sum(axis=0), l.sum(axis=0)  # 1'K~ and 1'L~ (symmetric matrices)
    trace = float(np.sum(k * l))  # tr(K~ L~) for symmetric matrices
    return (
        trace + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_k @ ones_l
    ) / (n * (n - 3))


def hsic_u_direct(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741
    """The same estimator from its definition, a U-statistic over ordered 4-tuples of distinct
    images: mean of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq. O(n^4): for tests on a few images."""
    n = k.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2.0 * k[i, j] * l[i, q]
        count += 1
    return total / count


class MinibatchCKA:
    """Debiased linear CKA accumulated over minibatches of the same images for both networks.

    `update(x, y)` takes one minibatch's features of network A and B (rows = the same images,
    any trailing shape, flattened); `value()` gives CKA. Batches of fewer than 4 images carry no
    unbiased HSIC and are skipped (counted in `skipped`)."""

    def __init__(self) -> None:
        self.xy = self.xx = self.yy = 0.0
        self.batches = 0
        self.skipped = 0

    def update(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) != len(y):
            raise ValueError(f"CKA needs the same images for both networks: {len(x)} != {len(y)}")
        if len(x) < 4:
            self.skipped += 1
            return
        k, l = _gram(x), _gram(y)  # noqa: E741
        self.xy += hsic_u(k, l)
        self.xx += hsic_u(k, k)
        self.yy += hsic_u(l, l)
        self.batches += 1

    def value(self) -> float:
        """CKA; NaN without a usable batch or when either network's features carry no variance."""
        if not self.batches:
            return float("nan")
        denom = self.xx * self.yy
        if not denom > 0:
            return float("nan")
        return float(self.xy / np.sqrt(denom))


def linear_cka(x: np.ndarray, y: np.ndarray, batch_size: int = 0) -> float:
    """Debiased linear CKA of two feature arrays over the same images, in minibatches of
    `batch_size` rows in order (0: one batch of all rows)."""
    n = len(x)
    step = batch_size or n
    acc = MinibatchCKA()
    for start in range(0, n, step):
        acc.update(x[start : start + step], y[start : start + step])
    return acc.value()


def frozen_problems(values: dict[tuple[int, int], float], tolerance: float = FROZEN_TOLERANCE):
    """The (k, block) pairs, block <= k (1-based blocks, FreezeBk froze blocks 1..k), whose CKA is
    not 1.0 within `tolerance`: a block that should be shared and is not."""
    return sorted(
        (k, j)
        for (k, j), v in values.items()
        if j <= k and not (np.isfinite(v) and abs(v - 1.0) <= tolerance)
    )
