import os

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from auforget.data import images
from auforget.data.images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageLoadError,
    ManifestImages,
    crop_box,
    emotion_preset,
    eval_preset,
    load_face,
    pain_preset,
    preset,
)

RED = (220, 30, 40)


def manifest_of(*rows):
    base = dict(label=0, landmarks="")
    return pd.DataFrame([{**base, **r} for r in rows])


def denormalise(t):
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return t * std + mean


@pytest.fixture
def planted(tmp_path):
    """A 100x80 grey PNG with a red 30x30 square at x=20, y=10."""
    img = Image.new("RGB", (100, 80), (128, 128, 128))
    img.paste(RED, (20, 10, 50, 40))
    (tmp_path / "faces").mkdir()
    img.save(tmp_path / "faces" / "planted.png")
    return tmp_path


def halves(tmp_path, name="halves.jpg"):
    """Left half red, right half blue, saved as JPEG."""
    img = Image.new("RGB", (64, 48), (0, 0, 255))
    img.paste(RED, (0, 0, 32, 48))
    img.save(tmp_path / name, quality=95)
    return Image.open(tmp_path / name).convert("RGB")


def test_crop_fills_the_output_with_the_planted_square(planted):
    ds = ManifestImages(
        manifest_of(dict(sample_id="a", path="faces/planted.png", x=20, y=10, w=30, h=30, label=3)),
        planted,
        transform=lambda img: img,
    )
    face, label = ds[0]
    assert face.size == (30, 30) and label == 3
    assert (np.asarray(face) == RED).all()
    # and through the eval preset: every output pixel is the square's colour
    ds.transform = eval_preset(16)
    x, _ = ds[0]
    assert x.shape == (3, 16, 16)
    assert torch.allclose(denormalise(x), torch.tensor(RED).view(3, 1, 1) / 255, atol=1e-3)


def test_crop_box_clips_to_the_image_and_rejects_boxes_outside():
    img = Image.new("RGB", (100, 80))
    assert crop_box(img, -10, 70, 30, 30).size == (20, 10)
    with pytest.raises(ValueError, match="100x80"):
        crop_box(img, 120, 10, 30, 30)


def test_grayscale_and_rgba_become_three_channels(tmp_path):
    Image.new("L", (40, 40), 90).save(tmp_path / "gray.png")
    Image.new("RGBA", (40, 40), (10, 200, 30, 0)).save(tmp_path / "rgba.png")
    Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)).save(tmp_path / "gray16.png")
    box = dict(x=0, y=0, w=40, h=40)
    ds = ManifestImages(
        manifest_of(
            dict(sample_id="g", path="gray.png", **box),
            dict(sample_id="r", path="rgba.png", **box),
            dict(sample_id="d", path="gray16.png", **box),
        ),
        tmp_path,
        transform=lambda img: img,
    )
    gray, rgba, deep = (ds[i][0] for i in range(3))
    assert gray.mode == rgba.mode == deep.mode == "RGB"
    assert (np.asarray(gray) == 90).all()
    assert (np.asarray(rgba) == (10, 200, 30)).all()
    assert (np.asarray(deep) == round(40000 / 257)).all()  # scaled, not clipped to 255
    ds.transform = eval_preset(8)
    assert ds[0][0].shape == (3, 8, 8)


def test_missing_file_error_names_the_path_and_the_row(tmp_path):
    ds = ManifestImages(
        manifest_of(dict(sample_id="s1", path="nowhere/lost.png", x=0, y=0, w=5, h=5)),
        tmp_path,
        eval_preset(8),
    )
    with pytest.raises(ImageLoadError, match=r"nowhere/lost\.png.*not found.*row 0.*s1"):
        ds[0]


def test_corrupt_file_error_names_the_path(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = ManifestImages(
        manifest_of(dict(sample_id="b", path="broken.jpg", x=0, y=0, w=5, h=5)),
        tmp_path,
        eval_preset(8),
    )
    with pytest.raises(ImageLoadError, match=r"broken\.jpg.*cannot read"):
        ds[0]


def test_labels_and_sample_ids(planted):
    rows = [
        dict(sample_id=f"s{i}", path="faces/planted.png", x=0, y=0, w=10, h=10, label=i % 2)
        for i in range(3)
    ]
    ds = ManifestImages(manifest_of(*rows).iloc[::-1], planted, eval_preset(8))
    assert len(ds) == 3
    assert ds.labels.dtype == np.int64 and ds.labels.tolist() == [0, 1, 0]
    assert ds.sample_ids == ["s2", "s1", "s0"]
    batch, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch.shape == (3, 3, 8, 8) and labels.tolist() == [0, 1, 0]


def test_load_face_is_the_resized_crop(planted):
    row = manifest_of(dict(sample_id="a", path="faces/planted.png", x=20, y=10, w=30, h=30)).iloc[0]
    face = load_face(planted, row, 24)
    assert face.mode == "RGB" and face.size == (24, 24)
    assert (np.asarray(face) == RED).all()
    assert load_face(planted, next(row.to_frame().T.itertuples()), 12).size == (12, 12)


@pytest.mark.parametrize("name", ["eval", "emotion", "pain"])
def test_presets_give_normalised_square_tensors(tmp_path, name):
    out = preset(name, 32)(halves(tmp_path))  # 64x48: not square
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    assert out.min() < 0 < out.max()  # normalised, not [0, 1]


def test_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"\['emotion', 'eval', 'pain'\]"):
        preset("strong", 32)


@pytest.mark.parametrize("make", [emotion_preset, pain_preset])
def test_seeded_augmentation_is_reproducible(tmp_path, make):
    img, transform = halves(tmp_path), make(32)
    outs = []
    for seed in (0, 0, 1, 2, 3):
        torch.manual_seed(seed)
        outs.append(transform(img))
    assert torch.equal(outs[0], outs[1])
    assert any(not torch.equal(outs[0], o) for o in outs[2:])


def test_emotion_flip_really_flips(tmp_path):
    img = halves(tmp_path)
    plain = eval_preset(32)(img)
    transform = emotion_preset(32)
    flipped = unflipped = 0
    for seed in range(20):
        torch.manual_seed(seed)
        out = transform(img)
        flipped += torch.equal(out, plain.flip(-1))
        unflipped += torch.equal(out, plain)
    assert flipped + unflipped == 20 and flipped > 0 and unflipped > 0
    # the left of a flipped image is blue
    assert denormalise(plain.flip(-1))[:, :, :8].mean(dim=(1, 2)).argmax() == 2


def test_pain_augmentation_moves_pixels_but_keeps_the_picture(tmp_path):
    img = halves(tmp_path)
    plain = eval_preset(32)(img)
    torch.manual_seed(0)
    outs = torch.stack([pain_preset(32)(img) for _ in range(8)])
    assert all(not torch.equal(o, plain) and not torch.equal(o, plain.flip(-1)) for o in outs)
    # At most 25 degrees, 10 % shift and 10 % zoom keep a patch left of centre inside the
    # left (or, flipped, right) half: clearly red or clearly blue, not fill and not a mix.
    patch = denormalise(outs)[:, :, 14:18, 6:10].mean(dim=(2, 3))
    assert (
        ((patch[:, 0] > 0.7) & (patch[:, 2] < 0.3)) | ((patch[:, 2] > 0.7) & (patch[:, 0] < 0.3))
    ).all()
    # Pixels brought in from outside are the ImageNet mean colour: zero once normalised.
    assert (outs.abs() < 0.02).all(dim=1).any()


@pytest.mark.parametrize("name", ["eval", "emotion", "pain"])
def test_kept_resized_faces_give_the_same_tensors_every_epoch(tmp_path, name, monkeypatch):
    """The resized face is kept after its first read (the CPU demo's epochs then skip decoding);
    with the same seed, two epochs give bit for bit what decoding every time gives."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(6):
        Image.fromarray(rng.integers(0, 255, (90, 110, 3), dtype=np.uint8)).save(
            tmp_path / f"f{k}.jpg", quality=90
        )
        rows.append(dict(sample_id=f"s{k}", path=f"f{k}.jpg", x=5 + k, y=4, w=70, h=72))

    def two_epochs(data):
        torch.manual_seed(3)
        return [data[i][0] for _ in range(2) for i in range(len(data))]

    opened = []
    real_open = images.open_rgb
    monkeypatch.setattr(images, "open_rgb", lambda path: opened.append(path) or real_open(path))
    kept = ManifestImages(manifest_of(*rows), tmp_path, preset(name, 32))
    with_cache = two_epochs(kept)
    assert len(opened) == 6, "each file decoded once over two epochs"
    monkeypatch.setattr(images, "RESIZED_CACHE_BYTES", 0)
    fresh = ManifestImages(manifest_of(*rows), tmp_path, preset(name, 32))
    for a, b in zip(with_cache, two_epochs(fresh)):
        assert torch.equal(a, b)
    assert len(opened) == 6 + 12, "without the cache every read decodes"


def test_kept_faces_are_shared_between_datasets_until_the_file_changes(tmp_path, monkeypatch):
    """The six retrains of a study read the same AffectNet faces: a second dataset over the same
    files (another preset, same size) decodes nothing, a rewritten file is decoded again, and
    another input size is another face."""
    rng = np.random.default_rng(1)
    rows = []
    for k in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)).save(
            tmp_path / f"g{k}.png"
        )
        rows.append(dict(sample_id=f"s{k}", path=f"g{k}.png", x=0, y=0, w=60, h=60))
    opened = []
    real_open = images.open_rgb
    monkeypatch.setattr(images, "open_rgb", lambda path: opened.append(path) or real_open(path))
    first = [
        ManifestImages(manifest_of(*rows), tmp_path, preset("eval", 16))[i][0] for i in range(3)
    ]
    assert len(opened) == 3
    again = ManifestImages(manifest_of(*rows), tmp_path, preset("emotion", 16))
    torch.manual_seed(0)
    for i in range(3):
        again[i]
    assert len(opened) == 3
    Image.fromarray(np.zeros((60, 60, 3), dtype=np.uint8)).save(tmp_path / "g0.png")
    os.utime(tmp_path / "g0.png", ns=(1, 1))
    rewritten = ManifestImages(manifest_of(*rows), tmp_path, preset("eval", 16))[0][0]
    assert len(opened) == 4 and not torch.equal(rewritten, first[0])
    ManifestImages(manifest_of(*rows), tmp_path, preset("eval", 24))[1]
    assert len(opened) == 5
