"""The lesion folded into a convolution is exact, and the sensitivity it is judged by."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from auforget.analysis import erasure
from auforget.nn import lesion
from auforget.nn.backbones import build_vgg16


@pytest.mark.parametrize("block", [0, 2, 3])
def test_the_folded_projection_equals_the_projection_applied_to_the_block_output(block):
    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    C = model.profile.widths[block]
    U, _ = np.linalg.qr(np.random.default_rng(block).standard_normal((C, 3)))
    P = erasure.projector(U)
    lesioned = lesion.fold_projection(model, block, P)
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        a = lesion.block_output(model, x, block)
        a = torch.einsum("cd,ndhw->nchw", torch.as_tensor(P, dtype=a.dtype), a)
        for b in model.blocks[block + 1 :]:
            a = b(a)
        expected = model.head(a)
        got = lesioned(x)
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-4)
    # the original is untouched, and only one weight tensor changed
    changed = [
        n
        for (n, p), (_, q) in zip(model.state_dict().items(), lesioned.state_dict().items())
        if not torch.equal(p, q)
    ]
    assert changed == [f"blocks.{block + 1}.0.weight"]


def test_the_region_eraser_projects_inside_its_mask_and_leaves_every_other_cell():
    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    block = 2
    C = model.profile.widths[block]
    U, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((C, 3)))
    x = torch.randn(4, 3, 64, 64)
    grid = lesion.block_output(model, x, block).shape[-1]
    mask = np.zeros((grid, grid), dtype=np.float32)
    mask[grid // 2 :, 1:3] = 1
    lesioned = lesion.insert_region_eraser(model, block, U, mask)
    before = lesion.block_output(model, x, block)
    after = lesion.block_output(lesioned, x, block)
    inside = torch.from_numpy(mask > 0)
    Ut = torch.as_tensor(U, dtype=after.dtype)
    # inside the mask nothing is left along U, and what is orthogonal to U is kept
    assert torch.einsum("nchw,cr->nrhw", after, Ut)[:, :, inside].abs().max() < 1e-5
    P = torch.as_tensor(erasure.projector(U), dtype=after.dtype)
    expected = torch.einsum("cd,ndhw->nchw", P, before)
    assert torch.allclose(after[:, :, inside], expected[:, :, inside], atol=1e-5)
    assert torch.equal(after[:, :, ~inside], before[:, :, ~inside])  # the identity elsewhere
    # an all-ones mask is the channel eraser, which folds into the next convolution
    everywhere = lesion.insert_region_eraser(model, block, U, np.ones((grid, grid)))
    folded = lesion.fold_projection(model, block, erasure.projector(U))
    with torch.no_grad():
        assert torch.allclose(everywhere(x), folded(x), atol=1e-5, rtol=1e-4)
    assert not any(p is q for p, q in zip(model.parameters(), lesioned.parameters()))


def test_a_block_without_a_next_convolution_is_refused():
    model = build_vgg16("small", 8)
    with pytest.raises(ValueError, match="0..3"):
        lesion.fold_projection(model, 4, np.eye(64))


def test_regions_are_carried_to_the_feature_grid_and_shared_aus_named():
    from auforget.analysis.regions import template_face

    lm = template_face()[None] * 64
    masks = lesion.region_grid(lm, 64, 8, "mouth_corners")
    assert masks.shape == (1, 8, 8) and masks.any()
    rows = np.nonzero(masks[0])[0]
    assert rows.min() >= 4  # the mouth corners lie in the lower half of the face
    assert lesion.sharing_aus(14) == (12, 15) and lesion.sharing_aus(26) == (25,)
    assert lesion.region_of(26) == "mouth_jaw"


def test_an_au_without_a_region_is_read_over_every_cell_and_drawn_protects_every_other_au():
    from types import SimpleNamespace

    from auforget.data.face_pairs import drawn_aus, render_pairs
    from auforget.stages.controls import protected_aus

    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    pairs = render_pairs((14, 20), 2, 64, seed=0)
    grid = lesion.block_output(model, pairs.rest[:1], 2).shape[-1]
    assert not lesion.has_region(20) and lesion.has_region(14)
    every = lesion.region_differences(model, pairs, 20, 2)
    assert every.shape == (2 * grid * grid, model.profile.widths[2])
    assert len(lesion.region_differences(model, pairs, 14, 2)) < len(every)
    assert protected_aus(SimpleNamespace(au=14, protect="region")) == (12, 15)
    drawn = protected_aus(SimpleNamespace(au=14, protect="drawn"))
    assert set(drawn) == set(drawn_aus()) - {14} and 20 in drawn


def test_unlearning_makes_the_au_look_like_rest_keeps_the_others_and_touches_only_its_blocks():
    """The unlearned lesion by construction, on the people it is fitted on: the AU's faces give
    what the same faces at rest give, another AU's effect stays, only blocks[block:] move, and
    the model it came from is left as it was; its sham is matched at the last block's output."""
    from auforget.data.face_pairs import render_pairs

    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    pairs = render_pairs((14, 26, 1), 6, 64, seed=0)
    lesioned = lesion.unlearn(model, pairs, 14, 4, steps=300, lr=0.001)
    before = lesion.sensitivity(model, pairs, (14, 26, 1))
    after = lesion.sensitivity(lesioned, pairs, (14, 26, 1))
    cut = 1 - after[14] / before[14]
    # an untrained network shares much between AUs, so the bar is relative: the AU loses a third
    # of its effect or more, each kept AU less than half of what the AU loses
    assert cut >= 0.3, (before, after)
    for au in (26, 1):
        assert abs(after[au] / before[au] - 1) < cut / 2, (au, before, after)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in original.items())
    changed = {
        k.split(".")[1]
        for k, v in lesioned.state_dict().items()
        if k.startswith("blocks.") and not torch.equal(v, original[k])
    }
    assert changed == {"4"}
    assert all(
        torch.equal(lesioned.head.state_dict()[k], v) for k, v in model.head.state_dict().items()
    )
    # nothing is drawn at random: the same inputs make the same lesion
    again = lesion.unlearn(model, pairs, 14, 4, steps=300, lr=0.001)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in lesioned.state_dict().items())
    with pytest.raises(ValueError, match="show no AU5"):
        lesion.unlearn(model, pairs, 5, 4, steps=1, lr=0.001)


def test_kept_constraints_hold_the_worst_kept_au_closer_than_fixed_weights():
    """With each kept kind's weight a multiplier of its tolerance, the kept AU the fit gives up
    most under fixed weights (on the faces it is fitted on, where nothing else blurs it) moves
    less; a negative tolerance is refused."""
    from auforget.data.face_pairs import render_pairs

    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    aus = (14, 12, 26, 1)
    pairs = render_pairs(aus, 6, 64, seed=0)
    before = lesion.sensitivity(model, pairs, aus)

    def worst_kept(**kw) -> float:
        lesioned = lesion.unlearn(model, pairs, 14, 4, steps=150, lr=0.003, erase_weight=1.0, **kw)
        after = lesion.sensitivity(lesioned, pairs, aus)
        return max(abs(after[a] / before[a] - 1) for a in aus if a != 14)

    fixed, constrained = worst_kept(), worst_kept(keep_tolerance=0.02)
    assert constrained < fixed, (fixed, constrained)
    with pytest.raises(ValueError, match="keep_tolerance"):
        lesion.unlearn(model, pairs, 14, 4, steps=1, lr=0.001, keep_tolerance=-0.1)


def test_the_unlearned_lesions_sham_removes_its_changed_variance_at_the_last_block():
    from auforget.core.config import Params
    from auforget.data.face_pairs import drawn_aus, render_pairs
    from auforget.stages import controls

    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    params = Params().with_overrides(
        "controls", lesion="unlearn", block=4, steps=60, lr=0.003, n_pairs=3
    )
    fit = render_pairs(drawn_aus(), 3, 64, seed=0)
    setup = controls.Setup(params, model, None, None, {}, {}, fit, fit, torch.device("cpu"))
    directions, lesioned = controls.au_lesion(setup)
    cov = controls.activation_covariance(setup)
    assert cov.shape == (64, 64)  # the last block's channels
    assert directions.variance > 0 and directions.raw_energy > 0
    Q, sham = controls.sham_lesion(setup, directions, cov, 0)
    assert Q.shape[1] == directions.rank
    assert abs(erasure.removed_variance(Q, cov) / directions.variance - 1) <= 0.1
    assert isinstance(sham.blocks[4][-1], lesion.RegionEraser)
    with pytest.raises(ValueError, match="no rank"):
        controls.au_lesion(setup, rank=2)


def test_the_flat_eraser_removes_the_aus_whole_map_directions_and_its_sham_the_same_variance(
    monkeypatch,
):
    """The flat eraser's U lives in the flattened map (C * s * s): the lesioned copy's last block
    has nothing left along U for the fit faces, keeps what is orthogonal to it, and its sham is a
    FlatEraser removing the same variance."""
    from auforget.core.config import Params
    from auforget.data.face_pairs import drawn_aus, render_pairs
    from auforget.stages import controls

    torch.manual_seed(0)
    model = build_vgg16("small", 8).eval()
    params = Params().with_overrides(
        "controls", lesion="projection", block=4, eraser="flat", protect="drawn", n_pairs=4
    )
    fit = render_pairs(drawn_aus(), 4, 64, seed=0)
    setup = controls.Setup(params, model, None, None, {}, {}, fit, fit, torch.device("cpu"))
    directions, lesioned = controls.au_lesion(setup)
    before = lesion.last_block(model, fit.shown[14])
    D = before[0].numel()
    assert directions.U.shape[0] == D and directions.rank >= 1
    assert np.abs(directions.U.T @ directions.shared).max() < 1e-8  # kept directions untouched
    after = lesion.last_block(lesioned, fit.shown[14])
    U = torch.as_tensor(directions.U, dtype=after.dtype)
    assert (after.flatten(1) @ U).abs().max() < 1e-4
    P = torch.as_tensor(erasure.projector(directions.U), dtype=after.dtype)
    assert torch.allclose(after.flatten(1), before.flatten(1) @ P, atol=1e-4)
    # the AU's own difference energy along U is gone: its sensitivity falls on the fit pairs
    cut = 1 - lesion.sensitivity(lesioned, fit, [14])[14] / lesion.sensitivity(model, fit, [14])[14]
    assert cut > 0.3, cut
    cov = controls.activation_covariance(setup)
    assert cov.shape == (D, D)
    Q, sham = controls.sham_lesion(setup, directions, cov, 0)
    assert isinstance(sham.blocks[4][-1], lesion.FlatEraser)
    target = erasure.removed_variance(directions.U, cov)
    assert abs(erasure.removed_variance(Q, cov) / target - 1) <= 0.1
    # a map too large for its D x D covariance is refused in one line, before anything is built
    small = replace(setup, params=params.with_overrides("controls", block=0))
    monkeypatch.setattr(controls, "FLAT_MAX", 1000)
    with pytest.raises(ValueError, match="block 0's map has 8,192 values, more than the 1,000"):
        controls.au_lesion(small)
