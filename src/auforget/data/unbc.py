"""UNBC-McMaster Shoulder Pain Expression Archive as distributed -> tidy manifest.

    Images/<subject>/<sequence>/<sequence><FFF>.png
    AAM_landmarks/<subject>/<sequence>/<sequence><FFF>_aam.txt        66 lines "x y"
    Frame_Labels/FACS/<subject>/<sequence>/<sequence><FFF>_facs.txt   AU intensity side1 side2
    Frame_Labels/PSPI/<subject>/<sequence>/<sequence><FFF>_facs.txt   one number 0-16

One row per frame. Columns beyond manifest.BASE_COLUMNS:

    subject   str    e.g. "042-ll042"
    sequence  str    e.g. "ll042t1aaaff"
    frame     int    the frame number from the file name (from 1)
    pspi      float  Prkachin-Solomon pain intensity
    aus       str    manifest.format_aus of the FACS frame file ("" for a frame without AUs)

label = int(pspi > 0); landmarks = the 66 AAM points; the box is
manifest.box_from_landmarks around them, clipped to the image (image sizes vary).
Sequence_Labels/ (AFF, OPR, SEN, VAS) is not read: the study uses frame labels only.

Skip reasons: missing_pspi, missing_facs, missing_landmarks, empty_label_file,
malformed_label_file, bad_landmark_count, unreadable_image, malformed_filename,
unexpected_file (a file at the wrong depth), missing_image (label files of a frame with no
image, counted once per frame).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
from tqdm import tqdm

from auforget.data.manifest import (
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
    walk_files,
)

log = logging.getLogger(__name__)

EXTRA_COLUMNS = ("subject", "sequence", "frame", "pspi", "aus")
N_LANDMARKS = 66
IMAGES = "Images"
LANDMARKS = "AAM_landmarks"
FACS = "Frame_Labels/FACS"
PSPI = "Frame_Labels/PSPI"
REQUIRED = (IMAGES, LANDMARKS, FACS, PSPI)
EXPECTED = {
    "unbc": "Images/<subject>/<sequence>/<sequence><FFF>.png, AAM_landmarks/.../<frame>_aam.txt, "
    "Frame_Labels/FACS/.../<frame>_facs.txt and Frame_Labels/PSPI/.../<frame>_facs.txt"
}
_FRAME = re.compile(r"(\d+)$")


# Over 50 lines mostly through its docstring (what is skipped and why); one walk over the archive's
# tree.
def read_unbc(root: str | Path, progress: bool = False) -> ReadResult:
    """Read a UNBC-McMaster root as distributed; one manifest row per frame.

    Frames whose image, PSPI, FACS or landmark file is absent or malformed are left out and
    counted in `skipped`, as are label files that have no image. Raises FileNotFoundError for a
    missing root and DatasetLayoutError (naming the folders expected) for a root that is not
    laid out like UNBC.
    """
    root = check_root(root, "UNBC-McMaster")
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
        raise layout_error("UNBC-McMaster", root, EXPECTED, hint)

    skips = Skips()
    cols: dict[str, list] = {
        c: [] for c in ("path", "label", "x", "y", "w", "h", "landmarks") + EXTRA_COLUMNS
    }
    frames: set[tuple[str, str, str]] = set()
    files = walk_files(root / IMAGES)
    for rel in tqdm(files, desc="UNBC frames", unit="img", disable=not progress):
        path = f"{IMAGES}/{rel}"
        parts = rel.split("/")
        if len(parts) != 3:
            skips.add(
                "unexpected_file", f"{path} (expected {IMAGES}/<subject>/<sequence>/<frame>.png)"
            )
            continue
        subject, sequence, name = parts
        stem = os.path.splitext(name)[0]
        frames.add((subject, sequence, stem))
        digits = stem[len(sequence) :] if stem.startswith(sequence) else ""
        match = _FRAME.search(digits if digits.isdigit() else stem)
        if match is None:
            skips.add("malformed_filename", f"{path}: no frame number after {sequence!r}")
            continue
        row = _read_frame(root, subject, sequence, stem, skips)
        if row is None:
            continue
        pspi, aus, points = row
        size = image_size(root / path)
        if size is None:
            skips.add("unreadable_image", path)
            continue
        cols["path"].append(path)
        cols["label"].append(int(pspi > 0))
        for key, value in zip("xywh", box_from_landmarks(points, *size)):
            cols[key].append(value)
        cols["landmarks"].append(format_landmarks(points))
        cols["subject"].append(subject)
        cols["sequence"].append(sequence)
        cols["frame"].append(int(match.group(1)))
        cols["pspi"].append(pspi)
        cols["aus"].append(aus)
    _count_orphans(root, frames, skips)
    manifest = finish_manifest(
        cols,
        {"subject": "str", "sequence": "str", "frame": "int64", "pspi": "float64", "aus": "str"},
    )
    log.info("UNBC at %s: %d frames, %s", root, len(manifest), skips.summary())
    return ReadResult(manifest, skips, "unbc")


def _read_frame(root: Path, subject: str, sequence: str, stem: str, skips: Skips):
    """(pspi, aus, (66, 2) points) for one frame, or None with the reason counted."""
    rel = f"{subject}/{sequence}/{stem}"
    pspi_file, facs_file, aam_file = (
        f"{PSPI}/{rel}_facs.txt",
        f"{FACS}/{rel}_facs.txt",
        f"{LANDMARKS}/{rel}_aam.txt",
    )
    current = pspi_file
    try:
        rows = read_number_rows(root / pspi_file)
        if not rows:
            skips.add("empty_label_file", pspi_file)
            return None
        values = [v for r in rows for v in r]
        if len(values) != 1 or values[0] < 0:
            skips.add(
                "malformed_label_file",
                f"{pspi_file}: expected one PSPI number >= 0, got {values[:4]}",
            )
            return None
        pspi = values[0]

        current = facs_file
        aus = {}
        for i, au_row in enumerate(read_number_rows(root / facs_file), 1):
            au = au_row[0]
            if len(au_row) < 2 or not au.is_integer() or au <= 0:
                skips.add(
                    "malformed_label_file",
                    f"{facs_file}: row {i} {au_row} is not 'AU intensity side1 side2'",
                )
                return None
            aus[int(au)] = au_row[1]

        current = aam_file
        points = read_number_rows(root / aam_file)
        if any(len(p) != 2 for p in points):
            skips.add("malformed_label_file", f"{aam_file}: expected lines 'x y'")
            return None
        if len(points) != N_LANDMARKS:
            skips.add(
                "bad_landmark_count", f"{aam_file}: {len(points)} points, expected {N_LANDMARKS}"
            )
            return None
    except FileNotFoundError:
        reason = {
            pspi_file: "missing_pspi",
            facs_file: "missing_facs",
            aam_file: "missing_landmarks",
        }[current]
        skips.add(reason, f"{current} (for {IMAGES}/{subject}/{sequence}/{stem})")
        return None
    except (ValueError, OSError) as err:
        skips.add("malformed_label_file", f"{current}: {err}")
        return None
    return pspi, format_aus(aus), np.asarray(points, dtype=float)


def _count_orphans(root: Path, frames: set[tuple[str, str, str]], skips: Skips) -> None:
    """Label or landmark files of frames that have no image: counted once per frame."""
    seen = set(frames)
    for folder, suffix in ((PSPI, "_facs.txt"), (FACS, "_facs.txt"), (LANDMARKS, "_aam.txt")):
        for rel in walk_files(root / folder):
            parts = rel.split("/")
            if len(parts) != 3 or not parts[2].endswith(suffix):
                skips.add("unexpected_file", f"{folder}/{rel}")
                continue
            key = (parts[0], parts[1], parts[2][: -len(suffix)])
            if key not in seen:
                seen.add(key)
                skips.add("missing_image", f"{folder}/{rel}: no image {IMAGES}/{'/'.join(key)}.png")
