"""The tiny study through the doors users take: the `auforget` executable and `mlflow run`.

One copied project runs `auforget main` once; its metrics/*.json must equal the numbers recorded
in tiny_study_metrics.json (written at commit d7013fd, before training stages were rebuilt around
shared recipes), so a refactor cannot change the study's results unnoticed. A change that is
meant to move the numbers (a new synthetic world, a fixed bug) re-records the file in the same
commit and says so: `AUFORGET_RECORD_STUDY=1 pytest tests/stages/test_doors.py -k same_numbers`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.project import copy_project, run

RECORDED = Path(__file__).with_name("tiny_study_metrics.json")


def study_metrics(project: Path) -> dict[str, dict[str, float]]:
    """Every metrics/<step>.json the study wrote, by step."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((project / "metrics").glob("*.json"))}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, dict[str, dict[str, float]]]:
    """A copied project after `auforget main` (one torch thread, so the numbers are those of any
    machine with this CPU), and a snapshot of its metrics taken before any test changes them."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    project = copy_project(tmp_path_factory.mktemp("doors") / "project")
    run(["auforget", "--quiet", "main"], project)
    return project, study_metrics(project)


def test_same_numbers_as_recorded(study):
    _, metrics = study
    if os.environ.get("AUFORGET_RECORD_STUDY"):
        RECORDED.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORDED.read_text())
    assert sorted(metrics) == sorted(recorded)
    for step, values in recorded.items():
        assert sorted(metrics[step]) == sorted(values), step
        differ = {k: (v, metrics[step][k]) for k, v in values.items() if metrics[step][k] != pytest.approx(v, abs=1e-6)}
        assert not differ, f"{step}: recorded -> now {differ}"
