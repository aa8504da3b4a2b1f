"""auforget.study: parameters from a file, a mapping or Params, and its clear errors. That it
returns what the command's metrics files hold is tests/test_examples.py's (slow) check."""

from __future__ import annotations

import pytest

import auforget.study as study
from auforget.core.config import Params


def test_params_from_a_file_a_mapping_and_overrides(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("synth:\n  scale: tiny\nprobes:\n  seeds: 7\n")
    from_file = study.load_params(path, probes={"seeds": 9})
    assert from_file.synth.scale == "tiny" and from_file.probes.seeds == 9
    mapping = study.load_params({"synth": {"scale": "micro"}, "study": {"seeds": [0, 1]}})
    assert mapping.synth.scale == "micro" and mapping.study.seeds == (0, 1)
    assert study.load_params(Params(), model={"profile": "small"}).model.profile == "small"


def test_bad_values_are_the_loaders_errors(tmp_path):
    with pytest.raises(ValueError, match=r"synth.scale: 'huge' is not one of"):
        study.load_params({"synth": {"scale": "huge"}})
    with pytest.raises(ValueError, match=r"unknown section 'nope'"):
        study.load_params(None, nope={"a": 1})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        study.load_params(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=r"unknown step 'train'; valid steps are"):
        study.run_step("train", None)


def test_manifest_kind_needs_its_manifests_and_checks_names_later():
    with pytest.raises(ValueError, match="data.source or data.target is empty"):
        study.load_params({"data": {"kind": "manifest"}})
    params = study.load_params(
        {
            "data": {"kind": "manifest", "source": "s.csv", "target": "t.csv"},
            "saliency": {"emotions": ["sleepy"]},
        }
    )  # the source classes are the manifest's: checked by prepare and saliency, not here
    assert params.saliency.emotions == ("sleepy",)
    with pytest.raises(ValueError, match=r"saliency.emotions: 'sleepy' is not one of"):
        study.load_params({"saliency": {"emotions": ["sleepy"]}})


def test_read_metrics_reads_the_files_by_name(tmp_path):
    (tmp_path / "forgetting.json").write_text('{"recall_a_b0": 0.5}')
    assert study.read_metrics(tmp_path) == {"forgetting": {"recall_a_b0": 0.5}}


def test_read_metrics_of_a_study_reads_its_metrics_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "forgetting.json").write_text('{"recall_a_b0": 0.5}')
    (tmp_path / "metrics" / "resnet50").mkdir()
    (tmp_path / "metrics" / "resnet50" / "forgetting.json").write_text('{"recall_a_b0": 0.25}')
    params = study.load_params(None, study={"metrics_dir": "metrics/resnet50"})
    assert study.read_metrics(params) == {"forgetting": {"recall_a_b0": 0.25}}
    assert study.read_metrics(study.load_params(None)) == {"forgetting": {"recall_a_b0": 0.5}}
