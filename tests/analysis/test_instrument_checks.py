"""The instrument verdicts against tables worked out by hand."""

from __future__ import annotations

import pandas as pd

from auforget.analysis import instrument_checks as checks
from auforget.core.config import EMOTIONS


def test_target_emotions():
    assert checks.target_emotion(14) == "contempt" and checks.target_emotion(26) == "surprise"


def test_the_manipulation_check_passes_and_fails_at_the_issue_thresholds():
    before = {14: 10.0, 12: 4.0, 2: 2.0}
    ok = checks.manipulation(
        14, before, {14: 4.9, 12: 3.5, 2: 2.2}, {14: 9.0, 12: 4.0, 2: 2.0}, (1.0, 1.05), 0.1
    )
    assert ok["lesion_manipulation_pass"] == 1.0 and ok["negative_manipulation_pass"] == 1.0
    assert ok["manipulation_pass"] == 1.0
    assert abs(ok["lesion_sensitivity_cut"] - 0.51) < 1e-9
    weak = checks.manipulation(
        14, before, {14: 5.1, 12: 4.0, 2: 2.0}, {14: 10.0, 12: 4, 2: 2}, (1.0, 1.0), 0.1
    )
    assert weak["lesion_manipulation_pass"] == 0.0  # cut 49 %
    spill = checks.manipulation(
        14, before, {14: 1.0, 12: 3.3, 2: 2.0}, {14: 10.0, 12: 4, 2: 2}, (1.0, 1.0), 0.1
    )
    assert spill["lesion_manipulation_pass"] == 0.0  # AU12 changed by 17.5 %
    sham = checks.manipulation(
        14, before, {14: 1.0, 12: 4.0, 2: 2.0}, {14: 8.4, 12: 4, 2: 2}, (1.0, 1.11), 0.1
    )
    assert sham["negative_manipulation_pass"] == 0.0 and sham["manipulation_pass"] == 0.0
    voided = checks.void({**sham, "negative_recall_pass": 1.0, "lesion_recall_pass": 1.0})
    assert voided["negative_void"] == 1.0 and "negative_recall_pass" not in voided
    assert voided["lesion_recall_pass"] == 1.0


def _table(drops, p_holm):
    return pd.DataFrame(
        {
            "emotion": EMOTIONS,
            "n": 50,
            "b5": 0.8,
            "control": [0.8 - d for d in drops],
            "drop": drops,
            "p": p_holm,
            "p_holm": p_holm,
        }
    )


def test_recall_verdicts():
    drops = [0.0, 0.01, 0.02, 0.0, 0.03, 0.0, 0.01, 0.12]
    p = [1.0] * 7 + [0.01]
    assert checks.lesion_recall(_table(drops, p), "contempt")["lesion_recall_pass"] == 1.0
    small = drops[:7] + [0.09]
    assert checks.lesion_recall(_table(small, p), "contempt")["lesion_recall_pass"] == 0.0
    other = drops[:4] + [0.2] + drops[5:]
    assert checks.lesion_recall(_table(other, p), "contempt")["lesion_recall_pass"] == 0.0
    assert checks.negative_recall(_table(drops, [1.0] * 8))["negative_recall_pass"] == 1.0
    assert checks.negative_recall(_table(drops, p))["negative_recall_pass"] == 0.0


def test_maps_and_probe_verdicts():
    ranking = pd.DataFrame(
        {
            "region": ["mouth_corners", "brows"],
            "effect_size": [2.0, 0.5],
            "p_holm": [0.01, 0.5],
            "n_images": [12, 12],
        }
    )
    assert checks.lesion_maps(ranking, "mouth_corners")["lesion_maps_pass"] == 1.0
    assert checks.lesion_maps(ranking.assign(n_images=9), "mouth_corners")["lesion_maps_pass"] == 0
    assert checks.negative_maps(ranking, "mouth_corners")["negative_maps_pass"] == 0.0
    assert checks.negative_maps(None, "mouth_corners")["negative_maps_pass"] == 1.0
    drops = {14: (0.08, 0.001), 12: (0.01, 0.5), 5: (0.03, 0.2), 2: (0.0, 0.9)}
    assert checks.lesion_probe(drops, 14)["lesion_probe_pass"] == 1.0  # 0.08 - 0.01 >= 0.03
    near = {**drops, 12: (0.06, 0.01), 2: (0.06, 0.01)}
    assert checks.lesion_probe(near, 14)["lesion_probe_pass"] == 0.0  # median 0.06
    assert checks.lesion_probe({**drops, 14: (0.08, 0.02)}, 14)["lesion_probe_pass"] == 0.0
    assert checks.negative_probe(0.01, 0.2)["negative_probe_pass"] == 1.0
    assert checks.negative_probe(0.05, 0.04)["negative_probe_pass"] == 0.0


def test_mcnemar_verdicts_are_withdrawn_past_one_significant_emotion_in_the_sham_pairs():
    assert checks.mcnemar_withdrawn(0) == "" and checks.mcnemar_withdrawn(1, pairs=20) == ""
    reason = checks.mcnemar_withdrawn(2)
    assert "2 Holm-significant emotions in 1 pair," in reason and "1 in 20 pairs" in reason
    assert checks.mcnemar_withdrawn(2, pairs=40) == "" and checks.mcnemar_withdrawn(3, pairs=40)
    # the controls step names its FreezeB5' pair's count as the report reads it
    table = pd.DataFrame({"emotion": ["sad", "fear"], "p_holm": [0.01, 0.02]})
    assert checks.negative_recall(table, "sham")[checks.SHAM_N_SIGNIFICANT] == 2.0
