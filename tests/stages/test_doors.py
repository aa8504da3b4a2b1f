"""The tiny study through the doors users take: the `auforget` executable and `mlflow run`.

The session's tiny study (conftest.py) runs once through `mlflow run -e main`; its metrics/*.json
must equal the numbers recorded in tiny_study_metrics.json (written at commit d7013fd, before
training stages were rebuilt around shared recipes), so a refactor cannot change the study's results
unnoticed. A change that is meant to move the numbers (a new synthetic world, a fixed bug)
re-records the file in the same commit and says so: `AUFORGET_RECORD_STUDY=1 pytest
tests/stages/test_doors.py -k same_numbers`, once on a machine of each CPU vendor that has a
recording (tests/project.py `recorded_study`). The tests below then use that project in file order:
`auforget main` reuses every step, then every entry point runs once more with small settings.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.project import differing, recorded_study, run

RECORDED = recorded_study()  # per CPU vendor (tests/project.py)
TRAINING = {"emotion"} | {f"transfer-b{i}" for i in range(6)} | {f"retrain-b{i}" for i in range(6)}
ANALYSIS = {"forgetting", "saliency-b0", "probes-b0-au14", "probes-b0-au5", "promote", "report"}


@pytest.fixture(scope="module")
def study(tiny_study_with_metrics) -> tuple[Path, dict[str, dict[str, float]]]:
    """The session's tiny study (tests/stages/conftest.py: `mlflow run -e main`, one torch thread)
    and its metrics as the study wrote them."""
    return tiny_study_with_metrics


def test_same_numbers_as_recorded(study):
    _, metrics = study
    if os.environ.get("AUFORGET_RECORD_STUDY"):
        RECORDED.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    recorded = json.loads(RECORDED.read_text())
    assert sorted(metrics) == sorted(recorded)
    for step, values in recorded.items():
        assert sorted(metrics[step]) == sorted(values), step
        differ = differing(recorded, metrics, step)
        assert not differ, f"{step}: recorded -> now {differ}"


def _client(project: Path) -> MlflowClient:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri)


def _runs() -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1000)


def test_main_ran_the_study_then_reuses_every_step(study):
    """The study `mlflow run -e main` ran (the fixture), then `auforget main` reuses every step."""
    project, _ = study
    client = _client(project)
    runs = _runs()
    stages = [r.data.tags.get("auforget.stage") for r in runs]
    assert TRAINING | ANALYSIS | {"study"} <= set(stages)
    study_run = next(r for r in runs if r.data.tags.get("auforget.stage") == "study")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study_run.info.run_id]
    assert {r.data.tags["auforget.stage"] for r in children} >= TRAINING | ANALYSIS
    assert all(r.info.status == "FINISHED" for r in runs)
    champion = client.get_model_version_by_alias("auforget-pain", "champion")
    assert "champion_rule" in champion.tags and champion.tags["freeze_blocks"] in {
        str(i) for i in range(6)
    }
    model = mlflow.pytorch.load_model("models:/auforget-pain@champion")
    assert model.n_classes == 2
    report = (project / "reports" / "report.html").read_text()
    assert "FreezeB5" in report and "champion" in report.lower()
    assert (project / "metrics" / "forgetting.json").exists()

    run(["auforget", "--quiet", "main"], project)
    again = _runs()
    new = [r for r in again if r.info.run_id not in {x.info.run_id for x in runs}]
    assert [r.data.tags.get("auforget.stage") for r in new] == ["study"], (
        "only the study run itself is new"
    )
    assert (
        sum(k.startswith("auforget.reused.") for k in new[0].data.tags)
        >= len(TRAINING | ANALYSIS) - 1
    )
    assert (
        client.get_model_version_by_alias("auforget-pain", "champion").version == champion.version
    )

    # A manual run with other parameters moves freezeb2; the next main reuses its own run and
    # moves the alias back, so downstream steps read the model whose metrics main reports.
    studied = client.get_model_version_by_alias("auforget-pain", "freezeb2").version
    run(["auforget", "--quiet", "transfer", "--freeze", "2", "--epochs", "1"], project)
    assert client.get_model_version_by_alias("auforget-pain", "freezeb2").version != studied
    run(["auforget", "--quiet", "main"], project)
    assert client.get_model_version_by_alias("auforget-pain", "freezeb2").version == studied


def _stages(project: Path) -> list[tuple[str, str]]:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=5000)
    return [(r.data.tags.get("auforget.stage", ""), r.info.status) for r in runs]


def test_every_entry_point_through_mlflow_run_then_the_executable(study):
    """Each MLproject entry point (main: the fixture; tune: test_tune) runs on the studied project
    with small settings, then the `auforget` executable with options no entry point passes; every
    run of the store ends FINISHED."""
    project, _ = study
    before = _stages(project)
    calls = [
        ("synth", "scale=tiny"),
        ("prepare", "seed=0"),
        ("emotion", "epochs=1"),
        ("transfer", "freeze=5", "epochs=1"),
        ("retrain", "freeze=5", "epochs=1"),
        ("forgetting", "alpha=0.05"),
        ("saliency", "max_images=2"),
        ("probes", "seeds=2"),
        ("promote", "pain_weight=0.5"),
        ("report", "out=reports"),
    ]
    for entry, *parameters in calls:
        run(
            [
                "mlflow",
                "run",
                ".",
                "-e",
                entry,
                *(a for p in parameters for a in ("-P", p)),
                "--env-manager",
                "local",
            ],
            project,
        )
    # Every `mlflow run` above ran the CLI with the MLproject's options. The installed `auforget`
    # executable, with options no entry point passes (synth, prepare, transfer through it:
    # test_main; tune: test_tune).
    for command in (
        ["emotion", "--epochs", "1", "--max-train-images", "32"],
        ["probes", "--au", "5", "--seeds", "2"],
        ["report", "--out", "reports-again"],
    ):
        run(["auforget", "--quiet", *command], project)
    after = _stages(project)
    assert all(status == "FINISHED" for _, status in after), sorted(after)
    made = set(Counter(stage for stage, _ in after) - Counter(stage for stage, _ in before))
    assert {
        "emotion",
        "transfer-b5",
        "retrain-b5",
        "forgetting",
        "saliency-b0",
        "probes-b0-au14",
        "probes-b0-au5",
        "promote",
        "report",
    } <= made, made
    assert (project / "reports-again" / "report.html").exists()
