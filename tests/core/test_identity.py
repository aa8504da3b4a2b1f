"""Run identities cover the code a step imports, and dvc.yaml's deps name the same files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auforget.core import identity

REPO = Path(__file__).resolve().parents[2]
TRAINING = ("emotion", "transfer", "retrain")


@pytest.mark.parametrize("stage", TRAINING)
def test_a_training_step_covers_the_loop_and_not_the_report_or_analysis_only_modules(stage):
    modules = identity.step_modules(identity.stage_module(stage))
    assert "auforget.nn.training" in modules and "auforget.nn.backbones" in modules
    for module in (
        "auforget.stages.report.render",
        "auforget.analysis.stats",
        "auforget.analysis.regions",
        "auforget.analysis.linear_probes",
        "auforget.analysis.planted",
        "auforget.cli",
    ):
        assert module not in modules, module


def test_lazy_and_relative_imports_are_followed():
    # data/synthetic.py imports faces relatively; workflow.recipes imports fitting lazily
    assert "auforget.data.faces" in identity.step_modules("auforget.data.synthetic")
    assert "auforget.nn.features" in identity.step_modules(identity.stage_module("retrain"))


def test_package_data_a_module_reads_counts_as_its_code():
    """data/faces.py reads face_template.json, so the template is a source of every step that
    imports faces (dvc.yaml's synth deps, the identity), listed right after the module."""
    sources = [p.as_posix() for p in identity.step_sources(identity.stage_module("synth"))]
    faces = sources.index("auforget/data/faces.py")
    assert sources[faces + 1] == "auforget/data/face_template.json"
    assert not any(p.suffix == ".json" for p in identity.step_sources("auforget.core.config"))


def test_the_fingerprint_follows_the_step_code_only(tmp_path, monkeypatch):
    """Same parts, same identity; an edit outside the step's modules leaves it, one inside changes
    it."""
    src = tmp_path / "auforget"
    subprocess.run(["cp", "-r", str(Path(identity.__file__).parents[1]), str(src)], check=True)
    monkeypatch.setattr(identity, "PACKAGE_DIR", src)
    identity.step_modules.cache_clear()
    try:
        before = identity.fingerprint("transfer", {"lr": 0.01})
        assert identity.fingerprint("transfer", {"lr": 0.01}) == before
        assert identity.fingerprint("transfer", {"lr": 0.02}) != before
        with (src / "stages/report/render.py").open("a") as f:
            f.write("\n# a report-only edit\n")
        assert identity.fingerprint("transfer", {"lr": 0.01}) == before
        report = identity.fingerprint("report", {})
        with (src / "nn/training.py").open("a") as f:
            f.write("\n# a training-loop edit\n")
        assert identity.fingerprint("transfer", {"lr": 0.01}) != before
        assert identity.fingerprint("report", {}) == report  # the report imports no training loop
    finally:
        identity.step_modules.cache_clear()


def test_an_unknown_stage_is_an_error():
    with pytest.raises(ValueError, match="no module auforget.stages.nope"):
        identity.step_modules(identity.stage_module("nope"))


def test_dvc_yaml_deps_name_the_modules_each_stage_imports():
    """dvc.yaml lists exactly the source files in each stage's identity; `python
    tools/dvc_deps.py` rewrites them after an import changes."""
    result = subprocess.run(
        [sys.executable, "tools/dvc_deps.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
