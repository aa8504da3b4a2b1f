"""Findings with no verdict: logit-scale excess, its MDE, and the per-image mixed logistic model."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from auforget.analysis.findings import (
    logit_excess,
    logit_recall,
    mde,
    mixed_logistic,
    per_image_frame,
)

EMOS = ("a", "b", "c", "d")


def test_logit_recall_is_finite_at_zero_and_one():
    assert logit_recall(5, 10) == pytest.approx(0.0)
    assert logit_recall(10, 10) == pytest.approx(np.log(10.5 / 0.5))
    assert logit_recall(0, 10) == pytest.approx(-np.log(10.5 / 0.5))
    assert np.isnan(logit_recall(0, 0))


def test_mde_is_the_two_t_quantiles_times_the_standard_error():
    # 5 seeds, sd 0.2: (t_{0.975,4} + t_{0.8,4}) * 0.2 / sqrt(5), worked with scipy's quantiles
    want = (sps.t.ppf(0.975, 4) + sps.t.ppf(0.8, 4)) * 0.2 / np.sqrt(5)
    assert mde(0.2, 5) == pytest.approx(want)
    assert mde(0.2, 5) == pytest.approx((2.7764 + 0.9410) * 0.2 / np.sqrt(5), rel=1e-3)
    assert np.isnan(mde(0.2, 1))  # one seed: undefined


def _recalls(rows):
    return pd.DataFrame(rows, columns=["emotion", "n", "b0", "b5"])


def test_logit_excess_subtracts_the_other_emotions_mean_change_per_seed():
    # seed 0: a drops from 90/100 to 50/100; the others keep 90/100
    seed0 = _recalls([("a", 100, 0.5, 0.9), ("b", 100, 0.9, 0.9), ("c", 100, 0.9, 0.9)])
    seed1 = _recalls([("a", 100, 0.7, 0.9), ("b", 100, 0.8, 0.9), ("c", 100, 0.9, 0.9)])
    out = logit_excess({0: seed0, 1: seed1}, ("a", "b", "c"), ["b0"]).set_index("emotion")
    d_a0 = logit_recall(50, 100) - logit_recall(90, 100)
    d_a1 = logit_recall(70, 100) - logit_recall(90, 100)
    d_b1 = logit_recall(80, 100) - logit_recall(90, 100)
    excess_a = [d_a0, d_a1 - d_b1 / 2]
    assert out.at["a", "logit_excess_mean"] == pytest.approx(np.mean(excess_a))
    assert out.at["a", "n_seeds"] == 2
    assert out.at["a", "logit_excess_mde"] == pytest.approx(mde(np.std(excess_a, ddof=1), 2))
    one = logit_excess({0: seed0}, ("a", "b", "c"), ["b0"]).set_index("emotion")
    assert one.at["a", "logit_excess_mean"] == pytest.approx(d_a0)
    assert np.isnan(one.at["a", "logit_excess_low"]) and np.isnan(one.at["a", "logit_excess_mde"])


def _predictions(rng, seeds, shift, n=60):
    """Per seed, b0 and b5 predictions on the same images; b0's logit shifted by `shift` per
    emotion; each image has its own difficulty (the random effect)."""
    labels = np.repeat(np.arange(len(EMOS)), n)
    ids = pd.Index([f"i{j:04d}" for j in range(labels.size)], name="sample_id")
    ease = rng.normal(1.5, 1.0, labels.size)
    tables = {}
    for s in seeds:
        tables[s] = {}
        for name, delta in (("b0", np.asarray(shift)[labels]), ("b5", 0.0)):
            ok = rng.random(labels.size) < 1 / (1 + np.exp(-(ease + delta)))
            pred = np.where(ok, labels, (labels + 1) % len(EMOS))
            tables[s][name] = pd.DataFrame({"true_label": labels, "pred_label": pred}, index=ids)
    return tables


def test_per_image_frame_pairs_each_image_across_models_and_seeds():
    tables = _predictions(np.random.default_rng(0), [0, 3], [0, 0, 0, 0], n=5)
    frame = per_image_frame(tables, "b0", EMOS)
    assert len(frame) == 2 * 2 * 20
    assert frame.groupby("image").size().eq(4).all()
    assert set(frame["seed"]) == {"0", "3"} and set(frame["bk"]) == {0, 1}


def test_mixed_logistic_finds_a_planted_drop_and_not_an_absent_one():
    tables = _predictions(np.random.default_rng(1), [0, 1], [-2.0, 0.0, 0.0, 0.0])
    out = mixed_logistic(per_image_frame(tables, "b0", EMOS), EMOS).set_index("emotion")
    assert out.at["a", "coef"] < -1.0 and out.at["a", "p"] < 0.001
    assert (out.loc[["b", "c", "d"], "p"] > 0.001).all()
    assert out["n_seeds"].iloc[0] == 2 and out["n_images"].iloc[0] == 240
