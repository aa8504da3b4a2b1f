"""`transfer -P freeze=i`: FreezeBi, the pain model fine-tuned from the base emotion model.

Copies `auforget-emotion@base`, freezes its first i conv blocks, gives it fresh output layers
for pain vs no pain (PSPI > 0), and trains on UNBC-McMaster with the study's unweighted focal
loss (gamma 2) and pain augmentations. Registers a new `auforget-pain` version, tag
freeze_blocks=i, alias freezeb<i>.
"""
from __future__ import annotations

import logging
import shutil

import mlflow

from auforget import tracking
from auforget.classifier import fingerprint, load_task_data, log_torch_model, train_and_record
from auforget.config import PAIN_CLASSES, Params, flat
from auforget.losses import FocalLoss
from auforget.metrics import split_metrics_of_test, write_metrics_json
from auforget.models import N_BLOCKS, freeze_blocks, get_profile, replace_head
from auforget.stages.emotion import CHECKPOINTS
from auforget.train import FitSettings

log = logging.getLogger(__name__)


def pain_data(params: Params):
    return load_task_data("unbc", params.data.splits_dir, params.data.unbc_root, PAIN_CLASSES, "pain",
                          get_profile(params.model.profile).image_size)


def run_transfer(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg = params.transfer
    data = pain_data(params)
    tracking.configure(params.tracking)
    hint = "train the base model first: `auforget emotion` or `mlflow run . -e emotion --env-manager local`"
    base = tracking.resolve_alias(tracking.EMOTION_MODEL, tracking.BASE_ALIAS, hint=hint)
    key = fingerprint("transfer", flat(cfg), flat(params.model), data.files_digest(), base.run_id, base.version)
    name = f"transfer-b{cfg.freeze}"
    if reuse and (done := tracking.find_finished_run(key)):
        metrics = tracking.reused(done, name, model=(tracking.PAIN_MODEL, [tracking.freeze_alias(cfg.freeze)]))
        write_metrics_json(name, split_metrics_of_test(metrics))
        return metrics
    model, base = tracking.load_model(tracking.EMOTION_MODEL, tracking.BASE_ALIAS, hint=hint,
                                      profile=params.model.profile)
    replace_head(model, len(PAIN_CLASSES), seed=cfg.seed)
    freeze_blocks(model, cfg.freeze)
    cached = cfg.cached_features and cfg.freeze == N_BLOCKS
    checkpoint_dir = CHECKPOINTS / name
    run_params = {**flat(cfg, "transfer."), **flat(params.model, "model."), "data.unbc_root": str(data.root),
                  "base_model_version": base.version, **{f"data.n_{s}": len(f) for s, f in data.splits.items()}}
    tags = {"freeze_blocks": str(cfg.freeze), "auforget.upstream_run": base.run_id, "auforget.key": key}
    with tracking.stage_run(name, run_params, tags=tags):
        settings = FitSettings(cfg.epochs, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.patience, cfg.seed)
        metrics, _, _ = train_and_record(model, data, FocalLoss(cfg.gamma), settings, batch_size=cfg.batch_size,
                                         cached=cached, views=cfg.augmented_views, checkpoint_dir=checkpoint_dir,
                                         key=key, progress=progress, desc=name)
        info = log_torch_model(model)
        tracking.register(info.model_uri, tracking.PAIN_MODEL, aliases=[tracking.freeze_alias(cfg.freeze)],
                          tags={"freeze_blocks": str(cfg.freeze), "run_id": mlflow.active_run().info.run_id,
                                "base_model_version": str(base.version)},
                          description=f"FreezeB{cfg.freeze}: pain model, first {cfg.freeze} conv blocks frozen")
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    write_metrics_json(name, metrics)
    return metrics
