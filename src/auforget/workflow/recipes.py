"""A model for a task: one recipe per training stage, built from params.yaml alone.

A recipe says what the stage trains and how: the task data, the registered model it starts
from (none, the base emotion model, or a pain model) and how that model is prepared (fresh
init; new output layers and frozen blocks), the loss, the optimiser settings, whether only the
head trains on cached conv features, where checkpoints go, what identifies the run, and what it
registers. `emotion_recipe`, `transfer_recipe` and `retrain_recipe` are the only places these
are decided: the stages run them with `run_recipe`, and every Optuna trial of `tune` builds the
same recipe with its own gamma and lr, so a trial trains exactly what the stage would.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from torch import nn

from auforget.analysis.metrics import (
    split_metrics_of_test,
    write_confusion_plot,
    write_metrics_json,
)
from auforget.core.config import Params, flat
from auforget.core.identity import fingerprint
from auforget.data.task_data import TaskData, emotion_task, pain_task
from auforget.nn.adapters import initial_model
from auforget.nn.backbones import VGG16Blocks, freeze_blocks, replace_head
from auforget.nn.losses import FocalLoss, class_balanced_weights
from auforget.nn.training import CHECKPOINT, FitSettings
from auforget.tracking import connection, registry, stage_runs
from auforget.workflow.fitting import log_torch_model, train_and_record

log = logging.getLogger(__name__)

# checkpoints/<run name>/<identity>/last.pt (Recipe.checkpoint_dir), removed once the model is
# registered
CHECKPOINTS = Path("checkpoints")
Prepare = Callable[[VGG16Blocks | None], tuple[VGG16Blocks, str]]


@dataclass(frozen=True)
class Upstream:
    """The registered model a task starts from, and what to run when it is not there yet."""

    model: str
    alias: str
    hint: str
    label: str  # the run parameter and version tag that record its version

    def resolve(self):
        return registry.resolve_alias(self.model, self.alias, hint=self.hint)

    def load(self, profile: str, backbone: str = "vgg16"):
        """(torch model, ModelVersion); a ValueError when it was trained with another profile."""
        return registry.load_model(
            self.model, self.alias, hint=self.hint, profile=profile, backbone=backbone
        )


@dataclass(frozen=True)
class Registration:
    model: str
    aliases: tuple[str, ...]
    description: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """One training task of the study, ready to run (`run_recipe`) or to fit by hand (tune)."""

    stage: str  # entry point: emotion | transfer | retrain
    name: str  # run name, checkpoint folder, metrics/<name>.json
    data: TaskData
    prepare: Prepare  # upstream model (or None) -> (model ready to train, init note)
    loss: nn.Module
    settings: FitSettings
    batch_size: int
    cached: bool  # train only the head, on conv features extracted once
    views: int | str  # augmented views per image in that cache, or "exact" (both flip views)
    identity: tuple  # fingerprint parts; the upstream run and version are added
    run_params: dict[str, Any]
    registration: Registration
    upstream: Upstream | None = None
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, dict] = field(default_factory=dict)  # JSON records logged with the run
    heads: int = (
        1  # retrain: heads trained on the frozen blocks and averaged (classifier.fit_on_task)
    )

    def checkpoint_dir(self, key: str) -> Path:
        """checkpoints/<run name>/<the run's identity>/: studies that share a project but not a
        store (another backbone's preset with its own store, an example, an experiment) run
        steps of the same name side by side, and each must keep, resume from and remove only its
        own checkpoint."""
        return CHECKPOINTS / self.name / key[:16]

    def key(self, upstream_version=None) -> str:
        """The run's identity (see identity.fingerprint)."""
        extra = (
            (upstream_version.run_id, upstream_version.version)
            if upstream_version is not None
            else ()
        )
        return fingerprint(*self.identity, *extra)


def fit_settings(section: Any, seed: int | None = None) -> FitSettings:
    """FitSettings from a params.yaml training section (emotion, transfer or retrain)."""
    return FitSettings(
        section.epochs,
        section.lr,
        section.momentum,
        section.weight_decay,
        section.patience,
        section.seed if seed is None else seed,
        schedule=section.lr_schedule,
        optimizer=section.optimizer,
    )


def emotion_loss(params: Params, data: TaskData) -> tuple[FocalLoss, np.ndarray, np.ndarray]:
    """The study's emotion loss: focal (emotion.gamma) with class-balanced weights (emotion.beta)
    from the train split's counts. Returns the loss, the counts and the weights."""
    counts = np.bincount(data.splits["train"]["label"], minlength=len(data.class_names))
    weights = class_balanced_weights(counts, params.emotion.beta)
    return FocalLoss(params.emotion.gamma, weights), counts, weights


def emotion_recipe(params: Params, data: TaskData | None = None) -> Recipe:
    """The base emotion model: a fresh VGG16 (ImageNet conv blocks for the paper profile) on
    AffectNet."""
    cfg, model_cfg = params.emotion, params.model
    data = data or emotion_task(params, max_train=cfg.max_train_images, seed=cfg.seed)
    loss, counts, weights = emotion_loss(params, data)

    def prepare(_: VGG16Blocks | None) -> tuple[VGG16Blocks, str]:
        return initial_model(model_cfg, len(data.class_names), seed=cfg.seed)

    seeds, seed = params.study.seeds, cfg.seed
    return Recipe(
        stage="emotion",
        name="emotion" + registry.seed_suffix(seed, seeds),
        data=data,
        prepare=prepare,
        loss=loss,
        settings=fit_settings(cfg),
        batch_size=cfg.batch_size,
        cached=False,
        views=0,
        identity=("emotion", flat(cfg), flat(model_cfg), data.files_digest()),
        run_params={
            **flat(cfg, "emotion."),
            **flat(model_cfg, "model."),
            "data.affectnet_root": str(data.root),
            **data.split_sizes(),
        },
        registration=Registration(
            registry.model_name(registry.EMOTION_MODEL, params.model.backbone),
            registry.seed_aliases(registry.BASE_ALIAS, seed, seeds),
            "Base emotion classifier (AffectNet, 8 classes)",
            {"stage": "emotion", "seed": str(seed)},
        ),
        tags={"seed": str(seed)},
        artifacts={
            "class_weights.json": {
                "counts": dict(zip(data.class_names, counts.tolist())),
                "weights": dict(zip(data.class_names, weights.tolist())),
            }
        },
    )


def transfer_recipe(params: Params, data: TaskData | None = None) -> Recipe:
    """FreezeB<transfer.freeze>: the base emotion model with new pain output layers and its
    first `freeze` blocks frozen, on UNBC with the unweighted focal loss (transfer.gamma)."""
    cfg = params.transfer
    data = data or pain_task(params)

    def prepare(base: VGG16Blocks | None) -> tuple[VGG16Blocks, str]:
        assert base is not None, "transfer starts from the base emotion model"
        return freeze_blocks(
            replace_head(base, len(data.class_names), seed=cfg.seed), cfg.freeze
        ), ""

    freeze, seeds = str(cfg.freeze), params.study.seeds
    suffix = registry.seed_suffix(
        cfg.seed, seeds
    )  # the chain's seed: it reads the emotion model of this seed
    return Recipe(
        stage="transfer",
        name=f"transfer-b{cfg.freeze}{suffix}",
        data=data,
        prepare=prepare,
        loss=FocalLoss(cfg.gamma),
        settings=fit_settings(cfg),
        batch_size=cfg.batch_size,
        cached=cfg.cached_features and cfg.freeze == params.n_stages,
        views=cfg.augmented_views,
        identity=("transfer", flat(cfg), flat(params.model), data.files_digest()),
        run_params={
            **flat(cfg, "transfer."),
            **flat(params.model, "model."),
            "data.unbc_root": str(data.root),
            **data.split_sizes(),
        },
        upstream=_upstream(
            registry.model_name(registry.EMOTION_MODEL, params.model.backbone),
            registry.BASE_ALIAS,
            "base_model_version",
            "the base model",
            "emotion",
            "-e emotion",
            cfg.seed,
            suffix,
            also=" (or `auforget main`)",
        ),
        registration=_freeze_registration(
            registry.model_name(registry.PAIN_MODEL, params.model.backbone),
            cfg,
            seeds,
            f"FreezeB{freeze}: pain model, first {freeze} conv blocks frozen",
        ),
        tags={"freeze_blocks": freeze, "seed": str(cfg.seed)},
    )


def retrain_recipe(params: Params, data: TaskData | None = None) -> Recipe:
    """The forgetting measure for FreezeB<retrain.freeze>: pain model i with all blocks frozen
    and new emotion output layers, on AffectNet with the emotion stage's loss. With
    retrain.same_as_emotion the optimiser's hyper-parameters are emotion's (the paper)."""
    cfg = params.retrain
    data = data or emotion_task(params, max_train=cfg.max_train_images, seed=cfg.seed)
    hp = params.emotion if cfg.same_as_emotion else cfg
    loss, _, _ = emotion_loss(params, data)

    def prepare(pain: VGG16Blocks | None) -> tuple[VGG16Blocks, str]:
        assert pain is not None, "retrain starts from a pain model"
        return (
            freeze_blocks(
                replace_head(pain, len(data.class_names), seed=cfg.seed), len(pain.blocks)
            ),
            "",
        )

    freeze, seeds = str(cfg.freeze), params.study.seeds
    suffix = registry.seed_suffix(
        cfg.seed, seeds
    )  # the chain's seed: it reads the pain model of this seed
    effective = (
        "epochs",
        "batch_size",
        "lr",
        "lr_schedule",
        "momentum",
        "weight_decay",
        "optimizer",
        "patience",
    )
    return Recipe(
        stage="retrain",
        name=f"retrain-b{cfg.freeze}{suffix}",
        data=data,
        prepare=prepare,
        loss=loss,
        settings=fit_settings(hp, seed=cfg.seed),
        batch_size=hp.batch_size,
        cached=cfg.cached_features,
        views=cfg.augmented_views,
        heads=cfg.heads,
        identity=(
            "retrain",
            flat(cfg),
            flat(params.model),
            params.emotion.gamma,
            params.emotion.beta,
            data.files_digest(),
            flat(hp),
        ),
        run_params={
            **flat(cfg, "retrain."),
            **flat(params.model, "model."),
            "emotion.gamma": params.emotion.gamma,
            "emotion.beta": params.emotion.beta,
            "emotion.exclude_classes": ",".join(params.emotion.exclude_classes),
            **{f"effective.{k}": getattr(hp, k) for k in effective},
            **data.split_sizes(),
        },
        upstream=_upstream(
            registry.model_name(registry.PAIN_MODEL, params.model.backbone),
            registry.freeze_alias(cfg.freeze),
            "pain_model_version",
            f"pain model {freeze}",
            f"transfer --freeze {freeze}",
            f"-e transfer -P freeze={freeze}",
            cfg.seed,
            suffix,
        ),
        registration=_freeze_registration(
            registry.model_name(registry.RETRAIN_MODEL, params.model.backbone),
            cfg,
            seeds,
            f"FreezeB{freeze} conv blocks with retrained emotion output layers",
        ),
        tags={"freeze_blocks": freeze, "seed": str(cfg.seed)},
    )


def _upstream(
    model: str,
    alias: str,
    label: str,
    what: str,
    command: str,
    entry: str,
    seed: int,
    suffix: str,
    also: str = "",
) -> Upstream:
    """The model of this seed's chain (`suffix` names a seed other than the study's first) and
    the commands that make it."""
    seeded = f" with seed {seed}" if suffix else ""
    return Upstream(
        model,
        alias + suffix,
        label=label,
        hint=f"train {what}{seeded} first: "
        f"`auforget {command}{f' --seed {seed}' if suffix else ''}` or "
        f"`mlflow run . {entry} --env-manager local`{also}",
    )


def _freeze_registration(model: str, cfg: Any, seeds: Any, description: str) -> Registration:
    """A FreezeB<i> model of one seed: alias freezeb<i> (and its seed aliases), tagged with both."""
    return Registration(
        model,
        registry.seed_aliases(registry.freeze_alias(cfg.freeze), cfg.seed, seeds),
        description,
        {"freeze_blocks": str(cfg.freeze), "seed": str(cfg.seed)},
    )


RECIPES: dict[str, Callable[..., Recipe]] = {
    "emotion": emotion_recipe,
    "transfer": transfer_recipe,
    "retrain": retrain_recipe,
}


def run_recipe(
    recipe: Recipe, params: Params, *, progress: bool = True, reuse: bool = False
) -> dict[str, float]:
    """Run a recipe as its stage: reuse a finished run with the same identity (with `reuse`), or
    train in a new MLflow run, test, log and register the model, and write
    <study.metrics_dir>/<name>.json.
    The checkpoint folder is removed only after the model is registered, so a run that dies
    resumes from it."""
    connection.configure(params.tracking)
    upstream = recipe.upstream.resolve() if recipe.upstream else None
    key = recipe.key(upstream)
    reg = recipe.registration
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, recipe.name, model=(reg.model, list(reg.aliases)))
        write_metrics_json(recipe.name, split_metrics_of_test(metrics), params.study.metrics_path)
        return metrics
    start = None
    if recipe.upstream:
        start, upstream = recipe.upstream.load(params.model.profile, params.model.backbone)
    model, note = recipe.prepare(start)
    if note:
        log.info("%s: %s", recipe.name, note)
    checkpoints = recipe.checkpoint_dir(key)
    with stage_runs.stage_run(
        recipe.name,
        {**recipe.run_params, **_upstream_record(recipe, upstream)},
        tags=_run_tags(recipe, upstream, note, key),
        checkpoint=checkpoints / CHECKPOINT if recipe.heads == 1 else checkpoints,
    ):
        for path, record in recipe.artifacts.items():
            mlflow.log_dict(record, path)
        metrics, predictions, _ = train_and_record(
            model,
            recipe.data,
            recipe.loss,
            recipe.settings,
            batch_size=recipe.batch_size,
            cached=recipe.cached,
            views=recipe.views,
            checkpoint_dir=checkpoints,
            key=key,
            progress=progress,
            desc=recipe.name,
            heads=recipe.heads,
        )
        info = log_torch_model(model, recipe.data, params.data.splits_dir)
        registry.register(
            info.model_uri,
            reg.model,
            aliases=list(reg.aliases),
            description=reg.description,
            tags={
                **reg.tags,
                "backbone": params.model.backbone,
                "run_id": mlflow.active_run().info.run_id,
                **{k: str(v) for k, v in _upstream_record(recipe, upstream).items()},
            },
        )
    shutil.rmtree(checkpoints, ignore_errors=True)
    with contextlib.suppress(OSError):  # the step's folder, once no other identity's is in it
        checkpoints.parent.rmdir()
    write_metrics_json(recipe.name, metrics, params.study.metrics_path)
    write_confusion_plot(recipe.name, predictions, params.study.plots_path)
    return metrics


def _upstream_record(recipe: Recipe, upstream) -> dict[str, Any]:
    return (
        {recipe.upstream.label: upstream.version}
        if recipe.upstream and upstream is not None
        else {}
    )


def _run_tags(recipe: Recipe, upstream, note: str, key: str) -> dict[str, str]:
    tags = dict(recipe.tags)
    if upstream is not None:
        tags["auforget.upstream_run"] = upstream.run_id
    if note:
        tags["auforget.init"] = note
    return {**tags, "auforget.key": key}
