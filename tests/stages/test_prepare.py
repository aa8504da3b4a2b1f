"""prepare as a DVC stage: split manifests, counted skips, and a real dvc push / pull round trip."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from auforget.stages.prepare import run_prepare
from tests.project import copy_project, run


def test_prepare_writes_splits_metrics_and_counts_skips(tiny_data, tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "raw"
    shutil.copytree(tiny_data.synth.out, raw)
    listing = raw / "affectnet" / "Manually_Annotated_file_lists" / "training.csv"
    lines = listing.read_text().splitlines()
    fields = lines[1].split(",")
    fields[1] = "NULL"  # a NULL face box
    lines[1] = ",".join(fields)
    listing.write_text("\n".join(lines) + "\n")
    rows = (
        (raw / "affectnet" / "Manually_Annotated_file_lists" / "validation.csv")
        .read_text()
        .splitlines()[1:]
    )
    kept = next(
        r.split(",") for r in rows if int(r.split(",")[6]) < 8
    )  # a test image of a kept class
    truncated = raw / "affectnet" / "Manually_Annotated_Images" / kept[0]
    truncated.write_bytes(
        truncated.read_bytes()[: len(truncated.read_bytes()) // 2]
    )  # header intact, data cut
    victim = raw / "unbc" / "Frame_Labels" / "PSPI"
    first = sorted(victim.rglob("*_facs.txt"))[0]
    first.write_text("")  # an empty PSPI label file
    params = dataclasses.replace(
        tiny_data,
        data=dataclasses.replace(
            tiny_data.data,
            affectnet_root=str(raw / "affectnet"),
            unbc_root=str(raw / "unbc"),
            ckplus_root=str(raw / "ckplus"),
            splits_dir=str(tmp_path / "splits"),
        ),
    )
    metrics = run_prepare(params, progress=False)
    assert metrics["affectnet_skipped_null_box"] == 1
    assert metrics["unbc_skipped_empty_label_file"] == 1
    assert metrics["affectnet_skipped_unreadable_image"] == 1
    test = pd.read_csv(tmp_path / "splits" / "affectnet" / "test.csv")
    assert not any(p.endswith(kept[0]) for p in test["path"])
    stored = json.loads((tmp_path / "metrics" / "prepare.json").read_text())
    assert stored["affectnet_skipped_null_box"] == 1
    report = (tmp_path / "metrics" / "prepare_skipped.txt").read_text()
    assert "training.csv:2" in report and first.name in report
    for name, splits in {
        "affectnet": ("train", "val", "test"),
        "unbc": ("train", "val", "test"),
        "ckplus": ("peak", "peak_mouthless"),
    }.items():
        for split in splits:
            assert not pd.read_csv(tmp_path / "splits" / name / f"{split}.csv").empty


def test_dvc_push_pull_round_trip_is_byte_identical(tmp_path):
    project = copy_project(tmp_path / "project")
    run(["dvc", "repro", "prepare"], project)
    splits = sorted((project / "data" / "splits").rglob("*.csv"))
    assert len(splits) == 8
    original = {p.relative_to(project): p.read_bytes() for p in splits}
    lock = (project / "dvc.lock").read_text()
    assert "data/splits" in lock and "metrics/prepare.json" in lock
    shown = run(["dvc", "metrics", "show", "--json"], project).stdout
    assert "unbc_train_n" in shown

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], project)
    run(["dvc", "push"], project)
    shutil.rmtree(project / "data" / "splits")
    shutil.rmtree(project / ".dvc" / "cache")
    run(["dvc", "pull", "data/splits"], project)
    restored = {
        p.relative_to(project): p.read_bytes()
        for p in sorted((project / "data" / "splits").rglob("*.csv"))
    }
    assert restored == original
