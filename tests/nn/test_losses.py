import math

import pytest
import torch

from auforget.nn.losses import FocalLoss, class_balanced_weights


def test_gamma_zero_unit_weights_is_cross_entropy():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 8), torch.randint(0, 8, (16,))
    ours = FocalLoss(gamma=0.0)(logits, target)
    assert torch.allclose(ours, torch.nn.functional.cross_entropy(logits, target), atol=1e-6)
    weights = torch.ones(8)
    assert torch.allclose(FocalLoss(0.0, weights)(logits, target), ours)


def test_hand_worked_focal_value():
    # logits (0, ln 3): p = (0.25, 0.75). Target 1, gamma 2:
    # -(1 - 0.75)^2 ln 0.75 = 0.0625 * 0.287682
    logits = torch.tensor([[0.0, math.log(3.0)]])
    value = FocalLoss(gamma=2.0)(logits, torch.tensor([1]))
    assert value.item() == pytest.approx(0.0625 * -math.log(0.75), rel=1e-6)
    # target 0 with weights (2, 1): -2 * 0.75^2 * ln 0.25
    weighted = FocalLoss(gamma=2.0, weight=torch.tensor([2.0, 1.0]))(logits, torch.tensor([0]))
    assert weighted.item() == pytest.approx(2 * 0.5625 * -math.log(0.25), rel=1e-6)


def test_focal_downweights_easy_examples():
    easy = torch.tensor([[5.0, -5.0]])
    assert (
        FocalLoss(5.0)(easy, torch.tensor([0]))
        < 1e-6 * FocalLoss(0.0)(easy, torch.tensor([0])) + 1e-12
    )


def test_class_balanced_weights_formula_and_normalisation():
    counts, beta = [100, 10, 1], 0.9
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    expected = [w * 3 / sum(raw) for w in raw]
    got = class_balanced_weights(counts, beta).tolist()
    assert got == pytest.approx(expected, rel=1e-6)
    assert sum(got) == pytest.approx(3.0)


def test_class_balanced_weights_paper_beta_is_stable_and_ordered():
    w = class_balanced_weights([134_000, 4_000, 25_000], 0.99998)
    assert torch.isfinite(w).all() and w[1] > w[2] > w[0]
    assert class_balanced_weights([5, 5], 0.0).tolist() == pytest.approx([1.0, 1.0])


@pytest.mark.parametrize("beta", [1.0, -0.1])
def test_bad_beta_is_a_clear_error(beta):
    with pytest.raises(ValueError, match="beta"):
        class_balanced_weights([1, 2], beta)
