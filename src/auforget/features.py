"""Cached conv features for training output layers on top of frozen blocks.

When all five conv blocks are frozen (FreezeB5 and every retrain run) the blocks compute the
same function in every epoch, so running them once per image and training the head on the
stored outputs gives the same kind of model at a fraction of the cost. Augmentation is kept
as a fixed number of augmented views per image, each drawn once with its own seed; with
views = 0 the cache holds the plain (un-augmented) images.
"""
from __future__ import annotations

import os

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from auforget.models import VGG16Blocks
from auforget.train import stop_point


MAX_CACHE_SHARE = 0.5  # of physical memory


def check_cache_size(n_rows: int, feature_dim: int, desc: str) -> None:
    """Refuse a cache that would not fit in memory, before spending time on it.

    The paper profile's block-5 output is 25,088 floats per image, so caching all of AffectNet's
    273k training images would take about 27 GB.
    """
    need = n_rows * feature_dim * 4
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > MAX_CACHE_SHARE * total:
        raise ValueError(f"{desc}: caching {n_rows} feature maps of {feature_dim} floats needs {need / 2**30:.1f} GiB, "
                         f"more than half of this machine's {total / 2**30:.1f} GiB; set cached_features: false "
                         f"(or fewer augmented_views, or max_train_images) for this stage in params.yaml")


@torch.no_grad()
def extract_features(model: VGG16Blocks, dataset: Dataset, *, batch_size: int, device: torch.device,
                     views: int = 0, seed: int = 0, progress: bool = True, desc: str = "features") -> TensorDataset:
    """Last-conv-block outputs (N * max(views, 1), C, S, S) with their labels.

    `dataset` must already carry the transform wanted: the plain eval preset for views = 0, the
    training augmentation otherwise.
    """
    model.eval()
    model.to(device)
    passes = max(views, 1)
    check_cache_size(len(dataset) * passes, model.profile.feature_dim, desc)
    if len(dataset) == 0:
        raise ValueError(f"{desc}: no images to extract features from")
    # Filled in place: collecting batches and concatenating would briefly need twice the memory.
    side = model.profile.feature_side
    feats = torch.empty((len(dataset) * passes, model.profile.widths[-1], side, side))
    labels = torch.empty(len(dataset) * passes, dtype=torch.long)
    row = 0
    for view in range(passes):
        torch.manual_seed(seed * 7_919 + view)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
        label = f"{desc} view {view + 1}/{passes}" if views else desc
        for images, y in tqdm(loader, desc=label, leave=False, disable=not progress, unit="batch"):
            stop_point()
            out = model.features(images.to(device)).float().cpu()
            feats[row:row + len(out)] = out
            labels[row:row + len(out)] = torch.as_tensor(y)
            row += len(out)
    return TensorDataset(feats[:row], labels[:row])
