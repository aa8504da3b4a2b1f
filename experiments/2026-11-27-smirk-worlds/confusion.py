"""Where the recall FreezeB0 loses goes: retrained B0's confusion minus B5's, summed over
studies and seeds.

    python experiments/2026-11-27-smirk-worlds/confusion.py STUDY_DIR [STUDY_DIR ...]

Each STUDY_DIR is a folder where `auforget main` ran with its default sqlite store (mlflow.db,
mlartifacts/): every `retrain-b0*` and `retrain-b5*` run's predictions.csv is read. The four
worlds' stores (1 GB) were not kept; measured/confusion.txt summed all four on 2026-11-27. Of
them only `base` can be rerun today (run.sh), so a rerun sums one world, not four.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from auforget.core.config import EMOTIONS


def confusions(study: Path) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    db = sqlite3.connect(study / "mlflow.db")
    rows = db.execute(
        "select run_uuid, name from runs where name like 'retrain-b0%' or name like 'retrain-b5%'"
    )
    for run_id, name in rows.fetchall():
        table = pd.read_csv(
            next((study / "mlartifacts").rglob(f"{run_id}/artifacts/predictions.csv"))
        )
        counts = pd.crosstab(table.true_name, table.pred_name).reindex(
            index=EMOTIONS, columns=EMOTIONS, fill_value=0
        )
        out.setdefault(name.split("-")[1], []).append(counts.to_numpy())
    return out


def main() -> None:
    total: dict[str, list[np.ndarray]] = {}
    for study in map(Path, sys.argv[1:]):
        for model, tables in confusions(study).items():
            total.setdefault(model, []).extend(tables)
    diff = pd.DataFrame(
        np.sum(total["b0"], 0) - np.sum(total["b5"], 0), index=EMOTIONS, columns=EMOTIONS
    )
    print(
        f"retrained B0 confusion - B5 confusion, summed over {len(total['b0'])} retrains "
        "(rows: true, columns: predicted)"
    )
    print(diff.to_string())


if __name__ == "__main__":
    main()
