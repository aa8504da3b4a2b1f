"""Steps through the real CLIs on tiny synthetic data, in copies of the project: launches racing
to create the store, a SIGTERM and its resume. (The whole study through `mlflow run -e main`,
then `auforget main` reusing every step: tests/stages/test_doors.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.project import checkpoint_of, copy_project, environment, run


def _prepared(prepared_project: Path, dst: Path) -> Path:
    """A copy of the session's project after `auforget synth` and `auforget prepare`
    (conftest.py)."""
    shutil.copytree(prepared_project, dst, symlinks=True)
    return dst


def _runs(uri: str) -> list:
    return mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1000)


def _client(project) -> MlflowClient:
    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri)


def _concurrent_transfers(project, n: int = 6, extra=()) -> list[subprocess.CompletedProcess]:
    env = environment(project)
    procs = [
        subprocess.Popen(
            [
                "mlflow",
                "run",
                ".",
                "-e",
                "transfer",
                "-P",
                f"freeze={i}",
                *extra,
                "--env-manager",
                "local",
            ],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    return [
        subprocess.CompletedProcess(p.args, p.wait(timeout=900), *p.communicate()) for p in procs
    ]


def test_four_concurrent_mlflow_runs_on_a_store_that_does_not_exist_yet(prepared_project, tmp_path):
    """Four launches race to create the sqlite store (two processes each: eight interpreters on
    this 2-core machine); all are recorded (FAILED, since no base model exists yet, with the
    message saying what to run) and none dies in the store set-up."""
    project = _prepared(prepared_project, tmp_path / "project")
    assert not (project / "mlflow.db").exists()
    results = _concurrent_transfers(project, 4)
    for r in results:
        assert "alembic" not in r.stderr and "already exists" not in r.stderr, r.stderr[-3000:]
        assert "auforget-emotion@base" in r.stderr and "auforget emotion" in r.stderr
    _client(project)
    runs = _runs("")
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FAILED"}


@pytest.mark.slow
def test_six_concurrent_transfers_all_finish_and_register(tmp_path):
    project = copy_project(tmp_path / "project")
    run(["auforget", "--quiet", "synth"], project)
    run(["auforget", "--quiet", "prepare"], project)
    run(["auforget", "--quiet", "emotion"], project)
    results = _concurrent_transfers(project)
    assert all(r.returncode == 0 for r in results), [
        r.stderr[-2000:] for r in results if r.returncode
    ]
    client = _client(project)
    versions = {
        client.get_model_version_by_alias("auforget-pain", f"freezeb{i}").tags["freeze_blocks"]
        for i in range(6)
    }
    assert versions == {str(i) for i in range(6)}
    assert len(client.search_model_versions("name='auforget-pain'")) == 6


def test_sigterm_leaves_a_failed_run_and_a_checkpoint_that_resumes(prepared_project, tmp_path):
    import signal
    import time

    project = _prepared(prepared_project, tmp_path / "project")
    run(["auforget", "--quiet", "emotion", "--epochs", "1"], project)
    # Killed as soon as epoch 1's checkpoint exists: seven epochs (seconds of training, against the
    # milliseconds the signal takes) are still to go, and the resume trains only those.
    cmd = ["auforget", "--quiet", "transfer", "--freeze", "2", "--epochs", "8", "--patience", "8"]
    proc = subprocess.Popen(
        cmd,
        cwd=project,
        env=environment(project),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while (
        checkpoint_of(project, "transfer-b2") is None
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    client = _client(project)
    killed = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="attributes.run_name = 'transfer-b2'",
    )
    assert [r.info.status for r in killed] == ["FAILED"]
    assert checkpoint_of(project, "transfer-b2") is not None
    assert not client.search_model_versions("name='auforget-pain'")

    run(cmd, project)
    version = client.get_model_version_by_alias("auforget-pain", "freezeb2")
    assert "auforget.resumed_after_epoch" in client.get_run(version.run_id).data.tags
