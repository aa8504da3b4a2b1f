"""The study's three augmentation presets on a whole uint8 batch, in torch, on any device.

images.py's presets work one PIL face at a time in the loader; at the paper's size that loader
is slower than the GPU step. These take the batch of already resized faces an image store
(image_store.py) hands out -- uint8, (B, 3, S, S), already on the device -- and do the random
steps there, batched: the same recipes, parameter ranges and torchvision conventions, without
Pillow.

Randomness: every per-sample parameter is drawn from torch's global generator on the CPU and
only then moved to the batch's device, so `fit`'s per-epoch `torch.manual_seed` fixes the
augmentation whatever the device. The draws are batched (all angles, then all shifts, ...), so
the numbers differ from the per-image presets' for the same seed; their distributions are the
same (tests/data/test_batch_augment.py).

The pain recipe normalises first (images.py normalises last): the affine warp and the flip are
linear in the pixels and the normalisation is per channel, so the order does not change the
result (the emotion recipe flips the uint8 faces, then normalises, for the same reason), except
that in the warp a pixel moved in from outside the face is filled with 0 after normalisation,
which is the ImageNet mean colour exactly (images.py fills with it rounded to whole uint8
levels, at most 0.5/255 away) -- and the warp interpolates the exact values rather than
rounding to uint8 after it as torchvision does (at most 0.5/255 per pixel).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from auforget.data.images import IMAGENET_MEAN, IMAGENET_STD, SHEAR_DEGREES, _check_size

# uint8 -> (x / 255 - mean) / std as one multiply and one subtract (images.py's fused pass)
_SCALE = (1.0 / (255.0 * torch.tensor(IMAGENET_STD))).view(1, 3, 1, 1)
_SHIFT = (torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(1, 3, 1, 1)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 with ImageNet normalisation, on the batch's device."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(
            "expected a uint8 batch of shape (B, 3, H, W), "
            f"got {images.dtype} {tuple(images.shape)}"
        )
    device = images.device
    return images.float().mul_(_SCALE.to(device)).sub_(_SHIFT.to(device))


def draw_flips(n: int, p: float) -> torch.Tensor:
    """n coins from the CPU generator, True = mirror: RandomHorizontalFlip flips when
    torch.rand(1) < p."""
    return torch.rand(n) < p


def flip_where(images: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """A copy of the batch with each image mirrored left-right where `flips` (B,) is True."""
    return torch.where(flips.to(images.device).view(-1, 1, 1, 1), images.flip(-1), images)


class BatchEvalPreset:
    """ImageNet normalisation of a uint8 batch: images.EvalPreset after its resize, batched (the
    store holds the resized faces, so only the normalisation is left, done on the device)."""

    finite_views: tuple[str, ...] | None = None

    def __init__(self, *, image_size: int):
        self.image_size = _check_size(image_size)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return normalise(images)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_size={self.image_size})"


class BatchEmotionPreset:
    """images.EmotionTrainPreset batched: each image mirrored with probability `flip_p`, then
    normalised. Its views are the same finite set (face, mirror image), so the exact two-view
    feature cache (retrain.augmented_views: exact) works with it as with the per-image preset."""

    finite_views = ("plain", "flipped")

    def __init__(self, *, image_size: int, flip_p: float = 0.5):
        self.image_size = _check_size(image_size)
        self.flip_p = flip_p

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        # flipped as uint8, before normalising: a quarter of the bytes of a float flip (the
        # normalisation is per channel, so the order does not change the result)
        return normalise(flip_where(images, draw_flips(len(images), self.flip_p)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_size={self.image_size}, flip_p={self.flip_p})"


class BatchPainPreset:
    """images.PainTrainPreset batched: one random affine per image -- rotation uniform in
    +-degrees, shifts of whole pixels uniform in +-shift of the side, scale uniform in
    1 +- zoom, x shear uniform in +-shear_degrees (RandomAffine's draws) -- about the image
    centre, by torchvision's inverse matrix and bilinear sampling (affine_grid + grid_sample, as
    v2.functional.affine does for tensors), pixels from outside filled with the ImageNet mean;
    then a flip with probability `flip_p`; the result normalised."""

    finite_views: tuple[str, ...] | None = None

    def __init__(
        self,
        *,
        image_size: int,
        degrees: float = 25.0,
        shift: float = 0.1,
        shear_degrees: float = SHEAR_DEGREES,
        zoom: float = 0.1,
        flip_p: float = 0.5,
    ):
        self.image_size = _check_size(image_size)
        self.degrees, self.shift, self.shear_degrees = degrees, shift, shear_degrees
        self.zoom, self.flip_p = zoom, flip_p

    def sample(self, n: int, height: int, width: int) -> dict[str, torch.Tensor]:
        """n sets of parameters from the CPU generator, as RandomAffine.make_params draws one:
        angle and shear in degrees, translate in whole pixels (rounded half to even, as
        Python's round), scale; plus the flip coins."""

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.empty(n).uniform_(low, high)

        angle = uniform(-self.degrees, self.degrees)
        tx = uniform(-self.shift * width, self.shift * width).round()
        ty = uniform(-self.shift * height, self.shift * height).round()
        scale = uniform(1 - self.zoom, 1 + self.zoom)
        shear = (
            uniform(-self.shear_degrees, self.shear_degrees)
            if self.shear_degrees
            else torch.zeros(n)
        )
        return dict(
            angle=angle,
            tx=tx,
            ty=ty,
            scale=scale,
            shear=shear,
            flip=draw_flips(n, self.flip_p),
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = normalise(images)
        return warp(x, self.sample(len(x), x.shape[-2], x.shape[-1]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(image_size={self.image_size}, degrees={self.degrees}, "
            f"shift={self.shift}, shear_degrees={self.shear_degrees}, zoom={self.zoom}, "
            f"flip_p={self.flip_p})"
        )


def affine_theta(params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """(B, 2, 3) float64 `affine_grid` matrices (align_corners=False) for the parameters, with
    the flip (params["flip"], when given) folded in.

    torchvision's inverse affine matrix M about the centre (its _get_inverse_affine_matrix with
    shear_y = 0) maps an output pixel's centre (x, y), measured from the image centre in pixels,
    to the input point M (x, y, 1). affine_grid's base grid is x_n = x / (W/2), y_n = y / (H/2)
    and it samples at theta (x_n, y_n, 1) in the same normalised units, so
    theta = [[m00, m01 H/W, 2 m02 / W], [m10 W/H, m11, 2 m12 / H]].

    Mirroring the warped image reads output pixel x_n from -x_n (the base grid is symmetric), so
    the flip after the warp is theta's first column negated: one sampling pass for both.
    """
    rot = torch.deg2rad(params["angle"].double())
    tan_sx = torch.tan(torch.deg2rad(params["shear"].double()))
    scale = params["scale"].double()
    tx, ty = params["tx"].double(), params["ty"].double()
    # rotation-shear matrix [[a, b], [c, d]] (det 1); its inverse is [[d, -b], [-c, a]]
    a, c = torch.cos(rot), torch.sin(rot)
    b = -(a * tan_sx + c)
    d = a - c * tan_sx
    m00, m01, m10, m11 = d / scale, -b / scale, -c / scale, a / scale
    m02 = -(m00 * tx + m01 * ty)
    m12 = -(m10 * tx + m11 * ty)
    theta = torch.stack(
        [
            torch.stack([m00, m01 * height / width, 2 * m02 / width], -1),
            torch.stack([m10 * width / height, m11, 2 * m12 / height], -1),
        ],
        1,
    )
    if "flip" in params:
        theta[params["flip"], :, 0] *= -1
    return theta


def warp(images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each normalised image of (B, 3, H, W) through its affine (then mirrored where
    params["flip"]), bilinear, zeros (the ImageNet mean) outside: the matrices are built on the
    CPU in float64, then moved to the device."""
    height, width = images.shape[-2:]
    theta = affine_theta(params, height, width).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


BATCH_PRESETS: dict[str, type] = {
    "eval": BatchEvalPreset,
    "emotion": BatchEmotionPreset,
    "pain": BatchPainPreset,
}


def batch_preset(name: str, image_size: int):
    """Batch transform by name: "eval", "emotion" or "pain" (images.preset's names)."""
    if name not in BATCH_PRESETS:
        raise ValueError(
            f"unknown transform preset {name!r}; valid names are {sorted(BATCH_PRESETS)}"
        )
    return BATCH_PRESETS[name](image_size=image_size)
