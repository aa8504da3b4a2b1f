import dataclasses
import math

import pytest
import torch
from torch.utils.data import TensorDataset

from auforget.nn.backbones import build_vgg16
from auforget.nn.losses import FocalLoss
from auforget.nn.training import FitSettings, fit, lr_factor, make_loader

SETTINGS = FitSettings(epochs=4, lr=0.05, momentum=0.9, weight_decay=0.0, patience=10, seed=1)


class Interrupt(Exception):
    pass


def _data(seed=0, n=48):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 64, 64, generator=g)
    y = (x[:, 0, :32].mean((1, 2)) > 0).long()
    x[y == 1, 0, :32] += 0.5
    return TensorDataset(x, y)


def _run(tmp_path, on_epoch=None, fingerprint="k", settings=SETTINGS):
    torch.manual_seed(0)
    model = build_vgg16("small", 2)
    train, val = _data(0), _data(1, 24)
    result = fit(
        model,
        make_loader(train, 16, shuffle=True, seed=settings.seed),
        make_loader(val, 16, shuffle=False, seed=0),
        FocalLoss(2.0),
        settings,
        class_names=("a", "b"),
        checkpoint_dir=tmp_path,
        fingerprint=fingerprint,
        on_epoch=on_epoch,
        progress=False,
        device=torch.device("cpu"),
    )
    return model, result


def test_same_seed_same_numbers(tmp_path):
    _, a = _run(tmp_path / "a")
    _, b = _run(tmp_path / "b")
    assert a.history == b.history
    assert len(a.history) == 4 and a.best_epoch >= 1


@pytest.mark.parametrize("schedule", ["constant", "onecycle"])
def test_resume_after_interruption_matches_uninterrupted_run(tmp_path, schedule):
    settings = dataclasses.replace(SETTINGS, schedule=schedule)
    model_ref, ref = _run(tmp_path / "ref", settings=settings)

    def crash_after_two(epoch, metrics):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _run(tmp_path / "crash", on_epoch=crash_after_two, settings=settings)
    assert (tmp_path / "crash" / "last.pt").exists()
    replayed = []
    model, resumed = _run(
        tmp_path / "crash", on_epoch=lambda e, m: replayed.append(e), settings=settings
    )
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
        fit(
            model,
            make_loader(_data(), 16, shuffle=True, seed=0),
            make_loader(_data(1), 16, shuffle=False, seed=0),
            FocalLoss(),
            SETTINGS,
            class_names=("a", "b"),
            checkpoint_dir=tmp_path,
            progress=False,
        )


def test_onecycle_rises_to_the_configured_lr_then_anneals_to_almost_nothing():
    total = 100
    factors = [lr_factor("onecycle", i, total) for i in range(total)]
    assert factors[0] == pytest.approx(1 / 25)
    assert max(factors) == pytest.approx(1.0) and factors.index(max(factors)) == 30
    assert all(a <= b for a, b in zip(factors[:30], factors[1:31]))  # warm-up rises
    assert all(a >= b for a, b in zip(factors[30:], factors[31:]))  # then falls
    assert factors[-1] == pytest.approx(1 / 25 / 1e4)
    assert all(lr_factor("constant", i, total) == 1.0 for i in (0, 50, 99))
    with pytest.raises(ValueError, match="onecycle"):
        lr_factor("cosine", 0, total)


def test_onecycle_changes_training_and_logs_the_lr(tmp_path):
    _, constant = _run(tmp_path / "c")
    _, onecycle = _run(tmp_path / "o", settings=dataclasses.replace(SETTINGS, schedule="onecycle"))
    assert "lr" not in constant.history[0]
    lrs = [epoch["lr"] for epoch in onecycle.history]
    assert (
        lrs[-1] < SETTINGS.lr / 1000
        and max(lrs) <= SETTINGS.lr
        and not math.isclose(lrs[0], lrs[1])
    )
    assert onecycle.history[0]["train_loss"] != constant.history[0]["train_loss"]


def test_adamw_trains_only_what_is_trainable_with_decoupled_decay(tmp_path):
    """optimizer: adamw is torch's AdamW over the trainable parameters (the frozen ones stay out),
    and a fit with it runs and resumes like SGD's."""
    from auforget.nn.training import make_optimizer

    model = build_vgg16("small", 2)
    for p in model.blocks[0].parameters():
        p.requires_grad_(False)
    settings = dataclasses.replace(SETTINGS, optimizer="adamw", lr=1e-3, weight_decay=0.05)
    optimizer = make_optimizer(model, settings)
    assert isinstance(optimizer, torch.optim.AdamW)
    group = optimizer.param_groups[0]
    assert group["weight_decay"] == 0.05 and group["lr"] == 1e-3
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert {id(p) for p in group["params"]} == trainable
    _, result = _run(tmp_path, settings=dataclasses.replace(settings, epochs=2))
    assert result.epochs_run == 2 and math.isfinite(result.best_score)


def test_an_unknown_optimizer_is_one_clear_error(tmp_path):
    from auforget.core.config import load_params

    (tmp_path / "p.yaml").write_text("emotion:\n  optimizer: adam\n")
    with pytest.raises(ValueError, match=r"emotion.optimizer.*sgd.*adamw"):
        load_params(tmp_path / "p.yaml")
