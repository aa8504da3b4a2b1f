"""The trade-off rule: Pareto front and the choice among its models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auforget.config import PromoteConfig
from auforget.stages.promote import choose, pareto_front


def test_pareto_front_by_hand():
    points = np.array([[0.9, 0.2], [0.5, 0.5], [0.4, 0.4], [0.2, 0.9], [0.5, 0.5]])
    # (0.4, 0.4) is dominated by (0.5, 0.5); equal points do not dominate each other
    assert pareto_front(points).tolist() == [True, True, False, True, True]


def _table(pain, emotion, cfg):
    table = pd.DataFrame({"model": [f"FreezeB{i}" for i in range(len(pain))], "freeze": range(len(pain)),
                          "pain_recall": pain, "recall_surprise": emotion, "recall_contempt": emotion})
    table["pareto"] = pareto_front(table[["pain_recall", "recall_surprise", "recall_contempt"]].to_numpy())
    table["emotion_recall_mean"] = table[["recall_surprise", "recall_contempt"]].mean(axis=1)
    table["score"] = cfg.pain_weight * table["pain_recall"] + (1 - cfg.pain_weight) * table["emotion_recall_mean"]
    table["eligible"] = table["pareto"] & (table["pain_recall"] >= cfg.min_pain_recall)
    return table


def test_rule_picks_the_weighted_best_pareto_model_and_respects_the_minimum():
    pain = [0.90, 0.80, 0.70, 0.60, 0.50, 0.40]
    emotion = [0.10, 0.50, 0.55, 0.60, 0.40, 0.70]   # B4 is dominated by B3
    cfg = PromoteConfig()
    table = _table(pain, emotion, cfg)
    assert not table.loc[4, "pareto"]
    assert choose(table)["model"] == "FreezeB1"      # 0.5*0.8 + 0.5*0.5 = 0.65 is the best score
    emotion_first = PromoteConfig(pain_weight=0.1)
    assert choose(_table(pain, emotion, emotion_first))["model"] == "FreezeB5"
    strict = PromoteConfig(pain_weight=0.1, min_pain_recall=0.65)
    assert choose(_table(pain, emotion, strict))["model"] == "FreezeB2"
    with pytest.raises(ValueError, match="min_pain_recall"):
        choose(_table(pain, emotion, PromoteConfig(min_pain_recall=0.95)))
