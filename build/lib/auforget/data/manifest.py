"""The tidy manifest every reader returns, and the record of what a reader skipped.

A manifest is a pandas DataFrame, one row per image, with these columns (readers add
dataset-specific ones listed in their own module docstrings):

    sample_id   str   unique within the dataset, stable across runs (used by McNemar pairing)
    path        str   image path relative to the dataset root, with forward slashes
    label       int   the class the study trains on (AffectNet: expression 0-7; UNBC: pain 0/1;
                      CK+: emotion code or -1 where CK+ gives none)
    x, y, w, h  int   face box in pixels inside the image (AffectNet: from the CSV or the whole
                      image; UNBC/CK+: landmark bounding box with a margin)
    landmarks   str   x1;y1;x2;y2;... floats in image pixels ("" where the dataset has none)

Skipped rows are never dropped silently: every reader fills a `Skips` and the stage that
calls it writes the counts (and the first examples) to its output and to MLflow.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

BASE_COLUMNS = ("sample_id", "path", "label", "x", "y", "w", "h", "landmarks")
MAX_EXAMPLES = 5
IGNORED_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


class DatasetLayoutError(ValueError):
    """A dataset root, file or line does not look like what the dataset distributes."""


@dataclass
class Skips:
    """Counts of skipped inputs by reason, with the first few examples of each."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, example: str) -> None:
        self.counts[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < MAX_EXAMPLES:
            seen.append(example)

    def merge(self, other: "Skips") -> None:
        for reason, n in other.counts.items():
            self.counts[reason] += n
            seen = self.examples.setdefault(reason, [])
            seen.extend(other.examples.get(reason, [])[: MAX_EXAMPLES - len(seen)])

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_metrics(self, prefix: str) -> dict[str, int]:
        """`{prefix}skipped_total` plus one `{prefix}skipped_<reason>` per reason."""
        out = {f"{prefix}skipped_total": self.total}
        out.update({f"{prefix}skipped_{reason}": n for reason, n in sorted(self.counts.items())})
        return out

    def summary(self) -> str:
        if not self.total:
            return "nothing skipped"
        lines = [f"skipped {self.total}:"]
        for reason, n in sorted(self.counts.items()):
            lines.append(f"  {reason}: {n} (e.g. {'; '.join(self.examples.get(reason, []))})")
        return "\n".join(lines)


@dataclass
class ReadResult:
    """What a reader returns: the manifest, what it skipped, and which layout it detected."""

    manifest: pd.DataFrame
    skipped: Skips
    layout: str


def format_landmarks(points: np.ndarray) -> str:
    """(n, 2) array -> 'x1;y1;x2;y2;...' with two decimals."""
    return ";".join(f"{v:.2f}" for v in np.asarray(points, dtype=float).reshape(-1))


def parse_landmarks(text: str) -> np.ndarray:
    """'x1;y1;...' -> (n, 2) float array; an empty string gives shape (0, 2)."""
    if not isinstance(text, str) or not text.strip():
        return np.zeros((0, 2))
    return np.array([float(v) for v in text.split(";")], dtype=float).reshape(-1, 2)


def box_from_landmarks(
    points: np.ndarray, image_w: int, image_h: int, margin: float = 0.15
) -> tuple[int, int, int, int]:
    """Square face box around landmarks, grown by `margin` on every side and clipped to the image.

    Landmarks stop at the brows, so the box is grown more upwards to keep the forehead, where
    AU1/2/4 show.
    """
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * (y1 - y0)
    left = int(round(max(0.0, cx - side / 2)))
    top = int(round(max(0.0, cy - side / 2)))
    right = int(round(min(float(image_w), cx + side / 2)))
    bottom = int(round(min(float(image_h), cy + side / 2)))
    return left, top, max(1, right - left), max(1, bottom - top)


def format_aus(aus: dict[int, float]) -> str:
    """{4: 2.0, 6: 1.0} -> '4:2;6:1' sorted by AU number (intensity 0 = present, not graded)."""
    return ";".join(f"{au}:{aus[au]:g}" for au in sorted(aus))


def parse_aus(text: str) -> dict[int, float]:
    """'4:2;6:1' -> {4: 2.0, 6: 1.0}; an empty string gives {}."""
    if not isinstance(text, str) or not text.strip():
        return {}
    out = {}
    for item in text.split(";"):
        au, _, intensity = item.partition(":")
        out[int(au)] = float(intensity or 0)
    return out


# --- helpers shared by the readers (affectnet.py, unbc.py, ckplus.py) -------------------------

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


def check_root(root: str | Path, dataset: str) -> Path:
    """The dataset root as a Path; a clear FileNotFoundError / NotADirectoryError otherwise."""
    path = Path(root).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{dataset} root {path} does not exist")
    if not path.is_dir():
        raise NotADirectoryError(f"{dataset} root {path} is a file, not a folder")
    return path


def layout_error(
    dataset: str, root: Path, expected: dict[str, str], hint: str = ""
) -> DatasetLayoutError:
    """A DatasetLayoutError naming the root, each layout looked for with the files it expects,
    and what the root holds instead."""
    try:
        entries = sorted(e for e in os.listdir(root) if e not in IGNORED_FILES)
    except OSError:
        entries = []
    shown = ", ".join(entries[:12]) + (
        f", ... ({len(entries)} entries)" if len(entries) > 12 else ""
    )
    lines = [f"{root} does not look like a {dataset} root. Layouts looked for:"]
    lines += [f"  {name}: {files}" for name, files in expected.items()]
    lines.append(f"The root holds: {shown or 'nothing'}")
    if hint:
        lines.append(hint)
    return DatasetLayoutError("\n".join(lines))


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) from the image header (PIL opens lazily); None if it is not a readable
    image."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def read_number_rows(path: str | Path) -> list[list[float]]:
    """Whitespace-separated numbers (MATLAB ASCII, e.g. `   2.0000000e+00`), one list per
    non-empty line. Raises ValueError('line N: ...') on text that is not a finite number;
    FileNotFoundError if the file is absent."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise ValueError(
                    f"line {lineno}: expected numbers, got {line.strip()[:60]!r}"
                ) from None
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f"line {lineno}: non-finite number in {line.strip()[:60]!r}")
            rows.append(values)
    return rows


def sample_ids_from_paths(paths: list[str]) -> list[str]:
    """Each path without its extension; where two paths would collide, the full path."""
    stems = [p.rsplit(".", 1)[0] if "." in p.rsplit("/", 1)[-1] else p for p in paths]
    seen = Counter(stems)
    return [p if seen[s] > 1 else s for s, p in zip(stems, paths)]


def finish_manifest(columns: dict[str, list], dtypes: dict[str, str]) -> pd.DataFrame:
    """Column lists -> manifest DataFrame with BASE_COLUMNS first, a sample_id from each path,
    the given dtypes, rows sorted by path."""
    columns = dict(columns)
    columns["sample_id"] = sample_ids_from_paths(columns["path"])
    order = list(BASE_COLUMNS) + [c for c in columns if c not in BASE_COLUMNS]
    frame = pd.DataFrame({c: columns[c] for c in order}, columns=order)
    for col in ("sample_id", "path", "landmarks"):
        frame[col] = frame[col].astype(str)
    for col in ("label", "x", "y", "w", "h"):
        frame[col] = frame[col].astype("int64")
    for col, dtype in dtypes.items():
        frame[col] = frame[col].astype(dtype)
    return frame.sort_values("path", kind="stable").reset_index(drop=True)


def walk_files(top: Path) -> list[str]:
    """Every file under `top` as a path relative to it with forward slashes, sorted, leaving
    out IGNORED_FILES (stray OS files are not data and not errors)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = os.path.relpath(dirpath, top).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        out.extend(prefix + name for name in sorted(filenames) if name not in IGNORED_FILES)
    return out
