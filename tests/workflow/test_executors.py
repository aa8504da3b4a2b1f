"""`auforget main --executor ray|local` through the executable: a real two-node Ray cluster on
this machine and a local process pool give the numbers of a serial run (tests/stages/
tiny_study_metrics.json, recorded with one torch thread), and a failed step fails clearly while
the rest of its layer finishes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest

from auforget.workflow.executors import (
    ExecutorSettings,
    Step,
    StepFailed,
    run_layers,
    worker_context,
)
from tests.project import differing, environment, recorded_study, run
from tests.servers import free_port

RECORDED = recorded_study()  # per CPU vendor (tests/project.py)


def _fresh(prepared: Path, dst: Path) -> Path:
    shutil.copytree(prepared, dst, symlinks=True)
    return dst


def _same_numbers_as_serial(project: Path) -> None:
    recorded = json.loads(RECORDED.read_text())
    metrics = {p.stem: json.loads(p.read_text()) for p in (project / "metrics").glob("*.json")}
    assert sorted(metrics) == sorted(recorded)
    for step in recorded:
        differ = differing(recorded, metrics, step)
        assert not differ, f"{step}: serial -> this executor {differ}"


def _study_runs(project: Path) -> tuple[object, list]:
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1000)
    study = next(r for r in runs if r.data.tags.get("auforget.stage") == "study")
    return study, [r for r in runs if r is not study]


def _check_study(project: Path, executor: str) -> None:
    _same_numbers_as_serial(project)
    study, steps = _study_runs(project)
    assert study.data.tags["auforget.executor"] == executor and study.info.status == "FINISHED"
    # 13 training steps, forgetting, cka, saliency, two probes, the AU survey, controls, promote,
    # report
    assert len(steps) == 22 and all(r.info.status == "FINISHED" for r in steps)
    assert {r.data.tags.get("mlflow.parentRunId") for r in steps} == {study.info.run_id}
    assert (
        study.data.metrics["champion_freeze"]
        == json.loads(RECORDED.read_text())["promote"]["champion_freeze"]
    )


def _ray_node(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`ray start --block` in its own process group (so the test can stop exactly what it
    started: `ray stop` would kill every Ray process on the machine); returns once it is up."""
    ports = [
        f"--{name}-port={free_port()}"
        for name in (
            "node-manager",
            "object-manager",
            "dashboard-agent-listen",
            "dashboard-agent-grpc",
            "runtime-env-agent",
            "metrics-export",
        )
    ]
    cmd = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        *args,
        "--num-cpus=1",
        "--object-store-memory=100000000",
        "--disable-usage-stats",
        *ports,
        "--block",
    ]
    proc = subprocess.Popen(
        cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while "block forever" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{' '.join(cmd)} did not come up:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    """The whole process group, stragglers included: raylet and workers can outlive `ray start`."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            time.sleep(1)  # the group's other processes (raylet, workers) leave with it
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def ray_cluster(tmp_path, monkeypatch):
    """A head and a worker node, one CPU each, on loopback ports; both stopped even on failure.

    With token authentication and a token of its own, as README "Scaling out" sets a cluster up:
    Ray 2.59+ writes ~/.ray/auth_token whenever a local instance starts (`--executor ray` with no
    address does that), and with that file present and authentication left at its default the
    worker node was refused by the head (InvalidAuthToken, Ray 2.60), so the test depended on
    what ran on the machine before it."""
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    token = tmp_path / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    temp = tempfile.mkdtemp(
        prefix="ray", dir="/tmp"
    )  # short: Ray's socket paths must fit in 107 bytes
    port, nodes = free_port(), []
    try:
        nodes.append(
            _ray_node(
                [
                    "--head",
                    f"--port={port}",
                    "--node-ip-address=127.0.0.1",
                    "--include-dashboard=false",
                    f"--temp-dir={temp}",
                ],
                tmp_path / "head.log",
                env,
            )
        )
        nodes.append(
            _ray_node(
                [f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1"],
                tmp_path / "worker.log",
                env,
            )
        )
        yield f"127.0.0.1:{port}"
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_cluster_of_two_nodes_gives_the_serial_numbers(
    prepared_project, ray_cluster, tmp_path, monkeypatch
):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    project = _fresh(prepared_project, tmp_path / "project")
    result = run(
        ["auforget", "--quiet", "main", "--executor", "ray", "--ray-address", ray_cluster], project
    )
    assert "2 node(s), 2 CPUs" in result.stderr
    _check_study(project, "ray")


def test_local_pool_of_two_gives_the_serial_numbers(prepared_project, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    project = _fresh(prepared_project, tmp_path / "project")
    run(["auforget", "--quiet", "main", "--executor", "local", "--jobs", "2"], project)
    _check_study(project, "local")


# Steps for the failure test: module-level, so they pickle by reference into pool workers.
def _write_marker(params: dict, *, progress: bool, reuse: bool) -> dict[str, float]:
    Path(params["marker"]).write_text("done")
    return {"ok": 1.0}


def _fail(params: dict, *, progress: bool, reuse: bool) -> dict[str, float]:
    raise ValueError(f"no split manifest at {params['where']}")


@pytest.mark.parametrize("kind", ["serial", "local"])
def test_a_failed_step_fails_clearly_and_its_layer_finishes(kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layers = [
        [
            Step("a", _write_marker, {"marker": str(tmp_path / "a")}),
            Step("broken", _fail, {"where": "data/splits/x.csv"}),
            Step("b", _write_marker, {"marker": str(tmp_path / "b")}),
        ],
        [Step("after", _write_marker, {"marker": str(tmp_path / "after")})],
    ]
    context = worker_context(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        parent_run_id="",
        threads=1,
        log_level=30,
    )
    with pytest.raises(
        StepFailed,
        match=r"1 step\(s\) failed -- broken: ValueError: no split manifest at "
        r"data/splits/x.csv -- finished in that layer: a, b",
    ):
        run_layers(layers, ExecutorSettings(kind, jobs=2), context, progress=False)
    assert (
        (tmp_path / "a").exists()
        and (tmp_path / "b").exists()
        and not (tmp_path / "after").exists()
    )


def test_bad_executor_settings_name_the_choices(tmp_path):
    result = subprocess.run(
        ["auforget", "main", "--executor", "dask"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
    )
    assert (
        result.returncode == 2
        and "invalid choice: 'dask'" in result.stderr
        and "serial" in result.stderr
    )
    with pytest.raises(ValueError, match="--executor 'dask': expected one of serial, local, ray"):
        ExecutorSettings("dask")


def test_an_unreachable_ray_head_stops_main_at_once_with_one_line(tmp_path):
    """Ray's own client retries a dead head without end; main must say so before it starts
    anything."""
    port = free_port()
    result = subprocess.run(
        ["auforget", "main", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert f"auforget main: error: no Ray head answers at 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert (
        not (tmp_path / "mlflow.db").exists() and not (tmp_path / "data").exists()
    )  # no run, no data
