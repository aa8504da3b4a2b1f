"""Reuse follows what a step uses, through the `auforget` executable on the micro study.

The project copy runs its own copy of the package (PYTHONPATH=src), so the test can edit the
source the way a maintainer would, without touching the installed package other tests use.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from tests.project import MICRO_LEVELS, MICRO_PARAMS, copy_project, run

TRAINING = {
    "emotion",
    *(f"transfer-b{i}" for i in MICRO_LEVELS),
    *(f"retrain-b{i}" for i in MICRO_LEVELS),
}


def _stage_runs(project: Path) -> Counter:
    """FINISHED runs per stage (run name) in the project's store."""
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string="attributes.status = 'FINISHED'",
        max_results=5000,
    )
    return Counter(r.info.run_name for r in runs if "auforget.stage" in r.data.tags)


def _saliency(runs: Counter) -> int:
    return sum(n for name, n in runs.items() if name.startswith("saliency"))


def _main(project: Path) -> None:
    run(["auforget", "--quiet", "main"], project, PYTHONPATH=str(project / "src"))


def _edit(project: Path, module: str) -> None:
    with (project / "src/auforget" / module).open("a") as f:
        f.write("\n# an edit that changes no behaviour\n")


def test_a_report_or_analysis_edit_reruns_no_training_step_and_a_loop_edit_reruns_them_all(
    tmp_path,
):
    study = {**MICRO_PARAMS["study"], "metrics_dir": "metrics/micro"}
    project = copy_project(tmp_path / "project", {**MICRO_PARAMS, "study": study})
    _main(project)
    first = _stage_runs(project)
    assert {name: first[name] for name in TRAINING} == dict.fromkeys(TRAINING, 1)

    # the study writes its metrics files to study.metrics_dir (metrics/ stays empty)...
    ours = project / "metrics" / "micro"
    assert {"emotion.json", "prepare.json", "forgetting.json"} <= {p.name for p in ours.iterdir()}
    assert not list((project / "metrics").glob("*.json"))
    # ...and moving that folder is not a change of any step: every step is reused
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["study"]["metrics_dir"] = "metrics/moved"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _main(project)
    assert _stage_runs(project) - first == Counter({"study": 1})  # the study run alone is new
    assert (project / "metrics" / "moved" / "emotion.json").read_text() == (
        ours / "emotion.json"
    ).read_text()

    _edit(project, "stages/report/render.py")
    _edit(project, "analysis/regions.py")
    _main(project)
    second = _stage_runs(project)
    assert {name: second[name] for name in TRAINING} == dict.fromkeys(TRAINING, 1)
    assert second["report"] == first["report"] + 1  # the report did rerun
    # saliency ranks face regions (analysis/regions.py), so each of its runs reran
    assert _saliency(second) == 2 * _saliency(first) > 0

    _edit(project, "nn/training.py")
    _main(project)
    third = _stage_runs(project)
    assert {name: third[name] for name in TRAINING} == dict.fromkeys(TRAINING, 2)
