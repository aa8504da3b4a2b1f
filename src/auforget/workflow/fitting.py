"""One supervised run, as the emotion, transfer and retrain stages (through `recipes`) all do it.

Fit (on images, or on cached conv features when every block is frozen), evaluate the best
weights on the test split, write the records the analysis reads back (metrics, confusion
matrix, per-sample predictions) and log the model with its signature. Registering the model
is left to the caller (`recipes.run_recipe`), as its very last step.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import mlflow
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from auforget.analysis.metrics import classification_metrics, predictions_table, write_confusion
from auforget.core import artifacts
from auforget.data.task_data import TaskData
from auforget.nn.backbones import VGG16Blocks, freeze_blocks, merge_heads, replace_head
from auforget.nn.features import EXACT, CacheDoesNotFit, FlipDrawn, extract_features
from auforget.nn.training import (
    FitResult,
    FitSettings,
    evaluate,
    fit,
    make_loader,
    pick_device,
    predict,
)

log = logging.getLogger(__name__)


def cached_sets(
    model: VGG16Blocks,
    data: TaskData,
    *,
    batch_size: int,
    views: int | str,
    seed: int,
    device: torch.device,
    progress: bool = True,
    desc: str = "fit",
) -> tuple[Dataset, Dataset]:
    """Train (with `views` augmented views) and val conv features of a model whose blocks are all
    frozen."""
    if model.frozen_blocks != len(model.blocks):
        raise ValueError(
            f"cached features need all {len(model.blocks)} conv blocks frozen; this model has "
            f"{model.frozen_blocks}"
        )
    if views == EXACT:
        train = exact_train_views(
            model, data, batch_size=batch_size, device=device, progress=progress, desc=desc
        )
    else:
        train = extract_features(
            model,
            data.dataset("train", augment=views > 0),
            batch_size=batch_size,
            device=device,
            views=views,
            seed=seed,
            progress=progress,
            desc=f"{desc} cache train",
        )
    val = extract_features(
        model,
        data.dataset("val"),
        batch_size=batch_size,
        device=device,
        progress=progress,
        desc=f"{desc} cache val",
    )
    return train, val


def exact_train_views(
    model: VGG16Blocks,
    data: TaskData,
    *,
    batch_size: int,
    device: torch.device,
    progress: bool = True,
    desc: str = "fit",
) -> Dataset:
    """Train features of both views of a flip-only recipe, one drawn per image at each read
    (features.FlipDrawn); a ValueError for a recipe whose views are not the finite set {face,
    mirror image}."""
    recipe = data.dataset("train", augment=True).transform
    if getattr(recipe, "finite_views", None) != ("plain", "flipped"):
        raise ValueError(
            f"augmented_views: exact needs a recipe whose views are a finite set (the emotion "
            f"recipe's flips); {data.name}'s training recipe {type(recipe).__name__} draws from "
            f"a continuum of views: set augmented_views to a number of cached views, or 0"
        )
    store = extract_features(
        model,
        data.dataset("train"),
        batch_size=batch_size,
        device=device,
        views=EXACT,
        progress=progress,
        desc=f"{desc} cache train",
    )
    return FlipDrawn(store, recipe.flip_p)


# head i of an ensemble trains with seed + i * stride: no clash with the next chain's seed
HEAD_SEED_STRIDE = 10_000


def head_seed(seed: int, index: int) -> int:
    """The seed of head `index` of a retrained ensemble; head 0 keeps the stage's seed, so one
    head trains exactly as before `retrain.heads` existed."""
    return seed + HEAD_SEED_STRIDE * index


def fit_on_task(
    model: VGG16Blocks,
    data: TaskData,
    loss_fn: nn.Module,
    settings: FitSettings,
    *,
    batch_size: int,
    cached: bool,
    views: int | str,
    checkpoint_dir: Path,
    key: str = "",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    features: tuple[Dataset, Dataset] | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    desc: str = "fit",
    heads: int = 1,
) -> FitResult:
    """Fit on the task's train split, scored on val: the whole model on images, or (`cached`)
    only its head on conv features -- `features` when the caller already has them (tune's
    trials share one cache), else extracted here.

    With `heads` > 1 (all blocks frozen) it trains that many heads from their own seeds on the
    same features and leaves their mean (`models.merge_heads`) as the model's head: what frozen
    blocks support, with less of one random start's luck in it
    (experiments/2026-11-27-head-noise/). Head 0 logs its epochs under the usual names,
    head i under `head<i>/` (train_and_record adds the merged head's `ensemble_val_*`); each
    head has its own checkpoint folder, so a run that dies resumes at the head it was training.
    Returns head 0's FitResult.
    """
    if heads < 1:
        raise ValueError(f"fit_on_task: heads must be at least 1, got {heads}")
    if heads > 1 and model.frozen_blocks != len(model.blocks):
        raise ValueError(
            f"several heads need all {len(model.blocks)} conv blocks frozen; this model has "
            f"{model.frozen_blocks}"
        )
    device = device or pick_device()
    if cached and features is None:
        try:
            features = cached_sets(
                model,
                data,
                batch_size=batch_size,
                views=views,
                seed=settings.seed,
                device=device,
                progress=progress,
                desc=desc,
            )
        except CacheDoesNotFit as exc:
            log.warning(
                "%s; training the head%s on images instead (the frozen blocks run every epoch%s)",
                exc,
                "s" if heads > 1 else "",
                f", for each of the {heads} heads" if heads > 1 else "",
            )
            cached, key = False, f"{key}-images"
    if cached:
        train_set, val_set = features
    else:
        train_set, val_set = data.dataset("train", augment=True), data.dataset("val")
    results, trained = [], []
    for i in range(heads):
        s = replace(settings, seed=head_seed(settings.seed, i))
        if i:
            replace_head(model, len(data.class_names), seed=s.seed)
        results.append(
            fit(
                model.head if cached else model,
                make_loader(train_set, batch_size, shuffle=True, seed=s.seed, device=device),
                make_loader(val_set, batch_size, shuffle=False, seed=s.seed, device=device),
                loss_fn,
                s,
                class_names=data.class_names,
                excluded=data.excluded,
                checkpoint_dir=checkpoint_dir / f"head{i}" if heads > 1 else checkpoint_dir,
                fingerprint=f"{key}-head{i}" if i else key,
                on_epoch=_head_epochs(on_epoch, i),
                device=device,
                progress=progress,
                desc=f"{desc} head {i + 1}/{heads}" if heads > 1 else desc,
            )
        )
        trained.append(model.head)
    if heads > 1:
        model.head = merge_heads(trained).to(device)
    return results[0]


def _head_epochs(
    on_epoch: Callable[[int, dict[str, float]], None] | None, index: int
) -> Callable[[int, dict[str, float]], None] | None:
    if on_epoch is None or index == 0:
        return on_epoch
    return lambda epoch, metrics: on_epoch(
        epoch, {f"head{index}/{k}": v for k, v in metrics.items()}
    )


def retrained_output_layers(
    blocks: VGG16Blocks,
    recipe,
    seed: int,
    *,
    device: torch.device,
    progress: bool = False,
    desc: str = "retrain",
) -> VGG16Blocks:
    """A copy of `blocks` with every block frozen and new output layers trained by `recipe` (a
    retrain recipe) under `seed`: what the `retrain` stage makes of a model, without a run or a
    registration. The controls' lesioned copies and the CKA step's block resets are read this
    way, so their recalls compare with the registered retrains' exactly."""
    model = freeze_blocks(
        replace_head(copy.deepcopy(blocks), len(recipe.data.class_names), seed=seed),
        len(blocks.blocks),
    )
    with tempfile.TemporaryDirectory() as tmp:
        fit_on_task(
            model,
            recipe.data,
            recipe.loss,
            replace(recipe.settings, seed=seed),
            batch_size=recipe.batch_size,
            cached=recipe.cached,
            views=recipe.views,
            checkpoint_dir=Path(tmp),
            key=f"{desc}-{seed}",
            device=device,
            progress=progress,
            desc=desc,
            heads=recipe.heads,
        )
    return model.cpu().eval()


def test_predictions(
    model: VGG16Blocks, data: TaskData, batch_size: int, device: torch.device
) -> pd.DataFrame:
    """The model's predictions on the task's test split as predictions.csv holds them, indexed
    by sample_id (the form forgetting.recall_table and its McNemar tests read)."""
    test = data.dataset("test")
    loader = make_loader(test, batch_size, shuffle=False, seed=0, device=device)
    probs, _, labels = predict(model.to(device), loader, device, progress=False)
    model.cpu()
    table = predictions_table(test.sample_ids, labels, probs, data.class_names)
    return table.astype({"sample_id": str}).set_index("sample_id").sort_index()


def train_and_record(
    model: VGG16Blocks,
    data: TaskData,
    loss_fn: nn.Module,
    settings: FitSettings,
    *,
    batch_size: int,
    cached: bool,
    views: int | str,
    checkpoint_dir: Path,
    key: str,
    progress: bool = True,
    desc: str = "fit",
    heads: int = 1,
) -> tuple[dict[str, float], pd.DataFrame, FitResult]:
    """Fit, test, and log metrics and artifacts to the active MLflow run."""
    device = pick_device()

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        mlflow.log_metrics(metrics, step=epoch)

    result = fit_on_task(
        model,
        data,
        loss_fn,
        settings,
        batch_size=batch_size,
        cached=cached,
        views=views,
        checkpoint_dir=checkpoint_dir,
        key=key,
        on_epoch=on_epoch,
        device=device,
        progress=progress,
        desc=desc,
        heads=heads,
    )
    mlflow.log_metrics({"best_epoch": result.best_epoch, "epochs_run": result.epochs_run})
    if result.resumed_from is not None:
        mlflow.set_tag("auforget.resumed_after_epoch", str(result.resumed_from))

    model.to(device)
    if (
        heads > 1
    ):  # the curves and best_epoch above are head 0's; what the merged head scores on val
        val = make_loader(data.dataset("val"), batch_size, shuffle=False, seed=0, device=device)
        mlflow.log_metrics(
            evaluate(
                model,
                val,
                loss_fn,
                device,
                data.class_names,
                prefix="ensemble_val_",
                progress=False,
                excluded=data.excluded,
            )
        )
    test_set = data.dataset("test")
    probs, _, labels = predict(
        model,
        make_loader(test_set, batch_size, shuffle=False, seed=0, device=device),
        device,
        desc=f"{desc} test",
        progress=progress,
    )
    model.cpu()
    metrics = classification_metrics(
        labels, probs.argmax(1), data.class_names, prefix="test_", excluded=data.excluded
    )
    mlflow.log_metrics(metrics)
    predictions = predictions_table(test_set.sample_ids, labels, probs, data.class_names)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        predictions.to_csv(out / artifacts.PREDICTIONS, index=False)
        write_confusion(labels, probs.argmax(1), data.class_names, out, title=desc)
        (out / artifacts.TEST_METRICS).write_text(json.dumps(metrics, indent=2, sort_keys=True))
        mlflow.log_artifacts(str(out))
    return metrics, predictions, result


def log_torch_model(
    model: VGG16Blocks, data: TaskData | None = None, splits_dir: str | Path | None = None
):
    """Log the model to the active run (see auforget.tracking.model_export: named for the run, class
    names, input size and normalisation as metadata, loadable without auforget, test metrics
    linked); with `data`, its split manifests are logged as the run's datasets first. Returns
    ModelInfo."""
    from auforget.tracking import model_export

    datasets = (
        model_export.log_splits(data.name, data.splits, splits_dir or data.root)
        if data is not None
        else None
    )
    return model_export.log_model(
        model, class_names=data.class_names if data is not None else None, datasets=datasets
    )
