"""The planted truth of the synthetic world and its comparison with hand-made study results."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auforget import planted
from auforget.config import EMOTIONS


def test_what_the_world_plants():
    assert planted.expected_forgotten("contempt") and planted.expected_forgotten("surprise")
    assert [e for e in EMOTIONS if planted.expected_forgotten(e)] == ["surprise", "contempt"]
    assert planted.expected_forgotten("neutral") is None
    assert planted.expected_regions("contempt") == ("mouth_corners",)
    assert set(planted.expected_regions("surprise")) == {"brows", "upper_lids", "mouth_jaw"}
    assert planted.pain_use(14) == "nuisance" and planted.pain_use(4) == "pspi" and planted.pain_use(5) == "absent"
    truth = planted.planted_truth().set_index("emotion")
    assert truth.loc["contempt", "aus"] == "AU14 (nuisance)" and truth.loc["happy", "expected"] == "kept"


def hand_made_results():
    # contempt forgotten (0.8 -> 0.3, Holm p 0.001), surprise not (0.70 -> 0.75); happy, a control,
    # significantly worse (0.9 -> 0.5, p 0.001), so it is not "kept"; anger kept (0.6 -> 0.55, p 0.4).
    forgetting = {"recall_contempt_b5": 0.8, "recall_contempt_b0": 0.3, "mcnemar_p_holm_contempt_b0_vs_b5": 0.001,
                  "recall_surprise_b5": 0.70, "recall_surprise_b0": 0.75, "mcnemar_p_holm_surprise_b0_vs_b5": 1.0,
                  "recall_happy_b5": 0.9, "recall_happy_b0": 0.5, "mcnemar_p_holm_happy_b0_vs_b5": 0.001,
                  "recall_anger_b5": 0.6, "recall_anger_b0": 0.55, "mcnemar_p_holm_anger_b0_vs_b5": 0.4}
    rankings = pd.DataFrame({"emotion": ["contempt", "contempt", "surprise", "surprise", "all"],
                             "region": ["brows", "mouth_corners", "nose", "brows", "chin"],
                             "effect_size": [0.4, 1.2, 0.9, 0.3, 2.0], "p_holm": [0.5, 0.01, 0.02, 0.6, 0.01]})
    probes = {14: {"probe_f1_mean_b5": 0.80, "probe_f1_mean_b0": 0.70, "probe_t_corrected": 3.1,
                   "probe_p_corrected": 0.01},
              5: {"probe_f1_mean_b5": 0.60, "probe_f1_mean_b0": 0.65, "probe_t_corrected": -1.0,
                  "probe_p_corrected": 0.3}}
    return forgetting, rankings, probes


def test_compare_with_hand_made_results():
    table, text = planted.compare(*hand_made_results(), k=0)
    got = {(r.check, r.subject): r for r in table.itertuples()}
    assert got["recall", "contempt"].recovered and got["recall", "contempt"].value == pytest.approx(0.5)
    assert not got["recall", "surprise"].recovered and got["recall", "surprise"].value == pytest.approx(-0.05)
    assert not got["recall (control)", "happy"].recovered and got["recall (control)", "anger"].recovered
    # contempt's best region is mouth_corners (1.2 > 0.4, rows out of order); surprise's is nose
    assert got["top region", "contempt"].recovered and got["top region", "contempt"].p == 0.01
    assert got["top region", "contempt"].found == "mouth_corners, brows"
    assert not got["top region", "surprise"].recovered
    assert got["probe", "AU14"].recovered and got["probe", "AU14"].value == pytest.approx(0.1)
    assert not got["probe", "AU5"].recovered
    assert ("top region", "all") not in got and len(table) == 8
    assert "Recovered 3 of 6 planted findings; 1 of 2 control emotions kept." in text
    assert "top region surprise" in text and "probe AU5" in text


def test_missing_results_give_fewer_rows():
    table, text = planted.compare({}, None, {})
    assert table.empty and "Recovered 0 of 0" in text


def test_planted_json(tmp_path):
    table, _ = planted.compare(*hand_made_results(), k=0)
    path = planted.write_planted(table, tmp_path)
    numbers = json.loads(path.read_text())
    assert path.name == "planted.json"
    assert numbers["planted_checks"] == 6 and numbers["planted_recovered"] == 3
    assert numbers["control_checks"] == 2 and numbers["control_recovered"] == 1
    assert numbers["recall_contempt_recovered"] == 1 and numbers["recall_contempt_p"] == 0.001
    assert numbers["region_contempt_value"] == 1.2 and numbers["probe_au5_recovered"] == 0
    assert all(np.isfinite(v) for v in numbers.values())


def test_rankings_from_saliency_metrics():
    metrics = {"au_effect_mouth_corners_contempt": 1.5, "au_effect_upper_lids_surprise": 0.7,
               "au_effect_mouth_jaw_all": 0.2, "saliency_n_contempt": 4}
    table = planted.rankings_from_metrics(metrics)
    assert sorted(zip(table.emotion, table.region)) == [("all", "mouth_jaw"), ("contempt", "mouth_corners"),
                                                        ("surprise", "upper_lids")]
    checks, _ = planted.compare({}, table, {})
    assert checks["recovered"].all() and len(checks) == 2
