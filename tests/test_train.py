import pytest
import torch
from torch.utils.data import TensorDataset

from auforget.losses import FocalLoss
from auforget.models import build_vgg16
from auforget.train import FitSettings, fit, make_loader

SETTINGS = FitSettings(epochs=4, lr=0.05, momentum=0.9, weight_decay=0.0, patience=10, seed=1)


class Interrupt(Exception):
    pass


def _data(seed=0, n=48):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 64, 64, generator=g)
    y = (x[:, 0, :32].mean((1, 2)) > 0).long()
    x[y == 1, 0, :32] += 0.5
    return TensorDataset(x, y)


def _run(tmp_path, on_epoch=None, fingerprint="k"):
    torch.manual_seed(0)
    model = build_vgg16("small", 2)
    train, val = _data(0), _data(1, 24)
    result = fit(model, make_loader(train, 16, shuffle=True, seed=SETTINGS.seed),
                 make_loader(val, 16, shuffle=False, seed=0), FocalLoss(2.0), SETTINGS, class_names=("a", "b"),
                 checkpoint_dir=tmp_path, fingerprint=fingerprint, on_epoch=on_epoch, progress=False,
                 device=torch.device("cpu"))
    return model, result


def test_same_seed_same_numbers(tmp_path):
    _, a = _run(tmp_path / "a")
    _, b = _run(tmp_path / "b")
    assert a.history == b.history
    assert len(a.history) == 4 and a.best_epoch >= 1


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path):
    model_ref, ref = _run(tmp_path / "ref")

    def crash_after_two(epoch, metrics):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path / "crash", on_epoch=crash_after_two)
    assert (tmp_path / "crash" / "last.pt").exists()
    replayed = []
    model, resumed = _run(tmp_path / "crash", on_epoch=lambda e, m: replayed.append(e))
    assert resumed.resumed_from == 2
    assert replayed == [1, 2, 3, 4]
    assert resumed.history == ref.history
    for (k, a), b in zip(model_ref.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_for_other_settings_is_not_resumed(tmp_path):
    def crash(epoch, metrics):
        raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path, on_epoch=crash, fingerprint="first")
    _, result = _run(tmp_path, fingerprint="second")
    assert result.resumed_from is None and len(result.history) == 4


def test_everything_frozen_is_a_clear_error(tmp_path):
    model = build_vgg16("small", 2)
    for p in model.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        fit(model, make_loader(_data(), 16, shuffle=True, seed=0), make_loader(_data(1), 16, shuffle=False, seed=0),
            FocalLoss(), SETTINGS, class_names=("a", "b"), checkpoint_dir=tmp_path, progress=False)
