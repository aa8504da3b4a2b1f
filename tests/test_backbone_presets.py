"""The backbone presets (examples/backbones/*.yaml) cannot drift from the demo: each is params.yaml
but for the backbone and the places its study writes (metrics files, plots, report), so the
studies they run share the demo's data, splits and MLflow store and `auforget compare` sets
like beside like. And the default study writes where dvc.yaml's metrics entries say."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from auforget.core.config import load_params

from .project import REPO

PRESETS = ("resnet50", "vit_b_16")


def _leaves(body: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in body.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("backbone", PRESETS)
def test_a_backbone_preset_is_params_yaml_but_for_its_backbone_and_output_folders(backbone):
    path = REPO / "examples" / "backbones" / f"{backbone}.yaml"
    demo = _leaves(yaml.safe_load((REPO / "params.yaml").read_text()))
    preset = _leaves(yaml.safe_load(path.read_text()))
    differing = {k for k in demo.keys() | preset.keys() if demo.get(k, None) != preset.get(k, None)}
    assert differing == {"model.backbone", "study.metrics_dir", "study.plots_dir", "report.out"}
    expected = load_params(REPO / "params.yaml")
    expected = dataclasses.replace(
        expected,
        model=dataclasses.replace(expected.model, backbone=backbone),
        study=dataclasses.replace(
            expected.study, metrics_dir=f"metrics/{backbone}", plots_dir=f"plots/{backbone}"
        ),
        report=dataclasses.replace(expected.report, out=f"reports/{backbone}"),
    )
    assert load_params(path) == expected
    # the header names the command that runs it, exactly as a user types it
    assert f"auforget --params examples/backbones/{backbone}.yaml main" in path.read_text()


def test_the_default_study_writes_where_dvc_yaml_names_its_metrics_and_plots():
    study = load_params(REPO / "params.yaml").study
    assert (study.metrics_dir, study.plots_dir) == ("metrics", "plots")
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    for kind, folder in (("metrics", study.metrics_dir), ("plots", study.plots_dir)):
        named = [
            next(iter(entry)) if isinstance(entry, dict) else entry
            for stage in dvc["stages"].values()
            for entry in (stage.get("do", stage).get(kind) or [])
        ]
        assert named and all(name.startswith(f"{folder}/") for name in named), kind


def test_every_study_in_the_project_has_its_own_metrics_and_report_folders():
    files = [
        REPO / "params.yaml",
        *sorted((REPO / "examples").glob("*/*.yaml")),
    ]
    loaded = {p.relative_to(REPO).as_posix(): load_params(p) for p in files}
    # the fatigue example's micro variant is the same study at another scale: same folders
    studies = {k: v for k, v in loaded.items() if not k.endswith("params-micro.yaml")}
    metrics = [p.study.metrics_dir for p in studies.values()]
    plots = [p.study.plots_dir for p in studies.values()]
    reports = [p.report.out for p in studies.values()]
    assert len(set(metrics)) == len(metrics), metrics
    assert len(set(plots)) == len(plots), plots
    assert len(set(reports)) == len(reports), reports
