"""The training loop: `train_one_epoch`, `evaluate`, and `fit` with checkpoints and resume.

Determinism: every epoch re-seeds torch's global RNG (augmentation, dropout) and the loader's
shuffling generator from (seed, epoch). An epoch therefore depends only on the weights and
optimizer state it starts from, which the checkpoint holds, so a run resumed from its last
epoch checkpoint ends with the same numbers as one that was never interrupted.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from auforget.analysis.metrics import classification_metrics
from auforget.data.image_store import StoreImages
from auforget.nn import distributed

log = logging.getLogger(__name__)

CHECKPOINT = "last.pt"

# Set by the CLI's SIGTERM handler. The loops below stop at the next batch boundary -- never in
# the middle of an MLflow database write, which would leave the run unable to record FAILED.
STOP_REQUESTED = threading.Event()
TERMINATED_EXIT = 128 + 15


def stop_point() -> None:
    if STOP_REQUESTED.is_set():
        raise SystemExit(TERMINATED_EXIT)


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    lr: float
    momentum: float
    weight_decay: float
    patience: int
    seed: int
    schedule: str = "constant"  # config.LR_SCHEDULES; see lr_factor
    optimizer: str = "sgd"  # config.OPTIMIZERS; see make_optimizer
    # Early stopping and the kept checkpoint follow validation macro F1: with imbalanced
    # classes a falling loss can hide a model that stopped predicting the rare ones.
    monitor: str = "val_f1_macro"


@dataclass
class FitResult:
    best_epoch: int
    best_score: float
    epochs_run: int
    resumed_from: int | None
    history: list[dict[str, float]] = field(default_factory=list)


def pick_device() -> torch.device:
    """CUDA when present (with deterministic cuDNN kernels, so a seed still fixes the numbers)."""
    if torch.cuda.is_available():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        return torch.device("cuda")
    return torch.device("cpu")


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    device: torch.device | None = None,
    workers: int | None = None,
) -> DataLoader:
    """A loader whose shuffling generator `fit` re-seeds every epoch; every stage that reads
    images (training, evaluation, feature extraction, saliency, probes) goes through it.

    On a GPU, all cores but one decode images in worker processes (VGG16 at 224 px eats about
    3,000 images/s on an H100-class card, about 200 images/s per worker; bench/bench_loader.py)
    into pinned memory; on a CPU the main process does it, because workers would only compete
    with torch for the same cores. `workers` overrides the count.

    An image store (data.image_store: true) is read in the main process -- a row is a copy out
    of a memory map, nothing to decode -- and each batch is stacked, moved to `device` and
    augmented there by the store's batch preset (its collate_fn), so the loop receives batches
    ready for the model, as from the per-image route.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    if isinstance(dataset, StoreImages):
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=0,
            collate_fn=dataset.collate(device),
        )
    cuda = device is not None and device.type == "cuda"
    if workers is None:
        cores = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
        workers = min(16, max(1, cores - 1)) if cuda else 0
    # Workers are not persistent: each epoch's iterator then draws the workers' seeds from the
    # generator `fit` has just re-seeded, so augmentation in workers is reproducible on resume.
    # Restarting them costs well under a second per epoch, against minutes of decoding.
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        pin_memory=cuda,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )


def lr_factor(schedule: str, step: int, total: int) -> float:
    """The learning rate at batch `step` (0-based) of `total`, as a fraction of the configured lr.

    "onecycle" (Smith & Topin's one-cycle policy, with torch's OneCycleLR defaults): a cosine
    rise from lr/25 to lr over the first 30 % of the batches, then a cosine fall to lr/250,000.
    Measured on the demo (bench/bench_emotion_recipe.py), it is what lets the from-scratch small
    profile learn the planted expressions: 0.75 validation macro recall against 0.38 at a
    constant lr. A pure function of the step, so a resumed run needs no scheduler state and every
    torchrun rank agrees.
    """
    if schedule == "constant":
        return 1.0
    if schedule != "onecycle":
        raise ValueError(
            f"unknown lr schedule {schedule!r}; valid schedules are 'constant', 'onecycle'"
        )
    start, end, peak = 1 / 25, 1 / 25 / 1e4, max(1, round(0.3 * total))
    if step < peak:
        return start + (1 - start) * (1 - math.cos(math.pi * step / peak)) / 2
    done = (step - peak) / max(1, total - 1 - peak)
    return end + (1 - end) * (1 + math.cos(math.pi * min(done, 1.0))) / 2


def make_optimizer(model: nn.Module, s: FitSettings) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: every parameter of the model is frozen")
    if s.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    if device.type == "cuda" and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    desc: str = "train",
    progress: bool = True,
    sync_every: int = 25,
    lr_at: Callable[[int], float] | None = None,
) -> dict[str, float]:
    """One pass over `loader`.

    The loss and hit counts are summed on the device and read back every `sync_every` batches
    (to check the loss is finite and refresh the progress bar), not after every batch: a read
    back stalls the host until the GPU drains its queue. On a CPU that costs nothing, so every
    batch is checked there. The sums are float64, so the reported loss is the same as summing
    per-batch values on the host. `lr_at(i)` sets the learning rate of the epoch's i-th batch.
    """
    model.train()
    every = sync_every if device.type == "cuda" else 1
    total_loss = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    bar = tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch")
    for step, (images, labels) in enumerate(bar, 1):
        stop_point()
        images, labels = _to_device(images, device), labels.to(device, non_blocking=True)
        with _autocast(device):
            logits = model(images)
        loss = loss_fn(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step - 1)
        optimizer.step()
        total_loss += loss.detach().double() * len(labels)
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
        if step % every == 0:
            _check_finite(loss, desc)
            bar.set_postfix(loss=f"{total_loss.item() / seen:.4f}")
    if seen:
        _check_finite(total_loss, desc)
    return {"loss": total_loss.item() / max(seen, 1), "accuracy": correct.item() / max(seen, 1)}


def _check_finite(loss: torch.Tensor, desc: str) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"{desc}: the loss became {loss.item()} (diverged); lower the learning rate"
        )


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    desc: str = "predict",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class probabilities, logits and true labels for every sample, in loader order."""
    model.eval()
    if distributed.is_sharded(loader):
        distributed.broadcast_buffers(model)
    probs, logits_all, labels_all = [], [], []
    for images, labels in tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
        stop_point()
        with _autocast(device):
            logits = model(_to_device(images, device)).float()
        logits_all.append(logits.cpu())
        probs.append(torch.softmax(logits, 1).cpu())
        labels_all.append(labels)
    if distributed.is_sharded(loader):  # under torchrun: every rank's share, in split order
        return distributed.gather_predictions(loader, probs, logits_all, labels_all)
    if not probs:
        raise ValueError(f"{desc}: the loader yielded no samples")
    return torch.cat(probs).numpy(), torch.cat(logits_all).numpy(), torch.cat(labels_all).numpy()


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: nn.Module,
    device: torch.device,
    class_names: Sequence[str],
    *,
    prefix: str = "val_",
    progress: bool = True,
    excluded: Collection[int] = (),
) -> dict[str, float]:
    probs, logits, labels = predict(
        model, loader, device, desc=prefix.rstrip("_"), progress=progress
    )
    metrics = classification_metrics(
        labels, probs.argmax(1), class_names, prefix=prefix, excluded=excluded
    )
    metrics[f"{prefix}loss"] = float(
        loss_fn(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    )
    return metrics


# About 55 lines with its docstring: the epoch loop; resume and per-epoch bookkeeping are already
# _resume and _record_epoch.
def fit(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    loss_fn: nn.Module,
    s: FitSettings,
    *,
    class_names: Sequence[str],
    excluded: Collection[int] = (),
    checkpoint_dir: Path,
    fingerprint: str = "",
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    device: torch.device | None = None,
    progress: bool = True,
    desc: str = "fit",
) -> FitResult:
    """Train with SGD, early stopping on `s.monitor`, keeping the best weights.

    After every epoch the full state goes to `checkpoint_dir/last.pt` (atomically); if that file
    exists with the same `fingerprint` when fit starts, training resumes after its epoch and
    the earlier epochs' metrics are replayed through `on_epoch`, so a new MLflow run shows the
    whole curve. On return the model holds the best epoch's weights.
    """
    device = device or pick_device()
    distributed.announce_fit(
        distributed.FitJob(
            model,
            train_loader.dataset,
            val_loader.dataset,
            train_loader.batch_size,
            loss_fn,
            s,
            class_names,
            fingerprint,
            desc,
            tuple(excluded),
        )
    )
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, s)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    path = checkpoint_dir / CHECKPOINT
    state, resumed_from = _resume(
        path, fingerprint, model, optimizer, device, on_epoch=on_epoch, desc=desc
    )
    # Under torchrun: the leader's state on every rank, DDP around the model, each rank its share.
    state = distributed.sync_start(state, optimizer)
    net = distributed.wrap(model, device)
    train_loader = distributed.shard(train_loader, train=True, seed=s.seed)
    val_loader = distributed.shard(val_loader, train=False, seed=s.seed)
    epoch = state["epoch"]
    stopped = state["bad_epochs"] >= s.patience
    while epoch < s.epochs and not stopped:
        epoch += 1
        torch.manual_seed(s.seed * 10_007 + epoch)
        if train_loader.generator is not None:
            train_loader.generator.manual_seed(s.seed * 10_007 + epoch)
        distributed.set_epoch(train_loader, epoch)
        lr_at = None
        if (
            s.schedule != "constant"
        ):  # used within this epoch only, so the closure may read first and total
            first, total = (epoch - 1) * len(train_loader), s.epochs * len(train_loader)

            def lr_at(i: int) -> float:
                return s.lr * lr_factor(s.schedule, first + i, total)

        train = train_one_epoch(
            net,
            train_loader,
            loss_fn,
            optimizer,
            device,
            desc=f"{desc} epoch {epoch}/{s.epochs}",
            progress=progress,
            lr_at=lr_at,
        )
        train = distributed.mean_over_ranks(train)
        val = evaluate(
            model, val_loader, loss_fn, device, class_names, progress=progress, excluded=excluded
        )
        metrics = {"train_loss": train["loss"], "train_accuracy": train["accuracy"], **val}
        if lr_at is not None:
            metrics["lr"] = optimizer.param_groups[0]["lr"]  # the epoch's last batch's
        score = _record_epoch(state, epoch, metrics, model, s.monitor)
        if distributed.is_leader():
            _save_atomic(
                {
                    **state,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "fingerprint": fingerprint,
                },
                path,
            )
        log.info(
            "%s epoch %d: train_loss %.4f val_loss %.4f %s %.4f",
            desc,
            epoch,
            metrics["train_loss"],
            metrics["val_loss"],
            s.monitor,
            score,
        )
        if on_epoch:
            on_epoch(epoch, metrics)
        stopped = state["bad_epochs"] >= s.patience
        if stopped:
            log.info(
                "%s: early stop after epoch %d (best epoch %d)", desc, epoch, state["best_epoch"]
            )

    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    return FitResult(
        best_epoch=state["best_epoch"],
        best_score=float(state["best_score"]),
        epochs_run=epoch,
        resumed_from=resumed_from,
        history=list(state["history"]),
    )


def _resume(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
    desc: str,
) -> tuple[dict, int | None]:
    """(fit's state, the epoch it resumes after): the checkpoint's, with model and optimizer
    restored and its epochs' metrics replayed through `on_epoch`, when it was written with the
    same fingerprint; else a fresh start (None)."""
    state = {
        "epoch": 0,
        "best_score": -np.inf,
        "best_epoch": 0,
        "best_state": None,
        "bad_epochs": 0,
        "history": [],
    }
    if not path.exists():
        return state, None
    saved = torch.load(path, map_location=device, weights_only=False)
    if saved.get("fingerprint") != fingerprint:
        log.warning("%s: ignoring checkpoint %s written for other settings", desc, path)
        return state, None
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    state = {k: saved[k] for k in state}
    log.info("%s: resuming after epoch %d from %s", desc, state["epoch"], path)
    for i, metrics in enumerate(state["history"], start=1):
        if on_epoch:
            on_epoch(i, metrics)
    return state, state["epoch"]


def _record_epoch(
    state: dict, epoch: int, metrics: dict[str, float], model: nn.Module, monitor: str
) -> float:
    """Add an epoch to fit's state: keep the weights when `monitor` improved, else count a bad
    epoch."""
    score = metrics[monitor]
    if score > state["best_score"]:
        state.update(
            best_score=score,
            best_epoch=epoch,
            bad_epochs=0,
            best_state={k: v.detach().clone() for k, v in model.state_dict().items()},
        )
    else:
        state["bad_epochs"] += 1
    state["history"].append(metrics)
    state["epoch"] = epoch
    return score


def _save_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
