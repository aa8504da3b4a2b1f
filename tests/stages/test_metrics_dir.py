"""A study with its own `study.metrics_dir` writes its metrics files there and leaves the default
folder alone, through the `auforget` command (prepare's own writer and a training recipe's), and
moving the folder keeps the step's identity, so `main` reuses the finished run. About 2 minutes
of wall time (1.4 CPU minutes) on a shared 2-core AMD EPYC, 2026-12-07."""

from __future__ import annotations

import json
import sys

from tests.project import MICRO_PARAMS, copy_project, run

SAME_IDENTITY = """
from auforget.core.config import load_params
from auforget.workflow.recipes import emotion_recipe
params = load_params("params.yaml")
moved = params.with_overrides("study", metrics_dir="metrics/moved")
same = emotion_recipe(params).key(None) == emotion_recipe(moved).key(None)
print("same" if same else "different")
"""


def test_a_study_writes_its_metrics_to_its_own_folder_and_keeps_its_identity(tmp_path):
    params = {**MICRO_PARAMS, "study": {**MICRO_PARAMS["study"], "metrics_dir": "metrics/other"}}
    project = copy_project(tmp_path / "project", params)
    for step in (["synth"], ["prepare"], ["emotion"]):
        run(["auforget", "--quiet", *step], project)
    ours = project / "metrics" / "other"
    assert sorted(p.name for p in ours.iterdir()) == [
        "emotion.json",
        "prepare.json",
        "prepare_skipped.txt",
    ]
    assert not list((project / "metrics").glob("*.json"))  # the default folder stays empty
    trained = json.loads((ours / "emotion.json").read_text())
    assert trained and all(name.startswith("test_") for name in trained)

    # the same study with its files elsewhere is the same step: its identity (what `main` reuses
    # a finished run by) does not change
    out = run([sys.executable, "-c", SAME_IDENTITY], project)
    assert out.stdout.split() == ["same"], out.stdout
