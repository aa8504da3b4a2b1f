"""Concept probes on small synthetic features with a planted concept."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import SVC

from auforget.analysis.linear_probes import au_labels, compare_probes, probe_f1_scores


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def planted(rng):
    """60 images, 20 with the concept; the concept shifts feature 0 by 6 noise SDs (separable)."""
    y = np.zeros(60, dtype=int)
    y[:20] = 1
    rng.shuffle(y)
    X = rng.normal(size=(60, 20))
    X[:, 0] += 6.0 * y
    return X, y


@pytest.fixture
def noisy(rng):
    """40 images whose label is a noisy linear function: the SVM has support vectors inside the
    margin."""
    X = rng.normal(size=(40, 30))
    y = (X[:, 0] + X[:, 1] + rng.normal(size=40) > 0).astype(int)
    return X, y


def test_au_labels_presence_including_intensity_zero():
    column = ["1:2;14:0", "14:3", "5:1", "", float("nan"), "4:1;41:0", "12:2;14:1;25:0"]
    np.testing.assert_array_equal(au_labels(column, 14), [1, 1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(au_labels(column, 4), [0, 0, 0, 0, 0, 1, 0])


def test_probe_finds_planted_concept_and_not_shuffled(planted, rng):
    X, y = planted
    f1 = probe_f1_scores(X, y, seeds=8)
    assert f1.shape == (8,)
    assert f1.mean() > 0.95
    # Same features, labels permuted: the concept is gone. F1 of the present class for a
    # guess at prevalence 1/3 is about 1/3; the planted probe is far above that.
    shuffled = probe_f1_scores(X, rng.permutation(y), seeds=8)
    assert shuffled.mean() < 0.55


def test_kernel_route_equals_linear_svc_route(noisy):
    X, y = noisy
    fast = probe_f1_scores(X, y, seeds=6, C=1.0)
    ref = probe_f1_scores(X, y, seeds=6, C=1.0, route="linear")
    assert 0.3 < fast.mean() < 0.95  # not a trivial problem
    np.testing.assert_allclose(fast, ref, atol=1e-12)
    # scaled, offset features and a small C (soft margin) as well, with global standardisation
    Xs = 50.0 * X + 3.0
    fast = probe_f1_scores(Xs, y, seeds=4, C=0.01)
    ref = probe_f1_scores(Xs, y, seeds=4, C=0.01, route="linear")
    np.testing.assert_allclose(fast, ref, atol=1e-12)
    fast = probe_f1_scores(Xs, y, seeds=4, standardize=True, route="kernel")
    ref = probe_f1_scores(Xs, y, seeds=4, standardize=True, route="linear")
    np.testing.assert_allclose(fast, ref, atol=1e-12)


def test_matches_a_loop_written_out_with_sklearn(noisy):
    # The straightforward version of the paper's procedure, independent of probes.py internals.
    X, y = noisy
    seed, seeds = 7, 3
    expected = []
    for rep in range(seeds):
        skf = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed + rep)
        fold_f1 = [
            f1_score(
                y[te], SVC(kernel="linear", C=1.0).fit(X[tr], y[tr]).predict(X[te]), zero_division=0
            )
            for tr, te in skf.split(X, y)
        ]
        expected.append(np.mean(fold_f1))
    np.testing.assert_allclose(probe_f1_scores(X, y, seeds=seeds, seed=seed), expected, atol=1e-12)


def test_deterministic_by_seed(noisy):
    X, y = noisy
    a = probe_f1_scores(X, y, seeds=5, seed=3)
    np.testing.assert_array_equal(a, probe_f1_scores(X, y, seeds=5, seed=3))
    assert not np.array_equal(a, probe_f1_scores(X, y, seeds=5, seed=100))


def test_too_few_positives_is_a_clear_error(rng):
    X = rng.normal(size=(40, 5))
    y = np.zeros(40, dtype=int)
    y[3] = 1
    with pytest.raises(ValueError, match=r"AU14 present in 1 of 40 images .*needs >= 2 of each"):
        probe_f1_scores(X, y, seeds=2, concept="AU14")
    with pytest.raises(ValueError, match=r"present in 39 of 40 images \(absent in 1\)"):
        probe_f1_scores(X, 1 - y, seeds=2)


def test_mismatched_lengths_and_bad_labels(rng):
    X = rng.normal(size=(40, 5))
    y = np.tile([0, 1], 20)
    with pytest.raises(ValueError, match="40 rows but labels have 39"):
        probe_f1_scores(X, y[:39], seeds=2)
    with pytest.raises(ValueError, match="0/1"):
        probe_f1_scores(X, y * 2, seeds=2)
    with pytest.raises(ValueError, match="route"):
        probe_f1_scores(X, y, seeds=2, route="rbf")
    with pytest.raises(ValueError, match="features_b5 has 40 rows but features_bk has 39"):
        compare_probes(X, X[:39], y, seeds=2)


def test_compare_probes_pairs_folds_and_reports(planted, rng):
    X, y = planted
    forgot = rng.normal(size=X.shape)  # a model that lost the concept
    res = compare_probes(
        X, forgot, y, seeds=12, folds=2, C=1.0, seed=5, concept="AU14", names=("B5", "B0")
    )
    # same folds as probing each model alone with the same seed
    np.testing.assert_allclose(res.f1_b5, probe_f1_scores(X, y, seeds=12, seed=5), atol=1e-12)
    np.testing.assert_allclose(res.f1_bk, probe_f1_scores(forgot, y, seeds=12, seed=5), atol=1e-12)
    assert res.baseline_f1_b5.shape == (12,)  # min(seeds, 50)
    assert res.t < 0 and res.p < 1e-6  # the paper's sign: negative when B5 is better
    assert res.p_corrected > res.p and res.p_corrected < 0.05
    assert res.above_baseline() == (True, False)
    summary = res.summary()
    assert all(isinstance(v, float) for v in summary.values())
    assert summary["f1_b5_mean"] > 0.95 and summary["n_positive"] == 20.0
    text = res.conclusion()
    assert text.startswith("B5 encodes AU14 better than B0")
    assert "significant under the plain paired t-test" in text and "and under the corrected" in text
    assert "B5 is above the shuffled-label baseline" in text and "B0 is not" in text


def test_compare_identical_models_is_null(noisy):
    X, y = noisy
    res = compare_probes(X, X.copy(), y, seeds=4, baseline_seeds=2)
    np.testing.assert_array_equal(res.f1_b5, res.f1_bk)
    np.testing.assert_array_equal(res.baseline_f1_b5, res.baseline_f1_bk)
    assert (res.t, res.p, res.t_corrected, res.p_corrected) == (0.0, 1.0, 0.0, 1.0)
    assert res.baseline_f1_b5.shape == (2,)
    assert "equally well" in res.conclusion() and "not significant" in res.conclusion()
