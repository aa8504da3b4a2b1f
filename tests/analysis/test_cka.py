"""Debiased linear CKA against its definition, and its built-in frozen-block check."""

import numpy as np
import pytest

from auforget.analysis.cka import (
    MinibatchCKA,
    frozen_problems,
    hsic_u,
    hsic_u_direct,
    linear_cka,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_hsic_u_matches_the_u_statistic_definition(rng):
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 3))
    x[:, 0] += y[:, 0]  # some shared signal, so HSIC is not near 0
    k, l = x @ x.T, y @ y.T  # noqa: E741
    assert hsic_u(k, l) == pytest.approx(hsic_u_direct(k, l), rel=1e-10, abs=1e-12)
    assert hsic_u(k, k) == pytest.approx(hsic_u_direct(k, k), rel=1e-10)


def test_identical_features_give_exactly_one_and_rotation_does_not_matter(rng):
    x = rng.normal(size=(40, 12))
    assert linear_cka(x, x, batch_size=8) == pytest.approx(1.0, abs=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert linear_cka(x, 3.0 * x @ q, batch_size=8) == pytest.approx(1.0, abs=1e-9)


def test_unrelated_wide_features_are_near_zero_unlike_the_biased_estimator(rng):
    # 64 images, 2,000 features: the biased CKA of independent noise is far from 0
    x, y = rng.normal(size=(64, 2000)), rng.normal(size=(64, 2000))
    assert abs(linear_cka(x, y)) < 0.05
    xc, yc = x - x.mean(0), y - y.mean(0)
    biased = np.linalg.norm(xc.T @ yc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    )
    assert biased > 0.3


def test_minibatches_average_hsic_and_skip_tiny_batches(rng):
    x, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 4))
    acc = MinibatchCKA()
    acc.update(x[:6], y[:6])
    acc.update(x[6:9], y[6:9])  # 3 images: no unbiased HSIC
    assert acc.batches == 1 and acc.skipped == 1
    assert acc.value() == pytest.approx(linear_cka(x[:6], y[:6]))
    with pytest.raises(ValueError, match="same images"):
        acc.update(x[:5], y[:4])


def test_frozen_problems_names_a_shared_block_that_changed():
    values = {(2, 1): 1.0, (2, 2): 1.0 - 1e-12, (2, 3): 0.7, (1, 1): 0.98, (0, 1): 0.5}
    assert frozen_problems(values) == [(1, 1)]
