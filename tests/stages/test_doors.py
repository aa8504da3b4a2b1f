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
from collections import Counter
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


def _stages(project: Path) -> list[tuple[str, str]]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=5000)
    return [(r.data.tags.get("auforget.stage", ""), r.info.status) for r in runs]


def test_every_entry_point_through_mlflow_run_then_the_executable(study):
    """Each MLproject entry point (main: test_main; tune: test_tune) runs on the studied project
    with small settings, then each step sub-command through the `auforget` executable; every run
    of the store ends FINISHED."""
    project, _ = study
    before = _stages(project)
    calls = [("synth", "scale=tiny"), ("prepare", "seed=0"), ("emotion", "epochs=1"),
             ("transfer", "freeze=5", "epochs=1"), ("retrain", "freeze=5", "epochs=1"), ("forgetting", "alpha=0.05"),
             ("saliency", "max_images=2"), ("probes", "seeds=2"), ("promote", "pain_weight=0.5"), ("report", "out=reports")]
    for entry, *parameters in calls:
        run(["mlflow", "run", ".", "-e", entry, *(a for p in parameters for a in ("-P", p)), "--env-manager", "local"],
            project)
    # The same steps through the executable (main: the fixture; synth, prepare, transfer: test_main;
    # tune: test_tune), with other options than above.
    for command in (["emotion", "--epochs", "1", "--max-train-images", "32"], ["retrain", "--freeze", "5", "--epochs", "1"],
                    ["saliency", "--max-images", "2"], ["probes", "--au", "5", "--seeds", "2"], ["forgetting"],
                    ["promote"], ["report", "--out", "reports-again"]):
        run(["auforget", "--quiet", *command], project)
    after = _stages(project)
    assert all(status == "FINISHED" for _, status in after), sorted(after)
    made = set(Counter(stage for stage, _ in after) - Counter(stage for stage, _ in before))
    assert {"emotion", "transfer-b5", "retrain-b5", "forgetting", "saliency-b0", "probes-b0-au14", "probes-b0-au5",
            "promote", "report"} <= made, made
    assert (project / "reports-again" / "report.html").exists()
