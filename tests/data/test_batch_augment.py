"""The batched presets (data/batch_augment.py) against the per-image presets they replace:
normalisation, flips and torchvision's affine on the same parameters, the parameter ranges, and
references worked by hand (a 90-degree turn is torch.rot90, a whole-pixel shift moves pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats
from torchvision.transforms import v2

from auforget.data.batch_augment import (
    BatchEmotionPreset,
    BatchEvalPreset,
    BatchPainPreset,
    batch_preset,
    normalise,
    warp,
)
from auforget.data.images import IMAGENET_MEAN, IMAGENET_STD, PainTrainPreset, preset

S = 48
# One uint8 level in normalised units, for the channel with the smallest std (the largest step).
LEVEL = 1 / (255 * min(IMAGENET_STD))
TO_NORMALISED = v2.Compose(
    [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
)


def faces(n: int = 12, size: int = S, seed: int = 0) -> torch.Tensor:
    """n photo-like uint8 faces (smooth shading plus noise), (n, 3, size, size)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        base = np.stack(
            [np.sin(a * 6 * xx + b), np.cos(b * 5 * yy + c), np.sin(c * 4 * (xx + yy))], 0
        )
        out.append(np.clip(127 + 90 * base + rng.normal(0, 12, base.shape), 0, 255))
    return torch.from_numpy(np.stack(out).astype(np.uint8))


def pil(face: torch.Tensor) -> Image.Image:
    return Image.fromarray(face.permute(1, 2, 0).numpy())


def test_eval_equals_the_per_image_eval_preset_on_the_resized_face():
    batch = faces()
    out = BatchEvalPreset(image_size=S)(batch)
    expected = torch.stack([preset("eval", S)(pil(face)) for face in batch])
    assert out.dtype == torch.float32
    assert torch.allclose(out, expected, atol=1e-6, rtol=0)


def test_normalise_names_a_batch_it_cannot_take():
    with pytest.raises(ValueError, match=r"uint8 batch of shape \(B, 3, H, W\)"):
        normalise(torch.zeros(3, S, S, dtype=torch.uint8))


def test_emotion_flips_are_torch_flip_where_the_coin_says_so():
    batch = faces(16)
    torch.manual_seed(3)
    out = BatchEmotionPreset(image_size=S)(batch)
    torch.manual_seed(3)
    coins = torch.rand(16) < 0.5  # RandomHorizontalFlip's coin, one per image
    assert 0 < coins.sum() < 16
    plain = normalise(batch)
    for image, flipped, coin in zip(out, plain, coins):
        assert torch.equal(image, torch.flip(flipped, dims=[-1]) if coin else flipped)
    always = BatchEmotionPreset(image_size=S, flip_p=1.0)(batch)
    assert torch.equal(always, torch.flip(plain, dims=[-1]))
    assert torch.equal(BatchEmotionPreset(image_size=S, flip_p=0.0)(batch), plain)


def test_a_seed_fixes_the_pain_batch():
    batch = faces(8)
    pain = BatchPainPreset(image_size=S)
    torch.manual_seed(7)
    first = pain(batch)
    torch.manual_seed(7)
    assert torch.equal(pain(batch), first)
    assert not torch.equal(pain(batch), first)


def params_of(n: int, **values: float) -> dict[str, torch.Tensor]:
    base = dict(angle=0.0, tx=0.0, ty=0.0, scale=1.0, shear=0.0)
    base.update(values)
    return {k: torch.full((n,), float(v)) for k, v in base.items()}


def test_a_quarter_turn_is_rot90_and_a_whole_pixel_shift_moves_the_pixels():
    """References by hand: v2.functional.affine turns a positive angle clockwise on screen (row 0
    at the top), which is torch.rot90 with k = -1 over (H, W); translate (3, -2) moves the
    content 3 pixels right and 2 up, filling the uncovered columns and rows with the mean (0
    after normalisation, up to float rounding of the grid)."""
    x = normalise(faces(2))
    turned = warp(x, params_of(2, angle=90.0))
    assert torch.allclose(turned, torch.rot90(x, -1, dims=(-2, -1)), atol=1e-4)
    moved = warp(x, params_of(2, tx=3.0, ty=-2.0))
    assert torch.allclose(moved[..., : S - 2, 3:], x[..., 2:, : S - 3], atol=1e-5)
    assert moved[..., :, :3].abs().max() < 1e-5 and moved[..., S - 2 :, :].abs().max() < 1e-5


def test_the_affine_agrees_with_torchvision_on_the_same_parameters():
    """Against v2.functional.affine with each image's own drawn parameters, on the pixels whose
    bilinear footprint lies inside the face (where neither side fills). Measured on 48 px and 224
    px faces: against the tensor kernel the largest difference is 0.00876 = half a uint8 level
    (torchvision rounds its output to uint8, we keep floats), the mean 0.0043; against the PIL
    kernel (what the pain preset runs on a Pillow-decoded face) the largest is 0.0175 = one level
    (Pillow's own bilinear rounding), the mean 0.0087. So: tensor within half a level, PIL within
    one, means below 0.005 and 0.01. Pixels filled from outside are 0 here (the ImageNet mean)
    and torchvision's fill colour is that mean rounded to uint8 levels, within half a level of 0.
    Border pixels (part inside, part fill) differ more: torchvision blends its fill in after
    sampling with zeros, which counts the inside part twice."""
    batch = faces(24)
    torch.manual_seed(0)
    pain = BatchPainPreset(image_size=S)
    params = {k: v for k, v in pain.sample(len(batch), S, S).items() if k != "flip"}
    ours = warp(normalise(batch), params)
    footprint = warp(torch.ones(len(batch), 1, S, S), params)[:, 0]
    inside, outside = footprint > 1 - 1e-6, footprint < 1e-6
    assert inside.float().mean() > 0.6 and outside.any()
    fill = [int(round(255 * m)) for m in IMAGENET_MEAN]
    for kind, bound, mean_bound in (("tensor", 0.5 * LEVEL, 0.005), ("pil", LEVEL, 0.01)):
        diffs, filled = [], []
        for i, face in enumerate(batch):
            args = dict(
                angle=float(params["angle"][i]),
                translate=[int(params["tx"][i]), int(params["ty"][i])],
                scale=float(params["scale"][i]),
                shear=[float(params["shear"][i]), 0.0],
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=fill,
            )
            image = face if kind == "tensor" else pil(face)
            reference = TO_NORMALISED(v2.functional.affine(image, **args))
            diffs.append((ours[i] - reference)[:, inside[i]].abs().flatten())
            filled.append(reference[:, outside[i]].abs().flatten())
        diff = torch.cat(diffs)
        assert diff.max() <= bound + 1e-4, (kind, diff.max())
        assert diff.mean() < mean_bound, (kind, diff.mean())
        assert torch.cat(filled).max() <= 0.5 * LEVEL + 1e-4, kind
    assert ours[outside.unsqueeze(1).expand_as(ours)].abs().max() == 0


def test_the_pain_flip_folded_into_the_warp_is_torch_flip_of_the_warped_image():
    batch = normalise(faces(8))
    torch.manual_seed(1)
    params = BatchPainPreset(image_size=S).sample(8, S, S)
    assert 0 < params["flip"].sum() < 8
    warped = warp(batch, {k: v for k, v in params.items() if k != "flip"})
    expected = torch.where(params["flip"].view(-1, 1, 1, 1), torch.flip(warped, dims=[-1]), warped)
    assert torch.allclose(warp(batch, params), expected, atol=1e-5, rtol=0)
    torch.manual_seed(1)
    assert torch.equal(BatchPainPreset(image_size=S)(faces(8)), warp(batch, params))


def test_the_pain_batch_draws_from_the_per_image_presets_ranges():
    """The per-image preset's own RandomAffine and flip, drawn image by image, against the batch
    preset's draws: the same settings, values inside the same bounds, and the same distributions
    (two-sample KS tests; the shifts are whole pixels with the same frequencies)."""
    size = 224
    per_image = PainTrainPreset(image_size=size).transforms.transforms
    affine, flip = per_image[1], per_image[2]
    pain = BatchPainPreset(image_size=size)
    assert list(affine.degrees) == [-pain.degrees, pain.degrees]
    assert tuple(affine.translate) == (pain.shift, pain.shift)
    assert tuple(affine.scale) == (1 - pain.zoom, 1 + pain.zoom)
    assert list(affine.shear) == [-pain.shear_degrees, pain.shear_degrees]
    assert flip.p == pain.flip_p == 0.5

    torch.manual_seed(0)
    n = 4000
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    drawn = [affine.make_params([image]) for _ in range(n)]
    reference = {
        "angle": np.array([d["angle"] for d in drawn]),
        "tx": np.array([d["translate"][0] for d in drawn]),
        "ty": np.array([d["translate"][1] for d in drawn]),
        "scale": np.array([d["scale"] for d in drawn]),
        "shear": np.array([d["shear"][0] for d in drawn]),
    }
    assert all(d["shear"][1] == 0 for d in drawn)
    ours = {k: v.numpy() for k, v in pain.sample(n, size, size).items()}
    bounds = {
        "angle": pain.degrees,
        "tx": round(pain.shift * size),
        "ty": round(pain.shift * size),
        "scale": None,
        "shear": pain.shear_degrees,
    }
    for name, ref in reference.items():
        mine = ours[name]
        if bounds[name] is None:
            assert mine.min() >= 1 - pain.zoom and mine.max() <= 1 + pain.zoom
        else:
            assert np.abs(mine).max() <= bounds[name] + 1e-6
        assert stats.ks_2samp(mine, ref).pvalue > 1e-3, name
    for name in ("tx", "ty"):
        assert np.array_equal(ours[name], np.round(ours[name]))
        assert set(np.unique(ours[name])) == set(np.unique(reference[name]))
    coins = [bool(torch.rand(1) < flip.p) for _ in range(n)]
    assert abs(ours["flip"].mean() - np.mean(coins)) < 0.05


def test_batch_preset_names_the_valid_presets():
    assert isinstance(batch_preset("pain", S), BatchPainPreset)
    assert batch_preset("emotion", S).finite_views == ("plain", "flipped")
    with pytest.raises(ValueError, match=r"valid names are \['emotion', 'eval', 'pain'\]"):
        batch_preset("mixup", S)
