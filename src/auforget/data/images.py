"""Face images from a manifest: reading, cropping, and the study's augmentation presets.

`ManifestImages` is the torch Dataset every training, evaluation, saliency and probe stage
uses: it opens `root / path`, converts to RGB, crops to the manifest's face box and applies a
transform. The transforms are small keyword-only classes in the style of torchvision's
`references/classification/presets.py`; all randomness comes from torch's RNG, so
`torch.manual_seed` (and DataLoader worker seeding) make augmentation reproducible.

Decoding: at the paper's size the loader, not the GPU, is what can fall behind, so JPEGs can be
decoded by one of DECODERS (chosen by `bench/bench_loader.py`, see the README):
  pil         Pillow (itself built on libjpeg-turbo): full decode, crop, PIL resize. The reference.
  simplejpeg  libjpeg-turbo with DCT-domain downscaling: when the face box is at least twice the
              network's input side, the JPEG is decoded at 1/2, 1/4 or 1/8 size directly (the
              face still has at least `image_size` pixels a side), then cropped and resized as a
              uint8 tensor. Installed with the [fast] extra; without it, "pil" is used.
  torchvision torchvision.io.decode_jpeg: full decode to a uint8 tensor, crop, tensor resize.
Non-JPEG files always go through Pillow. The decoders give nearly (not bit-for-bit) the same
pixels, so the decoder is part of a run's parameters.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The issue and paper give the shear as +-10 %: a shear factor of 0.1, i.e. atan(0.1) = 5.71
# degrees. (Keras' ImageDataGenerator(shear_range=0.1) would read 0.1 as degrees -- in effect no
# shear -- so we follow the stated intent, not that quirk.)
SHEAR_DEGREES = math.degrees(math.atan(0.1))

_MANIFEST_COLUMNS = ("sample_id", "path", "label", "x", "y", "w", "h")
_JPEG_SUFFIXES = (".jpg", ".jpeg")

DECODERS = ("pil", "simplejpeg", "torchvision")
RESIZED_CACHE_BYTES = 1 << 30


class ImageLoadError(OSError):
    """An image listed in a manifest is missing or cannot be decoded; the message names both."""


# ----------------------------------------------------------------------------- reading


def open_rgb(path: str | Path) -> Image.Image:
    """Open an image fully decoded as 8-bit RGB (grayscale, 16-bit, palette and alpha converted).

    Alpha is dropped, not composited; 16-bit grayscale (mode I;16) is scaled to 8 bits
    rather than clipped.
    """
    with Image.open(path) as img:
        img.load()
        if img.mode.startswith("I;16") or (img.mode == "I" and np.asarray(img).max() > 255):
            img = Image.fromarray(
                (np.asarray(img, dtype=np.float64) / 257.0).round().clip(0, 255).astype(np.uint8)
            )
        return img.convert("RGB") if img.mode != "RGB" else img.copy()


def crop_box(img: Image.Image, x: float, y: float, w: float, h: float) -> Image.Image:
    """Crop `img` to the box (x, y, w, h) in pixels, clipped to the image.

    A box that misses the image entirely (or has no area) is a ValueError naming the box and
    the image size.
    """
    x, y, w, h = (int(round(float(v))) for v in (x, y, w, h))
    width, height = img.size
    left, top = max(0, x), max(0, y)
    right, bottom = min(width, x + w), min(height, y + h)
    if right <= left or bottom <= top:
        raise ValueError(
            f"face box x={x} y={y} w={w} h={h} has no pixels inside the {width}x{height} image"
        )
    return img.crop((left, top, right, bottom))


def load_face(root: str | Path, row: Any, image_size: int) -> Image.Image:
    """The cropped face of a manifest row as an RGB image of image_size x image_size.

    `row` is anything with path, x, y, w, h by key or attribute (a DataFrame row, a dict, an
    itertuples record). This is the face a human would look at next to a saliency map; the
    eval preset feeds the network the same crop at the same size.
    """
    face = _read_face(
        Path(root), _field(row, "path"), tuple(_field(row, k) for k in "xywh"), _describe(row)
    )
    return face.resize((image_size, image_size), Image.Resampling.BILINEAR)


def _read_face(root: Path, rel_path: str, box: tuple, where: str) -> Image.Image:
    path = root / rel_path
    try:
        img = open_rgb(path)
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: image file not found ({where})") from None
    except Exception as exc:  # PIL raises many types for corrupt files; name the file instead
        raise ImageLoadError(
            f"{path}: cannot read the image ({where}): {type(exc).__name__}: {exc}"
        ) from exc
    try:
        return crop_box(img, *box)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc} ({where})") from None


def _field(row: Any, name: str) -> Any:
    if isinstance(row, (Mapping, pd.Series)):
        return row[name]
    return getattr(row, name)


def _describe(row: Any) -> str:
    try:
        return f"manifest row sample_id={_field(row, 'sample_id')!r}"
    except (KeyError, AttributeError):
        return "manifest row"


# ----------------------------------------------------------------------------- fast JPEG decoding


def resolve_decoder(name: str) -> str:
    """`name` if it can run here; "simplejpeg" without the package falls back to "pil" (logged
    once per process by the caller's run parameters, not an error: the pixels barely differ)."""
    if name not in DECODERS:
        raise ValueError(f"unknown image decoder {name!r}; valid decoders are {list(DECODERS)}")
    if name == "simplejpeg":
        try:
            import simplejpeg  # noqa: F401
        except ImportError:
            return "pil"
    return name


def read_face_tensor(
    path: Path, box: tuple, where: str, *, decoder: str, min_side: int = 0
) -> tv_tensors.Image:
    """The face box of a JPEG as a (3, h, w) uint8 image tensor, decoded by `decoder`.

    With simplejpeg and `min_side` > 0 the JPEG is decoded at the smallest DCT scale (1, 1/2,
    1/4, 1/8) that keeps the face box at least `min_side` pixels a side, and the box is scaled
    to match. Errors name the file and `where`, as `ManifestImages.face` does.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(f"{path}: image file not found ({where})") from None
    try:
        if decoder == "torchvision":
            from torchvision.io import ImageReadMode, decode_jpeg

            pixels = decode_jpeg(
                torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB
            )
            scale = 1.0
        else:
            pixels, scale = _simplejpeg_chw(data, box, min_side)
    except (
        Exception
    ) as exc:  # the decoders raise several types for corrupt files; name the file instead
        raise ImageLoadError(
            f"{path}: cannot read the image ({where}): {type(exc).__name__}: {exc}"
        ) from exc
    x, y, w, h = (float(v) * scale for v in box)
    height, width = pixels.shape[-2:]
    left, top = max(0, int(round(x))), max(0, int(round(y)))
    right, bottom = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if right <= left or bottom <= top:
        raise ValueError(
            f"{path}: face box x={box[0]} y={box[1]} w={box[2]} h={box[3]} has no pixels inside "
            f"the {round(width / scale)}x{round(height / scale)} image ({where})"
        )
    return tv_tensors.Image(pixels[:, top:bottom, left:right])


def _simplejpeg_chw(data: bytes, box: tuple, min_side: int) -> tuple[torch.Tensor, float]:
    import simplejpeg

    min_w = min_h = 0
    if min_side > 0:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        # decoded width >= width * min_side / box_w keeps the scaled box >= min_side pixels wide
        min_w = math.ceil(width * min_side / max(float(box[2]), 1.0))
        min_h = math.ceil(height * min_side / max(float(box[3]), 1.0))
        full_w = width
    array = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=min_w, min_height=min_h)
    scale = array.shape[1] / full_w if min_side > 0 else 1.0
    return torch.from_numpy(array).permute(2, 0, 1), scale


# ----------------------------------------------------------------------------- dataset


# Resized faces kept for the life of the process: (file, mtime, size, box, side) -> face.
_RESIZED: dict[tuple, Image.Image] = {}
_resized_bytes = 0


def _remember(key: tuple, face: Image.Image) -> None:
    global _resized_bytes
    cost = 3 * face.width * face.height
    if _resized_bytes + cost <= RESIZED_CACHE_BYTES:
        _RESIZED[key] = face
        _resized_bytes += cost


class ManifestImages(torch.utils.data.Dataset):
    """(transformed face, label) pairs for the rows of a manifest.

    manifest: a tidy manifest (sample_id, path, label, x, y, w, h; see manifest.py).
    root: the dataset root that `path` is relative to.
    transform: PIL RGB face crop -> tensor, e.g. `preset("eval", 224)`.

    A missing or undecodable image raises ImageLoadError naming the file, the row number and
    the sample_id; a face box outside the image raises ValueError naming the same.
    """

    def __init__(
        self, manifest: pd.DataFrame, root: str | Path, transform: Callable, decoder: str = "pil"
    ):
        self.decoder = resolve_decoder(decoder)
        missing = [c for c in _MANIFEST_COLUMNS if c not in manifest.columns]
        if missing:
            raise ValueError(f"manifest lacks column(s) {missing}; it has {list(manifest.columns)}")
        self.manifest = manifest.reset_index(drop=True)
        self.root = Path(root)
        self.transform = transform
        self._paths = self.manifest["path"].astype(str).tolist()
        self._boxes = self.manifest[["x", "y", "w", "h"]].to_numpy()
        self._labels = self.manifest["label"].to_numpy(dtype=np.int64)
        self._ids = self.manifest["sample_id"].astype(str).tolist()
        # Every preset starts with the same deterministic resize, so the resized face can be kept
        # and only the random steps redone each epoch: the same tensors, without decoding every
        # image every epoch (a third of a small-profile epoch on a CPU). The faces are kept for the
        # whole process (`_RESIZED`), so the six retrains and transfers of `auforget main` decode
        # AffectNet and UNBC once, not once per model. Only in the main process (a CPU run; GPU
        # runs decode in worker processes that restart each epoch) and only while the faces fit in
        # RESIZED_CACHE_BYTES (the demo's 64 px faces do; 287k at 224 px do not).
        size = getattr(transform, "image_size", 0)
        self._cached = (
            isinstance(transform, _Preset)
            and 0 < len(self._paths) * 3 * size * size <= RESIZED_CACHE_BYTES
        )

    def __len__(self) -> int:
        return len(self._paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if self.decoder == "pil" or not self._paths[i].lower().endswith(_JPEG_SUFFIXES):
            if not self._cached or torch.utils.data.get_worker_info() is not None:
                return self.transform(self.face(i)), int(self._labels[i])
            return self.transform.after_resize(self._resized_face(i)), int(self._labels[i])
        where = f"manifest row {i}, sample_id={self._ids[i]!r}, path={self._paths[i]!r}"
        face = read_face_tensor(
            self.root / self._paths[i],
            tuple(self._boxes[i]),
            where,
            decoder=self.decoder,
            min_side=getattr(self.transform, "image_size", 0),
        )
        return self.transform(face), int(self._labels[i])

    def _resized_face(self, i: int) -> Image.Image:
        """Row i's face after the preset's resize, from the process's cache when the file is
        unchanged since it was read (same size and modification time)."""
        path = self.root / self._paths[i]
        try:
            stat = path.stat()
        except OSError:
            return self.transform.resize(self.face(i))  # face() names the missing file
        key = (
            str(path),
            stat.st_mtime_ns,
            stat.st_size,
            tuple(self._boxes[i]),
            self.transform.image_size,
        )
        face = _RESIZED.get(key)
        if face is None:
            face = self.transform.resize(self.face(i))
            _remember(key, face)
        return face

    def resized_uint8(self, i: int) -> torch.Tensor:
        """Row i's face after the preset's deterministic resize, as a (3, S, S) uint8 tensor: the
        pixels __getitem__ hands the preset's random steps, read by the same decoder with the same
        errors (what image_store.py keeps, so that only the random steps remain per epoch)."""
        if not isinstance(self.transform, _Preset):
            raise TypeError(f"resized_uint8 needs a preset transform, not {self.transform!r}")
        if self.decoder == "pil" or not self._paths[i].lower().endswith(_JPEG_SUFFIXES):
            return torch.from_numpy(np.array(self.transform.resize(self.face(i)))).permute(2, 0, 1)
        where = f"manifest row {i}, sample_id={self._ids[i]!r}, path={self._paths[i]!r}"
        face = read_face_tensor(
            self.root / self._paths[i],
            tuple(self._boxes[i]),
            where,
            decoder=self.decoder,
            min_side=self.transform.image_size,
        )
        return torch.as_tensor(self.transform.resize(face))

    def face(self, i: int) -> Image.Image:
        """Row i's face crop as an RGB PIL image, before any transform."""
        where = f"manifest row {i}, sample_id={self._ids[i]!r}, path={self._paths[i]!r}"
        return _read_face(self.root, self._paths[i], tuple(self._boxes[i]), where)

    @property
    def labels(self) -> np.ndarray:
        """int64 labels in row order, e.g. for class weights or a sampler (do not modify)."""
        return self._labels

    @property
    def sample_ids(self) -> list[str]:
        return list(self._ids)


# ----------------------------------------------------------------------------- presets


def _to_normalized_tensor() -> list:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]


_SCALE = (1.0 / (255.0 * torch.tensor(IMAGENET_STD))).view(3, 1, 1)
_SHIFT = (torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).view(3, 1, 1)


def _apply(transforms: v2.Compose, img):
    """A preset on a PIL face: the whole Compose, as it always was. On a uint8 tensor (the fast
    decoders): the same spatial steps, then one fused uint8 -> normalised float pass, which
    bench_loader.py measured 5x cheaper than ToImage + ToDtype + Normalize (equal to 1e-6)."""
    if isinstance(img, Image.Image):
        return transforms(img)
    x = img
    for step in transforms.transforms[: -len(_to_normalized_tensor())]:
        x = step(x)
    return torch.as_tensor(x).float().mul_(_SCALE).sub_(_SHIFT)


class _Preset:
    """A Compose that starts with the deterministic resize (ManifestImages keeps its output)."""

    # The distinct views the preset can produce, when they are a finite set (None: a continuum,
    # e.g. the pain recipe's affine transforms).
    finite_views: tuple[str, ...] | None = None

    image_size: int
    transforms: v2.Compose

    def __call__(self, img):
        return _apply(self.transforms, img)

    def resize(self, img: Image.Image) -> Image.Image:
        """The preset's first, deterministic step."""
        return self.transforms.transforms[0](img)

    def after_resize(self, img: Image.Image) -> torch.Tensor:
        """The preset's steps after its resize, on an already resized PIL face (a hot path: the
        Compose of those steps is built once)."""
        if getattr(self, "_after_resize", None) is None:
            self._after_resize = v2.Compose(self.transforms.transforms[1:])
        return self._after_resize(img)


def _check_size(image_size: int) -> int:
    if int(image_size) != image_size or image_size < 1:
        raise ValueError(
            f"image_size must be a positive whole number of pixels, got {image_size!r}"
        )
    return int(image_size)


class EvalPreset(_Preset):
    """Resize to image_size x image_size (aspect not kept: face boxes are near square),
    to float tensor in [0, 1], ImageNet normalisation."""

    def __init__(self, *, image_size: int):
        self.image_size = size = _check_size(image_size)
        self.transforms = v2.Compose(
            [v2.Resize((size, size), antialias=True), *_to_normalized_tensor()]
        )


class EmotionTrainPreset(_Preset):
    """The study's emotion (AffectNet) augmentation: the eval preset plus a random
    horizontal flip (p = 0.5)."""

    # Its views are a finite set -- the face, or the face mirrored -- so a cache of both views'
    # features reproduces "fresh augmentation every epoch" exactly (retrain.augmented_views: exact).
    finite_views = ("plain", "flipped")

    def __init__(self, *, image_size: int, flip_p: float = 0.5):
        self.image_size = size = _check_size(image_size)
        self.flip_p = flip_p
        self.transforms = v2.Compose(
            [
                v2.Resize((size, size), antialias=True),
                v2.RandomHorizontalFlip(flip_p),
                *_to_normalized_tensor(),
            ]
        )


class PainTrainPreset(_Preset):
    """The study's pain (UNBC) augmentation, Keras ImageDataGenerator(rotation_range=25,
    width_shift_range=0.1, height_shift_range=0.1, shear_range=0.1, zoom_range=0.1,
    horizontal_flip=True) as one torchvision RandomAffine plus a flip, applied after the
    resize as Keras does (it augments the image at target size):

    - rotation uniform in +-25 degrees; shifts uniform in +-10 % of width and height;
    - shear: +-10 % (factor 0.1 = +-5.71 degrees), x direction, see SHEAR_DEGREES;
    - zoom: one isotropic scale uniform in [0.9, 1.1] (Keras draws x and y zoom separately);
    - pixels moved in from outside are filled with the ImageNet mean colour (zero after
      normalisation) where Keras repeats the edge pixels (fill_mode="nearest").
    """

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
        self.image_size = size = _check_size(image_size)
        fill = tuple(int(round(255 * m)) for m in IMAGENET_MEAN)
        affine = v2.RandomAffine(
            degrees=degrees,
            translate=(shift, shift),
            scale=(1 - zoom, 1 + zoom),
            shear=(-shear_degrees, shear_degrees) if shear_degrees else None,
            interpolation=v2.InterpolationMode.BILINEAR,
            fill=fill,
        )
        self.transforms = v2.Compose(
            [
                v2.Resize((size, size), antialias=True),
                affine,
                v2.RandomHorizontalFlip(flip_p),
                *_to_normalized_tensor(),
            ]
        )


PRESETS: dict[str, type] = {
    "eval": EvalPreset,
    "emotion": EmotionTrainPreset,
    "pain": PainTrainPreset,
}


def eval_preset(image_size: int) -> Callable:
    """PIL face -> normalised (3, image_size, image_size) float tensor, no randomness."""
    return EvalPreset(image_size=image_size)


def emotion_preset(image_size: int) -> Callable:
    """Training transform for the emotion model: eval preset + random horizontal flip."""
    return EmotionTrainPreset(image_size=image_size)


def pain_preset(image_size: int) -> Callable:
    """Training transform for pain transfer: random affine (see PainTrainPreset) + flip."""
    return PainTrainPreset(image_size=image_size)


def preset(name: str, image_size: int) -> Callable:
    """Transform by name: "eval", "emotion" or "pain"."""
    if name not in PRESETS:
        raise ValueError(f"unknown transform preset {name!r}; valid names are {sorted(PRESETS)}")
    return PRESETS[name](image_size=image_size)
