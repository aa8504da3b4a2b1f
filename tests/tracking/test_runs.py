"""MLflow plumbing against a real sqlite store: experiment kind, run descriptions, system
metrics, the trade-off series, and where `mlflow run` launches land."""

from __future__ import annotations

import subprocess
import time

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from auforget.core.config import TrackingConfig
from auforget.tracking import connection, stage_runs
from tests.project import copy_project, environment


def test_experiment_opens_in_the_model_training_view(mlflow_store):
    MlflowClient().create_experiment("auforget")  # made earlier, by an older auforget or by hand
    connection.configure(TrackingConfig())
    experiment = MlflowClient().get_experiment_by_name("auforget")
    assert experiment.tags[connection.EXPERIMENT_KIND_TAG] == "custom_model_development"

    connection.configure(TrackingConfig(experiment="fresh"))
    fresh = MlflowClient().get_experiment_by_name("fresh")
    assert fresh.tags[connection.EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert fresh.artifact_location.endswith("/mlartifacts")


def test_stage_runs_carry_a_description_and_no_empty_params(mlflow_store):
    connection.configure(TrackingConfig())
    with stage_runs.stage_run(
        "transfer-b3", {"model.imagenet_weights": "", "transfer.freeze": 3}
    ) as run:
        pass
    got = mlflow.get_run(run.info.run_id)
    assert got.data.tags[stage_runs.NOTE_TAG].startswith("FreezeB3: pain model")
    assert "first 3 conv blocks" in got.data.tags[stage_runs.NOTE_TAG]
    assert got.data.params == {"model.imagenet_weights": "none", "transfer.freeze": "3"}
    assert stage_runs.describe("retrain-b0").startswith("Forgetting measure for FreezeB0")
    assert stage_runs.describe("probes-b0-au14").endswith("FreezeB0 and FreezeB5?")
    assert stage_runs.describe("unknown") == ""


def test_tradeoff_series_has_one_point_per_freeze_level(mlflow_store):
    connection.configure(TrackingConfig())
    pain = {i: 0.5 + i / 20 for i in range(6)}
    with stage_runs.stage_run("study", {}) as run:
        stage_runs.log_tradeoff(pain, {"surprise": {i: 0.8 - i / 10 for i in range(6)}})
    client = MlflowClient()
    history = client.get_metric_history(run.info.run_id, "tradeoff_pain_recall")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == sorted(
        pain.items()
    )
    assert [
        m.step for m in client.get_metric_history(run.info.run_id, "tradeoff_recall_surprise")
    ] == list(range(6))


def test_system_metrics_switch(mlflow_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.2")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    connection.configure(TrackingConfig())
    with stage_runs.stage_run("report", {}) as quiet:
        time.sleep(0.6)
    try:
        connection.configure(TrackingConfig(system_metrics=True))
        with stage_runs.stage_run("report", {}) as watched:
            time.sleep(1.5)
    finally:
        mlflow.disable_system_metrics_logging()
    assert not any(k.startswith("system/") for k in mlflow.get_run(quiet.info.run_id).data.metrics)
    assert any(k.startswith("system/cpu") for k in mlflow.get_run(watched.info.run_id).data.metrics)


# ----------------------------------------------------------------------------- mlflow run


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("launch") / "project")


def _launch(project, *extra: str, store_env: bool) -> subprocess.CompletedProcess:
    """`mlflow run . -e report` as a user types it; store_env=False leaves MLFLOW_TRACKING_URI
    unset, so the launcher uses MLflow's own default store."""
    env = environment(project)
    if not store_env:
        env.pop("MLFLOW_TRACKING_URI")
    result = subprocess.run(
        ["mlflow", "run", ".", "-e", "report", *extra, "--env-manager", "local"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def _active_runs(client: MlflowClient) -> list:
    return client.search_runs(
        [e.experiment_id for e in client.search_experiments()], max_results=1000
    )


def test_mlflow_run_with_launcher_defaults_lands_in_the_study_experiment_and_store(project):
    _launch(project, store_env=False)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    study = client.get_experiment_by_name("auforget")
    assert study.artifact_location == (project / "mlartifacts").as_uri()
    (run,) = client.search_runs([study.experiment_id])
    assert run.data.tags["auforget.stage"] == "report" and run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith((project / "mlartifacts").as_uri())
    # The launcher's own run stays in Default (MLflow ends it after the command), pointing at ours.
    launcher = client.get_run(run.data.tags["auforget.launcher_run"])
    assert launcher.info.experiment_id == "0" and launcher.info.status == "FINISHED"
    assert launcher.data.tags["auforget.run"] == run.info.run_id
    assert run.info.run_id in launcher.data.tags[stage_runs.NOTE_TAG]
    assert not (project / "mlruns").exists()


def test_mlflow_run_with_experiment_name_uses_the_launchers_run(project):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    before = {r.info.run_id for r in _active_runs(client)}
    _launch(project, "--experiment-name", "auforget", store_env=True)
    (run,) = [r for r in _active_runs(client) if r.info.run_id not in before]
    assert run.data.tags["mlflow.project.entryPoint"] == "report", "the launcher's own run"
    assert (
        run.data.tags["auforget.stage"] == "report" and "auforget.launcher_run" not in run.data.tags
    )
    assert run.data.params["out"] == "params.yaml", (
        "an entry-point parameter left at its default says where it comes from"
    )
    assert run.data.params["report.out"] == "reports"
