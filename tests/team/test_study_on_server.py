"""The study on a lab's MLflow: `mlflow server` on PostgreSQL with artifacts in an S3 bucket,
driven through the `auforget` and `mlflow run` executables as a team would."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.project import MICRO_LEVELS, MICRO_PARAMS, copy_project, environment
from tests.servers import S3_ENV, TrackingServer, free_port

TRAINING = (
    {"emotion"} | {f"transfer-b{i}" for i in MICRO_LEVELS} | {f"retrain-b{i}" for i in MICRO_LEVELS}
)
ANALYSIS = {"forgetting", "saliency-b0", "probes-b0-au14", "probes-b0-au5", "promote", "report"}


def client_env(project: Path, server: TrackingServer, **extra: str) -> dict[str, str]:
    """A team member's shell: the server's URI, S3 keys only when clients write to the bucket."""
    env = environment(project)
    for var in [*S3_ENV, "MLFLOW_S3_ENDPOINT_URL"]:
        env.pop(var, None)
    env.update(server.client_env)
    env["MLFLOW_TRACKING_URI"] = server.uri
    env.update(extra)
    return env


def check(
    cmd: list[str], project: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        cmd, cwd=project, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, (
        f"{' '.join(cmd)} exited {result.returncode}\n{result.stderr[-6000:]}"
    )
    return result


class _Logged(subprocess.Popen):
    """A process whose stdout and stderr go to temporary files, not pipes: of two processes side by
    side, the one the test is not waiting on yet would otherwise stop at its first write past the
    64 KiB pipe buffer -- holding a step's claim, so the other waits for it too. communicate()
    waits and returns what it wrote."""

    def __init__(self, cmd: list[str], **kwargs):
        self._logs = (tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+"))
        super().__init__(cmd, stdout=self._logs[0], stderr=self._logs[1], text=True, **kwargs)

    def communicate(self, input=None, timeout=None) -> tuple[str, str]:
        self.wait(timeout)
        for log in self._logs:
            log.seek(0)
        return self._logs[0].read(), self._logs[1].read()


@contextlib.contextmanager
def started(
    cmds: list[list[str]], cwds: list[Path], envs: list[dict[str, str]]
) -> Iterator[list[subprocess.Popen]]:
    """Processes running side by side, killed if the test leaves early."""
    procs = [_Logged(cmd, cwd=cwd, env=env) for cmd, cwd, env in zip(cmds, cwds, envs)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def point_at(server: TrackingServer) -> MlflowClient:
    mlflow.set_tracking_uri(server.uri)
    mlflow.set_registry_uri(server.uri)
    return MlflowClient(server.uri)


def runs_of(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("auforget")
    return client.search_runs([experiment.experiment_id], max_results=1000)


def assert_no_local_store(*projects: Path) -> None:
    for project in projects:
        assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()


def test_two_mains_on_a_proxied_server_train_each_step_once_then_reuse_after_a_database_restart(
    tmp_path, proxied_server, postgres, bucket
):
    """Two machines start the study at once: every step is trained by one of them, the other
    reuses it. Artifacts go through the server into the bucket; the clients hold no S3 keys.
    The smallest study (MICRO_PARAMS): what is checked here is who trains and where things go."""
    projects = [copy_project(tmp_path / name, params=MICRO_PARAMS) for name in ("alice", "bob")]
    with started(
        [["auforget", "--quiet", "main"]] * 2,
        projects,
        [client_env(p, proxied_server) for p in projects],
    ) as procs:
        for proc in procs:
            _, err = proc.communicate(timeout=1500)
            assert proc.returncode == 0, err[-6000:]
    client = point_at(proxied_server)
    runs = runs_of(client)
    stages = [r.data.tags.get("auforget.stage") for r in runs]
    for step in TRAINING | ANALYSIS:
        assert stages.count(step) == 1, f"{step} ran {stages.count(step)} times"
    assert all(r.info.status == "FINISHED" for r in runs)
    studies = [r for r in runs if r.data.tags.get("auforget.stage") == "study"]
    assert len(studies) == 2
    for study in studies:  # each study saw every step: trained under it, or reused from the other
        children = {
            r.data.tags["auforget.stage"]
            for r in runs
            if r.data.tags.get("mlflow.parentRunId") == study.info.run_id
        }
        reused = {
            k.removeprefix("auforget.reused.")
            for k in study.data.tags
            if k.startswith("auforget.reused.")
        }
        assert children | reused >= TRAINING | ANALYSIS

    champion = client.get_model_version_by_alias("auforget-pain", "champion")
    assert mlflow.pytorch.load_model("models:/auforget-pain@champion").n_classes == 2
    assert any(k.startswith("proxied/") and "/artifacts/" in k for k in bucket.keys("proxied/"))
    assert_no_local_store(*projects)

    postgres.restart()  # between steps of the lab's week: nothing is lost
    before = {r.info.run_id for r in runs}
    check(["auforget", "--quiet", "main"], projects[0], client_env(projects[0], proxied_server))
    new = [r for r in runs_of(client) if r.info.run_id not in before]
    assert [r.data.tags.get("auforget.stage") for r in new] == ["study"], (
        "only the study run itself is new"
    )
    assert (
        client.get_model_version_by_alias("auforget-pain", "champion").version == champion.version
    )
    assert (projects[0] / "reports" / "report.html").exists()
    assert_no_local_store(*projects)


def test_a_training_stage_writes_straight_to_the_bucket(
    prepared_project, tmp_path, direct_server, bucket, monkeypatch
):
    """--default-artifact-root s3://...: `mlflow run` trains and registers the base model with the
    client uploading to the bucket itself; the model then loads over HTTP + S3. (The project
    comes with its data and splits: `auforget synth` and `prepare` do not touch MLflow.)"""
    project = tmp_path / "carol"
    shutil.copytree(prepared_project, project, symlinks=True)
    env = client_env(project, direct_server)
    check(
        ["mlflow", "run", ".", "-e", "emotion", "-P", "epochs=1", "--env-manager", "local"],
        project,
        env,
    )
    client = point_at(direct_server)
    version = client.get_model_version_by_alias("auforget-emotion", "base")
    assert client.get_run(version.run_id).info.artifact_uri.startswith(direct_server.artifacts)
    assert any("/artifacts/" in k for k in bucket.keys("direct/"))
    for var, value in direct_server.client_env.items():
        monkeypatch.setenv(var, value)
    assert mlflow.pytorch.load_model("models:/auforget-emotion@base").n_classes == 8
    assert_no_local_store(project)


def test_an_unreachable_server_or_bucket_is_one_clear_line(tmp_path, direct_server):
    project = copy_project(tmp_path / "dave")
    dead = f"http://127.0.0.1:{free_port()}"
    for env, named in (
        (client_env(project, direct_server, MLFLOW_TRACKING_URI=dead), dead),
        (client_env(project, direct_server, MLFLOW_S3_ENDPOINT_URL=dead), direct_server.artifacts),
    ):
        result = subprocess.run(
            ["auforget", "--quiet", "main"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 2
        lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(lines) == 1 and named in lines[0], result.stderr[-3000:]
        assert "Traceback" not in result.stderr
    assert_no_local_store(project)


@pytest.fixture
def dvc_env(tmp_path, bucket):
    def env(project: Path) -> dict[str, str]:
        return {**environment(project), **bucket.env()}

    return env


def test_dvc_pushes_the_splits_to_the_bucket_and_a_fresh_clone_pulls_them(
    tmp_path, bucket, dvc_env
):
    project = copy_project(tmp_path / "erin")
    check(["dvc", "repro", "prepare"], project, dvc_env(project))
    splits = {
        p.relative_to(project): p.read_bytes()
        for p in sorted((project / "data" / "splits").rglob("*.csv"))
    }
    assert splits
    check(
        ["dvc", "remote", "add", "-d", "lab", f"s3://{bucket.bucket}/dvc"],
        project,
        dvc_env(project),
    )
    check(
        ["dvc", "remote", "modify", "lab", "endpointurl", bucket.endpoint],
        project,
        dvc_env(project),
    )
    check(["dvc", "push"], project, dvc_env(project))
    assert bucket.keys("dvc/")
    check(["git", "add", "dvc.lock", ".dvc/config"], project, dvc_env(project))
    check(["git", "commit", "-qm", "splits on the lab remote"], project, dvc_env(project))

    clone = tmp_path / "frank"
    check(["git", "clone", "-q", str(project), str(clone)], tmp_path, dvc_env(clone))
    assert not (clone / "data" / "splits").exists()
    check(["dvc", "pull", "data/splits"], clone, dvc_env(clone))
    pulled = {
        p.relative_to(clone): p.read_bytes()
        for p in sorted((clone / "data" / "splits").rglob("*.csv"))
    }
    assert pulled == splits
