"""The emotions -> fatigue world: its target's planted cues and its manifests."""

from __future__ import annotations

import numpy as np

from auforget.data.synthetic_manifests import (
    FATIGUE_CLASSES,
    FATIGUE_PLANTED,
    fatigue_aus,
    write_fatigue_target,
)
from auforget.data.task_manifests import read_task_manifest


def test_fatigued_faces_close_their_eyes_and_the_smirk_ignores_the_class():
    rng = np.random.default_rng(0)
    fatigued = [fatigue_aus(True, False, rng) for _ in range(300)]
    alert = [fatigue_aus(False, False, rng) for _ in range(300)]
    assert all(aus.get(43, 0) >= 0.5 for aus in fatigued)
    assert not any(43 in aus for aus in alert)
    assert np.mean([26 in aus and aus[26] >= 3 for aus in fatigued]) > 0.5  # yawns
    assert not any(aus.get(26, 0) > 1 for aus in alert)
    assert all(14 in fatigue_aus(c, True, rng) for c in (True, False))
    assert not any(14 in aus for aus in fatigued + alert)
    assert "contempt" in FATIGUE_PLANTED["forgotten"]


def test_target_manifest_reads_with_subjects_and_both_classes(tmp_path):
    frame = write_fatigue_target(tmp_path, subjects=2, frames=4, seed=0, progress=False, workers=1)
    frame.drop(columns="aus").to_csv(tmp_path / "target.csv", index=False)
    read = read_task_manifest(tmp_path / "target.csv", "target", FATIGUE_CLASSES)
    manifest = read.result.manifest
    assert len(manifest) == 8 and read.result.skipped.total == 0
    assert sorted(manifest.groupby("subject")["label"].sum()) == [2, 2]  # half fatigued each
    again = write_fatigue_target(
        tmp_path / "again", subjects=2, frames=4, seed=0, progress=False, workers=1
    )
    assert again["aus"].tolist() == frame["aus"].tolist()
    first = frame["path"].iloc[0]
    assert (tmp_path / first).read_bytes() == (tmp_path / "again" / first).read_bytes()
