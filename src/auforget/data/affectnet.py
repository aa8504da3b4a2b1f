"""AffectNet as distributed -> tidy manifest (docs/datasets.md: pointing the study at a copy).

Three layouts are recognised, in this order:

    csv      Manually_Annotated_Images/<dir>/<file> (or Manually_Annotated/...) listed by
             training.csv / validation.csv in Manually_Annotated_file_lists/ or in the root
    8labels  {train_set,val_set}/images/<id>.jpg + annotations/<id>_{exp,val,aro,lnd}.npy
    folders  <split>/<class>/<file>, split train|training|val|validation|test, class a code
             0-7 or a lowercase name; an optional labels.csv is checked against the folders

Columns beyond manifest.BASE_COLUMNS:

    source_split  str    "training" | "validation" (the official split the row came from;
                         folder splits train/training -> training, val/validation/test ->
                         validation)
    expression    int    the raw code 0-10 (label = expression). Codes 8-10 stay in: choosing
                         classes is the split step's job.
    valence       float  NaN where the layout has none
    arousal       float  NaN where the layout has none

The box is the CSV face box (clipped to the image) in the csv layout, the whole image
otherwise; landmarks are kept where the layout has them.

Skip reasons (Skips examples name the file, and the line for CSV rows):
    csv      malformed_row, null_box, negative_box, unknown_expression, bad_landmark_count,
             missing_image, duplicate_row, unreadable_image, box_outside_image,
             image_not_listed (a file under the image folder that no list names),
             empty_file_list
    8labels  missing_label_file (no _exp.npy), empty_label_file, malformed_label_file,
             unknown_expression, bad_landmark_count, unreadable_image, missing_image
             (an _exp.npy without an image)
    folders  unknown_split_folder, unknown_class_folder, unreadable_image, malformed_row (in
             labels.csv), label_disagrees_with_folder -- the one count of rows that are KEPT:
             the folder wins, the disagreement is reported.
A listed image whose case or extension differs from the file on disk (f.jpeg vs f.JPEG)
resolves to that file when exactly one image has its stem.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from auforget.core.config import EMOTIONS
from auforget.data.manifest import (
    IMAGE_EXTENSIONS,
    DatasetLayoutError,
    ReadResult,
    Skips,
    check_root,
    finish_manifest,
    format_landmarks,
    image_size,
    layout_error,
    walk_files,
)

log = logging.getLogger(__name__)

EXTRA_COLUMNS = ("source_split", "expression", "valence", "arousal")
EXPRESSIONS = (*EMOTIONS, "none", "uncertain", "non-face")  # AffectNet expression codes 0-10
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
N_LANDMARK_VALUES = 136  # 68 points, x and y interleaved

IMAGE_DIRS = (
    "Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
    "Manually_Annotated",
)
LIST_DIRS = ("Manually_Annotated_file_lists", ".")
LIST_FILES = (("training.csv", "training"), ("validation.csv", "validation"))
EIGHT_LABEL_SPLITS = (("train_set", "training"), ("val_set", "validation"))
SPLIT_FOLDERS = {
    "train": "training",
    "training": "training",
    "val": "validation",
    "validation": "validation",
    "test": "validation",
}
CLASS_FOLDERS = {name: code for code, name in enumerate(EXPRESSIONS[:8])}
CLASS_FOLDERS.update({str(code): code for code in range(8)})
CLASS_FOLDERS.update(
    {"angry": 6, "happiness": 1, "sadness": 2, "surprised": 3, "fearful": 4, "disgusted": 5}
)

EXPECTED = {
    "csv": "Manually_Annotated_Images/ (or Manually_Annotated/) and training.csv / "
    "validation.csv in Manually_Annotated_file_lists/ or in the root",
    "8labels": "train_set/ and/or val_set/, each with images/<id>.jpg and "
    "annotations/<id>_exp.npy, _val.npy, _aro.npy, _lnd.npy",
    "folders": "<split>/<class>/<image> with split in train, training, val, validation, test "
    "and class a code 0-7 or one of " + ", ".join(EXPRESSIONS[:8]),
}
_NULLS = {"", "NULL", "NAN", "NONE", "NA"}


def read_affectnet(root: str | Path, progress: bool = False) -> ReadResult:
    """Read an AffectNet root in any of the three distributed layouts (auto-detected).

    Returns ReadResult(manifest, skipped, layout) with layout "csv" | "8labels" | "folders".
    Raises FileNotFoundError for a missing root and DatasetLayoutError for a root that matches
    no layout (the message lists what each layout expects) or a file list without its images.
    """
    root = check_root(root, "AffectNet")
    layout = detect_affectnet_layout(root)
    reader = {"csv": _read_csv_layout, "8labels": _read_8labels, "folders": _read_folders}[layout]
    columns, skips = reader(root, progress)
    manifest = finish_manifest(
        columns,
        {"source_split": "str", "expression": "int64", "valence": "float64", "arousal": "float64"},
    )
    log.info(
        "AffectNet (%s layout) at %s: %d images, %s", layout, root, len(manifest), skips.summary()
    )
    return ReadResult(manifest, skips, layout)


def detect_affectnet_layout(root: Path) -> str:
    """'csv', '8labels' or 'folders'; DatasetLayoutError naming what each expects otherwise."""
    if _file_lists(root):
        return "csv"
    if any(
        (root / d / sub).is_dir()
        for d, _ in EIGHT_LABEL_SPLITS
        for sub in ("images", "annotations")
    ):
        return "8labels"
    if _split_folders(root):
        return "folders"
    hint = ""
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if _file_lists(child) or _split_folders(child) or (child / "train_set").is_dir():
            hint = f"Did you mean the subfolder {child}?"
            break
    raise layout_error("AffectNet", root, EXPECTED, hint)


def _new_columns() -> dict[str, list]:
    return {c: [] for c in ("path", "label", "x", "y", "w", "h", "landmarks") + EXTRA_COLUMNS}


def _append(cols, path, expression, box, landmarks, split, valence, arousal) -> None:
    cols["path"].append(path)
    cols["label"].append(expression)
    cols["expression"].append(expression)
    for key, value in zip("xywh", box):
        cols[key].append(value)
    cols["landmarks"].append(landmarks)
    cols["source_split"].append(split)
    cols["valence"].append(valence)
    cols["arousal"].append(arousal)


def _expression(value: float) -> int | None:
    """A code 0-10, or None where the value is not one."""
    return int(value) if value.is_integer() and 0 <= value <= 10 else None


# --- A. csv ----------------------------------------------------------------------------------


def _file_lists(root: Path) -> list[tuple[Path, str]]:
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
    lists = ", ".join(str(p) for p, _ in _file_lists(root))
    raise layout_error(
        "AffectNet",
        root,
        {"csv": EXPECTED["csv"]},
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
def _read_csv_layout(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
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
    cols = _new_columns()
    for list_path, split in _file_lists(root):
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
            rows = reader if has_header else _prepend((reader.line_num, first), reader)
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
                _append(
                    cols, f"{image_rel}/{rel}", expression, box, landmarks, split, valence, arousal
                )
    for rel in sorted(on_disk - mentioned):
        skips.add("image_not_listed", f"{image_rel}/{rel}")
    return cols, skips


def _prepend(item, rows):
    yield item
    yield from rows


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
        expression = _expression(float(row[index["expression"]]))
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


# --- B. 8 labels -------------------------------------------------------------------------------


def _npy_text(path: Path) -> str | None:
    """The single value of a 0-d .npy (a string, as AffectNet writes it) as text; None if the
    file is absent. ValueError for an empty, corrupt or non-scalar file."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError) as err:
        if path.stat().st_size == 0:
            raise ValueError("empty file") from None
        raise ValueError(f"not a readable .npy ({err})") from None
    if array.size != 1:
        raise ValueError(f"expected one value, got shape {array.shape}")
    value = array.reshape(()).item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _npy_landmarks(path: Path) -> np.ndarray | None:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"not a readable .npy ({err})") from None
    return np.asarray(array, dtype=float).reshape(-1)  # string arrays parse here too


def _read_8labels(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
    skips = Skips()
    cols = _new_columns()
    for folder, split in EIGHT_LABEL_SPLITS:
        if not (root / folder).is_dir():
            continue
        images, annotations = root / folder / "images", root / folder / "annotations"
        missing = [d.name + "/" for d in (images, annotations) if not d.is_dir()]
        if missing:
            raise DatasetLayoutError(
                f"{root / folder} lacks {' and '.join(missing)}; the 8labels layout "
                f"expects {EXPECTED['8labels']}"
            )
        files = walk_files(images)
        stems = {os.path.splitext(f)[0] for f in files}
        for name in walk_files(annotations):
            stem, _, kind = name.rpartition("_")
            if kind == "exp.npy" and stem not in stems:
                skips.add(
                    "missing_image",
                    f"{folder}/annotations/{name}: no image {stem}.* in {folder}/images/",
                )
        for rel in tqdm(files, desc=f"AffectNet {folder}", unit="img", disable=not progress):
            stem = os.path.splitext(rel)[0]
            ann = annotations / stem
            where = f"{folder}/annotations/{stem}"
            try:
                exp_text = _npy_text(Path(f"{ann}_exp.npy"))
                if exp_text is None:
                    skips.add("missing_label_file", f"{where}_exp.npy (for {folder}/images/{rel})")
                    continue
                if not exp_text.strip():
                    raise ValueError("empty file")
                expression = _expression(float(exp_text))
                val, aro = (_npy_text(Path(f"{ann}_{k}.npy")) for k in ("val", "aro"))
                valence, arousal = (math.nan if t is None else float(t) for t in (val, aro))
                points = _npy_landmarks(Path(f"{ann}_lnd.npy"))
            except ValueError as err:
                reason = "empty_label_file" if "empty file" in str(err) else "malformed_label_file"
                skips.add(reason, f"{where}_*.npy: {err}")
                continue
            if expression is None:
                skips.add("unknown_expression", f"{where}_exp.npy: {exp_text!r} is not 0-10")
                continue
            if points is not None and points.size != N_LANDMARK_VALUES:
                skips.add(
                    "bad_landmark_count",
                    f"{where}_lnd.npy: {points.size} values, expected {N_LANDMARK_VALUES}",
                )
                continue
            size = image_size(images / rel)
            if size is None:
                skips.add("unreadable_image", f"{folder}/images/{rel}")
                continue
            landmarks = "" if points is None else format_landmarks(points.reshape(-1, 2))
            _append(
                cols,
                f"{folder}/images/{rel}",
                expression,
                (0, 0, *size),
                landmarks,
                split,
                valence,
                arousal,
            )
    return cols, skips


# --- C. folder per class -------------------------------------------------------------------------


def _split_folders(root: Path) -> list[tuple[Path, str]]:
    """Split folders of root that hold at least one known class folder."""
    found = []
    for child in sorted(root.iterdir()):
        split = SPLIT_FOLDERS.get(child.name.lower())
        if (
            split
            and child.is_dir()
            and any(c.is_dir() and c.name.lower() in CLASS_FOLDERS for c in child.iterdir())
        ):
            found.append((child, split))
    return found


def _class_code(text: str) -> int | None:
    text = text.strip().lower()
    if text in CLASS_FOLDERS:
        return CLASS_FOLDERS[text]
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() and 0 <= value <= 10 else None


_PATH_COLUMNS = (
    "path",
    "file",
    "filename",
    "file_name",
    "image",
    "image_path",
    "img",
    "filepath",
    "subdirectory_filepath",
    "relpath",
)
_LABEL_COLUMNS = ("label", "expression", "class", "emotion", "exp", "class_name")


def _labels_csv(path: Path, root: Path, skips: Skips) -> dict[str, int]:
    """labels.csv -> {path relative to root or to the csv's folder, or bare file name: code}."""
    name = path.relative_to(root).as_posix()
    out: dict[str, int] = {}
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        header = [c.strip().lstrip("#").strip().lower() for c in next(reader, [])]
        path_col = next((header.index(c) for c in _PATH_COLUMNS if c in header), None)
        label_col = next((header.index(c) for c in _LABEL_COLUMNS if c in header), None)
        rows = reader
        if path_col is None or label_col is None:  # no header: path, label
            path_col, label_col = 0, 1
            rows = _prepend((1, header), reader) if header else reader
        for row in rows:
            lineno, row = row if isinstance(row, tuple) else (reader.line_num, row)
            if not any(f.strip() for f in row):
                continue
            code = _class_code(row[label_col]) if len(row) > max(path_col, label_col) else None
            if code is None:
                skips.add(
                    "malformed_row", f"{name}:{lineno}: expected a path and a class code or name"
                )
                continue
            listed = row[path_col].strip().replace("\\", "/")
            out[listed] = code
            out.setdefault(listed.rsplit("/", 1)[-1], code)
    return out


def _read_folders(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
    skips = Skips()
    cols = _new_columns()
    root_labels = (
        _labels_csv(root / "labels.csv", root, skips) if (root / "labels.csv").is_file() else {}
    )
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = SPLIT_FOLDERS.get(child.name.lower())
        if split is None:
            skips.add(
                "unknown_split_folder",
                f"{child.name}/ (expected one of {', '.join(SPLIT_FOLDERS)})",
            )
            continue
        labels = dict(root_labels)
        if (child / "labels.csv").is_file():
            labels.update(_labels_csv(child / "labels.csv", root, skips))
        files = [f for f in walk_files(child) if f != "labels.csv"]
        for rel in tqdm(files, desc=f"AffectNet {child.name}", unit="img", disable=not progress):
            path = f"{child.name}/{rel}"
            folder = rel.split("/", 1)[0] if "/" in rel else ""
            code = CLASS_FOLDERS.get(folder.lower())
            if code is None:
                skips.add(
                    "unknown_class_folder",
                    f"{path}: {folder or 'no class folder'!r} is not a class",
                )
                continue
            listed = next(
                (labels[k] for k in (path, rel, rel.rsplit("/", 1)[-1]) if k in labels), None
            )
            if listed is not None and listed != code:
                # The folder wins; the row stays and the disagreement is counted.
                skips.add(
                    "label_disagrees_with_folder",
                    f"{path}: labels.csv says {listed}, folder says {code}",
                )
            size = image_size(child / rel)
            if size is None:
                skips.add("unreadable_image", path)
                continue
            _append(cols, path, code, (0, 0, *size), "", split, math.nan, math.nan)
    return cols, skips
