"""dvc.yaml through `dvc` itself, in a tmp git copy of the project on the tiny study."""

from __future__ import annotations

import json
import os
import subprocess

from tests.project import copy_project, environment

STAGES = ("synth", "prepare", "emotion")


def _dvc(project, *args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["dvc", *args], cwd=project, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, (
        f"dvc {' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


def _bytecode_on(project) -> dict[str, str]:
    """The project's environment as a user's machine has it: Python writes __pycache__."""
    env = environment(project)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def test_repro_twice_with_bytecode_reruns_nothing_plots_and_a_fresh_clone(tmp_path):
    project = copy_project(tmp_path / "project")
    env = _bytecode_on(project)
    _dvc(project, "repro", "emotion", env=env)
    # What importing the stage code from this checkout, pytest or a type checker leave behind.
    subprocess.run(["python", "-m", "compileall", "-q", "src"], cwd=project, env=env, check=True)
    (project / "src" / "auforget" / ".pytest_cache").mkdir()
    assert list((project / "src" / "auforget").rglob("*.pyc"))

    status = _dvc(project, "status", *STAGES, env=env)
    assert "up to date" in status, status
    again = _dvc(project, "repro", "emotion", env=env)
    assert "Running stage" not in again, again

    shown = json.loads(
        _dvc(project, "plots", "show", "--json", "plots/emotion/confusion.csv", env=env)
    )
    assert "plots/emotion/confusion.csv" in json.dumps(shown)
    header = (project / "plots" / "emotion" / "confusion.csv").read_text().splitlines()[0]
    assert header == "sample_id,actual,predicted"

    # A fresh clone: git brings dvc.lock, metrics/ and plots/; `dvc pull` the split manifests;
    # the synthetic images are not cached (cache: false) and `dvc repro` regenerates only them.
    remote = tmp_path / "remote"
    _dvc(project, "remote", "add", "-d", "local", str(remote), env=env)
    _dvc(project, "push", env=env)
    subprocess.run(
        ["git", "add", "dvc.lock", "metrics", "plots", ".dvc/config"],
        cwd=project,
        env=env,
        check=True,
    )
    subprocess.run(["git", "commit", "-qm", "study"], cwd=project, env=env, check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], env=env, check=True)
    clone_env = _bytecode_on(clone)
    _dvc(clone, "pull", env=clone_env)
    assert (clone / "data" / "splits" / "affectnet" / "train.csv").exists()
    assert not (clone / "data" / "raw").exists()
    rerun = _dvc(clone, "repro", "emotion", env=clone_env)
    assert "Running stage 'synth'" in rerun, rerun
    assert "Running stage 'prepare'" not in rerun and "Running stage 'emotion'" not in rerun, rerun
    assert "up to date" in _dvc(clone, "status", *STAGES, env=clone_env)
    assert not os.path.exists(clone / "mlflow.db"), "nothing trained in the clone"
