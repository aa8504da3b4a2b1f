"""AffectNet as distributed -> tidy manifest (docs/datasets.md: pointing the study at a copy).

Three layouts are recognised, in this order, each read by a module of its own (the CSV release
alone is most of the reading; apart, each reader is readable in one sitting):

    csv      affectnet_csv: Manually_Annotated_Images/<dir>/<file> (or Manually_Annotated/...)
             listed by training.csv / validation.csv in Manually_Annotated_file_lists/ or the root
    8labels  affectnet_8labels: {train_set,val_set}/images/<id>.jpg +
             annotations/<id>_{exp,val,aro,lnd}.npy
    folders  affectnet_folders: <split>/<class>/<file>, split train|training|val|validation|test,
             class a code 0-7 or a lowercase name; an optional labels.csv is checked against them

Columns beyond manifest.BASE_COLUMNS, the same for every layout (affectnet_rows):

    source_split  str    "training" | "validation" (the official split the row came from;
                         folder splits train/training -> training, val/validation/test ->
                         validation)
    expression    int    the raw code 0-10 (label = expression). Codes 8-10 stay in: choosing
                         classes is the split step's job.
    valence       float  NaN where the layout has none
    arousal       float  NaN where the layout has none

The box is the CSV face box (clipped to the image) in the csv layout, the whole image
otherwise; landmarks are kept where the layout has them. Skipped rows are counted by reason
(Skips examples name the file, and the line for CSV rows); each layout's module lists its
reasons.
"""

from __future__ import annotations

import logging
from pathlib import Path

from auforget.data import affectnet_8labels, affectnet_csv, affectnet_folders
from auforget.data.manifest import ReadResult, check_root, finish_manifest, layout_error

log = logging.getLogger(__name__)

EXPECTED = {
    "csv": affectnet_csv.EXPECTED,
    "8labels": affectnet_8labels.EXPECTED,
    "folders": affectnet_folders.EXPECTED,
}
READERS = {
    "csv": affectnet_csv.read_csv_layout,
    "8labels": affectnet_8labels.read_8labels,
    "folders": affectnet_folders.read_folders,
}


def read_affectnet(root: str | Path, progress: bool = False) -> ReadResult:
    """Read an AffectNet root in any of the three distributed layouts (auto-detected).

    Returns ReadResult(manifest, skipped, layout) with layout "csv" | "8labels" | "folders".
    Raises FileNotFoundError for a missing root and DatasetLayoutError for a root that matches
    no layout (the message lists what each layout expects) or a file list without its images.
    """
    root = check_root(root, "AffectNet")
    layout = detect_affectnet_layout(root)
    columns, skips = READERS[layout](root, progress)
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
    if affectnet_csv.file_lists(root):
        return "csv"
    if any(
        (root / d / sub).is_dir()
        for d, _ in affectnet_8labels.EIGHT_LABEL_SPLITS
        for sub in ("images", "annotations")
    ):
        return "8labels"
    if affectnet_folders.split_folders(root):
        return "folders"
    hint = ""
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if (
            affectnet_csv.file_lists(child)
            or affectnet_folders.split_folders(child)
            or (child / "train_set").is_dir()
        ):
            hint = f"Did you mean the subfolder {child}?"
            break
    raise layout_error("AffectNet", root, EXPECTED, hint)
