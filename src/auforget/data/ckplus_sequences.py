"""Walking CK+'s four parallel trees for one sequence: which frame is the peak, and its labels.

    cohn-kanade-images/S005/001/S005_001_00000001.png ...
    Landmarks/S005/001/S005_001_00000001_landmarks.txt   every frame, 68 lines "x y"
    FACS/S005/001/S005_001_00000011_facs.txt             the peak (last) frame only
    Emotion/S005/001/S005_001_00000011_emotion.txt       only some sequences

The peak is the frame that has the FACS file; its image, landmarks and (optional) emotion are
found by its file stem. Kept apart from ckplus.py, which turns the peaks into the manifest,
because this is where the dataset's rules live: each file is checked in order, with the skip
reason it counts (the reasons are listed in ckplus.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from auforget.data.manifest import (
    IGNORED_FILES,
    Skips,
    format_aus,
    image_size,
    read_number_rows,
)

N_LANDMARKS = 68
IMAGES = "cohn-kanade-images"
LANDMARKS = "Landmarks"
FACS = "FACS"
EMOTION = "Emotion"


def sequence_dirs(top: Path, name: str, skips: Skips) -> list[tuple[str, str]]:
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
def read_sequence(root: Path, subject: str, sequence: str, skips: Skips):
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
