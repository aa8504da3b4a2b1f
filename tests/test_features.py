import pytest
import torch
from torch.utils.data import TensorDataset

from auforget.features import check_cache_size, extract_features
from auforget.models import build_vgg16, freeze_blocks


def test_features_are_the_last_block_outputs_and_views_are_seeded():
    torch.manual_seed(0)
    model = freeze_blocks(build_vgg16("small", 8), 5)
    images = torch.randn(6, 3, 64, 64)
    data = TensorDataset(images, torch.arange(6))
    cached = extract_features(model, data, batch_size=4, device=torch.device("cpu"), progress=False)
    assert cached.tensors[0].shape == (6, 64, 2, 2)
    assert torch.allclose(cached.tensors[0], model.features(images), atol=1e-6)
    two = extract_features(model, data, batch_size=4, device=torch.device("cpu"), views=2, progress=False)
    assert two.tensors[0].shape[0] == 12 and two.tensors[1].tolist() == list(range(6)) * 2


def test_a_cache_larger_than_memory_is_refused_with_advice():
    with pytest.raises(ValueError, match="cached_features: false"):
        check_cache_size(273_269 * 10, 512 * 7 * 7, "retrain-b2 cache train")
    check_cache_size(1000, 256, "small")  # fits: no error
