"""The tiny study, run once per session through `mlflow run -e main`, for the tests that look at
one (test_doors.py compares its numbers and then drives every door in it; test_mlflow_ui.py
walks the MLflow UI over its store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.project import copy_project, run


def study_metrics(project: Path) -> dict[str, dict[str, float]]:
    """Every metrics/<step>.json the study wrote, by step."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((project / "metrics").glob("*.json"))}


@pytest.fixture(scope="session")
def tiny_study_with_metrics(tmp_path_factory) -> tuple[Path, dict[str, dict[str, float]]]:
    """A copied project (tests/project.py's tiny settings) after `mlflow run -e main`, with one
    torch thread so its numbers are those of any machine with this CPU, and a snapshot of its
    metrics taken before any test changes them. Tests may add runs to it but must not depend on
    being the first or the only ones to use it."""
    project = copy_project(tmp_path_factory.mktemp("study") / "project")
    run(
        ["mlflow", "run", ".", "-e", "main", "--env-manager", "local"], project, OMP_NUM_THREADS="1"
    )
    return project, study_metrics(project)


@pytest.fixture(scope="session")
def tiny_study(tiny_study_with_metrics) -> Path:
    return tiny_study_with_metrics[0]
