"""`retrain -P freeze=i`: the forgetting measure for FreezeBi.

Takes pain model i, freezes all five conv blocks and trains new 8-class output layers on
AffectNet with the emotion stage's loss (weighted focal, gamma and beta from `emotion`). What
the retrained model cannot recognise any more, the conv blocks forgot during the pain transfer.
Registers `auforget-retrain`, tag freeze_blocks=i, alias freezeb<i>.

With `retrain.same_as_emotion` (the paper: the retraining is "the same as the emotion model")
the batch size, epochs, learning rate, momentum, weight decay and patience come from `emotion`
instead of `retrain`; with `retrain.cached_features: false` each epoch sees freshly augmented
images (flips), as the emotion model did, rather than a cached view.
"""
from __future__ import annotations

import logging
import shutil

import mlflow
import numpy as np

from auforget import tracking
from auforget.classifier import fingerprint, log_torch_model, train_and_record
from auforget.config import EMOTIONS, Params, flat
from auforget.losses import FocalLoss, class_balanced_weights
from auforget.metrics import split_metrics_of_test, write_metrics_json
from auforget.models import N_BLOCKS, freeze_blocks, replace_head
from auforget.stages.emotion import CHECKPOINTS, emotion_data
from auforget.train import FitSettings

log = logging.getLogger(__name__)


def run_retrain(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg = params.retrain
    data = emotion_data(params, max_train=cfg.max_train_images, seed=cfg.seed)
    tracking.configure(params.tracking)
    alias = tracking.freeze_alias(cfg.freeze)
    hint = (f"train pain model {cfg.freeze} first: `auforget transfer --freeze {cfg.freeze}` "
            f"or `mlflow run . -e transfer -P freeze={cfg.freeze} --env-manager local`")
    pain = tracking.resolve_alias(tracking.PAIN_MODEL, alias, hint=hint)
    hp = params.emotion if cfg.same_as_emotion else cfg  # the optimiser's hyper-parameters
    key = fingerprint("retrain", flat(cfg), flat(params.model), params.emotion.gamma, params.emotion.beta,
                      data.files_digest(), pain.run_id, pain.version, flat(hp))
    name = f"retrain-b{cfg.freeze}"
    if reuse and (done := tracking.find_finished_run(key)):
        metrics = tracking.reused(done, name, model=(tracking.RETRAIN_MODEL, [alias]))
        write_metrics_json(name, split_metrics_of_test(metrics))
        return metrics
    model, pain = tracking.load_model(tracking.PAIN_MODEL, alias, hint=hint, profile=params.model.profile)
    replace_head(model, len(EMOTIONS), seed=cfg.seed)
    freeze_blocks(model, N_BLOCKS)
    counts = np.bincount(data.splits["train"]["label"], minlength=len(EMOTIONS))
    loss = FocalLoss(params.emotion.gamma, class_balanced_weights(counts, params.emotion.beta))
    checkpoint_dir = CHECKPOINTS / name
    run_params = {**flat(cfg, "retrain."), **flat(params.model, "model."), "emotion.gamma": params.emotion.gamma,
                  "emotion.beta": params.emotion.beta, "pain_model_version": pain.version,
                  **({f"effective.{k}": getattr(hp, k) for k in ("epochs", "batch_size", "lr", "momentum",
                                                                 "weight_decay", "patience")}),
                  **{f"data.n_{s}": len(f) for s, f in data.splits.items()}}
    tags = {"freeze_blocks": str(cfg.freeze), "auforget.upstream_run": pain.run_id, "auforget.key": key}
    with tracking.stage_run(name, run_params, tags=tags):
        settings = FitSettings(hp.epochs, hp.lr, hp.momentum, hp.weight_decay, hp.patience, cfg.seed)
        metrics, _, _ = train_and_record(model, data, loss, settings, batch_size=hp.batch_size,
                                         cached=cfg.cached_features, views=cfg.augmented_views,
                                         checkpoint_dir=checkpoint_dir, key=key, progress=progress, desc=name)
        info = log_torch_model(model, data, params.data.splits_dir)
        tracking.register(info.model_uri, tracking.RETRAIN_MODEL, aliases=[alias],
                          tags={"freeze_blocks": str(cfg.freeze), "run_id": mlflow.active_run().info.run_id,
                                "pain_model_version": str(pain.version)},
                          description=f"FreezeB{cfg.freeze} conv blocks with retrained emotion output layers")
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    write_metrics_json(name, metrics)
    return metrics
