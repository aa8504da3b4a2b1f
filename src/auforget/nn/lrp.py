"""LRP saliency maps as the study draws them, with zennit.

The study explains a prediction with layer-wise relevance propagation (LRP): relevance starts at
the target class logit and flows back layer by layer with the epsilon rule (a stabilised z-rule)
through the dense layers and the z+ rule through the convolutions,

    z+:  R_i = sum_j  x_i w_ij^+ / (sum_i' x_i' w_i'j^+)  R_j

summed over colour channels, then normalised per image. Difference maps between FreezeB5 and
FreezeBk on images that FreezeB5 got right and FreezeBk got wrong show the facial regions whose
evidence FreezeBk lost (`regions.rank_aus` scores them against the action-unit regions).

Composites are looked up by name (`COMPOSITES`); `composite()` adds zennit's
`SequentialMergeBatchNorm` canonizer when the model has batch norm (the "small" profile), which
folds each BatchNorm2d into the convolution before it for the duration of the attribution only.
`relevance()` registers the composite inside its context, runs the model in eval mode and leaves
it exactly as it was: same training flags, same parameters and buffers, no hooks.

Per backbone (`method`): VGG16 as above; ResNet-50 with zennit's `ResNetCanonizer` (batch norm
merged into the convolutions, and each Bottleneck's residual sum made a module that the Norm rule
splits in proportion to its two inputs); ViT-B/16 has no LRP rule proven here (attention and
LayerNorm need AttnLRP's rules), so its maps are Captum's Integrated Gradients of the target logit
from a zero (mean-image) baseline, and the method's name says so wherever a map is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn
from torchvision.models.resnet import Bottleneck
from zennit.canonizers import Canonizer, SequentialMergeBatchNorm
from zennit.composites import EpsilonAlpha2Beta1, EpsilonGammaBox, EpsilonPlus, EpsilonPlusFlat
from zennit.core import Composite
from zennit.torchvision import ResNetCanonizer

from auforget.data.images import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)

EPSILON = 1e-6  # small: the dense-layer epsilon rule is then the study's z-rule, stabilised


# Pixel box of ImageNet-normalised inputs ((0 - mean) / std .. (1 - mean) / std), which the ZBox
# rule of "epsilon_gamma_box" needs for the first layer. Pass low/high for another normalisation.
def _imagenet_box() -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (0.0 - mean) / std, (1.0 - mean) / std


def _epsilon_zplus(
    canonizers: list[Canonizer] | None = None, epsilon: float = EPSILON
) -> Composite:
    """The study: epsilon (z) rule for Linear, z+ for Conv2d, ReLU/BatchNorm pass relevance on."""
    return EpsilonPlus(epsilon=epsilon, canonizers=canonizers)


def _epsilon_zplus_flat(
    canonizers: list[Canonizer] | None = None, epsilon: float = EPSILON
) -> Composite:
    """As the study, but the first conv layer uses the flat rule (input-independent, smoother
    maps)."""
    return EpsilonPlusFlat(epsilon=epsilon, canonizers=canonizers)


def _epsilon_gamma_box(
    canonizers: list[Canonizer] | None = None,
    epsilon: float = EPSILON,
    gamma: float = 0.25,
    low: torch.Tensor | None = None,
    high: torch.Tensor | None = None,
) -> Composite:
    """Montavon et al.'s recommendation: z-box first layer, gamma conv layers, epsilon dense layers.

    low/high default to the ImageNet-normalised pixel box (see IMAGENET_MEAN/STD)."""
    if low is None or high is None:
        low, high = _imagenet_box()
    return EpsilonGammaBox(low=low, high=high, epsilon=epsilon, gamma=gamma, canonizers=canonizers)


def _epsilon_alpha2_beta1(
    canonizers: list[Canonizer] | None = None, epsilon: float = EPSILON
) -> Composite:
    """Alpha2-beta1 for conv layers (keeps some negative evidence), epsilon for dense layers."""
    return EpsilonAlpha2Beta1(epsilon=epsilon, canonizers=canonizers)


# name -> factory; every factory can be called with no arguments and accepts `canonizers=`.
COMPOSITES: dict[str, Callable[..., Composite]] = {
    "epsilon_zplus": _epsilon_zplus,
    "epsilon_zplus_flat": _epsilon_zplus_flat,
    "epsilon_gamma_box": _epsilon_gamma_box,
    "epsilon_alpha2_beta1": _epsilon_alpha2_beta1,
}
DEFAULT_COMPOSITE = "epsilon_zplus"
LRP = "lrp"
INTEGRATED_GRADIENTS = "integrated_gradients"
IG_STEPS = 32  # Riemann steps of Integrated Gradients; completeness holds to about 1 % here


def method(model: nn.Module) -> str:
    """How `model`'s maps are drawn: "lrp" (VGG16, ResNet-50) or "integrated_gradients" (a
    backbone without a proven LRP rule: ViT)."""
    backbone = getattr(getattr(model, "profile", None), "backbone", "vgg16")
    return INTEGRATED_GRADIENTS if backbone == "vit_b_16" else LRP


def method_note(model: nn.Module, composite_name: str = DEFAULT_COMPOSITE) -> str:
    """One sentence naming the attribution method, for a run's notes, tags and the report."""
    if method(model) == INTEGRATED_GRADIENTS:
        return (
            f"Integrated Gradients (Captum, {IG_STEPS} steps, zero baseline in normalised "
            "pixels), not LRP: no LRP rule is proven for this backbone's attention layers"
        )
    canon = "ResNetCanonizer" if _is_resnet(model) else "SequentialMergeBatchNorm where needed"
    return f"LRP ({composite_name}, {canon})"


def _is_resnet(model: nn.Module) -> bool:
    return getattr(getattr(model, "profile", None), "backbone", "") == "resnet50"


def composite(name: str, model: nn.Module, **kwargs) -> Composite:
    """A fresh composite `name` for `model`, with the batch-norm canonizer when the model needs it.

    kwargs go to the factory (e.g. epsilon=..., or low=/high= for "epsilon_gamma_box").
    Raises ValueError naming the valid composites for an unknown name.
    """
    if name not in COMPOSITES:
        raise ValueError(
            f"unknown LRP composite {name!r}; valid composites are {sorted(COMPOSITES)}"
        )
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    canonizers: list[Canonizer] = [SequentialMergeBatchNorm()] if has_bn else []
    if _is_resnet(model) or any(isinstance(m, Bottleneck) for m in model.modules()):
        canonizers = [ResNetCanonizer()]  # batch norm merged, residual sums as Sum modules
    return COMPOSITES[name](canonizers=canonizers, **kwargs)


def _targets(target: int | torch.Tensor | Sequence[int], n: int) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(
            f"relevance: target must be one class index or one per image ({n}), got {t.numel()}"
        )
    return t


# Over 50 lines through its docstring (the rule choices and the start signal explained); the body is
# short.
def relevance(
    model: nn.Module,
    images: torch.Tensor,
    target: int | torch.Tensor | Sequence[int],
    composite_name: str = DEFAULT_COMPOSITE,
    *,
    batch_size: int | None = None,
    start: str = "logit",
) -> torch.Tensor:
    """LRP relevance of `images` (N, 3, H, W) for the `target` class logit -> (N, H, W).

    target is one class index for all images or one per image. With start="logit" the output
    relevance is the one-hot target times the logit, so (up to biases and stabilisers) the map
    sums to the target logit. A negative logit flips the whole map's sign, which `normalise`
    then clips to nothing; start="onehot" explains the target class with relevance 1 instead,
    whatever the logit's sign -- what the saliency stage needs for images a model got wrong.
    Relevance is summed over colour channels and returned raw (signed); see `normalise`.

    The model runs in eval mode inside the composite's context (hooks and the batch-norm merge
    exist only there), and every module's training flag is restored afterwards; parameters,
    buffers and requires_grad flags are untouched (gradients are taken w.r.t. the input only).
    batch_size splits large N to bound memory.
    """
    if images.ndim != 4:
        raise ValueError(f"relevance: images must be (N, C, H, W), got shape {tuple(images.shape)}")
    if start not in ("logit", "onehot"):
        raise ValueError(f"relevance: start must be 'logit' or 'onehot', got {start!r}")
    if method(model) == INTEGRATED_GRADIENTS:
        return integrated_gradients(model, images, target, batch_size=batch_size)
    n = images.shape[0]
    targets = _targets(target, n)
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    dtype = param.dtype if param is not None else images.dtype
    step = n if not batch_size else int(batch_size)

    comp = composite(composite_name, model)
    flags = {m: m.training for m in model.modules()}
    chunks = []
    try:
        model.eval()
        with torch.enable_grad(), comp.context(model) as hooked:
            for begin in range(0, n, step):
                x = (
                    images[begin : begin + step]
                    .detach()
                    .to(device=device, dtype=dtype)
                    .clone()
                    .requires_grad_(True)
                )
                t = targets[begin : begin + step].to(device)
                out = hooked(x)
                if out.ndim != 2:
                    raise ValueError(
                        "relevance: model output must be (N, classes) logits, got "
                        f"{tuple(out.shape)}"
                    )
                if int(t.min()) < 0 or int(t.max()) >= out.shape[1]:
                    raise ValueError(
                        f"relevance: target classes must lie in 0..{out.shape[1] - 1}, got "
                        f"{t.tolist()}"
                    )
                # R_out = one_hot(target) * logit, or the one-hot alone
                start_rel = torch.zeros_like(out).scatter_(1, t[:, None], 1.0)
                if start == "logit":
                    start_rel = start_rel * out.detach()
                (rel,) = torch.autograd.grad(out, x, grad_outputs=start_rel)
                chunks.append(rel.sum(dim=1).detach())
    finally:
        for m, flag in flags.items():
            m.training = flag
    return torch.cat(chunks).to(images.device)


def integrated_gradients(
    model: nn.Module,
    images: torch.Tensor,
    target: int | torch.Tensor | Sequence[int],
    *,
    steps: int = IG_STEPS,
    batch_size: int | None = None,
) -> torch.Tensor:
    """Captum's Integrated Gradients of the target logit, summed over colour -> (N, H, W).

        IG_i(x) = (x_i - x'_i) * integral_0^1 d f(x' + a (x - x')) / d x_i  da,   x' = 0

    (Gauss-Legendre over `steps` points). Completeness: a map sums to f(x) - f(x'), the logit
    minus the zero image's, as LRP's maps sum to the logit. The model runs in eval mode and every
    module's training flag is restored afterwards.
    """
    from captum.attr import IntegratedGradients

    n = images.shape[0]
    targets = _targets(target, n)
    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    step = n if not batch_size else int(batch_size)
    flags = {m: m.training for m in model.modules()}
    chunks = []
    try:
        model.eval()
        ig = IntegratedGradients(model)
        with torch.enable_grad():
            for begin in range(0, n, step):
                x = images[begin : begin + step].detach().to(device)
                t = targets[begin : begin + step].to(device)
                attr = ig.attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=steps)
                chunks.append(attr.sum(dim=1).detach())
    finally:
        for m, flag in flags.items():
            m.training = flag
    return torch.cat(chunks).to(images.device)


def normalise(maps: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Per-image normalisation to [0, 1]: positive relevance divided by its per-image maximum.

    maps is (..., H, W); each trailing H x W map is scaled on its own. Negative relevance
    (evidence against the class) is clipped to 0 and the most relevant pixel becomes 1, as the
    study does, so 0.5 reads as "half the strongest evidence for this prediction" and maps of
    different models and images share one scale. A map with no positive relevance stays all
    zero (no division by zero, no NaN). Returns the same type as the input (float).
    """
    if maps.ndim < 2:
        raise ValueError(f"normalise: maps must be (..., H, W), got shape {tuple(maps.shape)}")
    if isinstance(maps, torch.Tensor):
        pos = (maps if maps.is_floating_point() else maps.float()).clamp(min=0)
        peak = pos.amax(dim=(-2, -1), keepdim=True)
        return torch.where(
            peak > 0,
            pos / torch.where(peak > 0, peak, torch.ones_like(peak)),
            torch.zeros_like(pos),
        )
    arr = np.asarray(maps)
    pos = np.clip(arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float64), 0, None)
    peak = pos.max(axis=(-2, -1), keepdims=True)
    return np.where(peak > 0, pos / np.where(peak > 0, peak, 1), 0).astype(pos.dtype)


def difference(map_b5: torch.Tensor | np.ndarray, map_bk: torch.Tensor | np.ndarray):
    """Where FreezeB5 finds evidence FreezeBk lost: normalise(B5) - normalise(Bk), positive part,
    renormalised to [0, 1] per image.

    Both inputs are normalised first (a no-op for maps already normalised, since `normalise` is
    idempotent), so raw relevance maps of different scale can be passed directly.
    """
    if tuple(map_b5.shape) != tuple(map_bk.shape):
        raise ValueError(
            f"difference: map shapes differ, {tuple(map_b5.shape)} vs {tuple(map_bk.shape)}"
        )
    return normalise(normalise(map_b5) - normalise(map_bk))


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _greyscale(images) -> np.ndarray:
    """(N, 3, H, W) / (N, H, W, 3) / (N, H, W) -> (N, H, W) in [0, 1], min-max per image."""
    arr = _to_numpy(images)
    if arr.ndim == 4:
        arr = arr.mean(axis=1) if arr.shape[1] in (1, 3) else arr.mean(axis=-1)
    if arr.ndim != 3:
        raise ValueError(
            f"overlay_grid: images must be (N, C, H, W), (N, H, W, C) or (N, H, W), got {arr.shape}"
        )
    lo = arr.min(axis=(1, 2), keepdims=True)
    span = arr.max(axis=(1, 2), keepdims=True) - lo
    return (arr - lo) / np.where(span > 0, span, 1)


def overlay_grid(
    images,
    columns: Sequence[tuple[str, object]],
    path: str | Path,
    *,
    row_titles: Sequence[str] | None = None,
    cmap: str = "jet",
    alpha: float = 0.6,
    cell_inches: float = 1.8,
    dpi: int = 100,
    suptitle: str | None = None,
) -> Path:
    """Write a PNG grid: one row per image, columns input | <each (title, maps)> (e.g. B5, Bk,
    difference).

    images: (N, 3, H, W) tensor/array (any normalisation; shown as min-max greyscale).
    columns: (title, maps) pairs with maps (N, H', W'); each map is shown through `normalise`
    as a heatmap over the greyscale input, with opacity rising with relevance so irrelevant pixels
    stay transparent. Uses the Agg canvas directly (no pyplot, no global backend change).
    """
    grey = _greyscale(images)
    n, h, w = grey.shape
    cols = [(title, normalise(_to_numpy(maps))) for title, maps in columns]
    for title, maps in cols:
        if maps.ndim != 3 or maps.shape[0] != n:
            raise ValueError(
                f"overlay_grid: column {title!r} must hold {n} maps (N, H, W), got {maps.shape}"
            )
    if row_titles is not None and len(row_titles) != n:
        raise ValueError(f"overlay_grid: {len(row_titles)} row titles for {n} images")
    n_cols = 1 + len(cols)
    fig = Figure(
        figsize=(cell_inches * n_cols, cell_inches * n + (0.4 if suptitle else 0)), dpi=dpi
    )
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, n_cols, squeeze=False)
    extent = (0, w, h, 0)
    for i in range(n):
        axes[i, 0].imshow(grey[i], cmap="gray", vmin=0, vmax=1, extent=extent)
        for j, (title, maps) in enumerate(cols, start=1):
            axes[i, j].imshow(grey[i], cmap="gray", vmin=0, vmax=1, extent=extent)
            # sqrt: LRP evidence is concentrated in few pixels; a linear opacity hides the rest
            axes[i, j].imshow(
                maps[i],
                cmap=cmap,
                vmin=0,
                vmax=1,
                alpha=np.clip(alpha * np.sqrt(maps[i]), 0, 1),
                extent=extent,
                interpolation="nearest",
            )
        if row_titles is not None:
            title = str(row_titles[i])
            axes[i, 0].set_ylabel(title if len(title) <= 16 else "…" + title[-15:], fontsize=7)
    for j, title in enumerate(["input"] + [t for t, _ in cols]):
        axes[0, j].set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    top = (
        1 - 0.45 / (cell_inches * n + 0.4) if suptitle else 1
    )  # keep the column titles clear of it
    fig.tight_layout(rect=(0, 0, 1, top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
