"""Task, concept and regions manifests: reading, the one-line errors, counted skips, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auforget.core.config import PrepareConfig
from auforget.data.splits import split_task
from auforget.data.task_manifests import (
    ManifestError,
    read_concept_manifest,
    read_regions_manifest,
    read_task_manifest,
)


def _images(root: Path, n: int) -> list[str]:
    (root / "img").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        rel = f"img/{i:03d}.png"
        Image.fromarray(np.full((12, 10, 3), i % 255, np.uint8)).save(root / rel)
        paths.append(rel)
    return paths


def _task(tmp_path: Path, n: int = 40, subjects: int = 10, **extra) -> Path:
    paths = _images(tmp_path, n)
    frame = pd.DataFrame(
        {
            "path": paths,
            "label": ["alert" if i % 2 else "fatigued" for i in range(n)],
            "subject": [f"s{i % subjects}" for i in range(n)],
            **extra,
        }
    )
    frame.to_csv(tmp_path / "target.csv", index=False)
    return tmp_path / "target.csv"


def test_reads_labels_as_class_indices_in_the_given_order(tmp_path):
    read = read_task_manifest(_task(tmp_path), "target", ("alert", "fatigued"))
    frame = read.result.manifest
    assert read.classes == ("alert", "fatigued")
    assert len(frame) == 40 and read.result.skipped.total == 0
    assert set(frame["label"]) == {0, 1}
    row = frame[frame["path"] == "img/001.png"].iloc[0]
    assert row["label"] == 0 and (row["w"], row["h"]) == (10, 12)  # whole image without a box
    assert read.root == tmp_path


def test_classes_default_to_sorted_labels(tmp_path):
    assert read_task_manifest(_task(tmp_path), "target").classes == ("alert", "fatigued")


def test_missing_manifest_is_one_line(tmp_path):
    with pytest.raises(ManifestError, match=r"target manifest .*nope.csv does not exist"):
        read_task_manifest(tmp_path / "nope.csv", "target")


def test_unknown_label_names_the_line_and_the_classes(tmp_path):
    path = _task(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[5, "label"] = "sleepy"
    frame.to_csv(path, index=False)
    with pytest.raises(ManifestError) as err:
        read_task_manifest(path, "target", ("alert", "fatigued"))
    message = str(err.value)
    assert "target.csv:7: unknown label 'sleepy'" in message and "'fatigued'" in message
    assert "\n" not in message


def test_duplicate_path_names_both_lines(tmp_path):
    path = _task(tmp_path)
    frame = pd.read_csv(path)
    frame.loc[9, "path"] = frame.loc[2, "path"]
    frame.to_csv(path, index=False)
    with pytest.raises(ManifestError, match=r"duplicate path 'img/002.png' on lines 4, 11"):
        read_task_manifest(path, "target")


def test_missing_column_is_named(tmp_path):
    pd.DataFrame({"path": ["a.png"]}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ManifestError, match=r"lacks column\(s\) \['label'\]"):
        read_task_manifest(tmp_path / "m.csv", "source")


def test_missing_and_unreadable_images_are_counted_skips(tmp_path):
    path = _task(tmp_path)
    (tmp_path / "img" / "003.png").unlink()
    (tmp_path / "img" / "004.png").write_bytes(b"not an image")
    read = read_task_manifest(path, "target")
    assert len(read.result.manifest) == 38
    assert read.result.skipped.counts == {"missing_image": 1, "unreadable_image": 1}
    assert "img/003.png" in read.result.skipped.examples["missing_image"][0]


def test_image_folder_tree(tmp_path):
    for cls in ("b", "a"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "x.png")
    (tmp_path / "a" / ".DS_Store").write_text("")
    read = read_task_manifest(tmp_path, "source")
    assert read.classes == ("a", "b") and sorted(read.result.manifest["path"]) == [
        "a/x.png",
        "b/x.png",
    ]


def test_split_is_subject_disjoint_stratified_and_seeded(tmp_path):
    read = read_task_manifest(_task(tmp_path), "target")
    cfg = PrepareConfig(manifest_test_fraction=0.2, manifest_val_fraction=0.2)
    splits = split_task(read.result.manifest, read.classes, cfg, "target")
    subjects = {name: set(frame["subject"]) for name, frame in splits.items()}
    assert not subjects["train"] & subjects["test"] and not subjects["train"] & subjects["val"]
    assert not subjects["val"] & subjects["test"]
    assert sum(len(f) for f in splits.values()) == 40
    for frame in splits.values():
        assert set(frame["label"]) == {0, 1}
    again = split_task(read.result.manifest.sample(frac=1, random_state=3), read.classes, cfg, "t")
    assert all(again[s]["path"].tolist() == splits[s]["path"].tolist() for s in splits)
    other = split_task(
        read.result.manifest, read.classes, PrepareConfig(seed=1, **_fractions(cfg)), "t"
    )
    assert other["test"]["path"].tolist() != splits["test"]["path"].tolist()


def _fractions(cfg: PrepareConfig) -> dict:
    return {
        "manifest_test_fraction": cfg.manifest_test_fraction,
        "manifest_val_fraction": cfg.manifest_val_fraction,
    }


def test_split_that_empties_a_class_is_one_line(tmp_path):
    split = ["train"] * 40
    split[0], split[1] = "val", "test"  # val has only a 'fatigued' image, test only an 'alert'
    read = read_task_manifest(_task(tmp_path, split=split), "target")
    with pytest.raises(ManifestError, match=r"the val split has no image of class 'alert'"):
        split_task(read.result.manifest, read.classes, PrepareConfig(), "target")


def test_bad_split_value(tmp_path):
    with pytest.raises(ManifestError, match=r"target.csv:2: split 'dev' is not one of"):
        read_task_manifest(_task(tmp_path, split=["dev"] * 40), "target")


def test_concept_manifest_columns_are_concepts(tmp_path):
    paths = _images(tmp_path, 4)
    pd.DataFrame({"path": paths, "jaw_drop": [0, 1, 1, 0], "dimpler": [1, 0, 0, 0]}).to_csv(
        tmp_path / "c.csv", index=False
    )
    read, concepts = read_concept_manifest(tmp_path / "c.csv")
    assert concepts == ("jaw_drop", "dimpler")
    assert read.result.manifest["jaw_drop"].tolist() == [0, 1, 1, 0]


def test_concept_value_not_0_or_1(tmp_path):
    paths = _images(tmp_path, 2)
    pd.DataFrame({"path": paths, "jaw_drop": [0, 2]}).to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ManifestError, match=r"c.csv:3: concept 'jaw_drop' is '2'"):
        read_concept_manifest(tmp_path / "c.csv")


def test_regions_manifest_landmarks_and_boxes(tmp_path):
    (tmp_path / "r.csv").write_text(
        "region,landmarks,x0,y0,x1,y1,grow,concepts\n"
        "eyes,36;37;38;39;40;41,,,,,1.5,lid droop\n"
        "lower_face,,0.1,0.6,0.9,1.0,,jaw drop\n"
    )
    table = read_regions_manifest(tmp_path / "r.csv")
    assert table["kind"].tolist() == ["landmarks", "box"]
    assert table.loc[0, "grow"] == 1.5 and table.loc[1, "grow"] == 1.0
    (tmp_path / "bad.csv").write_text("region,x0,y0,x1,y1\nmouth,0.5,0.6,0.4,1.0\n")
    with pytest.raises(ManifestError, match=r"bad.csv:2: region 'mouth': a box needs"):
        read_regions_manifest(tmp_path / "bad.csv")
