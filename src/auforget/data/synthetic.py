"""Synthetic AffectNet, UNBC-McMaster and CK+, written in the layouts their owners distribute.

The study needs three licensed datasets. This module writes procedural stand-ins byte-for-byte
in the native layouts (docs/datasets.md), so the real readers, splits and stages run unchanged on
them and the whole pipeline can be tested and demonstrated without the licences. Faces come from
`faces.py`: every label (expression, FACS intensities, PSPI, landmarks) is what was drawn.

What makes it a fair stand-in rather than a toy:
- emotions are EMFACS prototypes with per-image intensity, dropped/extra AUs and ~5% label noise;
- UNBC pain rises and falls smoothly within sequences, PSPI is computed from the drawn AUs, and
  each subject keeps face, room, camera and pain style across sequences; some subjects smirk
  (AU14, contempt's only AU) regardless of pain, the world's planted reason for pain training to
  forget it (see PAIN_NUISANCE_AUS and `auforget.analysis.planted`);
- CK+ sequences ramp from neutral to a peak, only the peak is FACS-coded, only ~55% carry an
  emotion label, and AU5 mostly co-occurs with AU26 as in the real data.

Everything is determined by the seed: each image draws from its own generator seeded by
(seed, dataset, item), so the files are byte-identical whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from auforget.core.config import UNBC_PUBLISHABLE

from .faces import Identity, Pose, landmarks_px, random_identity, render_face, render_nonface
from .manifest import box_from_landmarks, format_aus, format_landmarks

SCALES = {
    "tiny": {
        "affectnet": {"n_train_per_class": 14, "n_val_per_class": 5},
        "unbc": {"sequences_per_subject": 1, "frames_per_sequence": 10},
        "ckplus": {"n_subjects": 10, "sequences_per_subject": 4, "frames_per_sequence": 4},
    },
    "demo": {
        # 200 test images per class, not 60: the difference maps use only the test images
        # FreezeB5 gets right and FreezeB0 wrong, and 60 per class left 2-9 of them per emotion
        # and seed, too few for the region findings to hold across seeds. Evaluating costs little.
        "affectnet": {"n_train_per_class": 300, "n_val_per_class": 200},
        "unbc": {"sequences_per_subject": 6, "frames_per_sequence": 24},
        "ckplus": {"n_subjects": 40, "sequences_per_subject": 6, "frames_per_sequence": 8},
    },
    # The paper profile's smoke test (tests/test_paper_preset.py): full VGG16 at 224 px trains at
    # about 3 images/s on a CPU, so as few images as every stage accepts.
    "micro": {
        "affectnet": {"n_train_per_class": 2, "n_val_per_class": 1},
        # 10 subjects: the 4 test subjects and 6 to train on (a pool of 6 + 6 frames, one pain
        # and one no-pain frame from each, as the paper's draw requires), not 21: 38 frames
        # through six full VGG16s at 224 px were most of the smoke test's time.
        "unbc": {"sequences_per_subject": 1, "frames_per_sequence": 6, "subjects": 10},
        # 24 peaks, not 40 (each probe sends every peak through two full VGG16s): still 5 with
        # AU14 and 6 with AU5, enough for the probes' 2 stratified folds.
        "ckplus": {"n_subjects": 6, "sequences_per_subject": 4, "frames_per_sequence": 3},
    },
    # Growth measurements (bench/bench_growth.py): only AffectNet grows (30,000 training images),
    # as in the study, where it is the one dataset large enough to strain memory and time.
    "large": {
        "affectnet": {"n_train_per_class": 3750, "n_val_per_class": 120},
        "unbc": {"sequences_per_subject": 6, "frames_per_sequence": 24},
        "ckplus": {"n_subjects": 40, "sequences_per_subject": 6, "frames_per_sequence": 8},
    },
}
AFFECTNET_LAYOUTS = ("csv", "8labels", "folders")
AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,"
    "facial_landmarks,expression,valence,arousal"
)
AFFECTNET_NAMES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt")
CROP = 96  # side of the face crops of the 8-labels and folder releases
LABEL_NOISE = 0.05

# EMFACS prototypes: AffectNet code -> {AU: typical intensity (1-5)}. Contempt's AU14 is drawn
# on one side of the face only. AU16 in disgust is drawn as a lowered lower lip.
EMOTION_AUS: dict[int, dict[int, float]] = {
    0: {},
    1: {6: 3.0, 12: 4.0, 25: 2.0},
    2: {1: 3.0, 4: 3.0, 15: 3.0, 17: 2.5},
    3: {1: 4.0, 2: 4.0, 5: 3.5, 26: 4.0, 25: 3.0},
    4: {1: 3.0, 2: 3.0, 4: 3.0, 5: 4.0, 7: 2.5, 20: 3.5, 26: 3.0},
    5: {9: 4.0, 15: 2.5, 16: 2.0, 10: 3.0},
    6: {4: 4.0, 5: 2.5, 7: 3.0, 23: 3.5},
    7: {14: 3.5},
}
# The bracketed members of the prototypes: present in some displays only.
OPTIONAL_AUS: dict[int, frozenset[int]] = {
    1: frozenset({25}),
    2: frozenset({17}),
    3: frozenset({25}),
    5: frozenset({10, 16}),
}
_FAINT_POOL = (1, 2, 4, 7, 12, 14, 15, 17, 25)
_EXTRA_POOL = (1, 2, 4, 7, 10, 17, 25)
_OTHER_POOL = (1, 2, 4, 5, 7, 12, 14, 17, 20, 23, 25, 26, 43)
_VALENCE_AROUSAL = {
    0: (0.0, 0.0),
    1: (0.7, 0.3),
    2: (-0.6, -0.25),
    3: (0.15, 0.65),
    4: (-0.5, 0.65),
    5: (-0.65, 0.35),
    6: (-0.55, 0.6),
    7: (-0.45, 0.2),
}

UNBC_SUBJECTS = (
    "042-ll042",
    "043-jh043",
    "047-jl047",
    "048-aa048",
    "049-bm049",
    "052-dr052",
    "059-fn059",
    "064-ak064",
    "066-mg066",
    "080-bn080",
    "092-ch092",
    "095-tv095",
    "096-bg096",
    "097-gf097",
    "101-mg101",
    "103-jk103",
    "106-nm106",
    "107-hs107",
    "108-th108",
    "109-ib109",
    "115-jy115",
    "120-kz120",
    "121-vw121",
    "123-jh123",
    "124-dn124",
)
_UNBC_SIZES = ((160, 120), (176, 132), (192, 144), (200, 150))
# Planted reason to forget: AU14, contempt's only AU, is drawn in UNBC as a one-sided smirk in
# stretches placed independently of pain (in pain and no-pain frames alike), so it carries no
# information about pain and fine-tuned blocks are pushed to stop responding to it. Each subject
# smirks in a share of sequences drawn from SMIRK_RATE.
PAIN_NUISANCE_AUS = (14,)
SMIRK_RATE = (0.3, 0.9)

CKPLUS_EMOTIONS = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happy",
    "sadness",
    "surprise",
)
_CK_SIZES = ((160, 122), (160, 120), (176, 120))
# kind: (share of sequences, CK+ emotion code or None, core {AU: peak}, optional {AU: (probability,
# peak)})
_CK_KINDS: dict[str, tuple[float, int | None, dict[int, int], dict[int, tuple[float, int]]]] = {
    "anger": (0.10, 1, {4: 4, 7: 3, 23: 3}, {5: (0.7, 3), 17: (0.4, 3)}),
    "contempt": (0.12, 2, {14: 3}, {}),
    "disgust": (
        0.10,
        3,
        {9: 4},
        {10: (0.6, 3), 15: (0.5, 2), 16: (0.3, 2), 17: (0.4, 2), 25: (0.4, 2)},
    ),
    "fear": (0.08, 4, {1: 3, 2: 2, 4: 3, 5: 4, 20: 3}, {25: (0.8, 3), 26: (0.7, 3), 7: (0.4, 2)}),
    "happy": (0.12, 5, {6: 3, 12: 4}, {25: (0.6, 2)}),
    "sadness": (0.09, 6, {1: 3, 4: 3, 15: 3}, {17: (0.6, 3)}),
    "surprise": (0.11, 7, {1: 4, 2: 4, 5: 3, 26: 4}, {25: (0.9, 3)}),
    "au14": (0.06, None, {14: 3}, {}),
    "au14+17": (0.05, None, {14: 3, 17: 3}, {23: (0.3, 2)}),
    "au5+26": (0.05, None, {5: 3, 26: 3}, {25: (0.8, 2)}),
    "au1+2": (0.04, None, {1: 3, 2: 3}, {5: (0.3, 2)}),
    "au4+7": (0.03, None, {4: 3, 7: 3}, {}),
    "au17+23": (0.03, None, {17: 3, 23: 3}, {}),
    "au25+26": (0.02, None, {25: 3, 26: 3}, {}),
    "au10+25": (0.02, None, {10: 3, 25: 2}, {}),
}
_CK_EMOTION_FILE_RATE = 0.78  # of emotional sequences; with ~70% emotional, ~55% carry a label

_TAGS = {"affectnet": 1, "unbc": 2, "ckplus": 3}


# ---------------------------------------------------------------- shared helpers


def _mat(*values: float) -> str:
    """One line as MATLAB's ASCII save writes it: '   2.0000000e+00' per value."""
    return "".join(f"{float(v):16.7e}" for v in values)


def _write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))


def _save(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, format="JPEG", quality=90)
    else:
        img.save(path, format="PNG", compress_level=1)


def _run(jobs: list, fn: Callable, workers: int | None, progress: bool, desc: str) -> list:
    """Map `fn` over `jobs` in order; files depend only on each job, so any worker count gives the
    same bytes."""
    if (
        workers is None
    ):  # every core this process may use: a 16-core GPU host draws 45,000 faces in minutes
        workers = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    workers = max(1, int(workers))
    results = []
    with tqdm(total=len(jobs), desc=desc, unit="img", disable=not progress) as bar:
        if workers == 1 or len(jobs) < 32:
            for job in jobs:
                results.append(fn(job))
                bar.update()
        else:
            # Not "fork": the calling process may hold threads (MLflow, torch, DVC's own) whose
            # locks a forked child inherits mid-use and then waits on forever.
            methods = mp.get_all_start_methods()
            ctx = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
            # A process pool that raises when a worker dies (BrokenProcessPool) rather than
            # waiting for its lost tasks for ever, as multiprocessing.Pool.imap does.
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for result in pool.map(
                    fn, jobs, chunksize=max(1, min(24, len(jobs) // (4 * workers)))
                ):
                    results.append(result)
                    bar.update()
    return results


def _check_positive(**values: int) -> None:
    for name, v in values.items():
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")


# ---------------------------------------------------------------- expressions


def compose_aus(code: int, rng: np.random.Generator) -> dict[int, float]:
    """AU intensities for one displayed AffectNet expression code (0-10).

    Prototype members are dropped now and then (bracketed ones often), intensities vary with a
    per-image strength, and an unrelated AU joins one image in eight: classes stay learnable
    without being separable from one landmark.
    """
    if code == 0:
        return (
            {int(rng.choice(_FAINT_POOL)): round(float(rng.uniform(0.3, 1.2)), 2)}
            if rng.random() < 0.3
            else {}
        )
    if code == 8:  # None: an expression outside the eight, e.g. a lip press or a single brow raise
        picked = rng.choice(_OTHER_POOL, int(rng.integers(1, 4)), replace=False)
        return {int(au): round(float(rng.uniform(1, 3.5)), 2) for au in sorted(picked)}
    if code == 9:  # Uncertain: a weak blend of two expressions
        a, b = rng.choice(np.arange(1, 8), 2, replace=False)
        mixed: dict[int, float] = {}
        for part in (compose_aus(int(a), rng), compose_aus(int(b), rng)):
            for au, v in part.items():
                mixed[au] = round(max(mixed.get(au, 0.0), 0.6 * v), 2)
        return dict(sorted(mixed.items()))
    if code == 10:
        return {}
    optional = OPTIONAL_AUS.get(code, frozenset())
    strength = rng.uniform(0.6, 1.15)
    aus: dict[int, float] = {}
    for au, typical in EMOTION_AUS[code].items():
        if rng.random() < (0.4 if au in optional else 0.07):
            continue
        aus[au] = float(np.clip(typical * strength + rng.normal(0, 0.5), 0.8, 5.0))
    if not set(aus) - optional:
        core = max(
            (au for au in EMOTION_AUS[code] if au not in optional), key=EMOTION_AUS[code].get
        )
        aus[core] = float(EMOTION_AUS[code][core] * strength)
    if rng.random() < 0.12:
        extra = int(rng.choice(_EXTRA_POOL))
        aus.setdefault(extra, float(rng.uniform(0.5, 2.0)))
    return {au: round(v, 2) for au, v in sorted(aus.items())}


def _valence_arousal(code: int, rng: np.random.Generator) -> tuple[float, float]:
    if code in (9, 10):
        return -2.0, -2.0
    if code == 8:
        return float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.3, 0.6))
    v, a = _VALENCE_AROUSAL[code]
    k = rng.uniform(0.6, 1.2)
    return (
        float(np.clip(v * k + rng.normal(0, 0.12), -1, 1)),
        float(np.clip(a * k + rng.normal(0, 0.12), -1, 1)),
    )


# ---------------------------------------------------------------- AffectNet


@dataclass(frozen=True)
class _AffectNetJob:
    out: str
    layout: str
    split: str
    code: int
    rel: str  # image path relative to the dataset root
    annotation: str  # 8-labels: annotation path prefix relative to the root ("" otherwise)
    entropy: tuple[int, ...]
    au14_inward: bool = False  # faces.Identity.au14_inward


def _place_face(
    idn: Identity,
    aus: dict[int, float],
    size: tuple[int, int],
    side: float,
    rng: np.random.Generator,
) -> Pose:
    """A pose whose landmark face box (as `box_from_landmarks` draws it) has `side` px and lies in
    the image."""
    W, H = size
    angle = rng.uniform(-6, 6)
    lm = landmarks_px(idn, aus, size, Pose(0.0, 0.0, 1.0 / H, angle))  # one pixel per face unit
    (x0, y0), (x1, y1) = lm.min(0), lm.max(0)
    unit = side / (max(x1 - x0, y1 - y0) * 1.3)
    bx, by = unit * (x0 + x1) / 2, unit * ((y0 + y1) / 2 - 0.1 * (y1 - y0))
    left, top = rng.uniform(0.5, W - side - 0.5), rng.uniform(0.5, H - side - 0.5)
    return Pose((left + side / 2 - bx) / W, (top + side / 2 - by) / H, unit / H, angle)


def _affectnet_item(job: _AffectNetJob) -> dict:
    plan, render = (
        np.random.default_rng(s) for s in np.random.SeedSequence(list(job.entropy)).spawn(2)
    )
    shown = job.code
    if shown < 8 and plan.random() < LABEL_NOISE:
        shown = int((shown + plan.integers(1, 8)) % 8)
    aus = compose_aus(shown, plan)
    idn = replace(random_identity(plan), au14_inward=job.au14_inward)
    W, H = (int(v) for v in plan.integers(100, 141, 2))
    pose = _place_face(idn, aus, (W, H), plan.uniform(70, min(110, W, H) - 1), plan)
    valence, arousal = _valence_arousal(job.code, plan)
    if shown == 10:
        img, lm = render_nonface(idn, (W, H), render), landmarks_px(idn, {}, (W, H), pose)
    else:
        img, lm = render_face(idn, aus, (W, H), render, pose)
    x, y, w, h = box_from_landmarks(lm, W, H)
    out = Path(job.out)
    row = {
        "path": job.rel,
        "split": job.split,
        "expression": job.code,
        "valence": round(valence, 6),
        "arousal": round(arousal, 6),
        "shown_expression": shown,
        "aus": format_aus(aus),
    }
    if job.layout == "csv":
        side = float(w)  # a face detector's box: near the landmark box, not on it
        dx, dy, ds = (int(round(v)) for v in plan.normal(0, 0.03 * side, 3))
        x, y = min(max(0, x + dx), W - 2), min(max(0, y + dy), H - 2)
        w = h = max(8, min(w + ds, W - x, H - y))
        _save(img, out / job.rel)
        row.update(x=x, y=y, w=w, h=h, landmarks=format_landmarks(lm), image_w=W, image_h=H)
        return row
    crop = img.resize((CROP, CROP), Image.BILINEAR, box=(x, y, x + w, y + h))
    lm_crop = (lm - (x, y)) * (CROP / w, CROP / h)
    _save(crop, out / job.rel)
    if job.layout == "8labels":
        prefix = out / job.annotation
        prefix.parent.mkdir(parents=True, exist_ok=True)
        np.save(f"{prefix}_exp.npy", np.array(str(job.code)))
        np.save(f"{prefix}_val.npy", np.array(str(round(valence, 6))))
        np.save(f"{prefix}_aro.npy", np.array(str(round(arousal, 6))))
        np.save(f"{prefix}_lnd.npy", np.round(lm_crop.reshape(-1), 3))
        row.update(x=0, y=0, w=CROP, h=CROP, landmarks=format_landmarks(lm_crop))
    return row


# Long for its three releases' file layouts written side by side (CSV lists, .npy annotations, class
# folders).
def write_affectnet(
    out: Path,
    *,
    layout: str = "csv",
    n_train_per_class: int,
    n_val_per_class: int,
    seed: int,
    extra_codes: bool = True,
    class_folders: str = "numeric",
    progress: bool = False,
    workers: int | None = None,
    au14_inward: bool = False,
) -> pd.DataFrame:
    """Write a synthetic AffectNet under the dataset root `out` in one of its three releases.

    layout "csv": release A, Manually_Annotated_Images/<int>/<sha224>.<jpg|jpeg|png|JPG> inside
    larger images, plus Manually_Annotated_file_lists/{training,validation}.csv; with
    `extra_codes`, codes 8-10 are added (training: a quarter of a class each; validation: a
    full class each, as the real 11 x 500). "8labels": release B, 96 px crops in
    {train,val}_set/images/<id>.jpg with string 0-d npy annotations. "folders": release C,
    {train,val}/<class>/<id>.jpg with `class_folders` "numeric" (0-7) or "names" (lowercase).

    Every class 0-7 has exactly n_train_per_class training and n_val_per_class validation
    images; ~5% of images show another expression than their label (AffectNet's own noise).
    Returns one row per image: path (relative to `out`), split ("training"/"validation"),
    expression (the label), valence, arousal, shown_expression, aus, and the face box
    x, y, w, h plus landmarks (image pixels) where the layout has them.
    """
    if layout not in AFFECTNET_LAYOUTS:
        raise ValueError(f"layout must be one of {AFFECTNET_LAYOUTS}, got {layout!r}")
    if class_folders not in ("numeric", "names"):
        raise ValueError(f"class_folders must be 'numeric' or 'names', got {class_folders!r}")
    _check_positive(n_train_per_class=n_train_per_class, n_val_per_class=n_val_per_class)
    out = Path(out)
    plan = np.random.default_rng([seed, _TAGS["affectnet"]])
    n_total = 8 * (n_train_per_class + n_val_per_class) * 2
    ids = iter(plan.choice(np.arange(n_total * 20), n_total, replace=False))
    jobs, order = [], {}
    for split_no, (split, n) in enumerate(
        (("training", n_train_per_class), ("validation", n_val_per_class))
    ):
        codes = [c for c in range(8) for _ in range(n)]
        if extra_codes and layout == "csv":
            codes += [
                c for c in (8, 9, 10) for _ in range(n if split == "validation" else max(1, n // 4))
            ]
        order[split] = plan.permutation(len(codes))
        for index, code in enumerate(codes):
            annotation = ""
            if layout == "csv":
                digest = hashlib.sha224(f"affectnet:{seed}:{split}:{index}".encode()).hexdigest()
                ext = plan.choice([".jpg", ".jpeg", ".png", ".JPG"], p=[0.85, 0.06, 0.05, 0.04])
                rel = f"Manually_Annotated_Images/{1 + int(digest[:6], 16) % 400}/{digest}{ext}"
            elif layout == "8labels":
                image_id, folder = int(next(ids)), "train_set" if split == "training" else "val_set"
                rel, annotation = (
                    f"{folder}/images/{image_id}.jpg",
                    f"{folder}/annotations/{image_id}",
                )
            else:
                name = AFFECTNET_NAMES[code] if class_folders == "names" else str(code)
                rel = f"{'train' if split == 'training' else 'val'}/{name}/{int(next(ids))}.jpg"
            jobs.append(
                _AffectNetJob(
                    str(out),
                    layout,
                    split,
                    code,
                    rel,
                    annotation,
                    (seed, _TAGS["affectnet"], split_no, index),
                    au14_inward,
                )
            )
    rows = _run(jobs, _affectnet_item, workers, progress, f"affectnet ({layout})")
    frame = pd.DataFrame(rows)
    if layout == "csv":
        lists = out / "Manually_Annotated_file_lists"
        for split in ("training", "validation"):
            part = frame[frame["split"] == split].reset_index(drop=True).iloc[order[split]]
            lines = [AFFECTNET_HEADER] + [
                f"{r.path.split('/', 1)[1]},{r.x},{r.y},{r.w},{r.h},{r.landmarks},{r.expression},"
                f"{r.valence:.6g},{r.arousal:.6g}"
                for r in part.itertuples()
            ]
            _write_lines(lists / f"{split}.csv", lines)
    return frame


# ---------------------------------------------------------------- UNBC-McMaster


@dataclass(frozen=True)
class _UnbcJob:
    out: str
    subject: str
    sequence: str
    frame: int
    identity: Identity
    aus: tuple[tuple[int, int], ...]
    size: tuple[int, int]
    pose: Pose
    desaturate: float
    entropy: tuple[int, ...]


PSPI_AUS = (4, 6, 7, 9, 10, 43)
UNBC_OTHER_AUS = (
    12,
    20,
    25,
    26,
)  # also drawn in UNBC: grimaces in pain, talking and smiles without


def pspi(aus: dict[int, float]) -> int:
    """Prkachin and Solomon Pain Intensity: AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43."""
    g = lambda au: int(aus.get(au, 0))  # noqa: E731
    return g(4) + max(g(6), g(7)) + max(g(9), g(10)) + min(1, g(43))


def _pain_style(rng: np.random.Generator) -> dict[str, float]:
    """How one person shows pain: which AUs, how strongly, whether they shut their eyes, and how
    often they wear a one-sided smirk (AU14) that has nothing to do with pain (see
    PAIN_NUISANCE_AUS)."""
    return {
        "4": rng.uniform(0.1, 0.9),
        "6": rng.uniform(0.3, 0.9),
        "7": rng.uniform(0.2, 0.9),
        "9": rng.uniform(0.0, 0.6),
        "10": rng.uniform(0.0, 0.7),
        "close": rng.uniform(0.5, 1.3),
        "sensitivity": rng.uniform(0.75, 1.0),
        "grimace": rng.uniform(0.0, 0.5),
        "smirk": rng.uniform(SMIRK_RATE[0], SMIRK_RATE[1]),
    }


# Slightly over 50 lines: the episode schedule is one piece of state (envelope, stretches, smirks)
# built in order.
def _pain_sequence(
    n: int, style: dict[str, float], rng: np.random.Generator, force_pain: bool, affected: bool
) -> list[dict[int, int]]:
    """Integer AU intensities per frame: smooth pain episodes between neutral, talking or smiling
    stretches."""
    env = np.zeros(n)
    grimace = np.zeros(n)
    if force_pain or rng.random() < (0.95 if affected else 0.75):
        n_episodes = 1 if n < 18 else int(rng.integers(1, 3))
        bounds = np.linspace(0, n, n_episodes + 1).astype(int)
        for a, b in zip(bounds[:-1], bounds[1:]):
            slot = b - a
            length = min(
                slot, int(rng.integers(max(3, round(slot * 0.4)), max(4, round(slot * 0.7)) + 1))
            )
            start = a + int(rng.integers(0, slot - length + 1))
            level = rng.uniform(0.5, 1.0) * (1.0 if affected else 0.75) * style["sensitivity"]
            bump = np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 0.6
            env[start : start + length] = np.maximum(env[start : start + length], level * bump)
            if rng.random() < style["grimace"]:
                grimace[start : start + length] = level * bump
    frames, activity = [], "neutral"
    for k in range(n):
        aus: dict[int, int] = {}
        if env[k] > 0.02:
            for au in (4, 6, 7, 9, 10):
                v = int(np.clip(round(env[k] * style[str(au)] * 5 + rng.normal(0, 0.3)), 0, 5))
                if v:
                    aus[au] = v
            if env[k] > style["close"]:
                aus[43] = 1
            for au, w in ((25, 0.6), (26, 0.5), (12, 0.35), (20, 0.4)):
                v = int(np.clip(round(grimace[k] * w * 5), 0, 5))
                if v:
                    aus[au] = v
        else:  # no pain: mostly a still face, sometimes talking or smiling (AUs outside PSPI)
            if rng.random() > 0.75:
                activity = str(rng.choice(["neutral", "neutral", "talk", "smile"]))
            if activity == "talk":
                aus[25] = int(rng.integers(1, 3))
                if rng.random() < 0.6:
                    aus[26] = int(rng.integers(1, 3))
            elif activity == "smile":
                aus[12] = int(rng.integers(1, 4))
                if rng.random() < 0.4:
                    aus[25] = 1
        frames.append(aus)
    if rng.random() < style["smirk"]:
        # The smirk stretch ignores the pain envelope and wraps around the sequence end, so every
        # frame, in pain or not, is equally likely to carry it (a centred stretch would favour the
        # middle frames, where pain episodes also tend to lie).
        length = int(rng.integers(max(1, round(0.4 * n)), max(2, round(0.8 * n)) + 1))
        start, level = int(rng.integers(0, n)), int(rng.integers(2, 5))
        for k in range(start, start + length):
            frames[k % n][14] = level
    return [dict(sorted(aus.items())) for aus in frames]


def _unbc_frame(job: _UnbcJob) -> dict:
    aus = dict(job.aus)
    img, lm = render_face(
        job.identity, aus, job.size, np.random.default_rng(list(job.entropy)), job.pose
    )
    if job.desaturate:
        arr = np.asarray(img, np.float32)
        grey = arr @ np.array([0.299, 0.587, 0.114], np.float32)
        arr = arr + (grey[..., None] - arr) * job.desaturate
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    out, stem = Path(job.out), f"{job.subject}/{job.sequence}/{job.sequence}{job.frame:03d}"
    _save(img, out / "Images" / f"{stem}.png")
    _write_lines(
        out / "AAM_landmarks" / f"{stem}_aam.txt",
        [_mat(*p) for i, p in enumerate(lm) if i not in (60, 64)],
    )
    facs = out / "Frame_Labels" / "FACS" / f"{stem}_facs.txt"
    if aus:
        _write_lines(facs, [_mat(au, v, 0, 0) for au, v in aus.items()])
    else:  # frames without any AU have an empty file, as in the archive
        facs.parent.mkdir(parents=True, exist_ok=True)
        facs.write_text("")
    score = pspi(aus)
    _write_lines(out / "Frame_Labels" / "PSPI" / f"{stem}_facs.txt", [_mat(score)])
    return {
        "path": f"Images/{stem}.png",
        "subject": job.subject,
        "sequence": job.sequence,
        "frame": job.frame,
        "pspi": score,
        "aus": format_aus(aus),
        "landmarks": format_landmarks(lm),
        "image_w": job.size[0],
        "image_h": job.size[1],
    }


def _sequence_names(subject: str, n: int, rng: np.random.Generator) -> list[str]:
    """Names like ll042t1aaaff: initials, number, trial, active/passive, motion, (un)affected
    side."""
    number, initials = subject.split("-")[0], subject.split("-")[1][:2]
    combos = [(m, mo, side) for m in "ap" for mo in "aefi" for side in ("aff", "unaff")]
    names = []
    for q in range(n):
        if q % len(combos) == 0:
            order = rng.permutation(len(combos))
        m, mo, side = combos[order[q % len(combos)]]
        names.append(f"{initials}{number}t{1 + q // len(combos)}{m}{mo}{side}")
    return names


def write_unbc(
    out: Path,
    *,
    sequences_per_subject: int,
    frames_per_sequence: int,
    seed: int,
    subjects: int = 0,
    progress: bool = False,
    workers: int | None = None,
    au14_inward: bool = False,
) -> pd.DataFrame:
    """Write a synthetic UNBC-McMaster archive under the dataset root `out`: all 25 subjects, or
    with `subjects` = n the four publishable (test) subjects and the first n - 4 others. A
    subject's frames do not depend on which others are written.

    Each subject's first sequence always contains a pain episode (so every subject has pain and
    no-pain frames); later ones do most of the time, less often on the unaffected side. Frame
    sizes differ between subjects. Returns one row per frame: path, subject, sequence, frame,
    pspi, aus (format_aus of the FACS file), landmarks (68 points, image pixels), image_w, image_h.
    """
    _check_positive(
        sequences_per_subject=sequences_per_subject, frames_per_sequence=frames_per_sequence
    )
    if subjects and not len(UNBC_PUBLISHABLE) < subjects <= len(UNBC_SUBJECTS):
        raise ValueError(
            f"write_unbc: subjects must be 0 (all) or {len(UNBC_PUBLISHABLE) + 1} to "
            f"{len(UNBC_SUBJECTS)} (the 4 test subjects and some to train on), got {subjects}"
        )
    others = [s for s in UNBC_SUBJECTS if s not in UNBC_PUBLISHABLE]
    kept = (
        set(UNBC_PUBLISHABLE) | set(others[: subjects - len(UNBC_PUBLISHABLE)])
        if subjects
        else set(UNBC_SUBJECTS)
    )
    out = Path(out)
    jobs, sequence_scores = [], []
    for s_no, subject in enumerate(UNBC_SUBJECTS):
        if subject not in kept:
            continue
        rng = np.random.default_rng([seed, _TAGS["unbc"], s_no])
        base = Pose(
            rng.uniform(0.42, 0.58),
            rng.uniform(0.44, 0.52),
            rng.uniform(0.17, 0.21),
            rng.uniform(-3, 3),
        )
        idn = replace(random_identity(rng, base), au14_inward=au14_inward)
        size = _UNBC_SIZES[int(rng.integers(len(_UNBC_SIZES)))]
        desaturate = float(rng.uniform(0.6, 0.95) if rng.random() < 0.5 else rng.uniform(0.0, 0.4))
        style = _pain_style(rng)
        for q, name in enumerate(_sequence_names(subject, sequences_per_subject, rng)):
            frames = _pain_sequence(
                frames_per_sequence, style, rng, q == 0, not name.endswith("unaff")
            )
            amp, freq, phase = (
                rng.uniform(0, 0.02, 3),
                rng.uniform(0.1, 0.35, 3),
                rng.uniform(0, 2 * np.pi, 3),
            )
            for k, aus in enumerate(frames):  # the head drifts a little while the shoulder moves
                wobble = amp * np.sin(freq * k + phase)
                pose = Pose(
                    base.cx + wobble[0],
                    base.cy + wobble[1],
                    base.scale,
                    base.angle + 120 * wobble[2],
                )
                jobs.append(
                    _UnbcJob(
                        str(out),
                        subject,
                        name,
                        k + 1,
                        idn,
                        tuple(aus.items()),
                        size,
                        pose,
                        desaturate,
                        (seed, _TAGS["unbc"], s_no, q, k),
                    )
                )
            sequence_scores.append(
                (subject, name, max(pspi(a) for a in frames), rng.normal(0, 1, 4))
            )
    frame = pd.DataFrame(_run(jobs, _unbc_frame, workers, progress, "unbc"))
    for (
        subject,
        name,
        peak,
        noise,
    ) in sequence_scores:  # self-reports and observer rating follow the peak
        scores = {
            "VAS": np.clip(round(peak * 0.8 + noise[0]), 0, 10),
            "OPR": np.clip(round(peak / 3 + noise[1] / 2), 0, 5),
            "SEN": np.clip(round(peak * 1.1 + noise[2]), 0, 15),
            "AFF": np.clip(round(peak + noise[3]), 0, 15),
        }
        if peak == 0:
            scores = {k: min(v, 1) for k, v in scores.items()}
        for scale, value in scores.items():
            _write_lines(out / "Sequence_Labels" / scale / subject / f"{name}.txt", [_mat(value)])
    return frame


# ---------------------------------------------------------------- CK+


@dataclass(frozen=True)
class _CkJob:
    out: str
    stem: str  # S005/001/S005_001_00000001
    identity: Identity
    aus: tuple[tuple[int, float], ...]
    size: tuple[int, int]
    pose: Pose
    colour: bool
    entropy: tuple[int, ...]


def _ck_frame(job: _CkJob) -> dict:
    img, lm = render_face(
        job.identity, dict(job.aus), job.size, np.random.default_rng(list(job.entropy)), job.pose
    )
    out = Path(job.out)
    _save(img if job.colour else img.convert("L"), out / "cohn-kanade-images" / f"{job.stem}.png")
    _write_lines(out / "Landmarks" / f"{job.stem}_landmarks.txt", [_mat(*p) for p in lm])
    return {"path": f"cohn-kanade-images/{job.stem}.png", "landmarks": format_landmarks(lm)}


def _quota(shares: dict[str, float], n: int, rng: np.random.Generator) -> list[str]:
    """Exactly-proportioned kinds in random order: small scales still get their AU14 and AU5
    sequences."""
    names = list(shares)
    w = np.array([shares[k] for k in names]) / sum(shares.values())
    counts = np.floor(w * n).astype(int)
    for i in np.argsort(-(w * n - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    kinds = [k for k, c in zip(names, counts) for _ in range(c)]
    return [kinds[i] for i in rng.permutation(n)]


def _ck_peak(kind: str, rng: np.random.Generator) -> dict[int, int]:
    _, _, core, optional = _CK_KINDS[kind]
    peak = {au: v for au, v in core.items()}
    for au, (p, v) in optional.items():
        if rng.random() < p:
            peak[au] = v
    return {au: int(np.clip(v + rng.integers(-1, 2), 1, 5)) for au, v in sorted(peak.items())}


# Long for CK+'s four parallel trees (images, landmarks, FACS, emotion) written for each sequence in
# one place.
def write_ckplus(
    out: Path,
    *,
    n_subjects: int,
    sequences_per_subject: int,
    frames_per_sequence: int,
    seed: int,
    progress: bool = False,
    workers: int | None = None,
    au14_inward: bool = False,
) -> pd.DataFrame:
    """Write a synthetic CK+ under the dataset root `out`: neutral-to-peak sequences, FACS at the
    peak.

    Sequence kinds (the seven emotions and some non-emotional AU combinations) come in fixed
    shares, so ~22% of sequences have AU14 and ~30% AU5 (mostly with AU26) at any scale. Emotion
    files exist for ~55%; some sequences without one get an empty Emotion folder. A FACS line
    with intensity 0 means "present, intensity not given". Returns one row per sequence: path
    (peak frame), subject, sequence, n_frames, aus (format_aus of the FACS file), emotion
    (CK+ code, -1 without a file), kind, landmarks (peak frame), colour.
    """
    _check_positive(n_subjects=n_subjects, sequences_per_subject=sequences_per_subject)
    if frames_per_sequence < 2:
        raise ValueError(
            f"frames_per_sequence must be >= 2 (neutral to peak), got {frames_per_sequence}"
        )
    out = Path(out)
    rng = np.random.default_rng([seed, _TAGS["ckplus"]])
    subjects = sorted(int(v) for v in rng.choice(np.arange(5, 1000), n_subjects, replace=False))
    kinds = iter(
        _quota({k: v[0] for k, v in _CK_KINDS.items()}, n_subjects * sequences_per_subject, rng)
    )
    jobs, sequences = [], []
    for s_no, number in enumerate(subjects):
        srng = np.random.default_rng([seed, _TAGS["ckplus"], 1, s_no])
        base = Pose(
            srng.uniform(0.44, 0.56),
            srng.uniform(0.44, 0.5),
            srng.uniform(0.19, 0.23),
            srng.uniform(-2, 2),
        )
        idn = replace(random_identity(srng, base), au14_inward=au14_inward)
        size = _CK_SIZES[int(srng.integers(len(_CK_SIZES)))]
        colour = bool(srng.random() < 0.12)
        seq_numbers = sorted(
            int(v)
            for v in srng.choice(
                np.arange(1, sequences_per_subject + 3), sequences_per_subject, replace=False
            )
        )
        for q, seq in enumerate(seq_numbers):
            kind = next(kinds)
            peak = _ck_peak(kind, srng)
            gamma = srng.uniform(0.8, 1.6)
            drift = srng.normal(0, 0.004, 2)
            subject, sequence = f"S{number:03d}", f"{seq:03d}"
            n = frames_per_sequence
            for k in range(n):
                t = (k / (n - 1)) ** gamma
                aus = tuple((au, v if k == n - 1 else round(v * t, 3)) for au, v in peak.items())
                pose = Pose(
                    base.cx + drift[0] * k / n, base.cy + drift[1] * k / n, base.scale, base.angle
                )
                stem = f"{subject}/{sequence}/{subject}_{sequence}_{k + 1:08d}"
                jobs.append(
                    _CkJob(
                        str(out),
                        stem,
                        idn,
                        aus,
                        size,
                        pose,
                        colour,
                        (seed, _TAGS["ckplus"], s_no, q, k),
                    )
                )
            labelled = {au: (0 if srng.random() < 0.08 else v) for au, v in peak.items()}
            emotion = _CK_KINDS[kind][1]
            if emotion is not None and srng.random() >= _CK_EMOTION_FILE_RATE:
                emotion = None
            empty_dir = emotion is None and bool(srng.random() < 0.5)
            sequences.append(
                {
                    "subject": subject,
                    "sequence": sequence,
                    "n_frames": n,
                    "kind": kind,
                    "aus": labelled,
                    "emotion": emotion,
                    "colour": colour,
                    "empty_dir": empty_dir,
                    "stem": stem,
                }
            )
    rows = _run(jobs, _ck_frame, workers, progress, "ckplus")
    by_path = {r["path"]: r for r in rows}
    table = []
    for s in sequences:
        stem, emotion, empty_dir = s.pop("stem"), s.pop("emotion"), s.pop("empty_dir")
        _write_lines(out / "FACS" / f"{stem}_facs.txt", [_mat(au, v) for au, v in s["aus"].items()])
        if emotion is not None:
            _write_lines(out / "Emotion" / f"{stem}_emotion.txt", [_mat(emotion)])
        elif empty_dir:  # the real release has some empty Emotion folders
            (out / "Emotion" / s["subject"] / s["sequence"]).mkdir(parents=True, exist_ok=True)
        path = f"cohn-kanade-images/{stem}.png"
        table.append(
            {
                "path": path,
                **s,
                "aus": format_aus(s["aus"]),
                "emotion": -1 if emotion is None else emotion,
                "landmarks": by_path[path]["landmarks"],
            }
        )
    return pd.DataFrame(table)


# ---------------------------------------------------------------- all three


def write_synthetic(
    out: Path,
    scale: str = "demo",
    seed: int = 0,
    progress: bool = True,
    workers: int | None = None,
    au14_inward: bool = False,
) -> dict[str, int]:
    """Write out/affectnet (release A), out/unbc and out/ckplus at a named scale (`au14_inward`:
    synth.au14_pull inward, faces.Identity.au14_inward).

    "tiny" is for tests (a few hundred images, seconds); "demo" is enough for the small-profile
    study to learn emotions and pain. Existing files are overwritten, stray ones left alone, so
    write into a fresh folder when changing scale. Returns image and sequence counts.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {tuple(SCALES)}, got {scale!r}")
    out = Path(out)
    p = SCALES[scale]
    kw = {"seed": seed, "progress": progress, "workers": workers, "au14_inward": au14_inward}
    affectnet = write_affectnet(out / "affectnet", layout="csv", **p["affectnet"], **kw)
    unbc = write_unbc(out / "unbc", **p["unbc"], **kw)
    ckplus = write_ckplus(out / "ckplus", **p["ckplus"], **kw)
    return {
        "affectnet_images": len(affectnet),
        "affectnet_training_rows": int((affectnet["split"] == "training").sum()),
        "affectnet_validation_rows": int((affectnet["split"] == "validation").sum()),
        "unbc_frames": len(unbc),
        "unbc_pain_frames": int((unbc["pspi"] > 0).sum()),
        "ckplus_sequences": len(ckplus),
        "ckplus_images": int(ckplus["n_frames"].sum()),
    }
