"""bench/bench_untrained_features.py on the session's tiny study: the floor it prints is the
retrain recipe on never-trained blocks, and its FreezeB5/B0 columns are the study's own retrains."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from auforget.core.config import EMOTIONS
from tests.project import REPO, run


def _table(stdout: str) -> dict[str, list[str]]:
    rows = [
        line
        for line in stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| emotion")
    ]
    return {
        cells[0]: cells[1:] for cells in ([c.strip() for c in r.split("|")[1:-1]] for r in rows)
    }


def test_untrained_features_bench_reads_the_study_and_trains_a_floor(
    tiny_study_with_metrics, tmp_path
):
    """Other tests may rewrite the shared study's metrics/ (a retrain with other settings), so the
    bench reads a study folder of its own: the study's params and data, the snapshot's metrics."""
    project, metrics = tiny_study_with_metrics
    study = tmp_path / "study"
    (study / "metrics").mkdir(parents=True)
    shutil.copy2(project / "params.yaml", study / "params.yaml")
    (study / "data").symlink_to(project / "data")
    for step, values in metrics.items():
        (study / "metrics" / f"{step}.json").write_text(json.dumps(values))
    result = run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_untrained_features.py"),
            str(study),
            "--seeds",
            "0",
            "--threads",
            "1",
        ],
        project,
    )
    table = _table(result.stdout)
    assert list(table) == [*EMOTIONS, "macro"], result.stdout
    for emotion in EMOTIONS:
        _, untrained, b5, b0, room = table[emotion]
        assert float(b5) == pytest.approx(
            metrics["retrain-b5"][f"test_recall_{emotion}"], abs=0.005
        )
        assert float(b0) == pytest.approx(
            metrics["retrain-b0"][f"test_recall_{emotion}"], abs=0.005
        )
        assert 0.0 <= float(untrained) <= 1.0
        assert float(room) == pytest.approx(float(b5) - float(untrained), abs=0.011)
