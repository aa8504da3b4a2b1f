"""The whole study through the real CLIs on tiny synthetic data, in a copy of the project."""
from __future__ import annotations

import subprocess

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.project import copy_project, environment, run

TRAINING = {"emotion"} | {f"transfer-b{i}" for i in range(6)} | {f"retrain-b{i}" for i in range(6)}
ANALYSIS = {"forgetting", "saliency-b0", "probes-b0-au14", "probes-b0-au5", "promote", "report"}


def _runs(uri: str) -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1000)


def _client(project) -> MlflowClient:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri)


def test_main_runs_the_study_then_reuses_every_step(tmp_path):
    project = copy_project(tmp_path / "project")
    run(["mlflow", "run", ".", "-e", "main", "--env-manager", "local"], project)
    client = _client(project)
    runs = _runs("")
    stages = [r.data.tags.get("auforget.stage") for r in runs]
    assert TRAINING | ANALYSIS | {"study"} <= set(stages)
    study = next(r for r in runs if r.data.tags.get("auforget.stage") == "study")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == study.info.run_id]
    assert {r.data.tags["auforget.stage"] for r in children} >= TRAINING | ANALYSIS
    assert all(r.info.status == "FINISHED" for r in runs)
    champion = client.get_model_version_by_alias("auforget-pain", "champion")
    assert "champion_rule" in champion.tags and champion.tags["freeze_blocks"] in {str(i) for i in range(6)}
    model = mlflow.pytorch.load_model("models:/auforget-pain@champion")
    assert model.n_classes == 2
    report = (project / "reports" / "report.html").read_text()
    assert "FreezeB5" in report and "champion" in report.lower()
    assert (project / "metrics" / "forgetting.json").exists()

    run(["auforget", "--quiet", "main"], project)
    again = _runs("")
    new = [r for r in again if r.info.run_id not in {x.info.run_id for x in runs}]
    assert [r.data.tags.get("auforget.stage") for r in new] == ["study"], "only the study run itself is new"
    assert sum(k.startswith("auforget.reused.") for k in new[0].data.tags) >= len(TRAINING | ANALYSIS) - 1
    assert client.get_model_version_by_alias("auforget-pain", "champion").version == champion.version

    # A manual run with other parameters moves freezeb2; the next main reuses its own run and
    # moves the alias back, so downstream steps read the model whose metrics main reports.
    studied = client.get_model_version_by_alias("auforget-pain", "freezeb2").version
    run(["auforget", "--quiet", "transfer", "--freeze", "2", "--epochs", "1"], project)
    assert client.get_model_version_by_alias("auforget-pain", "freezeb2").version != studied
    run(["auforget", "--quiet", "main"], project)
    assert client.get_model_version_by_alias("auforget-pain", "freezeb2").version == studied


def _concurrent_transfers(project, extra=()) -> list[subprocess.CompletedProcess]:
    env = environment(project)
    procs = [subprocess.Popen(["mlflow", "run", ".", "-e", "transfer", "-P", f"freeze={i}", *extra,
                               "--env-manager", "local"], cwd=project, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(6)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=900), *p.communicate()) for p in procs]


def test_six_concurrent_mlflow_runs_on_a_store_that_does_not_exist_yet(tmp_path):
    """Six launches race to create the sqlite store; all are recorded (FAILED, since no base
    model exists yet, with the message saying what to run) and none dies in the store set-up."""
    project = copy_project(tmp_path / "project")
    run(["auforget", "--quiet", "synth"], project)
    run(["auforget", "--quiet", "prepare"], project)
    assert not (project / "mlflow.db").exists()
    results = _concurrent_transfers(project)
    for r in results:
        assert "alembic" not in r.stderr and "already exists" not in r.stderr, r.stderr[-3000:]
        assert "auforget-emotion@base" in r.stderr and "auforget emotion" in r.stderr
    _client(project)
    runs = _runs("")
    assert len(runs) == 6 and {r.info.status for r in runs} == {"FAILED"}


@pytest.mark.slow
def test_six_concurrent_transfers_all_finish_and_register(tmp_path):
    project = copy_project(tmp_path / "project")
    run(["auforget", "--quiet", "synth"], project)
    run(["auforget", "--quiet", "prepare"], project)
    run(["auforget", "--quiet", "emotion"], project)
    results = _concurrent_transfers(project)
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results if r.returncode]
    client = _client(project)
    versions = {client.get_model_version_by_alias("auforget-pain", f"freezeb{i}").tags["freeze_blocks"] for i in range(6)}
    assert versions == {str(i) for i in range(6)}
    assert len(client.search_model_versions("name='auforget-pain'")) == 6


def test_sigterm_leaves_a_failed_run_and_a_checkpoint_that_resumes(tmp_path):
    import signal
    import time

    project = copy_project(tmp_path / "project")
    for step in (["synth"], ["prepare"], ["emotion", "--epochs", "1"]):
        run(["auforget", "--quiet", *step], project)
    cmd = ["auforget", "--quiet", "transfer", "--freeze", "2", "--epochs", "40", "--patience", "40"]
    proc = subprocess.Popen(cmd, cwd=project, env=environment(project), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    checkpoint = project / "checkpoints" / "transfer-b2" / "last.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    client = _client(project)
    killed = mlflow.search_runs(search_all_experiments=True, output_format="list",
                                filter_string="attributes.run_name = 'transfer-b2'")
    assert [r.info.status for r in killed] == ["FAILED"]
    assert checkpoint.exists()
    assert not client.search_model_versions("name='auforget-pain'")

    run(cmd, project)
    version = client.get_model_version_by_alias("auforget-pain", "freezeb2")
    assert "auforget.resumed_after_epoch" in client.get_run(version.run_id).data.tags
