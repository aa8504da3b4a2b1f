"""The subspaces the instrument controls erase: energy held, orthogonality to the AUs sharing the
region, and the random sham's rank and variance (written out against direct computations)."""

from __future__ import annotations

import numpy as np
import pytest

from auforget.analysis import erasure


def _vectors(rng, n, basis, scales):
    return (rng.standard_normal((n, len(scales))) * scales) @ basis.T


def test_top_directions_hold_the_asked_energy_with_the_fewest_directions():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    X = _vectors(rng, 400, basis, np.array([5.0, 3.0, 1.0, 0.3] + [0.05] * 8))
    U, held = erasure.top_directions(X, energy=0.9)
    s = np.linalg.svd(X, compute_uv=False) ** 2
    share = np.cumsum(s) / s.sum()
    r = int(np.argmax(share >= 0.9)) + 1
    assert U.shape == (12, r) and held == pytest.approx(share[r - 1])
    assert held >= 0.9 and (r == 1 or share[r - 2] < 0.9)
    assert np.allclose(U.T @ U, np.eye(r))


def test_au_directions_are_orthogonal_to_the_sharing_aus_and_hold_90_percent_of_what_is_left():
    rng = np.random.default_rng(1)
    C = 16
    basis, _ = np.linalg.qr(rng.standard_normal((C, C)))
    target = _vectors(rng, 300, basis[:, :4], np.array([4.0, 2.0, 1.0, 0.5]))
    shared = [_vectors(rng, 200, basis[:, [0, 5]], np.array([3.0, 1.0]))]
    d = erasure.au_directions(target, shared, energy=0.9)
    assert np.abs(d.shared.T @ d.U).max() < 1e-10
    assert np.allclose(d.U.T @ d.U, np.eye(d.rank))
    residual = target @ erasure.projector(d.shared)
    held = np.linalg.norm(residual @ d.U) ** 2 / np.linalg.norm(residual) ** 2
    assert held == pytest.approx(d.energy) and d.energy >= 0.9
    # the shared direction basis[:, 0] carries the target's largest part; U must not contain it
    assert abs(basis[:, 0] @ d.U).max() < 1e-8
    fixed = erasure.au_directions(target, shared, rank=1)
    assert fixed.rank == 1


def test_the_random_sham_has_the_rank_and_removes_the_variance_within_tolerance():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((500, 20)) * np.linspace(3, 0.1, 20)
    cov = np.cov(A, rowvar=False)
    U = np.linalg.eigh(cov)[1][:, -3:]  # the three strongest directions: far from a uniform draw
    target = erasure.removed_variance(U, cov)
    draws = [
        erasure.matched_random_subspace(cov, 3, target, np.random.default_rng([0, d]))
        for d in range(3)
    ]
    for Q in draws:
        assert Q.shape == (20, 3) and np.allclose(Q.T @ Q, np.eye(3))
        assert abs(np.trace(Q.T @ cov @ Q) / target - 1) <= 0.1
    assert not np.allclose(draws[0], draws[1])  # drawn afresh per draw
    with pytest.raises(ValueError, match="no random rank-3 subspace"):
        erasure.matched_random_subspace(cov, 3, 10 * np.trace(cov), np.random.default_rng(0))
