"""Registered names per backbone: VGG16's exactly as before, the others with a suffix."""

from auforget.tracking import registry


def test_vgg16_names_are_unchanged_and_others_carry_the_backbone():
    assert registry.model_name(registry.PAIN_MODEL) == "auforget-pain"
    assert registry.model_name(registry.EMOTION_MODEL, "vgg16") == "auforget-emotion"
    assert registry.model_name(registry.PAIN_MODEL, "resnet50") == "auforget-pain-resnet50"
    assert registry.model_name(registry.RETRAIN_MODEL, "vit_b_16") == "auforget-retrain-vit_b_16"
    assert registry.freeze_alias(13) == "freezeb13" and registry.CHAMPION_ALIAS == "champion"
