import gc

import pytest
import torch
from torch.utils.data import TensorDataset

import auforget.nn.features as features
from auforget.core.config import EMOTIONS
from auforget.data.task_data import load_task_data
from auforget.nn.backbones import build_vgg16, freeze_blocks
from auforget.nn.features import CacheDoesNotFit, check_cache_size, extract_features


def test_features_are_the_last_block_outputs_in_half_precision_and_views_are_seeded(tmp_path):
    torch.manual_seed(0)
    model = freeze_blocks(build_vgg16("small", 8), 5)
    images = torch.randn(6, 3, 64, 64)
    data = TensorDataset(images, torch.arange(6))
    cached = extract_features(
        model, data, batch_size=4, device=torch.device("cpu"), progress=False, folder=tmp_path
    )
    feats, labels = cached.tensors()
    assert feats.shape == (6, 64, 2, 2) and len(cached) == 6
    expected = model.features(images)
    assert torch.allclose(feats, expected, rtol=1e-3, atol=1e-3)  # float16 on disk
    assert torch.equal(cached[4][0], feats[4]) and cached[4][1] == 4
    two = extract_features(
        model,
        data,
        batch_size=4,
        device=torch.device("cpu"),
        views=2,
        progress=False,
        folder=tmp_path,
    )
    assert len(two) == 12 and two.tensors()[1].tolist() == list(range(6)) * 2
    # not a manifest: nothing reusable, so the files go with the store
    path = two.path
    del two
    gc.collect()
    assert not path.exists()


def test_a_manifest_cache_is_reused_and_keyed_by_the_model(tiny_data, tmp_path, monkeypatch):
    data = load_task_data(
        "affectnet",
        tiny_data.data.splits_dir,
        tiny_data.data.affectnet_root,
        EMOTIONS,
        "emotion",
        64,
    )
    torch.manual_seed(0)
    model = freeze_blocks(build_vgg16("small", 8), 5)
    first = extract_features(
        model,
        data.dataset("val"),
        batch_size=16,
        device=torch.device("cpu"),
        progress=False,
        folder=tmp_path,
    )
    assert first.path.parent.parent == tmp_path and len(first) == len(data.splits["val"])

    def no_work(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(features, "_write_rows", no_work)
    again = extract_features(
        model,
        data.dataset("val"),
        batch_size=16,
        device=torch.device("cpu"),
        progress=False,
        folder=tmp_path,
    )
    assert again.path == first.path and torch.equal(again.tensors()[0], first.tensors()[0])
    torch.manual_seed(1)
    other = freeze_blocks(build_vgg16("small", 8), 5)
    with pytest.raises(AssertionError, match="reused"):  # other weights: another cache
        extract_features(
            other,
            data.dataset("val"),
            batch_size=16,
            device=torch.device("cpu"),
            progress=False,
            folder=tmp_path,
        )


def test_a_cache_larger_than_the_disk_is_refused_before_any_work(tmp_path):
    with pytest.raises(CacheDoesNotFit, match=r"GiB on disk"):
        check_cache_size(10**12, 512 * 7 * 7, "retrain-b2 cache train", tmp_path / "not-yet")
    check_cache_size(1000, 256, "small", tmp_path)  # fits: no error
