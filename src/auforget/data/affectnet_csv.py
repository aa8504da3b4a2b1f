"""AffectNet layout A, the original "manually annotated" release: images listed by CSV files.

    Manually_Annotated_Images/<dir>/<file> (or Manually_Annotated/...) listed by training.csv /
    validation.csv in Manually_Annotated_file_lists/ or in the root

The box is the CSV face box, clipped to the image; landmarks are the CSV's 68 points. Skip reasons:
malformed_row, null_box, negative_box, unknown_expression, bad_landmark_count, missing_image,
duplicate_row, unreadable_image, box_outside_image, image_not_listed (a file under the image
folder that no list names), empty_file_list. A listed image whose case or extension differs from
the file on disk (f.jpeg vs f.JPEG) resolves to that file when exactly one image has its stem.

Kept apart from the other two layouts because it is most of the reading: a CSV with or without a
header, NULL boxes, paths that disagree with the disk, and every row checked in order.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from tqdm import tqdm

from auforget.data.affectnet_rows import (
    N_LANDMARK_VALUES,
    append_row,
    expression_code,
    new_columns,
    prepend,
)
from auforget.data.manifest import (
    IMAGE_EXTENSIONS,
    DatasetLayoutError,
    Skips,
    image_size,
    layout_error,
    walk_files,
)

CSV_COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
IMAGE_DIRS = (
    "Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
    "Manually_Annotated",
)
LIST_DIRS = ("Manually_Annotated_file_lists", ".")
LIST_FILES = (("training.csv", "training"), ("validation.csv", "validation"))
EXPECTED = (
    "Manually_Annotated_Images/ (or Manually_Annotated/) and training.csv / "
    "validation.csv in Manually_Annotated_file_lists/ or in the root"
)
_NULLS = {"", "NULL", "NAN", "NONE", "NA"}


def file_lists(root: Path) -> list[tuple[Path, str]]:
    """(file list, official split) found in the first list folder that has any; [] for none."""
    for folder in LIST_DIRS:
        found = [
            (root / folder / name, split)
            for name, split in LIST_FILES
            if (root / folder / name).is_file()
        ]
        if found:
            return found
    return []


def _image_dir(root: Path) -> str:
    for rel in IMAGE_DIRS:
        if (root / rel).is_dir():
            return rel
    lists = ", ".join(str(p) for p, _ in file_lists(root))
    raise layout_error(
        "AffectNet",
        root,
        {"csv": EXPECTED},
        f"Found the file lists ({lists}) but none of the image folders "
        f"{', '.join(d + '/' for d in IMAGE_DIRS)}.",
    )


def _csv_header(first: list[str], path: Path) -> tuple[dict[str, int], bool]:
    """Column name -> index, and whether `first` was a header (else the documented order)."""
    names = [c.strip().lstrip("#").strip().lower() for c in first]
    if names and names[0] == CSV_COLUMNS[0].lower():
        index = {name: i for i, name in enumerate(names)}
        required = [c for c in CSV_COLUMNS[:5] + ("expression",) if c.lower() not in index]
        if required:
            raise DatasetLayoutError(
                f"{path}:1: the header lacks {', '.join(required)}; "
                f"expected {','.join(CSV_COLUMNS)}"
            )
        return index, True
    return {c.lower(): i for i, c in enumerate(CSV_COLUMNS)}, False


# Long on purpose: one pass over the CSV release's rows, each check next to the skip reason it
# counts, so a reader comparing with the release's documentation sees every rule in order.
def read_csv_layout(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
    """The manifest columns of every usable listed row under `root`, and the rows skipped."""
    skips = Skips()
    image_rel = _image_dir(root)
    image_root = root / image_rel
    on_disk = set(walk_files(image_root))
    # Listed paths whose case or extension differs from the file on disk resolve through the
    # lower-cased stem, when exactly one image file has it.
    by_stem: dict[str, list[str]] = {}
    for rel in on_disk:
        stem, ext = os.path.splitext(rel)
        if ext.lower() in IMAGE_EXTENSIONS:
            by_stem.setdefault(stem.lower(), []).append(rel)
    used: set[str] = set()  # rows kept
    mentioned: set[str] = set()  # every image a row names, kept or skipped
    cols = new_columns()
    for list_path, split in file_lists(root):
        name = list_path.relative_to(root).as_posix()
        with open(list_path, newline="", encoding="utf-8-sig", errors="replace") as fh:
            reader = csv.reader(fh)
            first = next(reader, None)
            while first is not None and not any(f.strip() for f in first):
                first = next(reader, None)
            if first is None:
                skips.add("empty_file_list", name)
                continue
            index, has_header = _csv_header(first, list_path)
            while has_header and len(first) > 1 and not first[-1].strip():
                first = first[:-1]  # a trailing comma in the header
            n_fields = len(first) if has_header else len(CSV_COLUMNS)
            path_col = index["subdirectory_filepath"]
            rows = reader if has_header else prepend((reader.line_num, first), reader)
            rows = tqdm(rows, desc=f"AffectNet {name}", unit="row", disable=not progress)
            for row in rows:
                if isinstance(row, tuple):
                    lineno, row = row
                else:
                    lineno = reader.line_num
                if not any(f.strip() for f in row):
                    continue
                where = f"{name}:{lineno}"
                if len(row) > path_col:
                    named = row[path_col].strip().replace("\\", "/")
                    mentioned.add(named if named in on_disk else _resolve(named, by_stem))
                parsed = _parse_row(row, index, n_fields, where, skips)
                if parsed is None:
                    continue
                listed, box, expression, valence, arousal, landmarks = parsed
                rel = listed if listed in on_disk else _resolve(listed, by_stem)
                if rel is None:
                    skips.add("missing_image", f"{where}: {image_rel}/{listed}")
                    continue
                if rel in used:
                    skips.add("duplicate_row", f"{where}: {image_rel}/{listed} listed before")
                    continue
                used.add(rel)
                size = image_size(image_root / rel)
                if size is None:
                    skips.add("unreadable_image", f"{where}: {image_rel}/{rel}")
                    continue
                x, y, w, h = box
                if x >= size[0] or y >= size[1]:
                    skips.add(
                        "box_outside_image", f"{where}: box {box} in a {size[0]}x{size[1]} image"
                    )
                    continue
                box = (x, y, min(w, size[0] - x), min(h, size[1] - y))
                append_row(
                    cols, f"{image_rel}/{rel}", expression, box, landmarks, split, valence, arousal
                )
    for rel in sorted(on_disk - mentioned):
        skips.add("image_not_listed", f"{image_rel}/{rel}")
    return cols, skips


def _resolve(listed: str, by_stem: dict[str, list[str]]) -> str | None:
    matches = by_stem.get(os.path.splitext(listed)[0].lower(), [])
    return matches[0] if len(matches) == 1 else None


def _parse_row(row: list[str], index: dict[str, int], n_fields: int, where: str, skips: Skips):
    """(listed path, box, expression, valence, arousal, landmarks) or None (counted in skips)."""
    if len(row) != n_fields and not (
        len(row) > n_fields and not any(f.strip() for f in row[n_fields:])
    ):
        skips.add("malformed_row", f"{where}: {len(row)} fields, expected {n_fields}")
        return None
    listed = row[index["subdirectory_filepath"]].strip().replace("\\", "/")
    if not listed:
        skips.add("malformed_row", f"{where}: empty subDirectory_filePath")
        return None
    raw_box = [row[index[c]].strip() for c in ("face_x", "face_y", "face_width", "face_height")]
    if any(v.upper() in _NULLS for v in raw_box):
        skips.add("null_box", f"{where}: face box {','.join(raw_box)}")
        return None
    try:
        box = tuple(int(float(v)) for v in raw_box)
        expression = expression_code(float(row[index["expression"]]))
        valence, arousal = (_optional_float(row, index, c) for c in ("valence", "arousal"))
    except ValueError:
        skips.add("malformed_row", f"{where}: non-numeric box, expression, valence or arousal")
        return None
    if box[0] < 0 or box[1] < 0 or box[2] <= 0 or box[3] <= 0:
        skips.add("negative_box", f"{where}: face box {','.join(raw_box)}")
        return None
    if expression is None:
        skips.add(
            "unknown_expression",
            f"{where}: expression {row[index['expression']].strip()!r} is not 0-10",
        )
        return None
    landmarks = row[index["facial_landmarks"]].strip() if "facial_landmarks" in index else ""
    if landmarks:
        values = [v.strip() for v in landmarks.rstrip(";").split(";")]
        if len(values) != N_LANDMARK_VALUES:
            skips.add(
                "bad_landmark_count",
                f"{where}: {len(values)} landmark values, expected {N_LANDMARK_VALUES}",
            )
            return None
        try:
            if not all(math.isfinite(float(v)) for v in values):
                raise ValueError
        except ValueError:
            skips.add("malformed_row", f"{where}: non-numeric facial_landmarks")
            return None
        landmarks = ";".join(values)
    return listed, box, expression, valence, arousal, landmarks


def _optional_float(row: list[str], index: dict[str, int], column: str) -> float:
    if column not in index:
        return math.nan
    text = row[index[column]].strip()
    return math.nan if text.upper() in _NULLS else float(text)
