"""Step claims between real processes on a real MLflow store (sqlite here; tests/team/ runs them
against an `mlflow server` on PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from auforget.tracking.claims import STEP_TAG, claim

HOLD = textwrap.dedent("""
    import os, sys, time
    import mlflow
    from auforget.tracking.claims import claim
    mlflow.set_tracking_uri(sys.argv[1])
    with claim("transfer-b3", experiment="exp", timeout_s=float(sys.argv[2])):
        print("held", time.time(), flush=True)
        if sys.argv[3] == "die":
            os.kill(os.getpid(), 9)  # a worker killed mid-step: no release, no more heartbeats
        time.sleep(float(sys.argv[3]))
    print("released", time.time(), flush=True)
""")


def _holder(uri: str, timeout_s: float, then: str) -> tuple[subprocess.Popen, float]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, uri, str(timeout_s), then], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().split()
    assert line and line[0] == "held", f"holder did not take the claim (exit {proc.poll()})"
    return proc, float(line[1])


def _claim_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("exp-claims")
    return client.search_runs(
        [experiment.experiment_id], f"tags.`{STEP_TAG}` = 'transfer-b3'", run_view_type=ViewType.ALL
    )


def test_a_second_worker_waits_until_the_first_releases_the_step(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    proc, _ = _holder(uri, 60, "3")
    with claim("transfer-b3", experiment="exp", timeout_s=60):
        acquired = time.time()
        with claim("transfer-b4", experiment="exp", timeout_s=60):  # another step is not held up
            pass
    out = proc.communicate(timeout=60)[0].split()
    assert proc.returncode == 0 and out[0] == "released"
    assert acquired >= float(out[1]), "the step was held by two workers at once"
    runs = _claim_runs(MlflowClient(uri))
    assert len(runs) == 2 and all(r.info.lifecycle_stage == "deleted" for r in runs), (
        "released claims are deleted"
    )


def test_a_dead_workers_claim_expires_after_the_timeout(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    proc, _ = _holder(uri, 3, "die")
    proc.wait(timeout=60)
    assert proc.returncode == -9
    started = time.monotonic()
    with claim("transfer-b3", experiment="exp", timeout_s=3):
        waited = time.monotonic() - started
        runs = _claim_runs(MlflowClient(uri))
        assert sorted(r.info.status for r in runs) == ["KILLED", "RUNNING"]
    assert 3 <= waited < 30
