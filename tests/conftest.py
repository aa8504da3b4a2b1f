"""Shared fixtures: tiny real data, a real MLflow sqlite store per test, seeds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import mlflow
import pytest

from auforget.core.config import Params

TESTS = Path(__file__).resolve().parent
# Numbers recorded on one machine (tests/stages/tiny_study_metrics.json) are compared exactly on
# another, but torch picks its kernels by the CPU's vector unit, and AVX-512 kernels sum in
# another order than AVX2 ones: the same seed gave a different tiny study on an AVX-512 machine.
# Holding ATen and oneDNN (and MKL) to AVX2 reproduces, on that machine, the numbers recorded on
# an AVX2 one (2026-11-26; both variables were needed; MKL's alone changed nothing and is set so
# that MKL's own kernels are held too). Set before any torch kernel runs; every subprocess, Ray
# node and torchrun worker inherits it.
SAME_KERNELS_AS_RECORDED = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_CBWR": "AVX2",
}
os.environ.update(SAME_KERNELS_AS_RECORDED)
# With as many pytest workers as cores, a training subprocess with torch's default of one thread
# per core would put twice as many busy threads as cores on the machine; one thread each keeps
# the cores for the other worker. Tests that compare numbers already run with one thread.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0")) >= (os.cpu_count() or 1):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
# The test command runs two or more pytest-xdist workers (`-n auto` in pyproject.toml). Tests
# that share an expensive session fixture run in one worker: the team set-up's servers, and the
# tiny study that the doors and the UI walk look at; every other test keeps its file's company,
# so a module's fixtures are built once. (xdist's own `--dist loadgroup` does not group under
# pytest 9.2, whose node ids it can no longer rename.) The longest groups go first, so that no
# worker is left alone with one at the end (figures from `pytest --durations`).
SHARED_WORKER = {
    "team/": "team/",
    "stages/test_doors.py": "tiny study",
    "stages/test_mlflow_ui.py": "tiny study",
}
LONGEST_FIRST = (
    "test_paper_preset.py",
    "tiny study",
    "team/",
    "stages/test_seeds.py",
    "stages/test_main.py",
    "workflow/test_executors.py",
    "stages/test_reuse.py",
    "test_dvc.py",
    "stages/test_tune.py",
    "stages/test_training_stages.py",
    "stages/test_prepare.py",
)


def worker_group(path: str) -> str:
    """The scheduling unit of a test file (its path under tests/)."""
    return next((group for prefix, group in SHARED_WORKER.items() if path.startswith(prefix)), path)


TINY_PREPARE = {"unbc_pool_per_class": 24, "unbc_val_size": 8}
FAST_TRAINING = {"epochs": 2, "batch_size": 16, "patience": 5}


def _relative(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].removeprefix("tests/")


def pytest_collection_modifyitems(config, items):
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(worker_group(_relative(item.nodeid)), len(rank)))


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(_relative(nodeid))

    config.option.loadscopereorder = False  # keep the order above
    return SharedFixtureScheduling(config, log)


# MLflow's URIs as the session found them (unset, under CI).
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
SESSION_URIS = {name: os.environ.get(name) for name in URI_VARIABLES}


@pytest.fixture(autouse=True)
def _mlflow_uris_as_the_session_began():
    """mlflow.set_tracking_uri / set_registry_uri (and auforget's `tracking.configure`, which
    calls them) change this process for good and also write MLFLOW_TRACKING_URI /
    MLFLOW_REGISTRY_URI into os.environ, which every later subprocess inherits. Left behind by
    one test or module fixture, they made a later test's client read the registry of an earlier
    test's store, and its `auforget` register its model there rather than on its own server (the
    server-fault test failed only in full runs). So every test starts and ends with them unset."""
    _reset_mlflow_uris()
    yield
    _reset_mlflow_uris()


def _reset_mlflow_uris() -> None:
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
    for name, value in SESSION_URIS.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


@pytest.fixture
def seed() -> int:
    return 0


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Params:
    """The tiny synthetic datasets and their split manifests, written once per session.

    Returned as Params whose data roots and splits_dir are absolute, so any test can chdir
    into its own tmp_path and still read them. Treat them as read-only.
    """
    from auforget.stages.prepare import run_prepare
    from auforget.stages.synth import run_synth

    base = tmp_path_factory.mktemp("tiny-study")
    raw = base / "raw"
    params = Params()
    params = (
        dataclasses.replace(
            params,
            synth=dataclasses.replace(params.synth, out=str(raw), scale="tiny", seed=0),
            data=dataclasses.replace(
                params.data,
                affectnet_root=str(raw / "affectnet"),
                unbc_root=str(raw / "unbc"),
                ckplus_root=str(raw / "ckplus"),
                splits_dir=str(base / "splits"),
            ),
        )
        .with_overrides("prepare", **TINY_PREPARE)
        .with_overrides("model", profile="small")
    )  # the tests' 64 px network
    cwd = Path.cwd()
    try:
        import os

        os.chdir(base)  # prepare writes metrics/ into the working directory
        run_synth(params, progress=False)
        run_prepare(params, progress=False)
    finally:
        os.chdir(cwd)
    return params


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch) -> str:
    """A fresh sqlite tracking store + artifact folder in tmp_path, and tmp_path as cwd."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    yield uri
    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def fast_params(tiny_data) -> Params:
    """Tiny data, small model, two epochs everywhere, few probe seeds."""
    params = tiny_data.with_overrides("model", profile="small")
    for section in ("emotion", "transfer", "retrain"):
        params = params.with_overrides(section, **FAST_TRAINING)
    params = params.with_overrides("probes", seeds=20)
    return params.with_overrides("saliency", max_images=4)


@pytest.fixture(scope="session")
def prepared_project(tmp_path_factory) -> Path:
    """A copied project (tests/project.py) with the tiny synthetic data and split manifests and no
    runs yet, written once per session. Copy it (`shutil.copytree`) before running anything in
    it."""
    from tests.project import copy_project, run

    project = copy_project(tmp_path_factory.mktemp("prepared") / "project")
    run(["auforget", "--quiet", "synth"], project)
    run(["auforget", "--quiet", "prepare"], project)
    return project
