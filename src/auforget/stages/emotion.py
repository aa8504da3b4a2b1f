"""`emotion`: the base emotion classifier on AffectNet (8 classes).

The study: VGG16, weighted focal loss (gamma 5, class-balanced weights with beta 0.99998),
SGD at lr 0.01, horizontal flips. Registers `auforget-emotion`, alias `base`.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import mlflow
import numpy as np

from auforget import tracking
from auforget.classifier import fingerprint, load_task_data, log_torch_model, train_and_record
from auforget.config import EMOTIONS, Params, flat
from auforget.losses import FocalLoss, class_balanced_weights
from auforget.metrics import split_metrics_of_test, write_metrics_json
from auforget.models import get_profile, initial_model
from auforget.train import FitSettings

log = logging.getLogger(__name__)

CHECKPOINTS = Path("checkpoints")


def emotion_data(params: Params, *, max_train: int, seed: int):
    return load_task_data("affectnet", params.data.splits_dir, params.data.affectnet_root, EMOTIONS, "emotion",
                          get_profile(params.model.profile).image_size, max_train=max_train, seed=seed,
                          decoder=params.data.decoder)


def run_emotion(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg = params.emotion
    data = emotion_data(params, max_train=cfg.max_train_images, seed=cfg.seed)
    tracking.configure(params.tracking)
    key = fingerprint("emotion", flat(cfg), flat(params.model), data.files_digest())
    if reuse and (done := tracking.find_finished_run(key)):
        metrics = tracking.reused(done, "emotion", model=(tracking.EMOTION_MODEL, [tracking.BASE_ALIAS]))
        write_metrics_json("emotion", split_metrics_of_test(metrics))
        return metrics
    counts = np.bincount(data.splits["train"]["label"], minlength=len(EMOTIONS))
    weights = class_balanced_weights(counts, cfg.beta)
    model, weights_note = initial_model(params.model.profile, len(EMOTIONS),
                                        imagenet_weights=params.model.imagenet_weights, seed=cfg.seed,
                                        from_scratch=params.model.from_scratch)
    log.info("emotion: %s", weights_note)
    checkpoint_dir = CHECKPOINTS / "emotion"
    run_params = {**flat(cfg, "emotion."), **flat(params.model, "model."), "data.affectnet_root": str(data.root),
                  **{f"data.n_{s}": len(f) for s, f in data.splits.items()}}
    with tracking.stage_run("emotion", run_params, tags={"auforget.init": weights_note, "auforget.key": key}):
        mlflow.log_dict({"counts": dict(zip(EMOTIONS, counts.tolist())),
                         "weights": dict(zip(EMOTIONS, weights.tolist()))}, "class_weights.json")
        settings = FitSettings(cfg.epochs, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.patience, cfg.seed)
        metrics, _, _ = train_and_record(model, data, FocalLoss(cfg.gamma, weights), settings, batch_size=cfg.batch_size,
                                         cached=False, views=0, checkpoint_dir=checkpoint_dir, key=key,
                                         progress=progress, desc="emotion")
        info = log_torch_model(model, data, params.data.splits_dir)
        tracking.register(info.model_uri, tracking.EMOTION_MODEL, aliases=[tracking.BASE_ALIAS],
                          tags={"stage": "emotion", "run_id": mlflow.active_run().info.run_id},
                          description="Base emotion classifier (AffectNet, 8 classes)")
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    write_metrics_json("emotion", metrics)
    return metrics
