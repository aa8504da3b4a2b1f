"""model.backbone, study.freeze_levels and compare: checked against the backbone's stage count
when params.yaml is read, with the valid choices named."""

import pytest

from auforget.core.config import Params, load_params


def _params(tmp_path, text: str) -> Params:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return load_params(path)


def test_vgg16_is_the_default_with_its_six_levels():
    params = Params()
    assert params.model.backbone == "vgg16"
    assert params.n_stages == 5 and params.freeze_levels == (0, 1, 2, 3, 4, 5)


def test_paper_vit_has_fourteen_levels_and_a_subset_can_be_picked(tmp_path):
    params = _params(tmp_path, "model: {backbone: vit_b_16, profile: paper, from_scratch: true}\n")
    assert params.n_stages == 13 and params.freeze_levels == tuple(range(14))
    params = _params(
        tmp_path,
        "model: {backbone: vit_b_16, profile: paper, from_scratch: true}\n"
        "study: {freeze_levels: [13, 0, 3, 6, 9, 12]}\n"
        "transfer: {freeze: 12}\n",
    )
    assert params.freeze_levels == (0, 3, 6, 9, 12, 13)
    assert params.transfer.freeze == 12


@pytest.mark.parametrize(
    "body, message",
    [
        ("model: {backbone: resnet18}\n", r"model.backbone.*resnet18.*vgg16"),
        ("study: {freeze_levels: [0, 6]}\n", r"study.freeze_levels: \[6\] exceed the 5 stages"),
        ("study: {freeze_levels: [0, 2]}\n", r"lacks 5"),
        ("study: {freeze_levels: [0, 0, 5]}\n", r"distinct"),
        ("study: {freeze_levels: [0, 5]}\nsaliency: {k: 2}\n", r"saliency.k: 2 is not among"),
        ("model: {backbone: resnet50}\ntransfer: {freeze: 6}\n", r"transfer.freeze: 6 .* 0..5"),
        ("compare: {backbones: [vgg16, alexnet]}\n", r"compare.backbones.*valid backbones"),
    ],
)
def test_bad_values_are_one_clear_error(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        _params(tmp_path, body)


def test_a_vit_freeze_level_beyond_vgg16_is_fine_only_for_the_paper_vit(tmp_path):
    vit = "model: {backbone: vit_b_16, profile: paper, from_scratch: true}\n"
    assert _params(tmp_path, vit + "transfer: {freeze: 9}\n").transfer.freeze == 9
    with pytest.raises(ValueError, match=r"transfer.freeze: 9 .* 0..5"):
        _params(tmp_path, "transfer: {freeze: 9}\n")
