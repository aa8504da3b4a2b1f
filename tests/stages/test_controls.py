"""The controls stage on the smallest study: the sham stays unflagged, the lesion is judged.

A micro study (MICRO_PARAMS: synth, prepare, emotion, FreezeB5's transfer and retrain, one epoch
each) in tmp_path, then `run_controls` with few pairs and probe repetitions. Asserted:

- the sham's side, which must hold at any scale: the random subspace has the lesion's rank and
  removes its variance within 10 %, and no instrument flags it (no Holm-significant emotion, the
  probe's corrected p >= 0.05, the maps do not rank the AU's region first with Holm p < 0.05);
- the lesion's side: where the manipulation check passes, every lesion instrument must pass; where
  it fails, the control is void and its flags are absent (at the micro and tiny scales a
  one-epoch network has no channel direction specific to AU14, so the check fails: erasing
  AU14's directions cuts every AU's sensitivity about as much, docs/controls.md);
- metrics/controls.json, the run's files and the notes say the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pytest

from auforget.analysis import instrument_checks as checks
from auforget.core import artifacts
from auforget.core.config import load_params
from tests.project import MICRO_PARAMS, copy_project


@pytest.fixture(scope="module")
def micro_study(tmp_path_factory) -> Path:
    from auforget.stages.emotion import run_emotion
    from auforget.stages.prepare import run_prepare
    from auforget.stages.retrain import run_retrain
    from auforget.stages.synth import run_synth
    from auforget.stages.transfer import run_transfer

    project = copy_project(tmp_path_factory.mktemp("controls") / "project", MICRO_PARAMS)
    here = Path.cwd()
    os.chdir(project)
    try:
        p = load_params("params.yaml").with_overrides("retrain", heads=1)
        run_synth(p, progress=False)
        run_prepare(p, progress=False)
        run_emotion(p, progress=False)
        run_transfer(p.with_overrides("transfer", freeze=5), progress=False)
        run_retrain(p.with_overrides("retrain", freeze=5), progress=False)
    finally:
        os.chdir(here)
    return project


def test_the_instruments_do_not_flag_the_sham_and_judge_the_lesion(micro_study, monkeypatch):
    from auforget.stages.controls import run_controls

    monkeypatch.chdir(micro_study)
    params = (
        load_params("params.yaml")
        .with_overrides("retrain", heads=1)
        .with_overrides("controls", n_pairs=4, probe_seeds=5, max_images=8)
    )
    metrics = run_controls(params, progress=False)

    assert abs(metrics["negative_variance_ratio"] - 1) <= 0.1
    assert metrics["lesion_rank"] >= 1 and metrics["lesion_energy"] >= 0.9
    assert metrics["negative_recall_n_significant"] == 0
    assert metrics["negative_probe_p_corrected"] >= 0.05
    assert not (metrics["negative_maps_region_first"] and metrics["negative_maps_n_images"] >= 10)
    assert metrics["sham_recall_n_significant"] == 0
    if metrics["lesion_manipulation_pass"] == 1.0:
        for flag in ("lesion_recall_pass", "lesion_maps_pass", "lesion_probe_pass"):
            assert metrics[flag] == 1.0, (flag, metrics)
    else:
        assert metrics["lesion_void"] == 1.0
        assert not any(f in metrics for f in checks.FLAGS if f.startswith("lesion_"))

    written = json.loads((micro_study / "metrics" / "controls.json").read_text())
    assert written["lesion_void"] == metrics["lesion_void"]
    run = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'controls'",
    )[0]
    names = {f.path for f in mlflow.MlflowClient().list_artifacts(run.info.run_id, "controls")}
    assert names == {
        artifacts.CONTROLS_MANIPULATION_CSV,
        artifacts.CONTROLS_RECALL_CSV,
        artifacts.CONTROLS_PROBES_CSV,
        artifacts.CONTROLS_RANKING_CSV,
        artifacts.CONTROLS_NOTES,
    }
    notes = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id, artifact_path=artifacts.CONTROLS_NOTES
        )
    ).read_text()
    assert ("lesion_recall_pass: void" in notes) == (metrics["lesion_void"] == 1.0)


def test_the_freezeb5_prime_pairs_are_counted_together_for_mcnemars_budget(tmp_path):
    """One FreezeB5' pair per draw: verdicts sums their Holm-significant emotions, and the report
    withdraws the McNemar verdicts by the budget of 1 in 20 pairs, read from a real MLflow run."""
    import pandas as pd

    from auforget.stages.controls import Instruments, verdicts
    from auforget.stages.report import lookup

    def recall(p_holm: list[float]) -> pd.DataFrame:
        emotions = ["neutral", "happy", "contempt"]
        return pd.DataFrame({"emotion": emotions, "drop": [0.0, 0.01, 0.2], "p_holm": p_holm})

    lesioned = Instruments(recall([1.0, 1.0, 0.001]), None, {14: (0.1, 0.001), 5: (0.0, 0.9)})
    negative = Instruments(recall([1.0, 1.0, 1.0]), None, {14: (0.0, 0.9)})
    shams = [recall([0.01, 1.0, 1.0]), recall([1.0, 1.0, 1.0]), recall([1.0, 0.02, 0.03])]
    out = verdicts(14, lesioned, [negative] * 3, shams)
    assert out[checks.SHAM_N_SIGNIFICANT] == 3 and out["sham_recall_min_p_holm"] == 0.01
    assert out["negative_draws"] == 3 and out["lesion_recall_pass"] == 1.0

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("pairs")
    found = {}
    for name, n, draws in (("one", 2.0, 1.0), ("twenty", 1.0, 20.0), ("forty", 3.0, 40.0)):
        with mlflow.start_run() as run:
            mlflow.log_metrics({checks.SHAM_N_SIGNIFICANT: n, "negative_draws": draws})
        found[name] = lookup.mcnemar_withdrawn(mlflow.get_run(run.info.run_id))
    assert "2 Holm-significant emotions in 1 pair," in found["one"]
    assert found["twenty"] == ""  # 1 in 20 pairs is within the budget
    assert "3 Holm-significant emotions in 40 pairs" in found["forty"]
