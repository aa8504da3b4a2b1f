"""The decode-once image store (data/image_store.py): its pixels are the per-image route's resized
faces, it is reused and rebuilt when a file changes, its errors are ManifestImages', and the
task data's store route trains deterministically through make_loader's collate_fn."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from auforget.core.config import EMOTIONS, PAIN_CLASSES
from auforget.data import image_store
from auforget.data.batch_augment import BatchEmotionPreset, BatchEvalPreset, BatchPainPreset
from auforget.data.image_store import StoreImages, open_store
from auforget.data.images import DECODERS, ImageLoadError, ManifestImages, preset, resolve_decoder
from auforget.data.task_data import emotion_task, pain_task
from auforget.nn.backbones import build_vgg16
from auforget.nn.features import cache_key
from auforget.nn.losses import FocalLoss
from auforget.nn.training import FitSettings, fit, make_loader

S = 32


def write_faces(root: Path, n: int = 6, seed: int = 0) -> pd.DataFrame:
    """n noisy images (JPEG, and every third a PNG) of assorted sizes, each with a face box."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        w, h = int(rng.integers(60, 140)), int(rng.integers(60, 140))
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        name = f"img{i}.png" if i % 3 == 2 else f"img{i}.jpg"
        root.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(root / name)
        x, y = int(rng.integers(0, w // 4)), int(rng.integers(0, h // 4))
        rows.append(
            dict(sample_id=f"s{i}", path=name, label=i % 3, x=x, y=y, w=w // 2 + 8, h=h // 2 + 8)
        )
    return pd.DataFrame(rows)


@pytest.fixture
def faces(tmp_path, monkeypatch):
    """(manifest, root) of six faces; cwd is tmp_path, so stores go to tmp_path/cache/images."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "root"
    return write_faces(root), root


def test_the_store_holds_the_presets_resized_faces_exactly(faces):
    manifest, root = faces
    store = open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    images = ManifestImages(manifest, root, preset("eval", S))
    assert len(store) == len(manifest) and store.shape == (len(manifest), 3, S, S)
    assert np.array_equal(store.labels, manifest["label"].to_numpy())
    for i in range(len(store)):
        pixels, label = store[i]
        expected = np.asarray(preset("eval", S).resize(images.face(i))).transpose(2, 0, 1)
        assert pixels.dtype == torch.uint8 and label == manifest["label"][i]
        assert np.array_equal(pixels.numpy(), expected)


@pytest.mark.parametrize("decoder", [d for d in DECODERS if resolve_decoder(d) == d])
def test_an_eval_batch_equals_the_per_image_eval_preset(faces, decoder):
    manifest, root = faces
    store = open_store(
        manifest, root, BatchEvalPreset(image_size=S), decoder=decoder, progress=False
    )
    images = ManifestImages(manifest, root, preset("eval", S), decoder=decoder)
    batch, labels = next(iter(make_loader(store, len(store), shuffle=False, seed=0)))
    expected = torch.stack([images[i][0] for i in range(len(images))])
    assert torch.allclose(batch, expected, atol=1e-6, rtol=0)
    assert labels.tolist() == manifest["label"].tolist()


def test_a_store_is_reused_and_rebuilt_when_a_file_changes(faces, monkeypatch):
    manifest, root = faces
    first = open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    built = []
    real_build = image_store.build_store
    monkeypatch.setattr(
        image_store, "build_store", lambda *a, **k: built.append(a) or real_build(*a, **k)
    )
    again = open_store(manifest, root, BatchPainPreset(image_size=S), progress=False)
    assert again.folder == first.folder and not built  # another recipe, the same pixels

    stat = (root / "img0.jpg").stat()
    os.utime(root / "img0.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    assert touched.folder != first.folder and len(built) == 1
    assert sorted(p.name for p in Path("cache/images").iterdir()) == sorted(
        [first.key, touched.key]
    )  # no half-written folder left behind
    other_size = open_store(manifest, root, BatchEvalPreset(image_size=S + 8), progress=False)
    assert other_size.key not in (first.key, touched.key)


def test_missing_and_undecodable_images_keep_manifest_images_messages(faces):
    manifest, root = faces
    (root / "img1.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageLoadError, match=r"img1\.jpg: cannot read the image.*row 1.*s1"):
        open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    (root / "img1.jpg").unlink()
    with pytest.raises(ImageLoadError, match=r"img1\.jpg: image file not found.*row 1.*s1"):
        open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    assert not any(Path("cache/images").iterdir())  # the partial folders are removed


def test_a_store_pickles_before_and_after_it_is_read(faces):
    manifest, root = faces
    store = open_store(manifest, root, BatchEmotionPreset(image_size=S), progress=False)
    fresh = pickle.loads(pickle.dumps(store))
    pixels = store[3][0]
    opened = pickle.loads(pickle.dumps(store))
    assert torch.equal(fresh[3][0], pixels) and torch.equal(opened[3][0], pixels)
    assert isinstance(opened.transform, BatchEmotionPreset)


def test_the_feature_cache_key_covers_the_store_and_its_preset(faces):
    manifest, root = faces
    model = build_vgg16("small", 3)
    store = open_store(manifest, root, BatchEvalPreset(image_size=S), progress=False)
    flips = open_store(manifest, root, BatchEmotionPreset(image_size=S), progress=False)
    images = ManifestImages(manifest, root, preset("eval", S))
    keys = {cache_key(model, d, views=0, seed=0) for d in (store, flips, images)}
    assert None not in keys and len(keys) == 3


def test_task_data_reads_the_store_only_when_asked(tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    on = tiny_data.with_overrides("data", image_store=True)
    off = tiny_data.with_overrides("data", image_store=False)
    plain, stored = pain_task(off), pain_task(on)
    assert isinstance(plain.dataset("train", augment=True), ManifestImages)
    train = stored.dataset("train", augment=True)
    assert isinstance(train, StoreImages) and isinstance(train.transform, BatchPainPreset)
    assert isinstance(stored.dataset("val").transform, BatchEvalPreset)
    assert stored.files_digest() == f"{plain.files_digest()}-store"
    assert isinstance(emotion_task(on).dataset("train", augment=True).transform, BatchEmotionPreset)


@pytest.mark.parametrize("task", ["emotion", "pain"])
def test_fit_through_the_store_runs_and_a_seed_fixes_it(tiny_data, tmp_path, monkeypatch, task):
    """One epoch of the small network on the tiny split through the store route (flips, or the
    affine warp), twice with the same seed: the same history and the same weights."""
    monkeypatch.chdir(tmp_path)
    params = tiny_data.with_overrides("data", image_store=True)
    data = emotion_task(params, max_train=32) if task == "emotion" else pain_task(params)
    classes = EMOTIONS if task == "emotion" else PAIN_CLASSES
    torch.manual_seed(0)
    start = build_vgg16("small", len(classes))
    settings = FitSettings(1, 0.01, 0.9, 0.0, patience=5, seed=3)
    runs = []
    for attempt in range(2):
        model = copy.deepcopy(start)
        train = make_loader(data.dataset("train", augment=True), 16, shuffle=True, seed=3)
        val = make_loader(data.dataset("val"), 16, shuffle=False, seed=3)
        result = fit(
            model,
            train,
            val,
            FocalLoss(0.0),
            settings,
            class_names=classes,
            checkpoint_dir=tmp_path / f"run{attempt}",
            device=torch.device("cpu"),
            progress=False,
        )
        runs.append((result.history, model.state_dict()))
    (history, weights), (history2, weights2) = runs
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"])
    assert history == history2
    assert all(torch.equal(weights[k], weights2[k]) for k in weights)
    assert len(list(Path("cache/images").iterdir())) == 2  # train and val, built once each
