"""AU regions from landmarks and the automatic ranking of difference maps, on planted maps."""
from __future__ import annotations

import numpy as np
import pytest

from auforget import regions

SIZE = 64


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


def _faces(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """The template face in a 64-px map, each slightly rotated, scaled and shifted."""
    out = []
    for _ in range(n):
        a, scale = np.deg2rad(rng.uniform(-5, 5)), rng.uniform(0.9, 1.0)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        lm = regions.landmarks_to_map(regions.template_face(), (0, 0, 1, 1), SIZE)
        out.append((lm - SIZE / 2) @ rot.T * scale + SIZE / 2 + rng.uniform(-2, 2, 2))
    return out


def _blob(centre: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    return np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))


def _pixel(mask: np.ndarray, point: np.ndarray) -> bool:
    return bool(mask[int(point[1]), int(point[0])])


def test_template_face_is_a_symmetric_68_point_face():
    face = regions.template_face()
    assert face.shape == (68, 2) and (face >= 0).all() and (face <= 1).all()
    for right, left in [(0, 16), (17, 26), (21, 22), (36, 45), (39, 42), (31, 35), (48, 54), (59, 55)]:
        np.testing.assert_allclose(face[right], [1 - face[left][0], face[left][1]], atol=1e-12)
    y = face[:, 1]
    assert y[list(regions.R_BROW)].max() < y[list(regions.R_EYE)].min()   # brows above eyes
    assert y[list(regions.R_EYE)].max() < y[33] < y[51] < y[57] < y[8]      # eyes, nose, lips, chin


def test_landmarks_to_map_maps_the_box_onto_the_map():
    lm = np.zeros((68, 2))
    lm[0], lm[1], lm[2] = (100, 50), (100 + 40, 50 + 80), (120, 90)   # box corners and centre
    out = regions.landmarks_to_map(lm, (100, 50, 40, 80), 64)
    np.testing.assert_allclose(out[:3], [[0, 0], [64, 64], [32, 32]])
    with pytest.raises(ValueError, match="68"):
        regions.landmarks_to_map(np.zeros((66, 2)), (0, 0, 1, 1), 64)
    with pytest.raises(ValueError):
        regions.landmarks_to_map(lm, (0, 0, 0, 10), 64)


def test_region_masks_sit_on_their_landmarks():
    lm = regions.landmarks_to_map(regions.template_face(), (0, 0, 1, 1), SIZE)
    masks = regions.region_masks(lm, SIZE)
    assert list(masks) == list(regions.AU_REGIONS)
    for name, mask in masks.items():
        assert mask.shape == (SIZE, SIZE) and mask.dtype == bool and mask.any(), name
    inside = {"brows": [19, 24, 21], "lids": [36, 45], "nose": [28, 29], "mouth_corners": [48, 54],
              "mouth_jaw": [51, 57, 62], "upper_lip": [(33, 51)], "chin": [(57, 8)],
              "upper_lids": [(19, 37), (24, 44)], "cheeks": [(41, 31, 2), (46, 35, 14)]}
    for name, points in inside.items():
        for p in points:
            point = lm[list(p)].mean(axis=0) if isinstance(p, tuple) else lm[p]
            assert _pixel(masks[name], point), (name, p)
    assert not _pixel(masks["mouth_corners"], lm[19]) and not _pixel(masks["brows"], lm[48])
    # overlaps between neighbours are slight: under half of the smaller region
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = (masks[a] & masks[b]).sum()
            assert shared < 0.5 * min(masks[a].sum(), masks[b].sum()), (a, b)


@pytest.mark.parametrize("region, points", [("mouth_corners", [48, 54]), ("brows", [18, 19, 20, 23, 24, 25])])
def test_rank_aus_puts_a_planted_difference_first(rng, region, points):
    faces = _faces(rng, 6)
    maps = np.stack([sum(_blob(lm[k]) for k in points) + 0.02 * rng.random((SIZE, SIZE)) for lm in faces])
    table = regions.rank_aus(maps, faces, n_null=100, seed=0)
    assert list(table.columns[:7]) == ["region", "aus", "mass_share", "null_share", "effect_size",
                                       "p_value", "n_images"]
    assert len(table) == len(regions.AU_REGIONS)
    top = table.iloc[0]
    assert top["region"] == region
    assert top["aus"] == ",".join(map(str, regions.AU_REGIONS[region]))
    assert top["effect_size"] > 3 and top["p_value"] < 0.05 and top["n_images"] == 6
    assert top["mass_share"] > 3 * top["null_share"]
    assert table["effect_size"].is_monotonic_decreasing


def test_with_the_reference_a_region_every_map_lights_up_no_longer_wins(rng):
    # FreezeB5's maps put most relevance on the eyes (pupils); the weaker model keeps a third of
    # it there and loses the mouth corners' evidence entirely. The plain difference is still
    # mostly eyes; beyond B5's own share, the mouth corners are where evidence was lost.
    faces = _faces(rng, 6)
    eyes = [sum(_blob(lm[k]) for k in (37, 38, 43, 44)) for lm in faces]
    corners = [sum(_blob(lm[k]) for k in (48, 54)) for lm in faces]
    b5 = np.stack([3 * e + c + 0.02 * rng.random((SIZE, SIZE)) for e, c in zip(eyes, corners)])
    bk = np.stack([1 * e + 0.02 * rng.random((SIZE, SIZE)) for e in eyes])
    diff = b5 - bk
    plain = regions.rank_aus(diff, faces, n_null=100)
    beyond = regions.rank_aus(diff, faces, reference=b5, n_null=100)
    assert plain.iloc[0]["region"] == "lids" and plain["reference_share"].isna().all()
    top = beyond.iloc[0]
    assert top["region"] == "mouth_corners" and top["effect_size"] > 3 and top["p_value"] < 0.05
    lids = beyond.set_index("region").loc["lids"]
    assert lids["reference_share"] > 0.5 and lids["mass_share"] < 0      # less lost there than B5 had
    with pytest.raises(ValueError, match="reference maps"):
        regions.rank_aus(diff, faces, reference=b5[:3])


def test_rank_aus_finds_nothing_in_a_uniform_map(rng):
    faces = _faces(rng, 4)
    table = regions.rank_aus(np.ones((4, SIZE, SIZE)), faces, n_null=50)
    assert table["effect_size"].abs().max() < 0.5
    assert table["p_value"].min() > 0.05
    np.testing.assert_allclose(table["mass_share"], table["null_share"], rtol=1e-9)


def test_rank_aus_is_deterministic_by_seed_and_skips_empty_maps(rng):
    faces = _faces(rng, 3)
    maps = rng.random((3, SIZE, SIZE))
    maps[2] = -1.0   # no positive mass: skipped
    a = regions.rank_aus(maps, faces, n_null=30, seed=5)
    b = regions.rank_aus(maps, faces, n_null=30, seed=5)
    c = regions.rank_aus(maps, faces, n_null=30, seed=6)
    assert a.equals(b)
    assert not a.set_index("region")["null_share"].equals(c.set_index("region")["null_share"])
    assert (a["n_images"] == 2).all()
    with pytest.raises(ValueError):
        regions.rank_aus(maps, faces[:2])
