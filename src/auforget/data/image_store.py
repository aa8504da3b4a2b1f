"""Decode once: a split's faces, resized to the network's input, kept as one uint8 array on disk.

Every preset (images.py) starts with the same deterministic step -- decode, crop the face box,
`v2.Resize((S, S), antialias=True)` -- and only the steps after it are random. The store keeps
that step's output for a whole split: one raw uint8 file of shape (N, 3, S, S) read through a
read-only `np.memmap`, with labels.npy and meta.json, under `cache/images/<key>/`. Training,
evaluation and feature extraction then read rows of it (no JPEG decoding, no Pillow) and do the
random steps on the batch, on the device (batch_augment.py; nn.training.make_loader wires the
two together). At 224 px a face is 147 kB: AffectNet's 287k faces take 43 GB of disk.

The key hashes what the pixels depend on: the manifest rows, the root, the size, the decoder,
the versions of the libraries that decode and resize, and every listed file's size and
modification time (ns) -- so an edited or replaced image makes a new store, as the per-image
route would read the new file. A store is written to a temporary folder and renamed into place
atomically, so every step and seed of a process, and every process, reuses it once it exists.
Delete `cache/images/` at any time to reclaim the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from auforget.data.images import ManifestImages, eval_preset, resolve_decoder

log = logging.getLogger(__name__)

IMAGE_STORE = Path("cache/images")
STORE_FORMAT = 1  # bump when the layout or the pixels' recipe changes
DISK_HEADROOM = 2**30  # leave 1 GiB free on the store's disk
PIXELS = "images.u8"


def store_key(manifest: pd.DataFrame, root: str | Path, image_size: int, decoder: str) -> str:
    """What a store's pixels depend on, hashed: the manifest rows, the root, the size, the
    decoder (as resolved: without simplejpeg, "pil"), the decoding libraries' versions, and each
    listed file's size and mtime_ns (a missing file hashes as missing; the build names it)."""
    import PIL
    import torchvision

    root = Path(root)
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(manifest, index=False).values.tobytes())
    decoder = resolve_decoder(decoder)
    versions = [PIL.__version__, torchvision.__version__]
    if decoder == "simplejpeg":
        import simplejpeg

        versions.append(simplejpeg.__version__)
    h.update(json.dumps([STORE_FORMAT, str(root), int(image_size), decoder, versions]).encode())
    stats = np.zeros((len(manifest), 2), dtype=np.int64)
    for i, rel in enumerate(manifest["path"].astype(str)):
        try:
            stat = os.stat(root / rel)
            stats[i] = stat.st_size, stat.st_mtime_ns
        except OSError:
            stats[i] = -1, -1
    h.update(stats.tobytes())
    return h.hexdigest()[:24]


class StoreImages(Dataset):
    """(uint8 face (3, S, S), label) rows of an image store, and the batch preset to apply.

    `transform` is a batch preset (batch_augment.py) that `make_loader` applies to each
    collated batch on the device (see `collate`), not to single rows. Picklable: the memmap is
    opened lazily in each process that reads it.
    """

    def __init__(self, folder: str | Path, transform: Callable, manifest: pd.DataFrame):
        self.folder = Path(folder)
        meta = json.loads((self.folder / "meta.json").read_text())
        self.shape = tuple(meta["shape"])
        self.labels = np.load(self.folder / "labels.npy")
        self.transform = transform
        self.manifest = manifest.reset_index(drop=True)
        self._images: np.memmap | None = None
        self._pid = -1

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self._pid != os.getpid():  # a fresh mapping per process
            self._images = np.memmap(self.folder / PIXELS, np.uint8, mode="r", shape=self.shape)
            self._pid = os.getpid()
        return torch.from_numpy(np.array(self._images[int(i)])), int(self.labels[i])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_images": None, "_pid": -1}

    def collate(self, device: torch.device | None) -> Callable:
        """A DataLoader collate_fn: stack the uint8 faces, move them to `device`, apply the batch
        preset there (CPU tensors keep the labels, as the default collate does)."""
        return StoreBatches(self.transform, device)

    @property
    def sample_ids(self) -> list[str]:
        return self.manifest["sample_id"].astype(str).tolist()

    @property
    def key(self) -> str:
        """The store's key (its folder's name): what its pixels depend on."""
        return self.folder.name


class StoreBatches:
    """collate_fn of a StoreImages loader (picklable, for torchrun's followers)."""

    def __init__(self, transform: Callable, device: torch.device | None):
        self.transform, self.device = transform, device

    def __call__(self, rows: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.stack([row[0] for row in rows])
        labels = torch.tensor([row[1] for row in rows], dtype=torch.int64)
        if self.device is not None:
            images = images.to(self.device)
        return self.transform(images), labels


def open_store(
    manifest: pd.DataFrame,
    root: str | Path,
    transform: Callable,
    *,
    decoder: str = "pil",
    folder: str | Path | None = None,
    progress: bool = True,
    desc: str = "image store",
) -> StoreImages:
    """The store of `manifest`'s faces at `transform.image_size`, built first if no store with
    its key exists in `folder` (default cache/images/), with `transform` as its batch preset.

    Errors from missing or undecodable images are ManifestImages' (ImageLoadError naming the
    file and row); a store that would not fit on its disk is a ValueError saying how much it
    needs, raised before any decoding.
    """
    folder = Path(folder or IMAGE_STORE)
    size = transform.image_size
    key = store_key(manifest, root, size, decoder)
    if not (folder / key / "meta.json").exists():
        build_store(
            manifest, root, size, folder / key, decoder=decoder, progress=progress, desc=desc
        )
    return StoreImages(folder / key, transform, manifest)


def build_store(
    manifest: pd.DataFrame,
    root: str | Path,
    image_size: int,
    target: Path,
    *,
    decoder: str = "pil",
    progress: bool = True,
    desc: str = "image store",
    workers: int | None = None,
) -> None:
    """Decode, crop and resize every face of `manifest` once (ManifestImages.resized_uint8) into
    `target` (written in a temporary sibling folder, renamed into place). Decoding runs in
    `workers` loader processes (default: all cores but one for stores of 2,048 faces or more,
    where starting them pays off)."""
    source = ManifestImages(manifest, root, eval_preset(image_size), decoder=decoder)
    n = len(source)
    if n == 0:
        raise ValueError(f"{desc}: the manifest has no rows to store")
    shape = (n, 3, image_size, image_size)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_fits(int(np.prod(shape)), target.parent, desc)
    if workers is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = min(16, cores - 1) if n >= 2048 else 0
    loader = DataLoader(
        _Resized(source),
        batch_size=64,
        num_workers=workers,
        collate_fn=torch.stack,
        prefetch_factor=4 if workers else None,
    )
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    start = time.perf_counter()
    try:
        with open(work / PIXELS, "wb") as out:
            for batch in tqdm(loader, desc=desc, leave=False, disable=not progress, unit="batch"):
                out.write(batch.contiguous().numpy().tobytes())
        np.save(work / "labels.npy", source.labels)
        meta: dict[str, Any] = {
            "shape": shape,
            "dtype": "uint8",
            "root": str(root),
            "decoder": source.decoder,
            "rows": n,
        }
        (work / "meta.json").write_text(json.dumps(meta))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    try:
        os.replace(work, target)  # atomic: a reader never sees a half-written store
    except OSError:  # another process finished the same store first; theirs is identical
        shutil.rmtree(work, ignore_errors=True)
    log.info(
        "%s: stored %d faces at %d px (%.2f GB) in %s in %.1f s",
        desc,
        n,
        image_size,
        np.prod(shape) / 1e9,
        target,
        time.perf_counter() - start,
    )


class _Resized(Dataset):
    """The resized uint8 faces of a ManifestImages, for the build's loader."""

    def __init__(self, source: ManifestImages):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.source.resized_uint8(i)


def _check_fits(need: int, folder: Path, desc: str) -> None:
    free = shutil.disk_usage(folder).free
    if need > free - DISK_HEADROOM:
        raise ValueError(
            f"{desc}: the image store needs {need / 2**30:.1f} GiB on disk and "
            f"{folder.resolve()} has {free / 2**30:.1f} GiB free: free some space, or set "
            f"data.image_store: false to decode the images at every step"
        )
