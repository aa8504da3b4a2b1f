"""One model trained by several processes: `torchrun --nproc-per-node N -m auforget emotion`.

torchrun starts N copies of the CLI with RANK / WORLD_SIZE / LOCAL_RANK set. Rank 0 (the
leader) runs the stage exactly as a single process would: it alone reads and writes MLflow,
registers, and writes checkpoints. The other ranks (followers) run no stage; they wait for the
leader's `fit`, which sends them what they need to join it (the model as it is, the train and
val datasets, loss, settings), and train their share with DistributedDataParallel (gloo on CPU,
NCCL on GPU). When the stage is done the leader tells them to leave.

Inside `fit` (train.py):
- the train split is dealt out by `ShardSampler`: a permutation drawn from (seed, epoch) -- the
  same on every rank, re-drawn each epoch by `set_epoch` -- split round robin without overlap;
  each rank takes batch_size / N samples a step, so one step still sees batch_size samples and
  an epoch takes as many steps as on one process;
- the leader's resumed weights, optimizer state and epoch counters reach every rank, so a
  checkpoint written with one number of processes resumes under another;
- val predictions of every rank are gathered, so validation metrics (and the early-stopping
  decision, the same on every rank) are on the whole split; the test split is predicted by the
  leader alone after `fit`, also whole.

Numbers differ from a single process (batch-norm statistics come from batch_size / N samples,
gradients are averaged in another order); quality does not.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

log = logging.getLogger(__name__)


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def active() -> bool:
    """Started by torchrun with more than one process (and the process group is up)."""
    return world_size() > 1 and dist.is_available() and dist.is_initialized()


def is_leader() -> bool:
    return rank() == 0


def init() -> str:
    """Join torchrun's process group: NCCL with one GPU per process when CUDA is there, else
    gloo."""
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    log.info("rank %d of %d joined (%s)", rank(), world_size(), backend)
    return backend


@dataclass
class FitJob:
    """What a follower needs to join the leader's `fit`."""

    model: nn.Module
    train_set: Dataset
    val_set: Dataset
    batch_size: int
    loss_fn: nn.Module
    settings: Any
    class_names: Sequence[str]
    fingerprint: str
    desc: str
    excluded: tuple[int, ...] = ()  # every rank's val macros leave out the same labels


def announce_fit(job: FitJob) -> None:
    """Leader, at the start of `fit`: bring the followers in (no-op without torchrun)."""
    if active() and is_leader():
        broadcast(job)
        import mlflow

        if mlflow.active_run() is not None:
            mlflow.set_tags(
                {"auforget.world_size": str(world_size()), "auforget.backend": dist.get_backend()}
            )


def sync_start(state: dict, optimizer: torch.optim.Optimizer) -> dict:
    """Every rank starts from the leader's (possibly resumed) epoch counters and optimizer state;
    the weights follow when `wrap` builds DistributedDataParallel."""
    if not active():
        return state
    state, optimizer_state = broadcast((state, optimizer.state_dict()))
    optimizer.load_state_dict(optimizer_state)
    return state


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index or 0] if device.type == "cuda" else None
    )


class ShardSampler(Sampler[int]):
    """This rank's share of `n` samples: a permutation drawn from (seed, epoch) when shuffling
    (identity otherwise), dealt out round robin. Training shares (`equal`) all have n // world
    samples -- the permutation's last n % world sit the epoch out, different ones each epoch --
    so every rank takes the same number of steps; evaluation shares cover each sample once."""

    def __init__(
        self, n: int, *, rank: int, world: int, shuffle: bool, seed: int = 0, equal: bool = False
    ):
        self.n, self.rank, self.world, self.shuffle, self.seed, self.equal = (
            n,
            rank,
            world,
            shuffle,
            seed,
            equal,
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed * 10_007 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        if self.equal:
            order = order[: self.n - self.n % self.world]
        return order[self.rank :: self.world].tolist()

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.n // self.world if self.equal else len(range(self.rank, self.n, self.world))


def shard(loader: DataLoader, *, train: bool, seed: int) -> DataLoader:
    """The same loader over this rank's share, batch_size / world samples a step."""
    if not active():
        return loader
    world = world_size()
    sampler = ShardSampler(
        len(loader.dataset), rank=rank(), world=world, shuffle=train, seed=seed, equal=train
    )
    extra = {"prefetch_factor": loader.prefetch_factor} if loader.num_workers else {}
    return DataLoader(
        loader.dataset,
        batch_size=max(1, loader.batch_size // world),
        sampler=sampler,
        num_workers=loader.num_workers,
        pin_memory=loader.pin_memory,
        collate_fn=loader.collate_fn,  # an image store's: stack, to the device, batch preset
        **extra,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    if isinstance(loader.sampler, ShardSampler):
        loader.sampler.set_epoch(epoch)


def mean_over_ranks(metrics: dict[str, float]) -> dict[str, float]:
    """Train loss/accuracy over the whole epoch (every rank's share has the same size)."""
    if not active():
        return metrics
    keys = sorted(metrics)
    values = torch.tensor([metrics[k] for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(values)
    return dict(zip(keys, (values / world_size()).tolist()))


def is_sharded(loader: DataLoader) -> bool:
    return isinstance(loader.sampler, ShardSampler) and active()


def broadcast_buffers(model: nn.Module) -> None:
    """Batch-norm statistics drift per rank during training; evaluate with the leader's."""
    for buffer in model.buffers():
        on_comm = buffer.data.to(_comm_device())
        dist.broadcast(on_comm, src=0)
        buffer.data.copy_(on_comm)


def gather_predictions(loader: DataLoader, *arrays: list[torch.Tensor]) -> tuple[np.ndarray, ...]:
    """Every rank's predictions, put back in dataset order: the whole split on every rank."""
    mine = [torch.cat(a).numpy() if a else None for a in arrays]
    shares: list[Any] = [None] * world_size()
    dist.all_gather_object(shares, (loader.sampler.indices(), mine))
    order = np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _ in shares])
    out = []
    for k in range(len(arrays)):
        parts = [part[k] for _, part in shares if part[k] is not None]
        if not parts:
            raise ValueError("the loader yielded no samples on any rank")
        stacked = np.concatenate(parts)
        result = np.empty_like(stacked)
        result[order] = stacked
        out.append(result)
    return tuple(out)


def _comm_device() -> torch.device:
    return (
        torch.device("cuda", torch.cuda.current_device())
        if dist.get_backend() == "nccl"
        else torch.device("cpu")
    )


def broadcast(obj: Any) -> Any:
    box = [obj]
    dist.broadcast_object_list(
        box, src=0, device=_comm_device() if dist.get_backend() == "nccl" else None
    )
    return box[0]
