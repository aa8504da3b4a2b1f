"""Named face regions from a regions manifest, for ranking difference maps (regions.rank_aus).

The built-in regions (regions.AU_REGIONS) are drawn for FACS action units. A study read from
manifests names its own: each region is either a landmark group (indices into the 68 iBUG
landmarks; the region is the convex hull of the group's points in the map frame, scaled about
its centre by `grow`) or a box on a fixed template (x0, y0, x1, y1 as fractions of the face
crop, so the same pixels of every map). Regions may overlap; each is scored against the same
shape moved elsewhere on the face, as the built-in ones are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError

from auforget.analysis import regions


@dataclass(frozen=True)
class RegionSet:
    """Regions read from a regions manifest (task_manifests.read_regions_manifest's frame)."""

    table: pd.DataFrame

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.table["region"])

    @property
    def needs_landmarks(self) -> bool:
        """True when some region is a landmark group (images without landmarks are then left out
        of the ranking); box regions sit on the template and need none."""
        return bool((self.table["kind"] == "landmarks").any())

    def label(self, name: str) -> str:
        """What the ranking's `aus` column shows beside the region: its `concepts` text."""
        row = self.table[self.table["region"] == name].iloc[0]
        return "" if pd.isna(row["concepts"]) else str(row["concepts"])

    def masks(self, landmarks_map: np.ndarray, size: int) -> dict[str, np.ndarray]:
        """Boolean (size, size) mask of every region, in table order."""
        out = {}
        for row in self.table.itertuples(index=False):
            if row.kind == "box":
                out[row.region] = _box_mask(row, size)
            else:
                index = [int(v) for v in str(row.landmarks).split(";")]
                out[row.region] = _hull_mask(landmarks_map[index], float(row.grow), size)
        return out

    def box(self, landmarks_map: np.ndarray, size: int) -> tuple[int, int, int, int]:
        """Where null copies of a region may go: the landmarks' face box for landmark groups, the
        whole map when every region is a template box."""
        if self.needs_landmarks:
            return regions.face_box(landmarks_map, size)
        return 0, size, 0, size


def _box_mask(row, size: int) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    r0, r1 = int(np.floor(row.y0 * size)), int(np.ceil(row.y1 * size))
    c0, c1 = int(np.floor(row.x0 * size)), int(np.ceil(row.x1 * size))
    mask[r0:r1, c0:c1] = True
    return mask


def _hull_mask(points: np.ndarray, grow: float, size: int) -> np.ndarray:
    points = regions._scaled(np.asarray(points, dtype=float), grow)
    try:
        hull = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):  # fewer than 3 points or all on a line: a thin band
        centre = points.mean(axis=0)
        spread = max(1.0, float(np.ptp(points, axis=0).max()) / 2)
        hull = np.array(
            [centre + spread * np.array([np.cos(t), np.sin(t)]) for t in np.linspace(0, 6.2, 12)]
        )
    return regions._polygon(hull, size)


def load_region_set(path: str | Path | None) -> RegionSet | None:
    """The region set written by prepare (data.splits_dir/regions.csv); None (the built-in AU
    regions) for an empty path."""
    if not path:
        return None
    frame = pd.read_csv(path, keep_default_na=False, dtype={"landmarks": str, "concepts": str})
    for column in ("x0", "y0", "x1", "y1", "grow"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return RegionSet(frame)
