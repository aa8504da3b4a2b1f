"""Plain manifests -> the study's tasks: any source task, target task, concept sets and regions.

With `data.kind: manifest` the study reads no dataset layout. A task manifest is a CSV file (or
an ImageFolder tree, `<root>/<class>/<image>`) with one row per image:

    path        required  the image, relative to the manifest's folder (or absolute)
    label       required  the class name (a number is a name too); unknown names are an error
    subject     optional  who is shown: splits are then subject-disjoint
    x, y, w, h  optional  the face box in pixels (all four, or none: the whole image)
    landmarks   optional  x1;y1;x2;y2;... in image pixels (the regions' landmark groups use them)
    split       optional  train | val | test: the split as given instead of drawn

A concept manifest has path (and the optional columns above) and one 0/1 column per concept:
the column's name is the concept's name. A regions manifest has one row per region: `region`
and either `landmarks` (the indices of a landmark group, `17;18;19`) or `x0, y0, x1, y1` (a box
on the face box, as fractions of its width and height); optional `grow` (the landmark group's
polygon scaled about its centre) and `concepts` (free text shown beside the region).

A bad manifest is one clear line (ManifestError: the file, the line, what was expected): a
missing manifest, a missing column, an unknown label, a duplicate path, a concept value that is
not 0/1, a split that leaves a class without a row. Images listed but absent or unreadable on
disk are counted skips, as the native readers count theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from auforget.data.manifest import (
    IGNORED_FILES,
    IMAGE_EXTENSIONS,
    DatasetLayoutError,
    ReadResult,
    Skips,
    finish_manifest,
    image_size,
    parse_landmarks,
)

BOX = ("x", "y", "w", "h")
SPLITS = ("train", "val", "test")
TASK_COLUMNS = ("path", "label", "subject", *BOX, "landmarks", "split")
CONCEPT_RESERVED = ("path", "subject", *BOX, "landmarks", "split", "sample_id", "label")
REGION_BOX = ("x0", "y0", "x1", "y1")


class ManifestError(DatasetLayoutError):
    """A manifest that cannot be read as the study needs it; the message is one line."""


@dataclass(frozen=True)
class TaskManifest:
    """A task read from its manifest: the rows (label as a class index), the class names in label
    order, the folder image paths are relative to, and what was skipped."""

    result: ReadResult
    classes: tuple[str, ...]
    root: Path


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise ManifestError(f"{what} manifest {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ManifestError(f"{path}: not a readable CSV manifest ({first})") from None
    frame.columns = [c.strip() for c in frame.columns]
    return frame


def _require(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ManifestError(
            f"{path}: {what} manifest lacks column(s) {missing}; it has {list(frame.columns)}"
        )


def _line(i: int) -> int:
    """CSV line of data row i (the header is line 1)."""
    return int(i) + 2


def _image_folder(root: Path) -> pd.DataFrame:
    """An ImageFolder tree `<root>/<class>/<image>` as a manifest frame (path, label)."""
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for image in sorted(folder.rglob("*")):
            if image.is_file() and image.name not in IGNORED_FILES:
                if image.suffix.lower() in IMAGE_EXTENSIONS:
                    rows.append((image.relative_to(root).as_posix(), folder.name))
    if not rows:
        raise ManifestError(f"{root}: an ImageFolder tree needs <class>/<image> files; none found")
    return pd.DataFrame(rows, columns=["path", "label"])


def _load(path: str | Path, what: str) -> tuple[pd.DataFrame, Path, Path]:
    """(rows as text, the folder paths are relative to, the file named in errors)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return _image_folder(path), path, path
    return _read_csv(path, what), path.parent, path


def _check_paths(frame: pd.DataFrame, where: Path) -> None:
    paths = frame["path"].str.strip()
    if (paths == "").any():
        i = int(np.flatnonzero((paths == "").to_numpy())[0])
        raise ManifestError(f"{where}:{_line(i)}: empty path")
    dup = paths.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())
        first = paths.iloc[rows[0]]
        again = [_line(i) for i in rows if paths.iloc[i] == first]
        raise ManifestError(
            f"{where}: duplicate path {first!r} on lines {', '.join(map(str, again))}; each "
            "image may be listed once"
        )


def _boxes_and_files(
    frame: pd.DataFrame, root: Path, where: Path, skips: Skips
) -> tuple[pd.DataFrame, dict[str, list]]:
    """Keep the rows whose image exists and reads; the box of each (given, or the whole image)."""
    has_box = all(c in frame.columns for c in BOX)
    if any(c in frame.columns for c in BOX) and not has_box:
        raise ManifestError(
            f"{where}: a face box needs all of x, y, w, h; it has "
            f"{[c for c in BOX if c in frame.columns]}"
        )
    keep, boxes = [], {c: [] for c in BOX}
    for i, row in enumerate(frame.itertuples(index=False)):
        rel = str(row.path).strip()
        file = Path(rel) if Path(rel).is_absolute() else root / rel
        if not file.exists():
            skips.add("missing_image", f"{where}:{_line(i)} {rel}")
            continue
        size = image_size(file)
        if size is None:
            skips.add("unreadable_image", f"{where}:{_line(i)} {rel}")
            continue
        if has_box:
            try:
                box = [int(round(float(getattr(row, c)))) for c in BOX]
            except ValueError:
                raise ManifestError(
                    f"{where}:{_line(i)}: face box x, y, w, h must be numbers, got "
                    f"{[getattr(row, c) for c in BOX]}"
                ) from None
            if box[2] <= 0 or box[3] <= 0:
                skips.add("empty_face_box", f"{where}:{_line(i)} {rel}")
                continue
        else:
            box = [0, 0, size[0], size[1]]
        keep.append(i)
        for c, v in zip(BOX, box):
            boxes[c].append(v)
    return frame.iloc[keep].reset_index(drop=True), boxes


def _columns(frame: pd.DataFrame, boxes: dict[str, list], where: Path) -> dict[str, list]:
    columns: dict[str, list] = {"path": frame["path"].str.strip().tolist(), **boxes}
    if "landmarks" in frame.columns:
        for i, text in enumerate(frame["landmarks"]):
            try:
                parse_landmarks(text)
            except ValueError:
                raise ManifestError(
                    f"{where}: row of {frame['path'].iloc[i]!r}: landmarks must be x1;y1;x2;y2;... "
                    f"numbers, got {str(text)[:40]!r}"
                ) from None
        columns["landmarks"] = frame["landmarks"].tolist()
    else:
        columns["landmarks"] = [""] * len(frame)
    columns["subject"] = (
        frame["subject"].str.strip().tolist() if "subject" in frame.columns else [""] * len(frame)
    )
    return columns


def read_task_manifest(path: str | Path, what: str, classes: tuple[str, ...] = ()) -> TaskManifest:
    """Read a task manifest (CSV or ImageFolder). `classes` names the labels in their order
    (empty: the sorted distinct labels); a label outside it is a ManifestError naming the line."""
    frame, root, where = _load(path, what)
    _require(frame, where, ("path", "label"), what)
    _check_paths(frame, where)
    labels = frame["label"].str.strip()
    names = tuple(classes) or tuple(sorted(set(labels)))
    unknown = ~labels.isin(names)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise ManifestError(
            f"{where}:{_line(i)}: unknown label {labels.iloc[i]!r}; the {what} classes are "
            f"{list(names)}"
        )
    if "split" in frame.columns:
        bad = ~frame["split"].str.strip().isin(SPLITS)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ManifestError(
                f"{where}:{_line(i)}: split {frame['split'].iloc[i]!r} is not one of {list(SPLITS)}"
            )
    skips = Skips()
    frame, boxes = _boxes_and_files(frame, root, where, skips)
    if frame.empty:
        raise ManifestError(f"{where}: no image of the {what} manifest exists on disk")
    columns = _columns(frame, boxes, where)
    columns["label"] = [names.index(v.strip()) for v in frame["label"]]
    if "split" in frame.columns:
        columns["split"] = frame["split"].str.strip().tolist()
    manifest = finish_manifest(columns, {"subject": "str"})
    return TaskManifest(ReadResult(manifest, skips, "manifest"), names, root)


def read_concept_manifest(path: str | Path) -> tuple[TaskManifest, tuple[str, ...]]:
    """Read a concept manifest: path plus one 0/1 column per concept. Returns the rows (each
    concept a 0/1 int column; label is 0) and the concept names in column order."""
    frame, root, where = _load(path, "concept")
    _require(frame, where, ("path",), "concept")
    concepts = tuple(c for c in frame.columns if c not in CONCEPT_RESERVED)
    if not concepts:
        raise ManifestError(
            f"{where}: a concept manifest needs one 0/1 column per concept besides "
            f"{[c for c in frame.columns if c in CONCEPT_RESERVED]}"
        )
    for concept in concepts:
        values = frame[concept].str.strip()
        bad = ~values.isin(("0", "1"))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ManifestError(
                f"{where}:{_line(i)}: concept {concept!r} is {values.iloc[i]!r}; expected 0 "
                "(absent) or 1 (present)"
            )
    _check_paths(frame, where)
    skips = Skips()
    frame, boxes = _boxes_and_files(frame, root, where, skips)
    if frame.empty:
        raise ManifestError(f"{where}: no image of the concept manifest exists on disk")
    columns = _columns(frame, boxes, where)
    columns["label"] = [0] * len(frame)
    for concept in concepts:
        columns[concept] = frame[concept].str.strip().astype(int).tolist()
    manifest = finish_manifest(columns, {"subject": "str", **{c: "int64" for c in concepts}})
    return TaskManifest(ReadResult(manifest, skips, "manifest"), (), root), concepts


def read_regions_manifest(path: str | Path) -> pd.DataFrame:
    """The regions manifest as a frame: region, kind (landmarks | box), landmarks (indices as
    text), x0, y0, x1, y1 (fractions), grow, concepts. One clear line for a bad row."""
    frame, _, where = _load(path, "regions")
    _require(frame, where, ("region",), "regions")
    has_lm = "landmarks" in frame.columns
    has_box = all(c in frame.columns for c in REGION_BOX)
    if not (has_lm or has_box):
        raise ManifestError(
            f"{where}: each region needs landmarks (a landmark group: 17;18;19) or x0, y0, x1, "
            f"y1 (a box on the face, fractions); it has {list(frame.columns)}"
        )
    names = frame["region"].str.strip()
    dup = names.duplicated()
    if dup.any():
        raise ManifestError(
            f"{where}:{_line(int(np.flatnonzero(dup.to_numpy())[0]))}: region "
            f"{names[dup].iloc[0]!r} is listed twice"
        )
    rows = []
    for i, row in frame.iterrows():
        name = names.iloc[i]
        if not name:
            raise ManifestError(f"{where}:{_line(i)}: empty region name")
        out = {"region": name, "concepts": str(row.get("concepts", "")).strip()}
        text = str(row.get("landmarks", "")).strip() if has_lm else ""
        try:
            out["grow"] = float(str(row.get("grow", "") or "1").strip() or 1)
            if text:
                out["kind"], out["landmarks"] = (
                    "landmarks",
                    ";".join(str(int(v)) for v in text.split(";")),
                )
                out.update({c: np.nan for c in REGION_BOX})
            else:
                box = [float(row[c]) for c in REGION_BOX] if has_box else []
                out["kind"], out["landmarks"] = "box", ""
                out.update(dict(zip(REGION_BOX, box)))
        except (ValueError, KeyError):
            raise ManifestError(
                f"{where}:{_line(i)}: region {name!r}: landmarks must be whole numbers "
                "joined by ';' and x0, y0, x1, y1 numbers"
            ) from None
        if out["kind"] == "box" and not (
            len(box) == 4 and 0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1
        ):
            raise ManifestError(
                f"{where}:{_line(i)}: region {name!r}: a box needs 0 <= x0 < x1 <= 1 and "
                f"0 <= y0 < y1 <= 1 (fractions of the face box), got {box}"
            )
        rows.append(out)
    return pd.DataFrame(
        rows, columns=["region", "kind", "landmarks", *REGION_BOX, "grow", "concepts"]
    )
