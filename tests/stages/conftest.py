"""A tiny study run once per session, for the tests that only need to look at one."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.project import copy_project, run


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory) -> Path:
    """A copied project (tests/project.py's tiny settings) after `auforget main`, with one torch
    thread so its numbers are those of any machine with this CPU. Tests may add runs to it but must
    not depend on being the first or the only ones to use it."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    project = copy_project(tmp_path_factory.mktemp("study") / "project")
    run(["auforget", "--quiet", "main"], project)
    return project
