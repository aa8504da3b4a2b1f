"""`cka`: the stage on the tiny emotion test split with tiny registered models whose frozen blocks
are the base model's, one of them tampered with: shared blocks read 1.0, the tampered one is
flagged, and the report's findings section shows the figure. The block reset on a FreezeB0 that
differs from the base model in one block only: giving back any other block changes nothing, to
the last prediction."""

from __future__ import annotations

import copy

import mlflow
import pandas as pd
import pytest
import torch

from auforget.core import artifacts
from auforget.core.config import EMOTIONS, FREEZE_LEVELS
from auforget.nn.backbones import build_vgg16
from auforget.stages.cka import run_cka
from auforget.tracking import connection, registry
from auforget.workflow.fitting import log_torch_model


def _register(model, name: str, alias: str) -> None:
    with mlflow.start_run(run_name=alias):
        info = log_torch_model(model)
        registry.register(info.model_uri, name, aliases=[alias], tags={})


def test_frozen_blocks_read_one_and_a_changed_one_is_flagged(fast_params, mlflow_store):
    params = fast_params.with_overrides("cka", batch_size=16, reset=False)
    connection.configure(params.tracking)
    torch.manual_seed(0)
    base = build_vgg16("small", 8)
    _register(base, registry.EMOTION_MODEL, registry.BASE_ALIAS)
    for k in FREEZE_LEVELS:
        torch.manual_seed(100 + k)
        pain = build_vgg16("small", 2)
        for j in range(k):  # FreezeBk keeps the base model's first k blocks
            pain.blocks[j] = copy.deepcopy(base.blocks[j])
        if k == 3:  # a "frozen" block that moved: the built-in check must say so
            with torch.no_grad():
                pain.blocks[1][0].weight.mul_(1.5).add_(0.1)
        _register(pain, registry.PAIN_MODEL, registry.freeze_alias(k))

    metrics = run_cka(params, progress=False)

    assert metrics[artifacts.cka_metric(5, 5)] == pytest.approx(1.0, abs=1e-9)
    assert metrics[artifacts.cka_metric(2, 1)] == pytest.approx(1.0, abs=1e-9)
    assert metrics[artifacts.cka_metric(3, 1)] == pytest.approx(1.0, abs=1e-9)
    assert metrics[artifacts.cka_metric(3, 2)] < 1.0 - 1e-6
    assert metrics[artifacts.cka_metric(0, 1)] < 0.999  # another random block 1
    assert metrics[artifacts.CKA_FROZEN_OK] == 0.0
    assert not any(name.startswith("cka_floor") for name in metrics)  # one seed: no floor
    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'cka'",
    )
    assert "FreezeB3 block 2" in run.data.tags["auforget.cka_frozen_problems"]
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {artifacts.CKA_CSV, artifacts.CKA_PNG} <= logged


def test_the_block_reset_gains_nothing_where_freezeb0_kept_the_base_block(
    fast_params, mlflow_store
):
    """FreezeB0 is the base model with block 3 moved: blocks 1, 2, 4 and 5 given back leave the
    same model, so their retrains (same recipe, same seed) predict the same and gain exactly 0;
    block 3 given back makes the base model's blocks, which retrain to other predictions."""
    params = fast_params.with_overrides("cka", batch_size=16).with_overrides(
        "study", freeze_levels=(0, 5)
    )
    connection.configure(params.tracking)
    torch.manual_seed(0)
    base = build_vgg16("small", 8)
    _register(base, registry.EMOTION_MODEL, registry.BASE_ALIAS)
    pain = copy.deepcopy(base)
    with torch.no_grad():
        for conv in pain.blocks[2].modules():
            if isinstance(conv, torch.nn.Conv2d):
                conv.weight.mul_(-3.0)
    _register(pain, registry.PAIN_MODEL, registry.freeze_alias(0))
    _register(copy.deepcopy(base), registry.PAIN_MODEL, registry.freeze_alias(5))

    metrics = run_cka(params, progress=False)

    gains = {(j, e): metrics[artifacts.reset_metric(j, e)] for j in range(1, 6) for e in EMOTIONS}
    assert all(gains[(j, e)] == 0.0 for j in (1, 2, 4, 5) for e in EMOTIONS)
    assert any(gains[(3, e)] != 0.0 for e in EMOTIONS)
    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'cka'",
    )
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {artifacts.RESET_CSV, artifacts.RESET_PNG} <= logged
    path = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path=artifacts.RESET_CSV
    )
    table = pd.read_csv(path)
    assert len(table) == 5 * len(EMOTIONS)
    assert (table[table["block"] != 3]["pvalue"] == 1.0).all()  # no discordant pair at all
