"""`prepare` with data.kind manifest: splits, concepts, regions and names.json from manifests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auforget.data.study_names import study_names
from auforget.data.task_manifests import ManifestError
from auforget.stages.prepare import run_prepare
from auforget.study import load_params


def _world(root):
    (root / "img").mkdir(parents=True)
    for i in range(60):
        Image.fromarray(np.full((16, 16, 3), i, np.uint8)).save(root / "img" / f"{i}.png")
    paths = [f"img/{i}.png" for i in range(60)]
    pd.DataFrame(
        {"path": paths[:30], "label": [("cat", "dog", "owl")[i % 3] for i in range(30)]}
    ).to_csv(root / "source.csv", index=False)
    pd.DataFrame(
        {
            "path": paths[30:],
            "label": ["calm" if i % 2 else "tense" for i in range(30)],
            "subject": [f"s{i % 10}" for i in range(30)],
        }
    ).to_csv(root / "target.csv", index=False)
    pd.DataFrame({"path": paths[:20], "frown": [i % 2 for i in range(20)]}).to_csv(
        root / "concepts.csv", index=False
    )
    (root / "regions.csv").write_text("region,x0,y0,x1,y1\nupper,0,0,1,0.5\nlower,0,0.5,1,1\n")


def _params(root, **data):
    return load_params(
        {
            "data": {
                "synthetic": False,
                "kind": "manifest",
                "source": str(root / "source.csv"),
                "target": str(root / "target.csv"),
                "concepts": [str(root / "concepts.csv")],
                "regions": str(root / "regions.csv"),
                "target_focus": "tense",
                "splits_dir": str(root / "splits"),
                **data,
            },
            "saliency": {"emotions": ["owl"]},
            "promote": {"emotions": ["owl"]},
        }
    )


def test_prepare_writes_splits_concepts_regions_and_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _world(tmp_path)
    (tmp_path / "img" / "59.png").unlink()  # listed by the target, gone from disk: a counted skip
    params = _params(tmp_path)
    metrics = run_prepare(params, progress=False)
    names = study_names(params)
    assert names.source_classes == ("cat", "dog", "owl")
    assert names.target_classes == ("calm", "tense") and names.target_focus == "tense"
    assert names.concepts == ("frown",)
    assert metrics["target_skipped_missing_image"] == 1 and metrics["target_read"] == 29
    assert metrics["target_test_class_tense"] > 0 and "source_val_class_owl" in metrics
    splits = tmp_path / "splits"
    assert sorted(p.name for p in (splits / "target").glob("*.csv")) == [
        "test.csv",
        "train.csv",
        "val.csv",
    ]
    concept = pd.read_csv(splits / "concepts" / "frown.csv")
    assert concept["label"].tolist() == concept["frown"].tolist()
    assert pd.read_csv(splits / "regions.csv")["region"].tolist() == ["upper", "lower"]
    written = json.loads((tmp_path / "metrics" / "prepare.json").read_text())
    assert written["target_skipped_total"] == 1


def test_a_class_name_the_source_lacks_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _world(tmp_path)
    params = _params(tmp_path).with_overrides("saliency", emotions=("contempt",))
    with pytest.raises(ValueError, match=r"saliency.emotions: 'contempt' is not one of the"):
        run_prepare(params, progress=False)


def test_unknown_target_focus(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _world(tmp_path)
    with pytest.raises(ValueError, match=r"data.target_focus: 'sleepy' is not one of"):
        run_prepare(_params(tmp_path, target_focus="sleepy"), progress=False)


def test_a_class_the_declared_list_lacks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _world(tmp_path)
    with pytest.raises(ManifestError, match=r"target.csv:2: unknown label 'tense'"):
        run_prepare(_params(tmp_path, target_classes=["calm", "sleepy"]), progress=False)
