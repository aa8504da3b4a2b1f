import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

from auforget.analysis.metrics import classification_metrics, confusion_matrix


@pytest.mark.parametrize("case", range(60))
def test_metrics_equal_scikit_learns_with_zero_division_0(case):
    """Written out with numpy (scikit-learn's import costs each command 1.7 s); the same numbers,
    including classes never predicted or never present."""
    rng = np.random.default_rng(case)
    k, n = int(rng.integers(2, 9)), int(rng.integers(1, 50))
    y_true, y_pred = rng.integers(0, k, n), rng.integers(0, k, n)
    if case % 3 == 0:
        y_pred[:] = y_true[0]  # one class predicted for everything
    names = [f"c{i}" for i in range(k)]
    ours = classification_metrics(y_true, y_pred, names, prefix="test_")
    p, r, f, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=list(range(k)), zero_division=0
    )
    for i, name in enumerate(names):
        assert (
            ours[f"test_precision_{name}"],
            ours[f"test_recall_{name}"],
            ours[f"test_f1_{name}"],
        ) == pytest.approx((p[i], r[i], f[i]), abs=1e-12)
    assert ours["test_f1_macro"] == pytest.approx(f.mean(), abs=1e-12)
    assert ours["test_accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert (
        confusion_matrix(y_true, y_pred, k) == sk_confusion(y_true, y_pred, labels=list(range(k)))
    ).all()


def test_macros_leave_out_the_excluded_classes():
    """A class dropped from every split (emotion.exclude_classes) keeps its output unit but is
    no class of the task: the macros are scikit-learn's over the kept labels only, not pulled
    down by the excluded classes' zeros."""
    rng = np.random.default_rng(0)
    excluded = (1, 4)
    kept = [c for c in range(8) if c not in excluded]
    y_true = rng.choice(kept, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.choice(kept, 200))
    y_pred[:3] = 4  # an excluded unit that fires costs the true classes their recall, as before
    names = [f"c{i}" for i in range(8)]
    ours = classification_metrics(y_true, y_pred, names, prefix="test_", excluded=excluded)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=kept, zero_division=0)
    assert ours["test_recall_macro"] == pytest.approx(r.mean(), abs=1e-12)
    assert ours["test_precision_macro"] == pytest.approx(p.mean(), abs=1e-12)
    assert ours["test_f1_macro"] == pytest.approx(f.mean(), abs=1e-12)
    everything = classification_metrics(y_true, y_pred, names, prefix="test_")
    assert everything["test_recall_macro"] == pytest.approx(r.mean() * 6 / 8, abs=1e-12)
    assert ours["test_recall_c1"] == 0.0  # per class as before: never present


def test_metrics_files_keep_tiny_p_values_and_six_decimals_otherwise(tmp_path):
    import json

    from auforget.analysis.metrics import write_metrics_json

    path = write_metrics_json(
        "forgetting",
        {
            "p_combined": 2.629115879060877e-08,
            "recall": 0.8451234567,
            "p_mid": 0.000446371,
            "zero": 0.0,
            "count": 3,
        },
        tmp_path,
    )
    written = json.loads(path.read_text())
    assert written == {
        "count": 3,
        "p_combined": 2.62912e-08,
        "p_mid": 0.000446371,
        "recall": 0.845123,
        "zero": 0.0,
    }
