"""MLproject and its environment files, read the way `mlflow run` reads them."""

from __future__ import annotations

import tomllib
import yaml
from mlflow.projects import _project_spec
from mlflow.utils.environment import _PythonEnv
from packaging.requirements import Requirement

from tests.project import REPO


def _normalised(specs: list[str]) -> set[str]:
    return {str(Requirement(s)) for s in specs}


def test_python_env_and_conda_list_the_packages_of_pyproject():
    wanted = _normalised(
        tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    python_env = _PythonEnv.from_yaml(str(REPO / "python_env.yaml"))
    assert python_env.python == "3.11"
    assert _normalised(python_env.dependencies) == wanted
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert _normalised([p for p in pip if p != "-e ."]) == wanted and "-e ." in pip


def test_mlproject_uses_python_env_and_never_defaults_to_empty():
    project = _project_spec.load_project(str(REPO))
    assert project.env_type == "python_env" and project.env_config_path.endswith("python_env.yaml")
    names = yaml.safe_load((REPO / "MLproject").read_text())["entry_points"]
    for name in names:
        entry = project.get_entry_point(name)
        for param in entry.parameters.values():
            assert param.default not in (None, ""), f"{name}.{param.name} would be logged as ''"
        assert "PYTHONPATH=src" in entry.command and "python -m auforget.cli" in entry.command
