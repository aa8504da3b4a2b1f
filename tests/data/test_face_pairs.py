"""Face pairs differ by the AU only: same person, pose and noise."""

from __future__ import annotations

import torch

from auforget.data.face_pairs import drawn_aus, render_pairs, typical_intensity


def test_pairs_differ_only_where_the_au_acts_and_do_not_depend_on_the_other_aus():
    pairs = render_pairs((14, 2), 3, 64, seed=5)
    assert pairs.rest.shape == (3, 3, 64, 64) and pairs.landmarks.shape == (3, 68, 2)
    diff = (pairs.shown[14] - pairs.rest).abs().sum(1)  # (n, 64, 64)
    changed = diff > 0.05
    assert changed.any(axis=(1, 2)).all()
    # AU14 moves the mouth corners: nothing changes in the top third (brows, forehead)
    assert not changed[:, :20].any()
    brows = (pairs.shown[2] - pairs.rest).abs().sum(1) > 0.05
    assert brows[:, :32].any() and not brows[:, 48:].any()
    again = render_pairs((14,), 3, 64, seed=5)
    assert torch.equal(again.rest, pairs.rest) and torch.equal(again.shown[14], pairs.shown[14])
    assert typical_intensity(14) == 3.5 and 14 in drawn_aus() and 43 not in drawn_aus()


def test_pairs_drawn_with_au14_inward_differ_from_the_default_in_au14_faces_only():
    default = render_pairs((14, 20), 2, 64, seed=3)
    inward = render_pairs((14, 20), 2, 64, seed=3, au14_inward=True)
    assert torch.equal(default.rest, inward.rest)
    assert torch.equal(default.shown[20], inward.shown[20])
    assert not torch.equal(default.shown[14], inward.shown[14])
