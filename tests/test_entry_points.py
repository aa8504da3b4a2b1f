"""MLproject, the `auforget` CLI and dvc.yaml name the same steps with the same options.

Read from the three files as shipped: every MLproject entry point is a sub-command whose
command line the CLI parses, each MLproject parameter reaching the option of the same name;
every dvc.yaml stage is a sub-command whose `cmd` the CLI parses (foreach items filled in) and
whose params are params.yaml sections or fields; every step sub-command has both doors.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest
import yaml

from auforget.cli import STAGES, build_parser
from auforget.core.config import Params

REPO = Path(__file__).resolve().parents[1]
MLPROJECT = yaml.safe_load((REPO / "MLproject").read_text())["entry_points"]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
NOT_DVC = {"main", "tune", "compare"}  # whole-study, search and cross-study commands: CLI and
# MLproject only (README)


def cli_args(command: str) -> list[str]:
    """The arguments after the `auforget` program (or `python -m auforget[.cli]`) in a command
    line."""
    words = shlex.split(command)
    for i, word in enumerate(words):
        if word in ("auforget", "auforget.cli") or word.endswith("/auforget"):
            return words[i + 1 :]
    raise AssertionError(f"no auforget call in {command!r}")


def test_every_step_has_each_door():
    assert set(MLPROJECT) == set(STAGES)
    assert set(DVC) == set(STAGES) - NOT_DVC


@pytest.mark.parametrize("entry", sorted(MLPROJECT))
def test_mlproject_parameters_reach_the_options_of_the_same_name(entry):
    spec = MLPROJECT[entry]
    parameters = spec.get("parameters", {})
    values = {name: f"V{i}" for i, name in enumerate(parameters)}
    placeholders = set(re.findall(r"{(\w+)}", spec["command"]))
    assert placeholders == set(parameters), (
        f"{entry}: command uses {placeholders}, declares {set(parameters)}"
    )
    args = build_parser().parse_args(cli_args(spec["command"].format(**values)))
    assert args.command == entry
    for name, value in values.items():
        assert getattr(args, name) == value, f"{entry}: -P {name} does not reach option {name}"
    exposed = set(STAGES[entry][1]) | {"params", "write_params"}
    assert set(parameters) <= exposed


def _dvc_commands(name: str, stage: dict) -> list[str]:
    if "foreach" not in stage:
        return [stage["cmd"]]
    items = stage["foreach"]
    items = items.values() if isinstance(items, dict) else items
    commands = []
    for item in items:
        command = stage["do"]["cmd"].replace("${item}", str(item))
        for key, value in item.items() if isinstance(item, dict) else ():
            command = command.replace(f"${{item.{key}}}", str(value))
        assert "${" not in command, f"{name}: unfilled {command!r}"
        commands.append(command)
    return commands


@pytest.mark.parametrize("name", sorted(DVC))
def test_dvc_stage_commands_are_cli_calls_and_params_exist(name):
    stage = DVC[name]
    for command in _dvc_commands(name, stage):
        args = build_parser().parse_args(cli_args(command))
        assert args.command == name
    sections = {f.name: f.default_factory() for f in dataclasses.fields(Params)}
    for entry in (stage.get("do", stage)).get("params", []):
        section, _, field = str(entry).partition(".")
        assert section in sections, f"{name}: params section {section!r} is not in params.yaml"
        assert not field or hasattr(sections[section], field), f"{name}: {entry} is not a parameter"
