"""classifier.fit_on_task with several retrained heads (retrain.heads): real tiny AffectNet split,
real small VGG16, real cached features."""

import copy

import pytest
import torch

from auforget.core.config import EMOTIONS
from auforget.data.task_data import emotion_task
from auforget.nn import training as train_module
from auforget.nn.backbones import N_BLOCKS, build_vgg16, freeze_blocks, replace_head
from auforget.nn.losses import FocalLoss
from auforget.nn.training import FitSettings
from auforget.workflow.fitting import cached_sets, fit_on_task, head_seed

SETTINGS = FitSettings(epochs=3, lr=0.05, momentum=0.9, weight_decay=0.0, patience=10, seed=4)


class Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def task(tiny_data):
    """Frozen small blocks, the tiny split and its cached features (one view, seed 4)."""
    data = emotion_task(tiny_data)
    torch.manual_seed(0)
    blocks = freeze_blocks(
        replace_head(build_vgg16("small", len(EMOTIONS)), len(EMOTIONS), seed=SETTINGS.seed),
        N_BLOCKS,
    )
    features = cached_sets(
        blocks,
        data,
        batch_size=16,
        views=1,
        seed=SETTINGS.seed,
        device=torch.device("cpu"),
        progress=False,
    )
    return blocks, data, features


def _fit(task, tmp_path, heads, *, seed=SETTINGS.seed, on_epoch=None):
    blocks, data, features = task
    model = replace_head(copy.deepcopy(blocks), len(EMOTIONS), seed=seed)
    result = fit_on_task(
        model,
        data,
        FocalLoss(0.0),
        FitSettings(**{**SETTINGS.__dict__, "seed": seed}),
        batch_size=16,
        cached=True,
        views=1,
        checkpoint_dir=tmp_path,
        key="k",
        features=features,
        device=torch.device("cpu"),
        progress=False,
        on_epoch=on_epoch,
        heads=heads,
    )
    return model.eval(), result


def test_three_heads_are_the_mean_of_three_heads_trained_alone(task, tmp_path):
    merged, result = _fit(task, tmp_path / "three", 3)
    alone = [
        _fit(task, tmp_path / f"alone{i}", 1, seed=head_seed(SETTINGS.seed, i)) for i in range(3)
    ]
    val = task[2][1]
    x = torch.stack([torch.as_tensor(val[i][0]) for i in range(8)])
    with torch.no_grad():
        expected = torch.stack([m.head(x) for m, _ in alone]).mean(0)
        assert torch.allclose(merged.head(x), expected, atol=1e-5)
    hidden = alone[0][0].head[1].out_features
    assert merged.head[1].out_features == 3 * hidden
    # head 0 is the single head a one-head run trains: same weights, same FitResult
    assert torch.equal(merged.head[1].weight[:hidden], alone[0][0].head[1].weight)
    assert result.history == alone[0][1].history and result.best_epoch == alone[0][1].best_epoch


def test_each_head_logs_its_own_epochs(task, tmp_path):
    seen: list[tuple[int, str]] = []
    _fit(
        task,
        tmp_path,
        2,
        on_epoch=lambda epoch, metrics: seen.append((epoch, next(iter(sorted(metrics))))),
    )
    assert [e for e, _ in seen] == [1, 2, 3, 1, 2, 3]
    assert all(not k.startswith("head") for _, k in seen[:3]) and all(
        k.startswith("head1/") for _, k in seen[3:]
    )


def test_a_run_that_dies_in_its_third_head_resumes_there(task, tmp_path, monkeypatch):
    whole, _ = _fit(task, tmp_path / "whole", 3)

    def die(epoch, metrics):
        if epoch == 2 and any(k.startswith("head2/") for k in metrics):
            raise Interrupt

    with pytest.raises(Interrupt):
        _fit(task, tmp_path / "resumed", 3, on_epoch=die)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["head0", "head1", "head2"]
    trained = []
    real_epoch = train_module.train_one_epoch
    monkeypatch.setattr(
        train_module, "train_one_epoch", lambda *a, **k: trained.append(1) or real_epoch(*a, **k)
    )
    replayed: list[str] = []
    resumed, _ = _fit(
        task, tmp_path / "resumed", 3, on_epoch=lambda e, m: replayed.append(next(iter(m)))
    )
    assert len(trained) == 1  # heads 0 and 1 come back finished, head 2 trains only its third epoch
    assert len(replayed) == 9  # every head's epochs are still reported, none lost
    for a, b in zip(whole.head.state_dict().values(), resumed.head.state_dict().values()):
        assert torch.equal(a, b)


def test_several_heads_need_every_block_frozen(task, tmp_path):
    blocks, data, features = task
    model = freeze_blocks(copy.deepcopy(blocks), 3)
    with pytest.raises(
        ValueError, match="several heads need all 5 conv blocks frozen; this model has 3"
    ):
        fit_on_task(
            model,
            data,
            FocalLoss(0.0),
            SETTINGS,
            batch_size=16,
            cached=False,
            views=0,
            checkpoint_dir=tmp_path,
            heads=2,
            progress=False,
        )


def test_exact_two_view_cache_trains_the_head_the_image_route_trains(task, tmp_path):
    """retrain.augmented_views: exact. Both routes draw the same flips (one torch.rand(1) per
    image, the cached route from FlipDrawn, the image route from RandomHorizontalFlip) in the
    same order, so the heads differ only by the cache's float16 rounding of the features."""
    blocks, data, _ = task
    heads = []
    for cached, views in ((False, 0), (True, "exact"), (True, 1)):
        model = replace_head(copy.deepcopy(blocks), len(EMOTIONS), seed=SETTINGS.seed)
        fit_on_task(
            model,
            data,
            FocalLoss(0.0),
            SETTINGS,
            batch_size=16,
            cached=cached,
            views=views,
            checkpoint_dir=tmp_path / str(views),
            key=f"k{views}",
            device=torch.device("cpu"),
            progress=False,
        )
        heads.append(model.head.state_dict())
    image, exact, one_view = heads

    def gap(a, b):
        return max(float((a[k] - b[k]).abs().max()) for k in a)

    assert gap(exact, blocks.head.state_dict()) > 1e-2  # training moved the weights ...
    assert gap(image, exact) < 1e-4  # ... both routes alike (2e-6 on x86-64, 2026-12-06) ...
    assert gap(image, one_view) > 100 * gap(image, exact)  # ... unlike one fixed cached view


def test_exact_views_are_an_error_for_the_pain_recipe(tiny_data):
    from auforget.data.task_data import pain_task
    from auforget.workflow.fitting import exact_train_views

    model = freeze_blocks(build_vgg16("small", 2), N_BLOCKS)
    with pytest.raises(ValueError, match="finite set"):
        exact_train_views(model, pain_task(tiny_data), batch_size=8, device=torch.device("cpu"))
