"""A tracking server that goes away in the middle of a training step, and comes back.

The real thing, on loopback: `mlflow server` on PostgreSQL with artifacts proxied into the moto
bucket, killed (SIGKILL) while `auforget emotion` trains, then started again on the same port,
database and bucket. The step must end within its bounded retries with one line, keep its
checkpoint and register nothing; the rerun must mark the orphaned run FAILED and resume from the
checkpoint. The same for the bucket that clients write artifacts to: killed mid-training, the
step fails when it logs its model, with one line naming the bucket, its run FAILED and nothing
registered; the rerun against a bucket that answers again resumes. (A PostgreSQL restart between
steps: test_study_on_server.py.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient

from auforget.core.config import load_params
from auforget.stages.prepare import run_prepare
from auforget.stages.synth import run_synth
from auforget.tracking import claims, connection
from tests.project import checkpoint_of, copy_project, environment
from tests.servers import S3_ENV, TrackingServer, mlflow_server, object_store

EPOCHS = 40
# The smallest data every stage accepts; enough epochs that the server dies mid-training (with
# 6, a micro epoch is fast enough that all of them once finished before the client noticed the
# kill: saved == EPOCHS in a fresh-clone .ci/run of 2026-11-27), no
# early stop (the micro model's validation score does not move).
PARAMS = {
    "synth": {"scale": "micro"},
    "prepare": {"unbc_pool_per_class": 6, "unbc_val_size": 2},
    "emotion": {"epochs": EPOCHS, "batch_size": 16, "patience": 100},
}
# Two retries (waits of 0 and about 2 s) instead of the five auforget sets by default (about
# 30 s): the same code path, a shorter test.
RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}


@pytest.fixture
def fault_server(postgres, bucket, server_logs):
    """A server of this test's own (the session's servers must stay up for the other tests)."""
    with mlflow_server(
        postgres.create_database("mlflow_fault"), bucket, "fault", server_logs, proxied=True
    ) as server:
        yield server


def client_env(project: Path, server: TrackingServer, **extra: str) -> dict[str, str]:
    env = environment(project)
    for var in [*S3_ENV, "MLFLOW_S3_ENDPOINT_URL", *RETRIES]:
        env.pop(var, None)
    return {**env, **server.client_env, "MLFLOW_TRACKING_URI": server.uri, **extra}


def wait_for_epochs(client: MlflowClient, n: int, proc: subprocess.Popen, timeout: float = 180):
    """The emotion run, once it has logged `n` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"emotion exited {proc.returncode} before epoch {n}:\n{proc.communicate()[1][-4000:]}"
        )
        experiment = client.get_experiment_by_name("auforget")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        if runs and len(client.get_metric_history(runs[0].info.run_id, "val_loss")) >= n:
            return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"emotion did not log {n} epochs within {timeout:.0f} s")


# Its one flake (the rerun's version missing from the server, in full runs only) was an earlier
# test's MLFLOW_REGISTRY_URI left in os.environ; tests/conftest.py now restores it after every test.
def test_a_server_gone_mid_training_fails_the_step_cleanly_and_the_rerun_resumes(
    tmp_path, fault_server, monkeypatch
):
    project = copy_project(tmp_path / "hank", PARAMS)
    monkeypatch.chdir(project)  # the data, in this process: two fewer interpreter start-ups
    params = load_params()
    run_synth(params, progress=False)
    run_prepare(params, progress=False)
    client = MlflowClient(fault_server.uri)

    cmd = ["auforget", "--quiet", "emotion"]
    with subprocess.Popen(
        cmd,
        cwd=project,
        env=client_env(project, fault_server, **RETRIES),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            first = wait_for_epochs(client, 2, proc)
            fault_server.kill()
            killed = time.monotonic()
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    gave_up_after = time.monotonic() - killed

    # One line, naming the server and the run; no traceback; bounded.
    assert proc.returncode == 2, err[-4000:]
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, err[-4000:]
    assert (
        fault_server.uri in errors[0]
        and first.info.run_id in errors[0]
        and "stopped answering" in errors[0]
    )
    assert "Traceback" not in err
    assert gave_up_after < 60
    # Training progress kept.
    checkpoint = checkpoint_of(project, "emotion")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"]
    assert 2 <= saved < EPOCHS

    fault_server.start()
    assert client.get_run(first.info.run_id).info.status == "RUNNING"  # it could not be closed then
    assert (
        client.search_model_versions("name = 'auforget-emotion'") == []
    )  # nothing half-registered

    rerun = subprocess.run(
        cmd,
        cwd=project,
        env=client_env(project, fault_server),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert f"resuming after epoch {saved}" in rerun.stderr
    orphan = client.get_run(first.info.run_id)
    assert orphan.info.status == "FAILED" and orphan.data.tags["auforget.failed"] == "true"
    assert "a process that is gone" in orphan.data.tags["auforget.failed_reason"]
    versions = client.search_model_versions("name = 'auforget-emotion'")
    assert len(versions) == 1, f"{len(versions)} versions after the rerun:\n{rerun.stderr[-6000:]}"
    (version,) = versions
    second = client.get_run(version.run_id)
    assert second.info.run_id != first.info.run_id and second.info.status == "FINISHED"
    assert second.data.tags["auforget.resumed_after_epoch"] == str(saved)
    assert second.data.metrics["epochs_run"] == EPOCHS
    assert (
        len(client.get_metric_history(second.info.run_id, "val_loss")) == EPOCHS
    )  # the whole curve
    assert client.get_model_version_by_alias("auforget-emotion", "base").version == version.version
    assert not checkpoint.parent.exists()


def test_a_bucket_gone_mid_training_fails_the_step_cleanly_and_the_rerun_resumes(
    tmp_path, postgres, server_logs, monkeypatch
):
    project = copy_project(tmp_path / "ivy", PARAMS)
    monkeypatch.chdir(project)
    params = load_params()
    run_synth(params, progress=False)
    run_prepare(params, progress=False)
    database = postgres.create_database("mlflow_bucket_fault")
    with object_store(server_logs) as doomed:
        # Its own bucket and server (clients write to the bucket directly): the session's stay up.
        with mlflow_server(database, doomed, "doomed", server_logs, proxied=False) as server:
            client = MlflowClient(server.uri)
            cmd = ["auforget", "--quiet", "emotion"]
            with subprocess.Popen(
                cmd,
                cwd=project,
                env=client_env(project, server),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ) as proc:
                try:
                    first = wait_for_epochs(client, 2, proc)
                    doomed.stop()  # moto keeps objects in memory: the bucket is gone with it
                    _, err = proc.communicate(timeout=300)
                finally:
                    if proc.poll() is None:
                        proc.kill()
            assert proc.returncode == 2, err[-4000:]
            errors = [line for line in err.splitlines() if "error" in line.lower()]
            assert len(errors) == 1, err[-4000:]
            assert server.artifacts in errors[0] and first.info.run_id in errors[0], errors[0]
            assert "Traceback" not in err
            failed = client.get_run(first.info.run_id)
            assert failed.info.status == "FAILED"  # the server answers: the run is closed at once
            assert client.search_model_versions("name = 'auforget-emotion'") == []
            checkpoint = checkpoint_of(project, "emotion")
            assert torch.load(checkpoint, map_location="cpu", weights_only=False)["epoch"] == EPOCHS

            with object_store(
                server_logs
            ) as back:  # the bucket again (new, empty), at a new address
                env = {**client_env(project, server), **back.env()}
                rerun = subprocess.run(
                    cmd, cwd=project, env=env, capture_output=True, text=True, timeout=300
                )
                assert rerun.returncode == 0, rerun.stderr[-4000:]
                assert f"resuming after epoch {EPOCHS}" in rerun.stderr
                (version,) = client.search_model_versions("name = 'auforget-emotion'")
                assert version.run_id != first.info.run_id
                assert client.get_run(version.run_id).info.status == "FINISHED"
                assert any(key.startswith("doomed/") for key in back.keys())


def test_the_next_command_here_closes_what_a_dead_process_here_left_and_nothing_else(tmp_path):
    """A dead process of this machine: its RUNNING stage run is marked FAILED and loses the model
    version registered from it, its claim is expired. A live process's, and another machine's,
    are left alone. (A local store: the same calls as over HTTP, without a server start.)"""
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    holders = {
        "gone": f"{socket.gethostname()}:{gone}",
        "alive": claims.holder(),
        "elsewhere": "other-machine:1",
    }
    experiment = client.create_experiment("auforget")
    runs = {
        who: client.create_run(
            experiment, run_name=who, tags={connection.HOLDER_TAG: holder}
        ).info.run_id
        for who, holder in holders.items()
    }
    client.create_registered_model("auforget-emotion")
    for run_id in runs.values():
        client.create_model_version("auforget-emotion", f"runs:/{run_id}/model", run_id=run_id)
    claims_id = claims.claims_experiment(client, "auforget")
    held = {
        who: client.create_run(
            claims_id, tags={claims.STEP_TAG: who, claims.HOLDER_TAG: holder}
        ).info.run_id
        for who, holder in holders.items()
    }

    assert connection.fail_abandoned_runs(client) == [runs["gone"]]
    assert claims.expire_gone_holders(client, "auforget") == ["gone"]

    status = {who: client.get_run(run_id).info.status for who, run_id in runs.items()}
    assert status == {"gone": "FAILED", "alive": "RUNNING", "elsewhere": "RUNNING"}
    assert {v.run_id for v in client.search_model_versions("name = 'auforget-emotion'")} == {
        runs["alive"],
        runs["elsewhere"],
    }
    status = {who: client.get_run(run_id).info.status for who, run_id in held.items()}
    assert status == {"gone": "KILLED", "alive": "RUNNING", "elsewhere": "RUNNING"}
