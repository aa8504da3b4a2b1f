"""Subspaces to erase from a network's channels: one AU's, and random ones of the same weight.

The instrument controls erase a concept the way LEACE and amnesic probing do, in closed form, as
an intervention: an orthogonal projection I - U U^T over the channels of one block's output
(nn/lesion.py folds it into the next convolution). Here are the numbers that choose U.

AU directions (`au_directions`): difference vectors (face showing the AU minus the same face at
rest), one per feature-map position inside the AU's region. Directions the AUs sharing that
region use are projected out first (AU12 and AU15 share the mouth corners with AU14), so the
lesion removes what is specific to the AU; U is then the top-r right singular vectors of what is
left, r the least rank that holds `energy` of its squared norm (or a fixed rank).

Random directions (`matched_random_subspace`): a sham of the same rank that removes the same
activation variance as U (within a tolerance). A uniformly random subspace removes r/C of the
variance on average, which need not match U's; the draw is tilted: Q = orth(S^(b/2) G) with S the
activations' covariance and G a Gaussian C x r draw, and b found by bisection so that
tr(Q^T S Q) hits the target. b = 0 is a uniform draw; b > 0 leans toward high-variance
directions, b < 0 toward low-variance ones. G is drawn afresh per draw, so each sham is another
random subspace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_ENERGY = 0.9


@dataclass(frozen=True)
class Directions:
    """U (C x r, orthonormal columns) and what it holds.

    energy: share of the (shared-directions-removed) difference energy U holds; raw_energy: share
    of the raw difference energy; shared: the directions projected out first (C x s).

    A lesion that is not a projection (controls.lesion unlearn) is described by the principal
    directions of what it changes at the last block's output: U holds `energy` of that change's
    variance, raw_energy is the share of the AU's difference energy it erased on the fit pairs,
    and `variance` is the change's variance, which its sham must remove (a projection's is
    removed_variance(U, cov), and `variance` is None)."""

    U: np.ndarray
    energy: float
    raw_energy: float
    shared: np.ndarray
    variance: float | None = None

    @property
    def rank(self) -> int:
        return int(self.U.shape[1])


def top_directions(
    vectors: np.ndarray, *, energy: float = DEFAULT_ENERGY, rank: int = 0
) -> tuple[np.ndarray, float]:
    """Right singular vectors of `vectors` (n x C): the first `rank` of them, or (rank 0) the
    fewest that hold `energy` of the squared norm. Returns (C x r, share held)."""
    X = np.asarray(vectors, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"difference vectors must be a non-empty (n, C) array, got {X.shape}")
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    power = s**2
    total = power.sum()
    if total <= 0:
        raise ValueError("the difference vectors are all zero: the AU does not reach this block")
    cumulative = np.cumsum(power) / total
    if rank:
        if not 1 <= rank <= vt.shape[0]:
            raise ValueError(f"rank must be in 1..{vt.shape[0]}, got {rank}")
        r = rank
    else:
        r = int(np.searchsorted(cumulative, energy - 1e-12) + 1)
    return vt[:r].T.copy(), float(cumulative[r - 1])


def projector(U: np.ndarray) -> np.ndarray:
    """I - U U^T (C x C): removes the span of U's orthonormal columns."""
    return np.eye(U.shape[0]) - U @ U.T


def au_directions(
    target: np.ndarray,
    shared: list[np.ndarray],
    *,
    energy: float = DEFAULT_ENERGY,
    rank: int = 0,
    shared_energy: float = DEFAULT_ENERGY,
) -> Directions:
    """U for one AU: `target` (n x C) its difference vectors inside its region, `shared` the
    difference vectors of each AU sharing the region. Each sharing AU's top directions (holding
    `energy` of its energy) are projected out of the target's vectors before U is chosen, so U is
    orthogonal to them."""
    X = np.asarray(target, dtype=np.float64)
    blocks = [_shared_directions(v, shared_energy) for v in shared if len(v)]
    C = X.shape[1]
    if blocks:
        V = _orthonormal(np.concatenate(blocks, axis=1))
    else:
        V = np.zeros((C, 0))
    if V.shape[1] >= C:
        raise ValueError(
            "the protected AUs' directions span every channel: nothing specific to the AU is left"
        )
    # Choose U inside the complement of span(V), in a basis of it, so U is orthogonal to V exactly
    # (an SVD of X(I - VV^T) would pad a low-rank residual with arbitrary directions).
    full, _ = np.linalg.qr(np.concatenate([V, np.eye(C)], axis=1))
    B = full[:, V.shape[1] : C]
    W, held = top_directions(X @ B, energy=energy, rank=rank)
    U = B @ W
    raw = float(np.linalg.norm(X @ U) ** 2 / np.linalg.norm(X) ** 2)
    return Directions(U, held, raw, V)


def _shared_directions(vectors: np.ndarray, energy: float) -> np.ndarray:
    """A sharing AU's directions: its top directions holding `energy` of its difference energy, or
    (energy 0) its mean difference alone, the one direction LEACE would erase for it."""
    if energy == 0:
        mean = np.asarray(vectors, dtype=np.float64).mean(axis=0)
        return (mean / np.linalg.norm(mean))[:, None]
    return top_directions(vectors, energy=energy)[0]


def _orthonormal(A: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """An orthonormal basis of A's column space (columns beyond its numerical rank dropped)."""
    u, s, _ = np.linalg.svd(A, full_matrices=False)
    return u[:, s > tol * max(1.0, s.max(initial=0.0))]


def lesion_variance(directions: Directions, cov: np.ndarray) -> float:
    """The activation variance a lesion removes or changes: what its sham must remove."""
    if directions.variance is not None:
        return directions.variance
    return removed_variance(directions.U, cov)


def removed_variance(U: np.ndarray, cov: np.ndarray) -> float:
    """tr(U^T S U): the activation variance a projection off span(U) removes."""
    return float(np.trace(U.T @ cov @ U))


def matched_random_subspace(
    cov: np.ndarray,
    rank: int,
    target: float,
    rng: np.random.Generator,
    *,
    tolerance: float = 0.1,
    steps: int = 60,
) -> np.ndarray:
    """A random C x `rank` orthonormal basis removing `target` variance of covariance `cov` within
    `tolerance` (relative); see the module docstring for the tilted draw. A ValueError when no
    tilt in [-8, 8] comes within the tolerance (the target lies outside what `rank` directions can
    remove)."""
    S = np.asarray(cov, dtype=np.float64)
    lam, E = np.linalg.eigh((S + S.T) / 2)
    lam = np.clip(lam, lam.max() * 1e-9, None) / lam.max()
    G = rng.standard_normal((S.shape[0], rank))

    def basis(b: float) -> np.ndarray:
        Q, _ = np.linalg.qr(E @ (lam[:, None] ** (b / 2) * (E.T @ G)))
        return Q

    def gap(b: float) -> float:
        return removed_variance(basis(b), S) - target

    lo, hi = -8.0, 8.0
    if gap(hi) <= 0 or gap(lo) >= 0:  # at or beyond the reach of any tilt: its nearest end
        Q = basis(hi if gap(hi) <= 0 else lo)
    else:
        for _ in range(steps):
            mid = (lo + hi) / 2
            if gap(mid) < 0:
                lo = mid
            else:
                hi = mid
            if abs(gap(mid)) <= 0.01 * tolerance * abs(target):
                break
        Q = basis((lo + hi) / 2)
    achieved = removed_variance(Q, S)
    if abs(achieved - target) > tolerance * abs(target):
        raise ValueError(
            f"no random rank-{rank} subspace removes variance {target:.4g} within "
            f"{tolerance:.0%}: the nearest tilted draw removes {achieved:.4g}"
        )
    return Q


def sensitivity_change(before: dict[int, float], after: dict[int, float]) -> dict[int, float]:
    """Per AU, the relative change of a sensitivity: after / before - 1 (-0.6 = cut by 60 %)."""
    return {au: after[au] / before[au] - 1.0 for au in before}
