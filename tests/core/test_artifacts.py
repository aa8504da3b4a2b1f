"""The names in artifacts.py are the ones the writers produce (where a writer builds a name
itself)."""

from __future__ import annotations

import numpy as np

from auforget.analysis.metrics import classification_metrics, write_confusion
from auforget.core import artifacts


def test_test_metric_names_match_classification_metrics():
    metrics = classification_metrics(
        np.array([0, 1, 1]), np.array([0, 1, 0]), ("no_pain", "pain"), prefix=artifacts.TEST_PREFIX
    )
    expected = {
        artifacts.test_metric(m, c)
        for m in ("precision", "recall", "f1")
        for c in ("pain", "no_pain", "macro")
    }
    assert set(metrics) == expected | {artifacts.test_metric("accuracy")}
    assert metrics[artifacts.test_metric("recall", "pain")] == 0.5  # 1 of the 2 pain samples


def test_confusion_files_are_named_by_the_constants(tmp_path):
    written = write_confusion(
        np.array([0, 1]), np.array([0, 0]), ("no_pain", "pain"), tmp_path, title="t"
    )
    assert [p.name for p in written] == [artifacts.CONFUSION_CSV, artifacts.CONFUSION_PNG]


def test_per_stage_names_by_hand():
    assert artifacts.recall_metric("surprise", "b0") == "recall_surprise_b0"
    assert (
        artifacts.mcnemar_metric("contempt", "b2", holm=True) == "mcnemar_p_holm_contempt_b2_vs_b5"
    )
    assert artifacts.mcnemar_metric("contempt", "b2", holm=False) == "mcnemar_p_contempt_b2_vs_b5"
    assert (
        artifacts.saliency_file("surprise", artifacts.GRID_SUFFIX) == "saliency/surprise_grid.png"
    )
    assert artifacts.probe_f1_mean("b3") == "probe_f1_mean_b3"
