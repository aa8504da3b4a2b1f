"""Launching a stage under torchrun: rank 0 runs the stage, the other ranks join its training.

Why this sits above the training loop rather than in nn/distributed.py: the followers run the
loop's `fit`, and the loop itself uses the distributed helpers, so the helpers stay a leaf that
the loop imports and this module ties the two together for the CLI.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from auforget.data.image_store import StoreImages
from auforget.nn.distributed import broadcast, init, is_leader, rank, world_size
from auforget.nn.training import fit, pick_device

log = logging.getLogger(__name__)


def run_ranked(stage: Callable[[], Any]) -> Any:
    """The CLI's door: run `stage` here, or -- under torchrun -- on the leader while the other
    ranks follow its fits. Followers return None."""
    if world_size() <= 1:
        return stage()
    init()
    if not is_leader():
        logging.getLogger("auforget").setLevel(
            logging.WARNING
        )  # the leader reports; N copies of it would not help
        follow()
        dist.destroy_process_group()
        return None
    result = stage()  # an exception here ends this process; torchrun then stops the followers
    broadcast(None)
    dist.destroy_process_group()
    return result


def follow() -> None:
    """Follower: join each `fit` the leader announces until it says the stage is done."""
    while (job := broadcast(None)) is not None:
        log.info("rank %d: joining %s", rank(), job.desc)
        device = pick_device()
        with tempfile.TemporaryDirectory() as scratch:  # followers never write checkpoints
            fit(
                job.model,
                _loader(job.train_set, job.batch_size, device),
                _loader(job.val_set, job.batch_size, device),
                job.loss_fn,
                job.settings,
                class_names=job.class_names,
                excluded=job.excluded,
                checkpoint_dir=Path(scratch),
                fingerprint=job.fingerprint,
                device=device,
                progress=False,
                desc=job.desc,
            )


def _loader(dataset: Dataset, batch_size: int, device) -> DataLoader:
    """A follower's loader, which fit shards: an image store's batches also go through its
    collate_fn (stacked, moved to the device, augmented there), as make_loader does."""
    collate = dataset.collate(device) if isinstance(dataset, StoreImages) else None
    return DataLoader(dataset, batch_size, collate_fn=collate)
