"""Lesion a network by construction: fold a channel projection into a convolution.

The instrument controls need a copy of FreezeB5 that has lost one AU and nothing else, and that
is still an ordinary `VGG16Blocks`, so retraining, McNemar, LRP and the probes run on it as on
any model. A projection P = I - U U^T over the C channels of block j's output is a 1 x 1
convolution; the next block's first convolution is linear in its input (zero padding stays zero
under P), so

    conv(P a; W) = conv(a; W'),  W'[o, c, kh, kw] = sum_d W[o, d, kh, kw] P[d, c],

and the lesioned copy is FreezeB5 with one weight tensor replaced (`fold_projection`). The bias is
untouched. `tests/nn/test_lesion.py` checks the fold against the projection applied explicitly.

The region eraser (`RegionEraser`, `insert_region_eraser`) applies the same projection only at the
feature-map cells of a fixed mask, a - M * (U U^T a): the synthetic faces are aligned crops, so an
AU's region falls on nearly the same cells in every image, and a channel projection that acts
everywhere also takes what other AUs elsewhere on the face share with it. It is linear and has no
parameters, and sits after block j as an ordinary module, so the lesioned copy still retrains,
explains and probes like any model; it does not fold into a convolution.

The flat eraser (`FlatEraser`, `flat_differences`) projects the whole flattened map instead, all
C x s x s values of it at once: a direction there can weigh one cell against another. The
synthetic AU14 is drawn on one side of the face, the AUs that share its corners on both, so a
difference between the left and the right corner's channels can belong to AU14 alone, where
every channel direction at a single cell is shared. It too is a module after the block. On the
demo's network it is specific but weak: the other mouth AUs' directions hold most of AU14's
change over the whole map too (experiments/2026-12-07-flat-readout/).

Which U comes from analysis/erasure.py; the activations it is fitted on come from here
(`region_differences`), with the AU's facial region (analysis/regions.py) carried down to the
block's feature-map grid.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from auforget.analysis import regions
from auforget.data.face_pairs import FacePairs
from auforget.nn.backbones import N_BLOCKS, VGG16Blocks


def check_block(block: int) -> int:
    """A block whose output can be lesioned: 0..3 (block 4's output has no next convolution)."""
    if not isinstance(block, int) or not 0 <= block < N_BLOCKS - 1:
        raise ValueError(
            f"the lesioned block must be 0..{N_BLOCKS - 2} (its output feeds the next block's "
            f"first convolution), got {block!r}"
        )
    return block


@torch.no_grad()
def block_output(model: VGG16Blocks, x: torch.Tensor, block: int) -> torch.Tensor:
    """The output of blocks[block] (N, C, s, s), eval mode."""
    model.eval()
    for b in model.blocks[: block + 1]:
        x = b(x)
    return x


@torch.no_grad()
def last_block(model: VGG16Blocks, x: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """model.features in eval mode, in batches: the output the probes read."""
    model.eval()
    return torch.cat([model.features(x[i : i + batch]) for i in range(0, len(x), batch)])


def region_grid(landmarks: np.ndarray, image_size: int, grid: int, region: str) -> np.ndarray:
    """(N, grid, grid) masks: a feature-map cell belongs to the region when any image pixel it
    covers does (small grids would otherwise lose the mouth corners' discs)."""
    if region not in regions.AU_REGIONS:
        raise ValueError(f"unknown region {region!r}; regions: {list(regions.AU_REGIONS)}")
    step = image_size // grid
    masks = []
    for lm in landmarks:
        full = regions.region_masks(lm, image_size)[region][: grid * step, : grid * step]
        masks.append(full.reshape(grid, step, grid, step).any(axis=(1, 3)))
    return np.stack(masks)


def region_of(au: int) -> str:
    """The AU's region in analysis/regions.AU_REGIONS."""
    for name, aus in regions.AU_REGIONS.items():
        if au in aus:
            return name
    raise ValueError(
        f"AU{au} has no facial region; AUs with one: "
        f"{sorted(a for aus in regions.AU_REGIONS.values() for a in aus)}"
    )


def has_region(au: int) -> bool:
    return any(au in aus for aus in regions.AU_REGIONS.values())


def sharing_aus(au: int) -> tuple[int, ...]:
    """The other AUs of the AU's region (AU12 and AU15 for AU14)."""
    return tuple(a for a in regions.AU_REGIONS[region_of(au)] if a != au)


def region_differences(
    model: VGG16Blocks, pairs: FacePairs, au: int, block: int, region: str | None = None
) -> np.ndarray:
    """Difference vectors (M, C) at block `block`'s output: face showing `au` minus the same face at
    rest, one row per feature-map cell inside `region` (the AU's own by default; every cell for
    an AU without a facial region, such as AU16, AU20 and AU23), over all pairs."""
    diff = block_output(model, pairs.shown[au], block) - block_output(model, pairs.rest, block)
    grid = diff.shape[-1]
    region = region or (region_of(au) if has_region(au) else None)
    if region is None:
        masks = torch.ones(diff.shape[0], grid, grid, dtype=torch.bool)
    else:
        masks = torch.from_numpy(region_grid(pairs.landmarks, pairs.size, grid, region))
    vectors = diff.permute(0, 2, 3, 1)[masks]
    return vectors.double().numpy()


def flat_differences(model: VGG16Blocks, pairs: FacePairs, au: int, block: int) -> np.ndarray:
    """Difference vectors (n, C * s * s) at block `block`'s output, one per pair: the whole map of
    the face showing `au` minus the same face at rest, flattened as FlatEraser reads it."""
    diff = block_output(model, pairs.shown[au], block) - block_output(model, pairs.rest, block)
    return diff.flatten(1).double().numpy()


@torch.no_grad()
def flat_covariance(model: VGG16Blocks, images: torch.Tensor, block: int) -> np.ndarray:
    """(C * s * s) x (C * s * s) covariance of block `block`'s flattened output over `images`."""
    a = torch.cat(
        [block_output(model, images[i : i + 64], block) for i in range(0, len(images), 64)]
    )
    return np.cov(a.flatten(1).double().numpy(), rowvar=False)


def activation_covariance(model: VGG16Blocks, images: torch.Tensor, block: int) -> np.ndarray:
    """C x C covariance of block `block`'s output channels over every cell of `images`."""
    a = (
        block_output(model, images, block)
        .permute(0, 2, 3, 1)
        .reshape(-1, model_width(model, block))
    )
    return np.cov(a.double().numpy(), rowvar=False)


def model_width(model: VGG16Blocks, block: int) -> int:
    return model.profile.widths[block]


def fold_projection(model: VGG16Blocks, block: int, P: np.ndarray) -> VGG16Blocks:
    """A deep copy of `model` whose blocks[block + 1] first convolution reads P applied to block
    `block`'s output channels (see the module docstring); `model` is left as it was."""
    check_block(block)
    lesioned = copy.deepcopy(model)
    conv = lesioned.blocks[block + 1][0]
    assert isinstance(conv, nn.Conv2d), "every block starts with a convolution"
    proj = torch.as_tensor(P, dtype=torch.float64)
    if proj.shape != (conv.in_channels, conv.in_channels):
        raise ValueError(
            f"projection is {tuple(proj.shape)}, block {block}'s output has {conv.in_channels} "
            "channels"
        )
    with torch.no_grad():
        folded = torch.einsum("odhw,dc->ochw", conv.weight.double(), proj)
        conv.weight.copy_(folded.to(conv.weight.dtype))
    return lesioned


@torch.no_grad()
def sensitivity(
    model: VGG16Blocks, pairs: FacePairs, aus, squared: bool = False
) -> dict[int, float]:
    """Per AU, the last block's sensitivity to it: the mean over pairs of the L2 norm of
    features(face showing the AU) - features(same face at rest); with `squared`, of its square
    (the AU's difference energy)."""
    rest = last_block(model, pairs.rest)
    out = {}
    for au in aus:
        norm = (last_block(model, pairs.shown[au]) - rest).flatten(1).norm(dim=1)
        out[au] = float((norm**2 if squared else norm).mean())
    return out


class RegionEraser(nn.Module):
    """x - M * (U U^T x) over the channels of a (N, C, s, s) map: the projection off span(U) at the
    cells where the fixed (s, s) mask M is 1, the identity elsewhere. U and M are buffers, saved
    with the model; nothing here trains."""

    def __init__(self, U: np.ndarray, mask: np.ndarray):
        super().__init__()
        self.register_buffer("U", torch.as_tensor(np.asarray(U), dtype=torch.float32))
        self.register_buffer("mask", torch.as_tensor(np.asarray(mask), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        U = self.U.to(x.dtype)
        coords = torch.einsum("nchw,cr->nrhw", x, U)
        return x - self.mask.to(x.dtype) * torch.einsum("nrhw,cr->nchw", coords, U)


class FlatEraser(nn.Module):
    """x - unflatten(U U^T flatten(x)) for a (N, C, s, s) map: the projection off span(U) in the
    space of whole flattened maps (U is (C * s * s) x r). A buffer, saved with the model; nothing
    here trains."""

    def __init__(self, U: np.ndarray):
        super().__init__()
        self.register_buffer("U", torch.as_tensor(np.asarray(U), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        U = self.U.to(x.dtype)
        flat = x.flatten(1)
        return x - ((flat @ U) @ U.T).view_as(x)


def template_mask(pairs: FacePairs, grid: int, region: str, share: float = 0.5) -> np.ndarray:
    """(grid, grid) 0/1: the cells in `region` (region_grid's any-pixel rule) for at least `share`
    of the pairs' faces."""
    return (region_grid(pairs.landmarks, pairs.size, grid, region).mean(axis=0) >= share).astype(
        np.float32
    )


def insert_region_eraser(
    model: VGG16Blocks, block: int, U: np.ndarray, mask: np.ndarray
) -> VGG16Blocks:
    """A deep copy of `model` with RegionEraser(U, mask) appended to blocks[block]; `model` is left
    as it was."""
    return insert_eraser(model, block, RegionEraser(U, mask))


def insert_eraser(model: VGG16Blocks, block: int, eraser: nn.Module) -> VGG16Blocks:
    """A deep copy of `model` with `eraser` appended to blocks[block]; `model` is left as it was."""
    if not isinstance(block, int) or not 0 <= block < N_BLOCKS:
        raise ValueError(f"the erased block must be 0..{N_BLOCKS - 1}, got {block!r}")
    lesioned = copy.deepcopy(model)
    lesioned.blocks[block].append(eraser)
    return lesioned


@torch.no_grad()
def masked_covariance(
    model: VGG16Blocks, images: torch.Tensor, block: int, mask: np.ndarray
) -> np.ndarray:
    """C x C covariance of block `block`'s output channels over the cells where `mask` is 1."""
    a = block_output(model, images, block).permute(0, 2, 3, 1)
    cells = torch.from_numpy(np.asarray(mask) > 0)
    return np.cov(a[:, cells].reshape(-1, a.shape[-1]).double().numpy(), rowvar=False)


@torch.no_grad()
def block_input(model: VGG16Blocks, x: torch.Tensor, block: int, batch: int = 64) -> torch.Tensor:
    """What blocks[block] reads (the image for block 0): block_output of the block before, in
    batches."""
    if block == 0:
        return x
    return torch.cat(
        [block_output(model, x[i : i + batch], block - 1) for i in range(0, len(x), batch)]
    )


def _from_block(model: VGG16Blocks, a: torch.Tensor, block: int) -> torch.Tensor:
    for b in model.blocks[block:]:
        a = b(a)
    return a


def unlearn(
    model: VGG16Blocks,
    pairs: FacePairs,
    au: int,
    block: int,
    *,
    steps: int,
    lr: float,
    erase_weight: float = 1.0,
    keep_tolerance: float = 0.0,
    device: torch.device | None = None,
    chunk: int = 64,
) -> VGG16Blocks:
    """A deep copy of `model` whose blocks[block:] are retrained so that, at the last block's
    output, each face of `pairs` showing `au` gives what the same face at rest gives in `model`,
    and every other face (at rest, or showing another AU of `pairs`) gives what it gave: a copy
    blind to the AU by construction on these people, the other AUs' effects kept.

    A channel projection cannot make this lesion where an AU shares its channel directions with
    others (docs/controls.md); retraining a block can, because a block is nonlinear. The loss is
    the squared error at the last block's output, one term per kind of face, each divided by its
    faces' mean squared sensitivity in `model` (the mean over AUs for the faces at rest):
    `erase_weight` times the erased AU's term, plus the mean of the kept kinds' terms (at rest,
    each other AU), so an AU with a small effect is kept as closely, relative to its effect, as
    one with a large effect. The manipulation check asks for half the AU's sensitivity gone, not
    all of it, and where the AU shares the network's features with another a lower weight buys
    the other's effect back (experiments/2026-12-07-unlearned-balance/).

    Fixed weights keep the kept kinds close on average, and the check asks it of each: with a
    mean over seventeen kinds, an AU that shares the erased AU's features (AU12 beside AU14) has
    a seventeenth of the weight and is given up first, on the fitted faces as much as on new
    ones. With `keep_tolerance` > 0 each kept kind's weight is a multiplier of the constraint
    "its relative RMS error stays within keep_tolerance" (the method of multipliers, Platt and
    Barr 1988): after each step it grows by exp(0.05 (error / keep_tolerance - 1)), so it rises
    while its kind is off by more than the tolerance and falls back, never below its fixed
    weight, once it is within; it stops at a thousand times its fixed weight, where a tolerance
    out of reach would otherwise overflow it. On one demo seed it only moved the lesion along
    the fixed weights' frontier (less cut for less collateral), while more steps moved the fixed
    weights off it, so it is off by default (experiments/2026-12-07-kept-constraints/).

    Adam, `steps` full-batch steps at `lr`, the gradient summed over chunks of `chunk` faces (the
    loss is a sum, so this is the full batch's gradient in bounded memory), on `device` (CPU by
    default). Nothing is drawn at random: the same inputs give the same lesion. Batch-norm
    statistics stay fixed (eval mode) and only blocks[block:]'s weights move; `model`'s weights
    are left as they were. Returns the copy on the CPU, in eval mode."""
    if not 0 <= block < N_BLOCKS:
        raise ValueError(f"the retrained block must be 0..{N_BLOCKS - 1}, got {block!r}")
    if keep_tolerance < 0:
        raise ValueError(f"keep_tolerance must be 0 (fixed weights) or above, got {keep_tolerance}")
    if au not in pairs.shown:
        raise ValueError(f"the pairs show no AU{au}; they show {sorted(pairs.shown)}")
    others = [a for a in pairs.shown if a != au]
    if not others:
        raise ValueError(f"the pairs show AU{au} alone: nothing to keep beside it")
    device = device or torch.device("cpu")
    n, kinds = pairs.n, 2 + len(others)  # at rest, showing `au`, showing each other AU
    images = torch.cat([pairs.rest, pairs.shown[au], *(pairs.shown[a] for a in others)])
    original = copy.deepcopy(model).to(device).eval()
    inputs = block_input(original, images.to(device), block)
    with torch.no_grad():
        before = torch.cat(
            [
                _from_block(original, inputs[i : i + chunk], block)
                for i in range(0, len(inputs), chunk)
            ]
        )
    del original
    rest = before[:n]
    target = before.clone()
    target[n : 2 * n] = rest  # the AU's faces: what the same faces at rest give
    energy = torch.stack(
        [
            (before[k * n : (k + 1) * n] - rest).pow(2).flatten(1).sum(1).mean()
            for k in range(1, kinds)
        ]
    )
    kinds_shown = [au, *others]
    if (energy <= 0).any():
        au0 = kinds_shown[int(torch.nonzero(energy <= 0)[0])]
        raise ValueError(
            f"AU{au0} does not change the last block's output: nothing to erase or keep"
        )
    scale = torch.cat([energy.mean()[None], energy])
    share = torch.full((kinds,), 1.0 / (kinds - 1), device=device)
    share[1] = erase_weight  # the erased AU's term; the kept kinds' terms share a weight of 1
    floor = share.clone()
    kept = torch.ones(kinds, dtype=torch.bool, device=device)
    kept[1] = False
    lesioned = copy.deepcopy(model).to(device).eval()
    for p in lesioned.parameters():
        p.requires_grad_(False)
    weights = [p for b in lesioned.blocks[block:] for p in b.parameters()]
    for p in weights:
        p.requires_grad_(True)
    optimiser = torch.optim.Adam(weights, lr=lr)
    errors = torch.zeros(len(inputs), device=device)
    for _ in range(steps):
        weight = (share / scale / n).repeat_interleave(n)[:, None]
        optimiser.zero_grad()
        for i in range(0, len(inputs), chunk):
            out = _from_block(lesioned, inputs[i : i + chunk], block)
            error = (out - target[i : i + chunk]).pow(2).flatten(1).sum(1, keepdim=True)
            (error * weight[i : i + chunk]).sum().backward()
            errors[i : i + chunk] = error.detach()[:, 0]
        optimiser.step()
        if keep_tolerance > 0:  # the errors before this step: one step behind, as Adam's moments
            relative = (errors.view(kinds, n).mean(1) / scale).sqrt()
            grown = share * torch.exp(0.05 * (relative / keep_tolerance - 1))
            grown = torch.minimum(torch.maximum(grown, floor), floor * 1e3)
            share = torch.where(kept, grown, share)
    for p in lesioned.parameters():
        p.requires_grad_(False)
    return lesioned.cpu().eval()


@torch.no_grad()
def readout_change(model: VGG16Blocks, lesioned: VGG16Blocks, images: torch.Tensor) -> np.ndarray:
    """(cells, C): lesioned minus model at the last block's output, one channel vector per
    feature-map cell of each image: what a lesion changes where the instruments read."""
    diff = last_block(lesioned, images) - last_block(model, images)
    return diff.permute(0, 2, 3, 1).reshape(-1, diff.shape[1]).double().numpy()
