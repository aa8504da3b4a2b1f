"""The whole study on ResNet-50's and ViT-B/16's small profiles, through the `auforget`
executable at the micro scale: every step runs, the registry gets the backbone's own names
(`auforget-pain-resnet50@champion`), tagged with the backbone, and VGG16's names stay untouched."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from tests.project import MICRO_PARAMS, copy_project, run


# About 5 (ResNet) and 7 (ViT) minutes each on a shared 2-core AMD EPYC (2026-12-06): slow.
@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["resnet50", "vit_b_16"])
def test_main_runs_the_study_on_another_backbone(backbone, tmp_path):
    params = {**MICRO_PARAMS, "study": {"freeze_levels": []}, "model": {"backbone": backbone}}
    project = copy_project(tmp_path / "project", params)
    run(["auforget", "--quiet", "main"], project, timeout=900)
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    names = {m.name for m in client.search_registered_models()}
    assert names == {f"auforget-{m}-{backbone}" for m in ("emotion", "pain", "retrain")}
    champion = client.get_model_version_by_alias(f"auforget-pain-{backbone}", "champion")
    assert champion.tags["backbone"] == backbone
    assert champion.tags["freeze_blocks"] in {str(k) for k in range(6)}
    for k in range(6):  # the small profiles have five stages: FreezeB0 .. FreezeB5
        retrain = client.get_model_version_by_alias(f"auforget-retrain-{backbone}", f"freezeb{k}")
        assert retrain.tags == {**retrain.tags, "backbone": backbone, "freeze_blocks": str(k)}
    saliency = client.search_runs(
        [client.get_experiment_by_name("auforget").experiment_id],
        "attributes.run_name LIKE 'saliency-b%'",
    )[0]
    ig = saliency.data.metrics["saliency_integrated_gradients"]
    assert ig == (1.0 if backbone == "vit_b_16" else 0.0)
    assert ("Integrated Gradients" in saliency.data.tags["auforget.attribution"]) == bool(ig)
    assert (project / "reports" / "report.html").is_file()
    # the comparison page through the executable: this backbone alone, the others named missing
    run(["auforget", "--quiet", "compare"], project)
    page = (project / "reports" / "compare.html").read_text()
    assert f"Champion across backbones: {backbone} B" in page
    assert "without a registered study: vgg16" in page
    across = client.get_model_version_by_alias(
        f"auforget-pain-{backbone}", "champion-across-backbones"
    )
    assert str(across.version) == str(champion.version)  # one backbone: the same rule, same pick
