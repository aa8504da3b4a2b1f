"""AffectNet layout C, folder-per-class copies: the class is the folder an image sits in.

    <split>/<class>/<file>, split train|training|val|validation|test, class a code 0-7 or a
    lowercase name; an optional labels.csv is checked against the folders

The box is the whole image; there are no landmarks, valence or arousal. Folder splits
train/training count as "training", val/validation/test as "validation". Skip reasons:
unknown_split_folder, unknown_class_folder, unreadable_image, malformed_row (in labels.csv), and
label_disagrees_with_folder -- the one count of rows that are KEPT: the folder wins, the
disagreement is reported.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tqdm import tqdm

from auforget.data.affectnet_rows import EXPRESSIONS, append_row, new_columns, prepend
from auforget.data.manifest import Skips, image_size, walk_files

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
EXPECTED = (
    "<split>/<class>/<image> with split in train, training, val, validation, test "
    "and class a code 0-7 or one of " + ", ".join(EXPRESSIONS[:8])
)


def split_folders(root: Path) -> list[tuple[Path, str]]:
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
            rows = prepend((1, header), reader) if header else reader
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


def read_folders(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
    """The manifest columns of every image in a known split and class folder, and the files
    skipped."""
    skips = Skips()
    cols = new_columns()
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
            append_row(cols, path, code, (0, 0, *size), "", split, math.nan, math.nan)
    return cols, skips
