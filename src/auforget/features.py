"""Cached conv features for training output layers on top of frozen blocks.

When all five conv blocks are frozen (FreezeB5 and every retrain run) the blocks compute the
same function in every epoch, so running them once per image and training the head on the
stored outputs gives the same kind of model at a fraction of the cost. Augmentation is kept
as a fixed number of augmented views per image, each drawn once with its own seed; with
views = 0 the cache holds the plain (un-augmented) images.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset
from tqdm.auto import tqdm

from auforget.models import VGG16Blocks


@torch.no_grad()
def extract_features(model: VGG16Blocks, dataset: Dataset, *, batch_size: int, device: torch.device,
                     views: int = 0, seed: int = 0, progress: bool = True, desc: str = "features") -> TensorDataset:
    """Last-conv-block outputs (N * max(views, 1), C, S, S) with their labels.

    `dataset` must already carry the transform wanted: the plain eval preset for views = 0, the
    training augmentation otherwise.
    """
    model.eval()
    model.to(device)
    feats, labels = [], []
    passes = max(views, 1)
    for view in range(passes):
        torch.manual_seed(seed * 7_919 + view)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
        label = f"{desc} view {view + 1}/{passes}" if views else desc
        for images, y in tqdm(loader, desc=label, leave=False, disable=not progress, unit="batch"):
            feats.append(model.features(images.to(device)).float().cpu())
            labels.append(y)
    if not feats:
        raise ValueError(f"{desc}: no images to extract features from")
    return TensorDataset(torch.cat(feats), torch.cat(labels))
