"""Classification metrics with the names users' scripts rely on, and their artifacts.

Names: `<prefix>precision_<class>`, `<prefix>recall_<class>`, `<prefix>f1_<class>`, the same with
`macro`, and `<prefix>accuracy` (prefix "test_" at the end of a run, "val_" per epoch).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auforget.core.artifacts import CONFUSION_CSV, CONFUSION_PNG


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows true and columns predicted. Written out rather than taken from scikit-learn,
    whose import every training and analysis command would otherwise pay (1.7 s per command on a
    2-core AMD EPYC, 2026-11-26)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    prefix: str = "",
    excluded: Collection[int] = (),
) -> dict[str, float]:
    """Per-class and macro precision, recall and F1 (0 where a class was never predicted or
    never present, as scikit-learn's zero_division=0), and accuracy. The macros leave out the
    `excluded` labels (emotion.exclude_classes): the output layer keeps their units, but a class
    the task dropped from every split is not one of its classes, and its zeros would pull every
    macro down by the share of classes left out."""
    cm = confusion_matrix(y_true, y_pred, len(class_names)).astype(np.float64)
    hits, predicted, present = np.diag(cm), cm.sum(axis=0), cm.sum(axis=1)
    p = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    r = np.divide(hits, present, out=np.zeros_like(hits), where=present > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(hits), where=(p + r) > 0)
    out: dict[str, float] = {}
    for i, name in enumerate(class_names):
        out[f"{prefix}precision_{name}"] = float(p[i])
        out[f"{prefix}recall_{name}"] = float(r[i])
        out[f"{prefix}f1_{name}"] = float(f[i])
    left_out = set(excluded)
    kept = [i for i in range(len(class_names)) if i not in left_out]
    out[f"{prefix}precision_macro"] = float(np.mean(p[kept]))
    out[f"{prefix}recall_macro"] = float(np.mean(r[kept]))
    out[f"{prefix}f1_macro"] = float(np.mean(f[kept]))
    out[f"{prefix}accuracy"] = (
        float(np.mean(np.asarray(y_true) == np.asarray(y_pred))) if len(y_true) else 0.0
    )
    return out


def predictions_table(
    sample_ids: Sequence[str], y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """One row per test sample: what the McNemar tests and saliency selection read back."""
    table = pd.DataFrame(
        {
            "sample_id": list(sample_ids),
            "true_label": np.asarray(y_true, dtype=int),
            "pred_label": probs.argmax(axis=1).astype(int),
        }
    )
    table["true_name"] = [class_names[i] for i in table["true_label"]]
    table["pred_name"] = [class_names[i] for i in table["pred_label"]]
    for i, name in enumerate(class_names):
        table[f"prob_{name}"] = probs[:, i].round(6)
    return table


def write_confusion(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], out_dir: Path, title: str
) -> list[Path]:
    """Confusion matrix as CSV (counts) and PNG (row-normalised, counts annotated)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # imported on first use: only this figure needs pyplot

    cm = confusion_matrix(y_true, y_pred, len(class_names))
    frame = pd.DataFrame(
        cm, index=[f"true_{c}" for c in class_names], columns=[f"pred_{c}" for c in class_names]
    )
    csv_path = out_dir / CONFUSION_CSV
    frame.to_csv(csv_path)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(class_names), 0.8 + 0.6 * len(class_names)))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    png_path = out_dir / CONFUSION_PNG
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return [csv_path, png_path]


METRICS_DIR = Path("metrics")


def split_metrics_of_test(metrics: dict[str, float]) -> dict[str, float]:
    """The test-split numbers of a training run (what its metrics/<stage>.json holds)."""
    return {k: v for k, v in metrics.items() if k.startswith("test_")}


def write_metrics_json(name: str, metrics: dict[str, float], folder: Path = METRICS_DIR) -> Path:
    """metrics/<name>.json: the headline numbers DVC shows with `dvc metrics show`."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    clean = {k: (_six_places(v) if isinstance(v, float) else v) for k, v in sorted(metrics.items())}
    path.write_text(json.dumps(clean, indent=2) + "\n")
    return path


def _six_places(value: float) -> float:
    """Six decimals keep the files short and stable; below 1e-3 six significant digits instead,
    so that a combined p-value of 3e-8 is not written as 0 (and read as impossible)."""
    if value != 0 and abs(value) < 1e-3 and np.isfinite(value):
        return float(f"{value:.6g}")
    return round(value, 6)


PLOTS_DIR = Path("plots")


def plot_file(stage: str, name: str, folder: Path = PLOTS_DIR) -> Path:
    """plots/<stage>/<name>, the files dvc.yaml declares as the stage's plots (`dvc plots show`);
    the folder is made here."""
    path = folder / stage / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_confusion_plot(stage: str, predictions: pd.DataFrame, folder: Path = PLOTS_DIR) -> Path:
    """plots/<stage>/confusion.csv: actual and predicted class name per test sample, the input of
    DVC's confusion template (dvc.yaml)."""
    path = plot_file(stage, "confusion.csv", folder)
    predictions.rename(columns={"true_name": "actual", "pred_name": "predicted"})[
        ["sample_id", "actual", "predicted"]
    ].to_csv(path, index=False)
    return path
