"""A regions manifest's regions: landmark groups and template boxes, ranked by rank_aus."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auforget.analysis import regions
from auforget.analysis.region_sets import RegionSet

SIZE = 48


def _set(rows: list[dict]) -> RegionSet:
    base = {"landmarks": "", "x0": np.nan, "y0": np.nan, "x1": np.nan, "y1": np.nan, "grow": 1.0}
    return RegionSet(pd.DataFrame([{**base, "concepts": "", **r} for r in rows]))


def test_box_region_covers_its_fraction_of_the_map():
    boxes = _set([{"region": "top", "kind": "box", "x0": 0.0, "y0": 0.0, "x1": 1.0, "y1": 0.25}])
    mask = boxes.masks(np.zeros((68, 2)), SIZE)["top"]
    assert mask.sum() == SIZE * SIZE // 4 and mask[: SIZE // 4].all()
    assert not boxes.needs_landmarks and boxes.box(np.zeros((68, 2)), SIZE) == (0, SIZE, 0, SIZE)


def test_landmark_group_is_the_hull_of_its_points():
    lm = regions.landmarks_to_map(regions.template_face(), (0, 0, 1, 1), SIZE)
    eyes = _set([{"region": "eyes", "kind": "landmarks", "landmarks": "36;39;42;45;37;44"}])
    mask = eyes.masks(lm, SIZE)["eyes"]
    rows, cols = np.nonzero(mask)
    assert mask.any() and eyes.needs_landmarks
    assert lm[[36, 39, 42, 45], 1].min() - 2 <= rows.mean() <= lm[[36, 39, 42, 45], 1].max() + 2
    grown = _set(
        [{"region": "eyes", "kind": "landmarks", "landmarks": "36;39;42;45;37;44", "grow": 1.5}]
    )
    assert grown.masks(lm, SIZE)["eyes"].sum() > mask.sum()


def test_rank_aus_ranks_the_manifest_regions_with_their_concepts():
    lm = regions.landmarks_to_map(regions.template_face(), (0, 0, 1, 1), SIZE)
    chosen = _set(
        [
            {
                "region": "top",
                "kind": "box",
                "x0": 0.1,
                "y0": 0.05,
                "x1": 0.9,
                "y1": 0.3,
                "concepts": "brow raise",
            },
            {"region": "bottom", "kind": "box", "x0": 0.1, "y0": 0.7, "x1": 0.9, "y1": 0.95},
        ]
    )
    maps = np.zeros((3, SIZE, SIZE))
    maps[:, 4:14, 6:42] = 1.0  # all difference mass in the top box
    table = regions.rank_aus(maps, [lm] * 3, n_null=20, region_set=chosen)
    assert table["region"].tolist()[0] == "top"
    assert set(table["region"]) == {"top", "bottom"}
    assert table.set_index("region").loc["top", "aus"] == "brow raise"
