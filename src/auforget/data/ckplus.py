"""CK+ (extended Cohn-Kanade) as distributed -> tidy manifest, one row per sequence.

    cohn-kanade-images/S005/001/S005_001_00000001.png ...
    Landmarks/S005/001/S005_001_00000001_landmarks.txt   every frame, 68 lines "x y"
    FACS/S005/001/S005_001_00000011_facs.txt             the peak (last) frame only
    Emotion/S005/001/S005_001_00000011_emotion.txt       only some sequences

The row of a sequence is its peak frame: the frame that has the FACS file (ckplus_sequences
finds it and reads its files; this module walks the subjects and builds the manifest). Columns
beyond manifest.BASE_COLUMNS:

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
from pathlib import Path

from tqdm import tqdm

from auforget.data.ckplus_sequences import (
    EMOTION,
    FACS,
    IMAGES,
    LANDMARKS,
    read_sequence,
    sequence_dirs,
)
from auforget.data.manifest import (
    ReadResult,
    Skips,
    box_from_landmarks,
    check_root,
    finish_manifest,
    format_landmarks,
    layout_error,
)

log = logging.getLogger(__name__)

EXTRA_COLUMNS = ("subject", "sequence", "frame", "aus", "emotion")
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
    sequences = sequence_dirs(root / IMAGES, IMAGES, skips)
    for subject, sequence in tqdm(
        sequences, desc="CK+ sequences", unit="seq", disable=not progress
    ):
        row = read_sequence(root, subject, sequence, skips)
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
    for subject, sequence in sequence_dirs(root / FACS, FACS, Skips()):
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
