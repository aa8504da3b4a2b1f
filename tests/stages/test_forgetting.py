"""The forgetting tables on hand-built predictions: recalls and McNemar with Holm per pair."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auforget import artifacts
from auforget.config import EMOTIONS
from auforget.stages.forgetting import forgetting_metrics, forgetting_tables, mcnemar_rows, recall_table

SURPRISE = EMOTIONS.index("surprise")


def _table(true, pred):
    return pd.DataFrame({"true_label": true, "pred_label": pred}, index=[f"s{i}" for i in range(len(true))])


def test_recalls_and_mcnemar_counts_on_one_emotion():
    # 10 surprise samples: b5 right on all 10, b0 right on the first 3, so for the pair (a=b0, b=b5)
    # n01 (a wrong, b right) = 7 and n10 = 0; plus one happy sample both get right.
    true = [SURPRISE] * 10 + [1]
    b5 = _table(true, true)
    b0 = _table(true, [SURPRISE] * 3 + [0] * 7 + [1])
    tables = {"b0": b0, "b5": b5}
    recalls = recall_table(tables).set_index("emotion")
    assert recalls.loc["surprise", "b0"] == pytest.approx(0.3)
    assert recalls.loc["surprise", "b5"] == 1.0 and recalls.loc["surprise", "n"] == 10
    assert np.isnan(recalls.loc["fear", "b0"])  # no fear samples: no recall, not zero
    rows = mcnemar_rows(tables, [("b0", "b5")], exact_below=25).set_index("emotion")
    row = rows.loc["surprise"]
    assert (row["n01"], row["n10"], row["method"]) == (7, 0, "exact")
    # exact two-sided binomial with 7 discordant pairs all one way: 2 * 0.5^7
    assert row["pvalue"] == pytest.approx(2 * 0.5**7)
    # Holm across the emotions that have samples (surprise, happy): surprise is the smaller p, x2
    assert row["pvalue_holm"] == pytest.approx(min(1.0, 2 * 2 * 0.5**7))
    assert rows.loc["happy", "pvalue"] == 1.0
    assert rows.loc["fear", "method"] == "none"


def test_chi_square_branch_above_the_threshold():
    true = [SURPRISE] * 60
    b5 = _table(true, true)
    b0 = _table(true, [SURPRISE] * 20 + [0] * 40)
    row = mcnemar_rows({"b0": b0, "b5": b5}, [("b0", "b5")], exact_below=25).set_index("emotion").loc["surprise"]
    # 40 discordant pairs, all one way: (|40 - 0| - 1)^2 / 40 = 38.025
    assert row["method"] == "chi2" and row["statistic"] == pytest.approx(38.025)


def test_metrics_are_named_per_emotion_and_model_and_leave_out_empty_emotions():
    true = [SURPRISE] * 10 + [1]
    right = _table(true, true)
    tables = {name: right for name in ("base", "b1", "b2", "b3", "b4", "b5")}
    tables["b0"] = _table(true, [SURPRISE] * 3 + [0] * 7 + [1])
    out = forgetting_tables(tables, exact_below=25)
    assert set(out) == {artifacts.RECALLS_CSV, artifacts.MCNEMAR_VS_B5_CSV, artifacts.MCNEMAR_PAIRWISE_CSV}
    assert len(out[artifacts.MCNEMAR_PAIRWISE_CSV]) == 21 * len(EMOTIONS)      # 7 choose 2 pairs
    metrics = forgetting_metrics(out[artifacts.RECALLS_CSV], out[artifacts.MCNEMAR_VS_B5_CSV], alpha=0.05)
    assert metrics["recall_surprise_b0"] == pytest.approx(0.3) and metrics["recall_surprise_base"] == 1.0
    assert metrics["mcnemar_p_surprise_b0_vs_b5"] == pytest.approx(2 * 0.5**7)          # 0.015625
    assert metrics["mcnemar_p_holm_surprise_b0_vs_b5"] == pytest.approx(4 * 0.5**7)     # 0.03125 < 0.05
    assert metrics["n_significant_vs_b5"] == 1.0
    assert "recall_fear_b0" not in metrics and "mcnemar_p_fear_b0_vs_b5" not in metrics  # no fear samples
