"""The synthetic world as manifests for another pair: emotions -> fatigue (examples/fatigue/).

The paper's pair is emotions -> pain. This world keeps the source task (synthetic AffectNet's
eight emotions) and swaps the target for one the study has never seen: "fatigue", alert vs
fatigued faces drawn by faces.py, whose cues are action units pain does not use the same way:

    fatigued   eyes closing (AU43 lid droop, half or fully shut) and, in most frames, a yawn
               (AU26 jaw drop with AU25 lips part)
    alert      open or widened eyes (AU5 upper lid raiser in some frames), talking (AU25, a
               little AU26) or smiling (AU12)
    nuisance   a one-sided smirk (AU14, contempt's only AU) in a share of every subject's frames,
               drawn independently of the class: no information about fatigue

Its planted answer (FATIGUE_PLANTED): fine-tuning for fatigue has no use for AU14, so contempt
is the emotion expected to be forgotten (lower recall after retraining on FreezeB0 than on
FreezeB5) and the dimpler (AU14) concept expected to be encoded less; it needs AU5 and AU26,
surprise's lid raise and jaw drop, so surprise is not expected to be forgotten for them, and the
jaw_drop concept is expected to stay encoded. `FATIGUE_PLANTED` is where the instrument controls
(lesion and sham) would read it; they run on native synthetic studies only so far. Only the
manifests and the answer are written here.

Everything is written under one folder as plain manifests (docs/manifests.md): source.csv,
target.csv, concepts.csv (CK+ peak frames with jaw_drop and dimpler columns) and regions.csv
(landmark groups of the 68 iBUG points). Seeded like synthetic.py: each image from its own
generator, byte-identical for any number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .faces import Pose, random_identity, render_face
from .manifest import (
    box_from_landmarks,
    format_landmarks,
    image_size,
    parse_aus,
    parse_landmarks,
)
from .synthetic import AFFECTNET_NAMES, _run, _save, write_affectnet, write_ckplus

FATIGUE_CLASSES = ("alert", "fatigued")
FATIGUE_CONCEPTS = {"jaw_drop": 26, "dimpler": 14}  # concept column -> the CK+ AU it marks
FATIGUE_NUISANCE_AUS = (14,)
SMIRK_SHARE = (0.3, 0.7)  # share of a subject's frames with the smirk, drawn per subject
# The planted answer, for the instrument controls and the example's README.
FATIGUE_PLANTED = {
    "forgotten": ("contempt",),
    "not_forgotten": ("surprise",),
    "concepts_kept": ("jaw_drop",),
    "concepts_lost": ("dimpler",),
}
WORLDS = ("paper", "fatigue")


def planted_answer(world: str) -> dict[str, tuple[str, ...]] | None:
    """The hook for the instrument controls (lesion and sham): what a manifest world planted, by
    synth.world; None for the paper's world, whose truth is analysis/planted.py's."""
    return {"fatigue": FATIGUE_PLANTED}.get(world)


_TAG = 7  # this world's generator stream (synthetic.py uses 1-3)

# AffectNet: at least 10 images per class, so each split can hold every class (20 % test, 10 %
# val, drawn stratified); the target's subjects and frames; CK+ as synthetic.SCALES names it.
FATIGUE_SCALES = {
    "micro": {
        "affectnet": {"n_train_per_class": 10, "n_val_per_class": 3},
        "fatigue": {"subjects": 8, "frames": 8},
        "ckplus": {"n_subjects": 6, "sequences_per_subject": 4, "frames_per_sequence": 3},
    },
    "tiny": {
        "affectnet": {"n_train_per_class": 14, "n_val_per_class": 5},
        "fatigue": {"subjects": 10, "frames": 16},
        "ckplus": {"n_subjects": 10, "sequences_per_subject": 4, "frames_per_sequence": 4},
    },
    "demo": {
        "affectnet": {"n_train_per_class": 300, "n_val_per_class": 200},
        "fatigue": {"subjects": 25, "frames": 48},
        "ckplus": {"n_subjects": 40, "sequences_per_subject": 6, "frames_per_sequence": 8},
    },
    "large": {
        "affectnet": {"n_train_per_class": 3750, "n_val_per_class": 120},
        "fatigue": {"subjects": 25, "frames": 48},
        "ckplus": {"n_subjects": 40, "sequences_per_subject": 6, "frames_per_sequence": 8},
    },
}
_SIZES = ((128, 112), (144, 120), (136, 128))

# Landmark groups (iBUG 68 points) and what each region shows in this world.
REGIONS = (
    ("brows", "17;18;19;20;21;22;23;24;25;26", 1.3, "brow raise (AU1, AU2)"),
    ("eyes", "36;37;38;39;40;41;42;43;44;45;46;47", 1.6, "lid droop (AU43), lid raise (AU5)"),
    ("nose", "27;28;29;30;31;32;33;34;35", 1.2, ""),
    ("mouth_corners", "48;49;59;54;53;55", 1.5, "smirk, dimpler (AU14)"),
    ("mouth_jaw", "60;61;62;63;64;65;66;67;57;7;8;9", 1.1, "yawn, jaw drop (AU26)"),
)


@dataclass(frozen=True)
class _FatigueJob:
    out: str
    rel: str
    identity: object
    aus: tuple[tuple[int, float], ...]
    size: tuple[int, int]
    pose: Pose
    entropy: tuple[int, ...]


def _fatigue_frame(job: _FatigueJob) -> dict:
    img, lm = render_face(
        job.identity, dict(job.aus), job.size, np.random.default_rng(list(job.entropy)), job.pose
    )
    _save(img, Path(job.out) / job.rel)
    x, y, w, h = box_from_landmarks(lm, *job.size)
    return {"path": job.rel, "x": x, "y": y, "w": w, "h": h, "landmarks": format_landmarks(lm)}


def fatigue_aus(fatigued: bool, smirk: bool, rng: np.random.Generator) -> dict[int, float]:
    """One frame's AU intensities (see the module docstring)."""
    aus: dict[int, float] = {}
    if fatigued:
        aus[43] = 1.0 if rng.random() < 0.6 else float(rng.uniform(0.5, 0.9))
        if rng.random() < 0.7:
            aus[26], aus[25] = float(rng.integers(3, 6)), float(rng.integers(2, 4))
    else:
        kind = rng.random()
        if kind < 0.4:
            aus[5] = float(rng.integers(2, 5))
        elif kind < 0.65:
            aus[25] = float(rng.integers(1, 3))
            if rng.random() < 0.5:
                aus[26] = 1.0
        elif kind < 0.85:
            aus[12] = float(rng.integers(2, 5))
    if smirk:
        aus[14] = float(rng.integers(2, 5))
    return dict(sorted(aus.items()))


def write_fatigue_target(
    out: Path, *, subjects: int, frames: int, seed: int, progress: bool, workers: int | None
) -> pd.DataFrame:
    """Render the fatigue target under `out`/fatigue: `subjects` people, `frames` frames each,
    half of them fatigued. Returns the target manifest (paths relative to `out`)."""
    jobs, rows = [], []
    for s in range(subjects):
        rng = np.random.default_rng([seed, _TAG, s])
        base = Pose(rng.uniform(0.44, 0.56), rng.uniform(0.45, 0.52), rng.uniform(0.2, 0.24))
        identity = random_identity(rng, base)
        size = _SIZES[int(rng.integers(len(_SIZES)))]
        smirk_share = rng.uniform(*SMIRK_SHARE)
        labels = rng.permutation(np.arange(frames) % 2)
        for k, fatigued in enumerate(labels):
            aus = fatigue_aus(bool(fatigued), bool(rng.random() < smirk_share), rng)
            wobble = rng.normal(0, 0.01, 3)
            pose = Pose(
                base.cx + wobble[0], base.cy + wobble[1], base.scale, base.angle + 100 * wobble[2]
            )
            rel = f"fatigue/p{s:02d}/frame{k:03d}.png"
            jobs.append(
                _FatigueJob(
                    str(out), rel, identity, tuple(aus.items()), size, pose, (seed, _TAG, s, k)
                )
            )
            rows.append(
                {
                    "path": rel,
                    "label": FATIGUE_CLASSES[int(fatigued)],
                    "subject": f"p{s:02d}",
                    "aus": ";".join(f"{au}:{v:g}" for au, v in aus.items()),
                }
            )
    drawn = {r["path"]: r for r in _run(jobs, _fatigue_frame, workers, progress, "fatigue")}
    frame = pd.DataFrame([{**row, **drawn[row["path"]]} for row in rows])
    return frame[["path", "label", "subject", "x", "y", "w", "h", "landmarks", "aus"]]


def write_fatigue_world(
    out: Path,
    scale: str = "micro",
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
) -> dict[str, int]:
    """Write the emotions -> fatigue world as manifests under `out` (see the module docstring):
    source.csv, target.csv, concepts.csv, regions.csv and the images they list. Returns counts."""
    if scale not in FATIGUE_SCALES:
        raise ValueError(f"scale must be one of {tuple(FATIGUE_SCALES)}, got {scale!r}")
    out = Path(out)
    p = FATIGUE_SCALES[scale]
    kw = {"seed": seed, "progress": progress, "workers": workers}
    affectnet = write_affectnet(out / "affectnet", layout="csv", **p["affectnet"], **kw)
    affectnet = affectnet[affectnet["expression"] < len(AFFECTNET_NAMES)]
    source = pd.DataFrame(
        {
            "path": "affectnet/" + affectnet["path"],
            "label": [AFFECTNET_NAMES[int(c)] for c in affectnet["expression"]],
            **{c: affectnet[c].astype(int) for c in ("x", "y", "w", "h")},
            "landmarks": affectnet["landmarks"],
        }
    ).sort_values("path")
    source.to_csv(out / "source.csv", index=False)
    target = write_fatigue_target(out, **p["fatigue"], **kw)
    target.to_csv(out / "target.csv", index=False)
    ck = write_ckplus(out / "ckplus", **p["ckplus"], **kw)
    concepts = _concepts(out, ck)
    concepts.to_csv(out / "concepts.csv", index=False)
    pd.DataFrame(REGIONS, columns=["region", "landmarks", "grow", "concepts"]).to_csv(
        out / "regions.csv", index=False
    )
    return {
        "source_images": len(source),
        "target_images": len(target),
        "target_fatigued": int((target["label"] == "fatigued").sum()),
        "concept_images": len(concepts),
        **{f"concept_{c}": int(concepts[c].sum()) for c in FATIGUE_CONCEPTS},
    }


def _concepts(out: Path, ck: pd.DataFrame) -> pd.DataFrame:
    """The CK+ peak frames as a concept manifest: the face box around the landmarks and one 0/1
    column per concept (FATIGUE_CONCEPTS)."""
    rows = []
    for row in ck.itertuples(index=False):
        rel = f"ckplus/{row.path}"
        width, height = image_size(out / rel)
        x, y, w, h = box_from_landmarks(parse_landmarks(row.landmarks), width, height)
        aus = parse_aus(row.aus)
        rows.append(
            {
                "path": rel,
                "subject": row.subject,
                "x": x,
                "y": y,
                "w": w,
                "h": h,
                "landmarks": row.landmarks,
                **{c: int(au in aus) for c, au in FATIGUE_CONCEPTS.items()},
            }
        )
    return pd.DataFrame(rows)
