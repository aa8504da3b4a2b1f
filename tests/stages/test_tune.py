"""`tune`: the Optuna study resumes from its storage, prunes, nests its trials in MLflow, writes
params.yaml line by line, and fails clearly on a storage it cannot open.

Real everything, kept tiny: split manifests over a few dozen 64 px PNGs (a label-dependent
colour and square), the small VGG profile, an MLflow sqlite store and Optuna sqlite storage in
each test's tmp_path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from auforget.core.config import EMOTIONS, PAIN_CLASSES, DataConfig, Params, TuneConfig, load_params
from auforget.stages.tune import (
    PRUNER,
    open_storage,
    open_study,
    report_and_prune,
    run_tune,
    write_best,
)
from auforget.tracking import registry

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
PER_CLASS = {"train": 3, "val": 2, "test": 1}


def _write_task(
    root: Path, splits_dir: Path, name: str, n_classes: int, per_class: dict[str, int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        rows = []
        for label in range(n_classes):
            for i in range(n):
                pixels = rng.normal(60 + 20 * label, 12, (64, 64, 3))
                row, col = divmod(label, 4)
                pixels[8 + 24 * row : 24 + 24 * row, 4 + 15 * col : 16 + 15 * col] = 230
                sample_id = f"{split}-{label}-{i}"
                Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(
                    root / f"{sample_id}.png"
                )
                rows.append(
                    dict(
                        sample_id=sample_id,
                        path=f"{sample_id}.png",
                        label=label,
                        x=0,
                        y=0,
                        w=64,
                        h=64,
                        landmarks="",
                    )
                )
        (splits_dir / name).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(splits_dir / name / f"{split}.csv", index=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> DataConfig:
    """AffectNet- and UNBC-style split manifests over tiny images (absolute paths)."""
    base = tmp_path_factory.mktemp("tune-data")
    for name in ("affectnet", "unbc"):
        (base / name).mkdir()
    _write_task(base / "affectnet", base / "splits", "affectnet", len(EMOTIONS), PER_CLASS, seed=0)
    _write_task(
        base / "unbc",
        base / "splits",
        "unbc",
        len(PAIN_CLASSES),
        {"train": 8, "val": 4, "test": 2},
        seed=1,
    )
    return DataConfig(
        affectnet_root=str(base / "affectnet"),
        unbc_root=str(base / "unbc"),
        splits_dir=str(base / "splits"),
    )


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID, which connection.configure reads as
    # "launched by `mlflow run`"; drop the previous test's value so this store gets its experiment.
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return tmp_path


def _params(data: DataConfig, **tune) -> Params:
    params = Params(data=data).with_overrides("model", profile="small")
    params = params.with_overrides("emotion", epochs=1, batch_size=16, patience=5)
    params = params.with_overrides("transfer", batch_size=8, patience=5)
    return params.with_overrides("tune", **{"stage": "emotion", "n_trials": 2, "epochs": 2, **tune})


def _trials(storage: str, name: str = "auforget-gamma") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=storage).get_trials()


def _runs(stage: str) -> list:
    return mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        order_by=["attributes.start_time ASC"],
        filter_string=f"tags.`auforget.stage` = '{stage}'",
    )


def test_study_resumes_from_storage(data, project):
    first = run_tune(_params(data, epochs=1), progress=False)
    storage = f"sqlite:///{project / 'optuna.db'}"  # the default storage, in the working directory
    before = _trials(storage)
    assert first["n_trials"] == 2 and first["n_trials_complete"] == 2
    assert [t.number for t in before] == [0, 1]

    second = run_tune(_params(data, n_trials=1, epochs=1), progress=False)
    after = _trials(storage)
    assert second["n_trials"] == 3
    assert [(t.params, t.value, t.intermediate_values) for t in after[:2]] == [
        (t.params, t.value, t.intermediate_values) for t in before
    ]
    # a continued study draws new gammas instead of replaying the first call's random draws
    assert after[2].params["gamma"] not in {t.params["gamma"] for t in before}
    assert second["best_value"] == max(t.value for t in after if t.value is not None)

    # reuse: the study already holds n_trials finished trials, so nothing runs and no run is made
    # and write_params puts the study's best gamma into params.yaml's emotion section
    params_file = project / "params.yaml"
    shutil.copy(REPO_PARAMS, params_file)
    again = run_tune(
        _params(data, n_trials=3, epochs=1),
        progress=False,
        reuse=True,
        write_params=True,
        params_path=str(params_file),
    )
    assert again == second and len(_trials(storage)) == 3
    assert load_params(params_file) == load_params(REPO_PARAMS).with_overrides(
        "emotion", gamma=second["best_gamma"]
    )
    changed = [
        b
        for a, b in zip(REPO_PARAMS.read_text().splitlines(), params_file.read_text().splitlines())
        if a != b
    ]
    assert changed == [f"  gamma: {second['best_gamma']!r}"]

    # every trial is an MLflow run nested under the tune run of its call
    tune_runs, trial_runs = _runs("tune"), _runs("tune-trial")
    assert len(tune_runs) == 2 and len(trial_runs) == 3
    parents = [r.data.tags["mlflow.parentRunId"] for r in trial_runs]
    assert parents == [tune_runs[0].info.run_id] * 2 + [tune_runs[1].info.run_id]
    assert [t.user_attrs["mlflow_run_id"] for t in after] == [r.info.run_id for r in trial_runs]
    for run, trial in zip(trial_runs, after):
        assert run.data.tags["optuna.state"] == "COMPLETE" and run.info.status == "FINISHED"
        assert float(run.data.params["gamma"]) == trial.params["gamma"]
        history = MlflowClient().get_metric_history(run.info.run_id, "val_f1_macro")
        assert {m.step: m.value for m in history} == trial.intermediate_values
        assert "test_f1_macro" not in run.data.metrics
    assert tune_runs[1].data.metrics["best_gamma"] == second["best_gamma"]
    assert tune_runs[1].data.metrics["n_trials_complete"] == 3
    assert "trials.csv" in {a.path for a in MlflowClient().list_artifacts(tune_runs[1].info.run_id)}
    assert not MlflowClient().search_registered_models()


def test_pruner_stops_a_trial_below_the_median(data, project):
    storage = f"sqlite:///{project / 'study.db'}"
    study = optuna.create_study(study_name="pruning", storage=storage, direction="maximize")
    gamma = optuna.distributions.FloatDistribution(0.0, 5.0)
    for g in (1.0, 3.0):  # two finished trials no real trial can match (macro F1 <= 1)
        study.add_trial(
            optuna.trial.create_trial(
                params={"gamma": g},
                distributions={"gamma": gamma},
                value=2.0,
                intermediate_values={1: 2.0, 2: 2.0},
            )
        )
    summary = run_tune(
        _params(data, n_trials=1, storage=storage, study_name="pruning"), progress=False
    )
    trial = _trials(storage, "pruning")[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [1, 2]  # epoch 1 is never pruned
    assert summary["n_trials_pruned"] == 1 and summary["best_value"] == 2.0
    (run,) = _runs("tune-trial")
    assert run.data.tags["optuna.state"] == "PRUNED" and run.info.status == "FINISHED"


def test_report_and_prune_raises_inside_the_epoch_callback():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(**PRUNER))
    gamma = optuna.distributions.FloatDistribution(0.0, 5.0)
    for value in (0.6, 0.8):
        study.add_trial(
            optuna.trial.create_trial(
                params={"gamma": 1.0},
                distributions={"gamma": gamma},
                value=value,
                intermediate_values={1: value, 2: value},
            )
        )
    good, bad = report_and_prune(study.ask()), report_and_prune(study.ask())
    bad(1, {"val_f1_macro": 0.1})  # warm-up: epoch 1 never prunes
    good(1, {"val_f1_macro": 0.9})
    good(2, {"val_f1_macro": 0.9})
    with pytest.raises(optuna.TrialPruned):
        bad(2, {"val_f1_macro": 0.1})


def test_transfer_trials_start_from_the_base_model_and_register_nothing(data, project):
    from auforget.stages.emotion import run_emotion

    params = _params(data, stage="transfer", freeze=2, n_trials=2, epochs=1, tune_lr=True)
    run_emotion(params, progress=False)
    summary = run_tune(params, progress=False)
    assert summary["n_trials_complete"] == 2 and 0.0 <= summary["best_value"] <= 1.0
    assert params.tune.lr_low <= summary["best_lr"] <= params.tune.lr_high
    # FreezeB5 trains the head on conv features cached once for all trials
    b5 = run_tune(
        params.with_overrides("tune", freeze=5, study_name="b5", tune_lr=False), progress=False
    )
    assert b5["n_trials_complete"] == 2 and "best_lr" not in b5
    assert [m.name for m in MlflowClient().search_registered_models()] == [registry.EMOTION_MODEL]
    lrs = [float(r.data.params["lr"]) for r in _runs("tune-trial")]
    assert len(set(lrs[:2])) == 2 and lrs[2:] == [params.transfer.lr] * 2


@pytest.mark.slow
def test_same_seed_same_trials(data, project):
    results = []
    for folder in ("a", "b"):
        storage = f"sqlite:///{project / folder}.db"
        run_tune(_params(data, storage=storage, epochs=1), progress=False)
        results.append([(t.params, t.value) for t in _trials(storage)])
    assert results[0] == results[1]


def test_transfer_without_base_model_says_what_to_run(data, project):
    with pytest.raises(ValueError, match="auforget emotion"):
        run_tune(_params(data, stage="transfer"), progress=False)


def test_write_params_changes_only_the_gamma_line(tmp_path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO_PARAMS, path)
    before = path.read_text().splitlines()
    write_best(path, "transfer", {"gamma": 1.2345678})
    after = path.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and changed == [("  gamma: 2.0", "  gamma: 1.2345678")]
    assert load_params(path) == load_params(REPO_PARAMS).with_overrides("transfer", gamma=1.2345678)
    # the emotion section's gamma line (which carries no comment here) is another line
    write_best(path, "emotion", {"gamma": 0.5, "lr": 1e-05})
    assert load_params(path).emotion.gamma == 0.5 and load_params(path).emotion.lr == 1e-05
    assert "  lr: 1.0e-05" in path.read_text().splitlines()


def test_write_params_adds_a_missing_key_and_keeps_comments(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(
        "# top\ntransfer:\n  # how many blocks\n  freeze: 3   # FreezeB3\n\n"
        "# next\ntune:\n  n_trials: 4\n"
    )
    write_best(path, "transfer", {"gamma": 3.5})
    assert path.read_text() == (
        "# top\ntransfer:\n  # how many blocks\n  freeze: 3   # FreezeB3\n  gamma: 3.5\n\n"
        "# next\ntune:\n  n_trials: 4\n"
    )
    assert load_params(path).transfer.freeze == 3 and load_params(path).transfer.gamma == 3.5


def test_write_params_edits_a_flow_mapping_and_refuses_a_scalar_section(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("transfer: {gamma: 2.0}  # inline\n")
    write_best(path, "transfer", {"gamma": 1.0})
    assert path.read_text() == "transfer: {gamma: 1.0}  # inline\n"
    path.write_text("transfer: 3\n")
    with pytest.raises(ValueError, match="section 'transfer' must be a mapping"):
        write_best(path, "transfer", {"gamma": 1.0})
    assert path.read_text() == "transfer: 3\n"


def test_storage_that_cannot_be_opened_is_a_clear_error(data, project):
    bad = "sqlite:////no/such/folder/optuna.db"
    with pytest.raises(
        ValueError,
        match=r"cannot open the Optuna storage 'sqlite:////no/such/folder/optuna.db'.*"
        r"expected an RDB URL",
    ):
        run_tune(_params(data, storage=bad), progress=False)
    with pytest.raises(ValueError, match=r"postgresql://tuner:\*\*\*@127.0.0.1:1/optuna") as err:
        open_storage("postgresql://tuner:secret@127.0.0.1:1/optuna")
    assert "secret" not in str(err.value)
    with pytest.raises(ValueError, match="expected an RDB URL"):
        open_storage("optuna.db")


def test_a_study_refuses_another_setup(tmp_path):
    tune = TuneConfig(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")
    open_study(tune, {"stage": "transfer", "transfer.freeze": 2})
    open_study(tune, {"stage": "transfer", "transfer.freeze": 2})
    with pytest.raises(ValueError, match=r"transfer.freeze: 2 -> 3.*--study-name"):
        open_study(tune, {"stage": "transfer", "transfer.freeze": 3})


def test_a_study_with_excluded_classes_is_another_setup(data, project):
    """Its monitored macros average over the kept classes only (since 2026-12-08), so an Optuna
    study begun before must not resume; without excluded classes the identity is unchanged."""
    from auforget.stages.tune import trial_setup

    params = _params(data, storage=f"sqlite:///{project / 'o.db'}")
    plain = trial_setup(params).identity
    assert "macros" not in plain
    cut = trial_setup(  # saliency and promote first: they may not name an excluded emotion
        params.with_overrides("saliency", emotions=("happy",))
        .with_overrides("promote", emotions=("happy",))
        .with_overrides("emotion", exclude_classes=("surprise",))
    ).identity
    assert cut["macros"] == "kept classes"


def test_tune_through_the_auforget_executable_and_mlflow_run(tmp_path):
    """The doors users take: `auforget tune` (whose --stage once collided with the sub-command
    name) and `mlflow run . -e tune`, on the tiny synthetic data, one 1-epoch trial each."""
    from tests.project import TINY_PARAMS, copy_project, run

    project = copy_project(
        tmp_path / "project", {**TINY_PARAMS, "tune": {"epochs": 1, "stage": "emotion"}}
    )
    run(["auforget", "--quiet", "synth"], project)
    run(["auforget", "--quiet", "prepare"], project)
    run(["auforget", "--quiet", "tune", "--n-trials", "1", "--stage", "emotion"], project)
    storage = f"sqlite:///{project / 'optuna.db'}"
    assert [t.state for t in _trials(storage)] == [optuna.trial.TrialState.COMPLETE]

    before = tmp_path / "before.yaml"
    shutil.copy(project / "params.yaml", before)
    run(
        [
            "mlflow",
            "run",
            ".",
            "-e",
            "tune",
            "-P",
            "n_trials=1",
            "-P",
            "write_params=true",
            "--env-manager",
            "local",
        ],
        project,
    )
    trials = _trials(storage)
    assert len(trials) == 2 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    best = max(trials, key=lambda t: t.value).params["gamma"]
    written = load_params(project / "params.yaml")
    assert written == load_params(before).with_overrides("emotion", gamma=best)
