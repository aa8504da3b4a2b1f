"""AU regions from landmarks and the automatic ranking of difference maps, on planted maps."""

from __future__ import annotations

import numpy as np
import pytest

from auforget.analysis import regions

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
    for right, left in [
        (0, 16),
        (17, 26),
        (21, 22),
        (36, 45),
        (39, 42),
        (31, 35),
        (48, 54),
        (59, 55),
    ]:
        np.testing.assert_allclose(face[right], [1 - face[left][0], face[left][1]], atol=1e-12)
    y = face[:, 1]
    assert y[list(regions.R_BROW)].max() < y[list(regions.R_EYE)].min()  # brows above eyes
    assert y[list(regions.R_EYE)].max() < y[33] < y[51] < y[57] < y[8]  # eyes, nose, lips, chin


def test_landmarks_to_map_maps_the_box_onto_the_map():
    lm = np.zeros((68, 2))
    lm[0], lm[1], lm[2] = (100, 50), (100 + 40, 50 + 80), (120, 90)  # box corners and centre
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
    inside = {
        "brows": [19, 24, 21],
        "lids": [(36, 41, 40, 39), (45, 46, 47, 42)],
        "nose": [28, 29],
        "mouth_corners": [48, 54],
        "mouth_jaw": [(62, 66), (57, 66)],
        "upper_lip": [(33, 51)],
        "chin": [(57, 8)],
        "upper_lids": [(19, 37), (24, 44)],
        "cheeks": [(41, 31, 2), (46, 35, 14)],
    }
    for name, points in inside.items():
        for p in points:
            point = lm[list(p)].mean(axis=0) if isinstance(p, tuple) else lm[p]
            assert _pixel(masks[name], point), (name, p)
    assert not _pixel(masks["mouth_corners"], lm[19]) and not _pixel(masks["brows"], lm[48])
    # no pixel counts for two regions, and the priority order names every region once
    stacked = np.stack(list(masks.values())).astype(int)
    assert stacked.sum(axis=0).max() == 1
    assert sorted(regions._PRIORITY) == sorted(regions.AU_REGIONS)


# AUs whose drawn change lies mostly in a neighbour's region, as in FACS: AU6 raises the lower lid
# as AU7 does (its own marks, the cheek bulge and crow's feet, are fainter), AU10 parts the lips
# as AU25 does, and AU12 reshapes the whole lip line. All three are PSPI AUs or AUs of an emotion
# the planted truth makes no region claim for (auforget.analysis.planted.expected_regions).
SHARED_WITH_A_NEIGHBOUR = {6: "lids", 10: "mouth_jaw", 12: "mouth_jaw"}


def _rendered_au_maps(
    au: int, n: int, size: int, blur: float
) -> tuple[np.ndarray, list[np.ndarray]]:
    """A perfect difference map of one AU: the same face drawn with and without it, pixel by
    pixel."""
    from scipy.ndimage import gaussian_filter

    from auforget.data import faces

    maps, landmarks = [], []
    for i in range(n):
        pose = faces.Pose(0.5 + 0.03 * np.sin(i), 0.55, 0.28, 8 * np.cos(i))
        idn = faces.random_identity(np.random.default_rng([7, i]), pose)
        plain, _ = faces.render_face(idn, {}, (size, size), np.random.default_rng([9, i]))
        shown, lm = faces.render_face(idn, {au: 3.5}, (size, size), np.random.default_rng([9, i]))
        change = np.abs(np.asarray(plain, float) - np.asarray(shown, float)).sum(axis=-1)
        maps.append(gaussian_filter(change, blur) if blur else change)
        landmarks.append(lm)
    return np.stack(maps), landmarks


@pytest.mark.parametrize("blur", [0.0, 1.5])
def test_each_drawn_au_ranks_its_own_region_first(blur):
    # The known answer the synthetic world gives the instrument: where an AU changes the pixels.
    # Sharp maps are the ideal; blurred ones (sigma 1.5 px) are closer to LRP maps at 96 px.
    wrong = {}
    for au in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26):
        own = next(name for name, aus in regions.AU_REGIONS.items() if au in aus)
        maps, landmarks = _rendered_au_maps(au, 8, 96, blur)
        table = regions.rank_aus(maps, landmarks, n_null=60, seed=0)
        top = table.iloc[0]
        if top["region"] != own:
            wrong[au] = top["region"]
        else:
            assert top["effect_size"] > 3 and top["p_value"] < 0.05, (au, top)
    assert {
        au: region for au, region in wrong.items() if SHARED_WITH_A_NEIGHBOUR.get(au) != region
    } == {}
    assert (
        14 not in wrong and 5 not in wrong
    )  # contempt's AU and surprise's lid: what the planted truth reads


@pytest.mark.parametrize(
    "region, points", [("mouth_corners", [48, 54]), ("brows", [18, 19, 20, 23, 24, 25])]
)
def test_rank_aus_puts_a_planted_difference_first(rng, region, points):
    faces = _faces(rng, 6)
    maps = np.stack(
        [sum(_blob(lm[k]) for k in points) + 0.02 * rng.random((SIZE, SIZE)) for lm in faces]
    )
    table = regions.rank_aus(maps, faces, n_null=100, seed=0)
    assert list(table.columns[:7]) == [
        "region",
        "aus",
        "mass_share",
        "null_share",
        "effect_size",
        "p_value",
        "n_images",
    ]
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
    eyes = [sum(_blob(lm[k]) for k in (40, 41, 46, 47)) for lm in faces]
    corners = [sum(_blob(lm[k]) for k in (48, 54)) for lm in faces]
    b5 = np.stack([3 * e + c + 0.02 * rng.random((SIZE, SIZE)) for e, c in zip(eyes, corners)])
    bk = np.stack([1 * e + 0.02 * rng.random((SIZE, SIZE)) for e in eyes])
    diff = b5 - bk
    plain = regions.rank_aus(diff, faces, n_null=100)
    beyond = regions.rank_aus(diff, faces, reference=b5, n_null=100)
    assert plain.iloc[0]["region"] == "lids" and plain["reference_share"].isna().all()
    top = beyond.iloc[0]
    assert top["region"] == "mouth_corners" and top["effect_size"] > 3 and top["p_value"] < 0.05
    by_region = beyond.set_index("region")
    lids = by_region.loc["lids"]
    assert lids["reference_share"] > by_region.loc["mouth_corners", "reference_share"]
    assert lids["mass_share"] < 0  # less lost there than B5 had
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
    maps[2] = -1.0  # no positive mass: skipped
    a = regions.rank_aus(maps, faces, n_null=30, seed=5)
    b = regions.rank_aus(maps, faces, n_null=30, seed=5)
    c = regions.rank_aus(maps, faces, n_null=30, seed=6)
    assert a.equals(b)
    assert not a.set_index("region")["null_share"].equals(c.set_index("region")["null_share"])
    assert (a["n_images"] == 2).all()
    with pytest.raises(ValueError):
        regions.rank_aus(maps, faces[:2])
