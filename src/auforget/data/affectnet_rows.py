"""What every AffectNet layout reader fills: the manifest's extra columns and AffectNet's
expression codes.

The three layouts (affectnet_csv, affectnet_8labels, affectnet_folders) differ in where they find
an image and its labels, not in the rows they produce, so the row shape lives here once and
affectnet.py turns the columns into the manifest.
"""

from __future__ import annotations

from auforget.core.config import EMOTIONS

EXTRA_COLUMNS = ("source_split", "expression", "valence", "arousal")
EXPRESSIONS = (*EMOTIONS, "none", "uncertain", "non-face")  # AffectNet expression codes 0-10
N_LANDMARK_VALUES = 136  # 68 points, x and y interleaved


def new_columns() -> dict[str, list]:
    """Empty manifest columns (BASE_COLUMNS and EXTRA_COLUMNS), filled by append_row."""
    return {c: [] for c in ("path", "label", "x", "y", "w", "h", "landmarks") + EXTRA_COLUMNS}


def append_row(cols, path, expression, box, landmarks, split, valence, arousal) -> None:
    """One image's row: label = expression, box (x, y, w, h), landmarks as manifest text."""
    cols["path"].append(path)
    cols["label"].append(expression)
    cols["expression"].append(expression)
    for key, value in zip("xywh", box):
        cols[key].append(value)
    cols["landmarks"].append(landmarks)
    cols["source_split"].append(split)
    cols["valence"].append(valence)
    cols["arousal"].append(arousal)


def expression_code(value: float) -> int | None:
    """A code 0-10, or None where the value is not one."""
    return int(value) if value.is_integer() and 0 <= value <= 10 else None


def prepend(item, rows):
    """`item`, then `rows`: a CSV row read ahead (to look for a header) put back in front."""
    yield item
    yield from rows
