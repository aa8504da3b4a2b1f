"""CK+ (extended Cohn-Kanade) as distributed -> tidy manifest, one row per sequence.

    cohn-kanade-images/S005/001/S005_001_00000001.png ...
    Landmarks/S005/001/S005_001_00000001_landmarks.txt   every frame, 68 lines "x y"
    FACS/S005/001/S005_001_00000011_facs.txt             the peak (last) frame only
    Emotion/S005/001/S005_001_00000011_emotion.txt       only some sequences

The row of a sequence is its peak frame: the frame that has the FACS file. Columns beyond
manifest.BASE_COLUMNS:

    subject   str  e.g. "S005"
    sequence  str  e.g. "001"
    frame     int  the peak frame's number
    aus       str  manifest.format_aus of the FACS file (intensity 0 = present, not graded)
    emotion   int  0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness,
                   7 surprise; -1 where the sequence has no Emotion file

label = emotion; landmarks = the peak frame's 68 points; the box is
manifest.box_from_landmarks around them. Colour or grayscale does not matter here.

Skip reasons (one per sequence): missing_facs, empty_sequence (an image folder without
images or FACS), multiple_facs_files, multiple_emotion_files, missing_image (FACS names a
frame without an image, or a FACS folder has no image folder), malformed_filename,
empty_label_file, malformed_label_file, missing_landmarks, bad_landmark_count,
unreadable_image, unexpected_file (a file at the wrong depth).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from auforget.data.manifest import (
    IGNORED_FILES,
    ReadResult,
    Skips,
    box_from_landmarks,
    check_root,
    finish_manifest,
    format_aus,
    format_landmarks,
    image_size,
    layout_error,
    read_number_rows,
)

log = logging.getLogger(__name__)

EXTRA_COLUMNS = ("subject", "sequence", "frame", "aus", "emotion")
N_LANDMARKS = 68
IMAGES = "cohn-kanade-images"
LANDMARKS = "Landmarks"
FACS = "FACS"
EMOTION = "Emotion"
REQUIRED = (IMAGES, LANDMARKS, FACS)
EXPECTED = {
    "ckplus": "cohn-kanade-images/S005/001/S005_001_00000001.png, "
    "Landmarks/S005/001/S005_001_00000001_landmarks.txt, "
    "FACS/S005/001/S005_001_00000011_facs.txt and (optional) "
    "Emotion/S005/001/S005_001_00000011_emotion.txt"
}


def read_ckplus(root: str | Path, progress: bool = False) -> ReadResult:
    """Read a CK+ root as distributed; one manifest row per sequence (its peak frame).

    Sequences without a usable FACS file, peak image or peak landmarks, or with a malformed
    Emotion file, are left out and counted in `skipped`. Emotion/ may be absent (every
    emotion is then -1, with a warning). Raises FileNotFoundError for a missing root and
    DatasetLayoutError (naming the folders expected) for a root not laid out like CK+.
    """
    root = check_root(root, "CK+")
    missing = [d + "/" for d in REQUIRED if not (root / d).is_dir()]
    if missing:
        hint = f"Missing: {', '.join(missing)}."
        nested = [
            c
            for c in sorted(root.iterdir())
            if c.is_dir() and all((c / d).is_dir() for d in REQUIRED)
        ]
        if nested:
            hint += f" Did you mean the subfolder {nested[0]}?"
        raise layout_error("CK+", root, EXPECTED, hint)
    if not (root / EMOTION).is_dir():
        log.warning("CK+ at %s has no %s/ folder: every emotion is -1", root, EMOTION)

    skips = Skips()
    cols: dict[str, list] = {
        c: [] for c in ("path", "label", "x", "y", "w", "h", "landmarks") + EXTRA_COLUMNS
    }
    sequences = _sequence_dirs(root / IMAGES, IMAGES, skips)
    for subject, sequence in tqdm(
        sequences, desc="CK+ sequences", unit="seq", disable=not progress
    ):
        row = _read_sequence(root, subject, sequence, skips)
        if row is None:
            continue
        path, frame, aus, emotion, points, size = row
        cols["path"].append(path)
        cols["label"].append(emotion)
        for key, value in zip("xywh", box_from_landmarks(points, *size)):
            cols[key].append(value)
        cols["landmarks"].append(format_landmarks(points))
        cols["subject"].append(subject)
        cols["sequence"].append(sequence)
        cols["frame"].append(frame)
        cols["aus"].append(aus)
        cols["emotion"].append(emotion)
    have_images = set(sequences)
    for subject, sequence in _sequence_dirs(root / FACS, FACS, Skips()):
        if (subject, sequence) not in have_images:
            skips.add(
                "missing_image", f"{FACS}/{subject}/{sequence}/: no {IMAGES}/{subject}/{sequence}/"
            )
    manifest = finish_manifest(
        cols,
        {"subject": "str", "sequence": "str", "frame": "int64", "aus": "str", "emotion": "int64"},
    )
    log.info("CK+ at %s: %d sequences, %s", root, len(manifest), skips.summary())
    return ReadResult(manifest, skips, "ckplus")


def _sequence_dirs(top: Path, name: str, skips: Skips) -> list[tuple[str, str]]:
    """(subject, sequence) folders under top, sorted; files at the wrong depth are counted."""
    out = []
    for subject in sorted(os.listdir(top)):
        if subject in IGNORED_FILES:
            continue
        if not (top / subject).is_dir():
            skips.add("unexpected_file", f"{name}/{subject}")
            continue
        for sequence in sorted(os.listdir(top / subject)):
            if sequence in IGNORED_FILES:
                continue
            if (top / subject / sequence).is_dir():
                out.append((subject, sequence))
            else:
                skips.add("unexpected_file", f"{name}/{subject}/{sequence}")
    return out


def _files(folder: Path, suffix: str) -> list[str]:
    try:
        return sorted(
            f for f in os.listdir(folder) if f.endswith(suffix) and f not in IGNORED_FILES
        )
    except FileNotFoundError:
        return []


# Long on purpose: the four files of one CK+ sequence checked in order, each with the skip reason it
# counts.
def _read_sequence(root: Path, subject: str, sequence: str, skips: Skips):
    """(path, frame, aus, emotion, (68, 2) points, image size) of the peak frame, or None with
    the reason counted."""
    seq = f"{subject}/{sequence}"
    images = [f for f in _files(root / IMAGES / seq, "") if not (root / IMAGES / seq / f).is_dir()]
    facs = _files(root / FACS / seq, "_facs.txt")
    if not facs:
        reason = "missing_facs" if images else "empty_sequence"
        skips.add(reason, f"{IMAGES}/{seq}/: no {FACS}/{seq}/*_facs.txt")
        return None
    if len(facs) > 1:
        skips.add("multiple_facs_files", f"{FACS}/{seq}/: {', '.join(facs)}")
        return None
    stem = facs[0][: -len("_facs.txt")]
    facs_file = f"{FACS}/{seq}/{facs[0]}"
    image = next((f for f in images if os.path.splitext(f)[0] == stem), None)
    if image is None:
        skips.add("missing_image", f"{facs_file}: no {IMAGES}/{seq}/{stem}.png")
        return None
    path = f"{IMAGES}/{seq}/{image}"
    try:
        frame = int(stem.rsplit("_", 1)[-1])
    except ValueError:
        skips.add("malformed_filename", f"{facs_file}: no frame number after the last '_'")
        return None

    current = facs_file
    try:
        aus = {}
        rows = read_number_rows(root / facs_file)
        if not rows:
            skips.add("empty_label_file", facs_file)
            return None
        for i, au_row in enumerate(rows, 1):
            au = au_row[0]
            if len(au_row) > 2 or not au.is_integer() or au <= 0:
                skips.add(
                    "malformed_label_file", f"{facs_file}: row {i} {au_row} is not 'AU intensity'"
                )
                return None
            aus[int(au)] = au_row[1] if len(au_row) == 2 else 0.0

        emotion = -1
        emotions = _files(root / EMOTION / seq, "_emotion.txt")
        if len(emotions) > 1:
            skips.add("multiple_emotion_files", f"{EMOTION}/{seq}/: {', '.join(emotions)}")
            return None
        if emotions:
            current = f"{EMOTION}/{seq}/{emotions[0]}"
            values = [v for r in read_number_rows(root / current) for v in r]
            if not values:
                skips.add("empty_label_file", current)
                return None
            if len(values) != 1 or not values[0].is_integer() or not 0 <= values[0] <= 7:
                skips.add(
                    "malformed_label_file",
                    f"{current}: expected one emotion code 0-7, got {values[:4]}",
                )
                return None
            emotion = int(values[0])

        current = f"{LANDMARKS}/{seq}/{stem}_landmarks.txt"
        points = read_number_rows(root / current)
        if any(len(p) != 2 for p in points):
            skips.add("malformed_label_file", f"{current}: expected lines 'x y'")
            return None
        if len(points) != N_LANDMARKS:
            skips.add(
                "bad_landmark_count", f"{current}: {len(points)} points, expected {N_LANDMARKS}"
            )
            return None
    except FileNotFoundError:
        skips.add("missing_landmarks", f"{current} (for {path})")
        return None
    except (ValueError, OSError) as err:
        skips.add("malformed_label_file", f"{current}: {err}")
        return None
    size = image_size(root / path)
    if size is None:
        skips.add("unreadable_image", path)
        return None
    return path, frame, format_aus(aus), emotion, np.asarray(points, dtype=float), size
