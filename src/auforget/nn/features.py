"""Cached conv features for training output layers on top of frozen blocks, kept on disk.

When all five conv blocks are frozen (FreezeB5 and every retrain run) the blocks compute the
same function in every epoch, so running them once per image and training the head on the
stored outputs gives the same kind of model at a fraction of the cost. Augmentation is kept
as a fixed number of augmented views per image, each drawn once with its own seed; with
views = 0 the cache holds the plain (un-augmented) images.

views = "exact" (EXACT) is for recipes whose augmentation has a finite set of views -- the
emotion recipe's random flip has two: the face and its mirror image. The cache then holds both
views of every image, and `FlipDrawn` draws one per image each time it is read, with the same
coin (torch.rand(1) < p) that RandomHorizontalFlip tosses. That is the distribution of fresh
flips every epoch, exactly, for one decode of each image and two forward passes (the batch
and its mirror image) instead of every epoch's decoding and convolving.

At the paper's size the cache does not fit in memory (273k AffectNet training images x 25,088
block-5 outputs is 27 GB as float32), so it lives on disk: one flat float16 file per cache
(half the bytes; ReLU outputs of VGG16 are far inside float16's range and precision is not the
bottleneck of a linear head), written batch by batch and read back row by row with positional
reads. Reads are deliberately not memory-mapped: mapped pages count as the process's resident
memory, while pread pages sit in the kernel's page cache, which the kernel gives back under
pressure. A process's memory therefore stays flat however large the cache grows.

A cache is named by what determines its contents -- the frozen blocks' weights (the model
version), the manifest rows, the root, the transform, the decoder, the views and their seed,
and the package's code -- so a rerun (a resumed retrain, tune's trials, a repeated study)
reuses it instead of recomputing it. Delete `cache/features/` at any time to reclaim the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from auforget.nn.backbones import VGG16Blocks
from auforget.nn.training import make_loader, stop_point

log = logging.getLogger(__name__)

FEATURE_CACHE = Path("cache/features")
EXACT = "exact"  # views: both views of a two-view (flip-only) recipe, drawn afresh each read
STORE_DTYPE = np.float16
DISK_HEADROOM = 2**30  # leave 1 GiB free on the cache's disk


class CacheDoesNotFit(ValueError):
    """The cache would not fit on its disk; the caller trains on images instead (see
    fit_on_task)."""


class FeatureStore(Dataset):
    """(feature map as float32 (C, S, S), label) rows of a cache file; picklable for loader workers.

    Only the labels (8 bytes a row) are held in memory; rows are read from disk on demand.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], labels: np.ndarray):
        self.path, self.shape, self.labels = Path(path), tuple(shape), labels
        self._row_bytes = int(np.prod(shape)) * np.dtype(STORE_DTYPE).itemsize
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self._pid != os.getpid():  # a fresh descriptor per process (loader workers)
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        raw = os.pread(self._fd, self._row_bytes, int(i) * self._row_bytes)
        row = np.frombuffer(raw, dtype=STORE_DTYPE).reshape(self.shape)
        return torch.from_numpy(row.astype(np.float32)), int(self.labels[i])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every row in memory as float32 (small caches and tests only)."""
        flat = np.fromfile(self.path, dtype=STORE_DTYPE, count=len(self) * int(np.prod(self.shape)))
        return torch.from_numpy(
            flat.astype(np.float32).reshape(len(self), *self.shape)
        ), torch.from_numpy(self.labels)


class FlipDrawn(Dataset):
    """One of two cached views per image, drawn at each read: row i of `store` (the face) or row
    i + n (its mirror image) with probability `p`.

    The coin is torch.rand(1) < p from torch's global generator, the draw RandomHorizontalFlip
    makes, so with the same seed and sample order the views drawn are those the image route
    would draw (fit seeds torch every epoch).
    """

    def __init__(self, store: FeatureStore, p: float = 0.5):
        if len(store) % 2:
            raise ValueError(
                f"a two-view cache has an even number of rows, {store.path} has {len(store)}"
            )
        self.store, self.p, self.n = store, float(p), len(store) // 2
        self.labels = store.labels[: self.n]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        flipped = bool(torch.rand(1) < self.p)
        return self.store[int(i) + self.n * flipped]


def cache_bytes(n_rows: int, feature_dim: int) -> int:
    return n_rows * feature_dim * np.dtype(STORE_DTYPE).itemsize


def check_cache_size(
    n_rows: int, feature_dim: int, desc: str, folder: Path = FEATURE_CACHE
) -> None:
    """CacheDoesNotFit when the cache would not fit on the disk holding `folder` (checked before
    any time is spent on it). Memory is no limit any more: the cache is read from disk."""
    need = cache_bytes(n_rows, feature_dim)
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need > free - DISK_HEADROOM:
        raise CacheDoesNotFit(
            f"{desc}: caching {n_rows} feature maps of {feature_dim} values needs "
            f"{need / 2**30:.1f} GiB on disk, and {probe.resolve()} has {free / 2**30:.1f} GiB free"
        )


def cache_key(model: VGG16Blocks, dataset: Dataset, *, views: int, seed: int) -> str | None:
    """What a cache's contents depend on, hashed; None when the dataset is neither a manifest of
    images nor an image store (whose key already hashes its manifest, root, size, decoder and
    files; its batch preset is hashed here)."""
    from auforget.core.identity import code_version
    from auforget.data.image_store import StoreImages
    from auforget.data.images import ManifestImages

    if not isinstance(dataset, (ManifestImages, StoreImages)):
        return None
    h = hashlib.sha256()
    for name, tensor in model.blocks.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(pd.util.hash_pandas_object(dataset.manifest, index=False).values.tobytes())
    if isinstance(dataset, StoreImages):
        source = ["image store", dataset.key, repr(dataset.transform)]
    else:
        transform = getattr(dataset.transform, "transforms", dataset.transform)
        source = [str(dataset.root), repr(transform), dataset.decoder]
    h.update(
        json.dumps([code_version(__name__), *source, views, seed, repr(model.profile)]).encode()
    )
    return h.hexdigest()[:24]


@torch.no_grad()
def extract_features(
    model: VGG16Blocks,
    dataset: Dataset,
    *,
    batch_size: int,
    device: torch.device,
    views: int | str = 0,
    seed: int = 0,
    progress: bool = True,
    desc: str = "features",
    folder: Path | None = None,
) -> FeatureStore:
    """Last-conv-block outputs of every image (`max(views, 1)` passes) with their labels, on disk.

    views = EXACT: one pass over the plain (eval-preset) images, the blocks run on each batch and
    on its mirror image; rows [0, n) hold the faces and [n, 2n) their mirror images (read them
    through FlipDrawn).

    `dataset` must already carry the transform wanted: the plain eval preset for views = 0, the
    training augmentation otherwise. A cache with the same key in `folder` is reused. Raises
    CacheDoesNotFit (a ValueError) before any work when the disk cannot hold it.
    """
    if len(dataset) == 0:
        raise ValueError(f"{desc}: no images to extract features from")
    folder = Path(folder or FEATURE_CACHE)
    passes = _passes(views)
    shape = tuple(model.profile.feature_shape)  # the pooled last stage, per image
    key = cache_key(model, dataset, views=views, seed=seed)
    if key and (folder / key / "meta.json").exists():
        meta = json.loads((folder / key / "meta.json").read_text())
        log.info("%s: reusing cached features %s", desc, folder / key)
        return FeatureStore(
            folder / key / "features.bin",
            tuple(meta["shape"]),
            np.load(folder / key / "labels.npy"),
        )
    check_cache_size(len(dataset) * passes, model.profile.feature_dim, desc, folder)
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    try:
        labels = _write_rows(
            model,
            dataset,
            work / "features.bin",
            batch_size=batch_size,
            device=device,
            views=views,
            seed=seed,
            progress=progress,
            desc=desc,
        )
        np.save(work / "labels.npy", labels)
        (work / "meta.json").write_text(
            json.dumps({"shape": shape, "rows": len(labels), "dtype": "float16"})
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if key is None:  # not reusable: removed with the store
        store = FeatureStore(work / "features.bin", shape, labels)
        weakref.finalize(store, shutil.rmtree, work, True)
        return store
    try:
        os.replace(work, folder / key)  # atomic: a reader never sees a half-written cache
    except OSError:  # another process finished the same cache first; theirs is identical
        shutil.rmtree(work, ignore_errors=True)
    return FeatureStore(folder / key / "features.bin", shape, labels)


def _passes(views: int | str) -> int:
    """Rows per image in a cache: both flip views for EXACT, else the augmented views (the
    plain image once for 0)."""
    return 2 if views == EXACT else max(int(views), 1)


def _write_rows(
    model: VGG16Blocks,
    dataset: Dataset,
    path: Path,
    *,
    batch_size: int,
    device: torch.device,
    views: int | str,
    seed: int,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Run the blocks over `dataset` once per view, appending float16 rows to `path`; returns
    labels."""
    model.eval()
    model.to(device)
    if views == EXACT:
        return _write_both_views(
            model, dataset, path, batch_size=batch_size, device=device, progress=progress, desc=desc
        )
    passes = _passes(views)
    labels = np.empty(len(dataset) * passes, dtype=np.int64)
    row = 0
    with open(path, "wb") as out:
        for view in range(passes):
            view_seed = seed * 7_919 + view
            torch.manual_seed(view_seed)  # augmentation in the main process (CPU: no workers)
            loader = make_loader(dataset, batch_size, shuffle=False, seed=view_seed, device=device)
            label = f"{desc} view {view + 1}/{passes}" if views else desc
            for images, y in tqdm(
                loader, desc=label, leave=False, disable=not progress, unit="batch"
            ):
                stop_point()
                feats = model.features(images.to(device, non_blocking=True)).to(
                    "cpu", torch.float16
                )
                out.write(feats.contiguous().numpy().tobytes())
                labels[row : row + len(feats)] = torch.as_tensor(y).numpy()
                row += len(feats)
    return labels[:row]


def _write_both_views(
    model: VGG16Blocks,
    dataset: Dataset,
    path: Path,
    *,
    batch_size: int,
    device: torch.device,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """One pass over the plain images (each decoded once), the blocks run on every batch and on
    its mirror image: rows [0, n) hold the faces' features, [n, 2n) their mirror images'."""
    n = len(dataset)
    labels = np.empty(2 * n, dtype=np.int64)
    row = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        loader = make_loader(dataset, batch_size, shuffle=False, seed=0, device=device)
        for images, y in tqdm(loader, desc=f"{desc} (2 views)", leave=False, disable=not progress):
            stop_point()
            images = images.to(device, non_blocking=True)
            for offset, batch in ((row, images), (n + row, torch.flip(images, dims=[-1]))):
                # flipping commutes with the preset's per-channel normalisation
                feats = model.features(batch).to("cpu", torch.float16).contiguous().numpy()
                os.pwrite(fd, feats.tobytes(), offset * feats[0].nbytes)
                labels[offset : offset + len(feats)] = torch.as_tensor(y).numpy()
            row += len(images)
    finally:
        os.close(fd)
    return labels
