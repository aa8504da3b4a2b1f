"""emotion / transfer / retrain on tiny synthetic data with a real MLflow sqlite store."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import mlflow.pytorch
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient

from auforget import cli
from auforget.core.config import EMOTIONS
from auforget.data.images import ImageLoadError
from auforget.stages.emotion import run_emotion
from auforget.stages.retrain import run_retrain
from auforget.stages.transfer import run_transfer
from auforget.tracking import stage_runs
from tests.project import checkpoint_of

PAIN_METRICS = [
    f"test_{m}_{c}" for m in ("precision", "recall", "f1") for c in ("pain", "no_pain", "macro")
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data):
    """emotion, transfer freeze=2 and 5, retrain freeze=2, in one store shared by this module."""
    import os

    from tests.conftest import FAST_TRAINING

    folder = tmp_path_factory.mktemp("trained")
    cwd, env = Path.cwd(), dict(os.environ)
    os.chdir(folder)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    try:
        params = tiny_data
        for section in ("emotion", "transfer", "retrain"):
            params = params.with_overrides(section, **FAST_TRAINING)
        results = {"emotion": run_emotion(params, progress=False)}
        for i in (2, 5):
            results[f"transfer-b{i}"] = run_transfer(
                params.with_overrides("transfer", freeze=i), progress=False
            )
        results["retrain-b2"] = run_retrain(
            params.with_overrides("retrain", freeze=2), progress=False
        )
        yield {
            "folder": folder,
            "params": params,
            "results": results,
            "uri": os.environ["MLFLOW_TRACKING_URI"],
        }
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)


@pytest.fixture
def in_trained(trained, monkeypatch):
    monkeypatch.chdir(trained["folder"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    mlflow.set_tracking_uri(trained["uri"])
    mlflow.set_registry_uri(trained["uri"])
    return trained


def test_registry_names_aliases_and_tags(in_trained):
    client = MlflowClient()
    base = client.get_model_version_by_alias("auforget-emotion", "base")
    pain2 = client.get_model_version_by_alias("auforget-pain", "freezeb2")
    pain5 = client.get_model_version_by_alias("auforget-pain", "freezeb5")
    retrain2 = client.get_model_version_by_alias("auforget-retrain", "freezeb2")
    assert pain2.tags["freeze_blocks"] == "2" and pain5.tags["freeze_blocks"] == "5"
    assert retrain2.tags["freeze_blocks"] == "2"
    assert pain2.version != pain5.version
    assert client.get_run(pain2.run_id).data.tags["auforget.upstream_run"] == base.run_id
    assert client.get_run(retrain2.run_id).data.tags["auforget.upstream_run"] == pain2.run_id


def test_pain_model_loads_by_alias_and_has_frozen_blocks_from_the_base(in_trained):
    model = mlflow.pytorch.load_model("models:/auforget-pain@freezeb2")
    base = mlflow.pytorch.load_model("models:/auforget-emotion@base")
    x = torch.zeros(2, 3, 64, 64)
    assert model(x).shape == (2, 2)
    for i in range(5):
        same = all(
            torch.equal(a, b)
            for a, b in zip(
                model.blocks[i].state_dict().values(), base.blocks[i].state_dict().values()
            )
        )
        assert same == (i < 2), (
            f"block {i}: frozen blocks must equal the base, trained ones must differ"
        )
    info = mlflow.models.get_model_info("models:/auforget-pain@freezeb2")
    assert info.signature is not None and tuple(
        info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]
    ) == (-1, 3, 64, 64)


def test_metric_names_and_artifacts(in_trained):
    client = MlflowClient()
    pain = client.get_run(client.get_model_version_by_alias("auforget-pain", "freezeb2").run_id)
    for name in PAIN_METRICS + ["test_accuracy", "train_loss", "val_loss", "val_f1_macro"]:
        assert name in pain.data.metrics, name
    assert len(client.get_metric_history(pain.info.run_id, "val_loss")) == 2  # one per epoch
    assert (
        pain.data.params["transfer.freeze"] == "2" and pain.data.params["transfer.gamma"] == "2.0"
    )
    emotion = client.get_run(client.get_model_version_by_alias("auforget-emotion", "base").run_id)
    for e in EMOTIONS:
        for m in ("precision", "recall", "f1"):
            assert f"test_{m}_{e}" in emotion.data.metrics
    assert (
        emotion.data.params["emotion.gamma"] == "0.0"
        and emotion.data.params["emotion.beta"] == "0.99998"
    )
    assert emotion.data.params["emotion.lr_schedule"] == "onecycle"
    names = {a.path for a in client.list_artifacts(pain.info.run_id)}
    assert {"predictions.csv", "confusion_matrix.csv", "confusion_matrix.png"} <= names
    path = stage_runs.run_artifact(pain.info.run_id, "predictions.csv", in_trained["folder"] / "dl")
    table = pd.read_csv(path)
    assert list(table.columns[:3]) == ["sample_id", "true_label", "pred_label"]
    test = pd.read_csv(Path(in_trained["params"].data.splits_dir) / "unbc" / "test.csv")
    assert len(table) == len(test)
    assert np.allclose(table[["prob_no_pain", "prob_pain"]].sum(axis=1), 1.0, atol=1e-4)
    accuracy = float((table["true_label"] == table["pred_label"]).mean())
    assert accuracy == pytest.approx(pain.data.metrics["test_accuracy"])


def test_cached_route_for_freezeb5_and_retrain(in_trained):
    client = MlflowClient()
    pain5 = client.get_run(client.get_model_version_by_alias("auforget-pain", "freezeb5").run_id)
    assert pain5.data.params["transfer.cached_features"] == "True"
    base = mlflow.pytorch.load_model("models:/auforget-emotion@base")
    model5 = mlflow.pytorch.load_model("models:/auforget-pain@freezeb5")
    assert all(
        torch.equal(a, b)
        for a, b in zip(model5.blocks.state_dict().values(), base.blocks.state_dict().values())
    )


def test_the_retrain_registers_its_heads_merged_into_one_and_logs_each(in_trained):
    client = MlflowClient()
    version = client.get_model_version_by_alias("auforget-retrain", "freezeb2")
    run = client.get_run(version.run_id)
    heads = int(run.data.params["retrain.heads"])
    assert heads > 1  # params.yaml's default, which the tests' Params() share
    model = mlflow.pytorch.load_model("models:/auforget-retrain@freezeb2")
    hidden = model.profile.hidden
    assert model.head[1].out_features == heads * hidden and model.head[-1].out_features == len(
        EMOTIONS
    )
    assert client.get_metric_history(
        run.info.run_id, f"head{heads - 1}/val_loss"
    )  # the last head's own curve
    assert (
        0.0 <= run.data.metrics["ensemble_val_f1_macro"] <= 1.0 and "val_loss" in run.data.metrics
    )


def test_bad_freeze_is_a_clear_cli_error(in_trained, capsys):
    assert cli.main(["transfer", "--freeze", "7"]) == 2
    err = capsys.readouterr().err
    assert "transfer.freeze: 7" in err and "0..5" in err


def test_missing_upstream_model_says_what_to_run(mlflow_store, fast_params):
    with pytest.raises(ValueError, match=r"auforget-emotion@base.*auforget emotion"):
        run_transfer(fast_params, progress=False)
    with pytest.raises(ValueError, match=r"auforget-pain@freezeb3.*auforget transfer --freeze 3"):
        run_retrain(fast_params.with_overrides("retrain", freeze=3), progress=False)


def test_missing_split_says_to_run_prepare(mlflow_store, fast_params, tmp_path):
    import dataclasses

    params = dataclasses.replace(
        fast_params, data=dataclasses.replace(fast_params.data, splits_dir=str(tmp_path / "none"))
    )
    with pytest.raises(
        FileNotFoundError, match=r"affectnet/train.csv is missing: run `auforget prepare`"
    ):
        run_emotion(params, progress=False)


def test_failed_run_is_marked_failed_keeps_checkpoint_and_resumes(in_trained, tmp_path):
    """A run that dies after training leaves FAILED in MLflow, nothing in the registry, and a
    checkpoint from which the next run resumes and finishes with the same numbers."""
    params = in_trained["params"]
    client = MlflowClient()
    versions_before = len(client.search_model_versions("name='auforget-pain'"))
    test = pd.read_csv(Path(params.data.splits_dir) / "unbc" / "test.csv")
    victim = Path(params.data.unbc_root) / test["path"].iloc[0]
    backup = tmp_path / "backup.png"
    shutil.copy(victim, backup)
    victim.write_bytes(b"not a png")
    try:
        with pytest.raises(ImageLoadError, match=str(test["path"].iloc[0])):
            run_transfer(params.with_overrides("transfer", freeze=3), progress=False)
    finally:
        shutil.copy(backup, victim)
    failed = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="attributes.run_name = 'transfer-b3'",
    )
    assert [r.info.status for r in failed] == ["FAILED"]
    assert len(client.search_model_versions("name='auforget-pain'")) == versions_before
    assert checkpoint_of(Path("."), "transfer-b3") is not None
    # another study in this project (another store) is half-way through its own transfer-b3
    other = Path("checkpoints") / "transfer-b3" / "0123456789abcdef" / "last.pt"
    other.parent.mkdir()
    other.write_bytes(b"someone else's epoch")

    metrics = run_transfer(params.with_overrides("transfer", freeze=3), progress=False)
    resumed = client.get_run(client.get_model_version_by_alias("auforget-pain", "freezeb3").run_id)
    assert resumed.data.tags["auforget.resumed_after_epoch"] == "2"
    assert metrics["test_accuracy"] == resumed.data.metrics["test_accuracy"]
    # its own checkpoint is gone once its model is registered; the other study's is left alone
    assert [p.parent.name for p in Path("checkpoints/transfer-b3").glob("*/last.pt")] == [
        other.parent.name
    ]
    shutil.rmtree("checkpoints/transfer-b3")


def test_same_seed_same_numbers_across_fresh_stores(tiny_data, tmp_path, monkeypatch):
    """Determinism of a whole stage: two stores, same seed, identical test metrics; another seed
    differs."""
    params = tiny_data.with_overrides("emotion", epochs=1, batch_size=16, max_train_images=48)
    results = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.chdir(folder)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        results.append(run_emotion(params.with_overrides("emotion", seed=seed), progress=False))
    assert results[0] == results[1]
    assert results[0] != results[2]
