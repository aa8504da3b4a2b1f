"""Rank facial action-unit regions by how much of a difference map falls inside them.

The study read its FreezeB5 - FreezeBk difference maps by eye ("the forgotten evidence is around
the brows", AU 1/2/4, ...). Here the same reading is automatic: the 68 face landmarks (iBUG order:
jaw 0-16, brows 17-21 subject's right / 22-26 left, nose 27-35, eyes 36-41 / 42-47, outer mouth
48-59, inner mouth 60-67) are carried into the map's pixel frame, each AU region is drawn from
them, and `rank_aus` scores how much more difference mass a region holds than a region of the
same shape elsewhere on the face.

Pixel frame: continuous (x, y) coordinates with pixel (row r, column c) covering
[c, c + 1) x [r, r + 1); a pixel belongs to a region when its centre (c + 0.5, r + 0.5) does.
Lengths are in units of the inter-ocular distance d (between the two eye centres), so regions
scale with the face.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.path import Path as MplPath

log = logging.getLogger(__name__)

N_LANDMARKS = 68

# region -> FACS action units whose appearance change lies mostly there
AU_REGIONS: dict[str, tuple[int, ...]] = {
    "brows": (1, 2, 4),  # inner/outer brow raiser, brow lowerer
    "upper_lids": (5,),  # upper lid raiser
    "cheeks": (6,),  # cheek raiser
    "lids": (7,),  # lid tightener
    "nose": (9,),  # nose wrinkler
    "upper_lip": (10,),  # upper lip raiser
    "mouth_corners": (12, 14, 15),  # lip corner puller, dimpler, lip corner depressor
    "chin": (17,),  # chin raiser
    "mouth_jaw": (25, 26),  # lips part, jaw drop
}

JAW, R_BROW, L_BROW = range(0, 17), range(17, 22), range(22, 27)
NOSE_BRIDGE, NOSE_BASE = range(27, 31), range(31, 36)
R_EYE, L_EYE = range(36, 42), range(42, 48)
OUTER_MOUTH, INNER_MOUTH = range(48, 60), range(60, 68)


def _mirror(p: tuple[float, float]) -> tuple[float, float]:
    return (1.0 - p[0], p[1])


def template_face() -> np.ndarray:
    """A hand-built, left-right symmetric 68-point face in the unit square (x right, y down).

    Not a statistical mean shape: a plausible frontal face for tests, synthetic data and a
    fallback when an image has no landmarks (scale it with `landmarks_to_map` and box (0, 0, 1, 1)).
    Eye centres at (0.33, 0.33) and (0.67, 0.33), mouth corners at y 0.75, chin at y 0.93.
    """
    pts: list[tuple[float, float]] = []
    for k in range(17):  # jaw: half ellipse from the right temple (image left) under the chin
        theta = np.pi - k * np.pi / 16
        pts.append((0.5 + 0.42 * np.cos(theta), 0.33 + 0.60 * np.sin(theta)))
    r_brow = [(0.16 + 0.07 * k, 0.25 - 0.06 * np.sin(np.pi * (k + 0.5) / 5.5)) for k in range(5)]
    pts += r_brow + [_mirror(p) for p in reversed(r_brow)]
    pts += [(0.5, 0.32 + 0.075 * k) for k in range(4)]  # nose bridge 27-30
    r_base = [(0.43, 0.60), (0.465, 0.62)]
    pts += r_base + [(0.5, 0.63)] + [_mirror(p) for p in reversed(r_base)]  # nose base 31-35
    cx, cy, w, h, hl = 0.33, 0.33, 0.15, 0.03, 0.02
    r_eye = [
        (cx - w / 2, cy),
        (cx - w / 6, cy - h),
        (cx + w / 6, cy - h),
        (cx + w / 2, cy),
        (cx + w / 6, cy + hl),
        (cx - w / 6, cy + hl),
    ]
    pts += r_eye  # 36-41
    pts += [_mirror(r_eye[i]) for i in (3, 2, 1, 0, 5, 4)]  # 42-47
    upper = [(0.35, 0.75), (0.41, 0.72), (0.47, 0.705), (0.5, 0.715)]
    lower = [(0.59, 0.80), (0.54, 0.83), (0.5, 0.835)]
    pts += upper + [_mirror(p) for p in reversed(upper[:3])]  # 48-54
    pts += lower + [_mirror(p) for p in reversed(lower[:2])]  # 55-59
    inner_up = [(0.38, 0.75), (0.45, 0.74), (0.5, 0.745)]
    pts += inner_up + [_mirror(p) for p in reversed(inner_up[:2])]  # 60-64
    pts += [(0.55, 0.775), (0.5, 0.78), (0.45, 0.775)]  # 65-67
    face = np.asarray(pts, dtype=np.float64)
    assert face.shape == (N_LANDMARKS, 2)
    return face


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (N_LANDMARKS, 2):
        raise ValueError(f"expected 68 (x, y) landmarks in iBUG order, got shape {lm.shape}")
    return lm


def landmarks_to_map(landmarks: np.ndarray, box: Sequence[float], map_size: int) -> np.ndarray:
    """Image-pixel landmarks (68, 2) -> the frame of a map_size x map_size map of the crop `box`.

    box is (x, y, w, h) in image pixels; the crop is resized (anisotropically if w != h) to
    map_size x map_size, so x' = (x - box_x) * map_size / w and likewise for y.
    """
    lm = _check_landmarks(landmarks)
    x, y, w, h = (float(v) for v in box)
    if w <= 0 or h <= 0:
        raise ValueError(
            f"landmarks_to_map: box width and height must be positive, got {tuple(box)}"
        )
    return (lm - np.array([x, y])) * np.array([map_size / w, map_size / h])


def _centres(size: int) -> np.ndarray:
    c = np.arange(size) + 0.5
    xx, yy = np.meshgrid(c, c)
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def _polygon(vertices: np.ndarray, size: int) -> np.ndarray:
    return MplPath(np.asarray(vertices)).contains_points(_centres(size)).reshape(size, size)


def _ellipse(centre: np.ndarray, a: float, b: float, size: int) -> np.ndarray:
    p = _centres(size)
    return (((p[:, 0] - centre[0]) / a) ** 2 + ((p[:, 1] - centre[1]) / b) ** 2 <= 1).reshape(
        size, size
    )


def _scaled(points: np.ndarray, factor: float) -> np.ndarray:
    centre = points.mean(axis=0)
    return centre + factor * (points - centre)


def _eye_masks(lm: np.ndarray, d: float, down: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """upper_lids, lids and cheeks of `region_masks`, each the union over both eyes.

    The line through an eye's two corners splits it: AU5 raises the upper lid, so the sclera it
    uncovers lies above that line; AU7 raises the lower lid, below it. AU6's own marks (the bulge
    and furrow under the eye, crow's feet beside the outer corner) lie mostly in the cheeks, but
    AU6 also raises the lower lid, so part of its change is in `lids`.
    """
    upper_lids = np.zeros((size, size), bool)
    lids = np.zeros((size, size), bool)
    cheeks = np.zeros((size, size), bool)
    below = np.array([0.0, 0.045 * d])
    for outer, inner, lower, brow, temple, jaw, wing, side in (
        (36, 39, [41, 40], R_BROW, 0, [1, 2], 31, -1.0),
        (45, 42, [46, 47], L_BROW, 16, [15, 14], 35, 1.0),
    ):
        brow_low = lm[list(brow)] + down
        upper_lids |= _polygon(
            np.concatenate([lm[[outer, inner]], brow_low[::-1] if side < 0 else brow_low]), size
        )
        under_lid = lm[lower] + below
        lids |= _polygon(np.concatenate([lm[[outer]], under_lid, lm[[inner]]]), size)
        beside_nose = lm[wing] + np.array([side * 0.10 * d, 0.0])
        cheeks |= _polygon(
            np.concatenate(
                [
                    lm[[temple, outer]],
                    under_lid,
                    lm[[inner]] + below,
                    beside_nose[None],
                    lm[jaw[::-1]],
                ]
            ),
            size,
        )
    return {"upper_lids": upper_lids, "lids": lids, "cheeks": cheeks}


# Where two regions' drawings meet, a pixel goes to the first of these: the small, specific regions
# before the large ones around them, so no pixel counts for two AUs.
_PRIORITY = (
    "brows",
    "mouth_corners",
    "upper_lids",
    "lids",
    "nose",
    "upper_lip",
    "cheeks",
    "chin",
    "mouth_jaw",
)


def region_masks(landmarks_map: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Boolean (size, size) masks of the AU regions, drawn from landmarks in the map frame.

    With d the inter-ocular distance and "up" meaning -y:
      brows          band from 0.30 d above to 0.08 d below the brow points, 17 through 26 (the
                     glabella between the brows included: AU 4 draws the brows together)
      upper_lids     from the line through the eye corners (36-39 / 42-45) up to the brow band:
                     the upper lid and the sclera AU 5 uncovers
      lids           from the eye-corner line down to 0.045 d below the lower lid (40, 41 / 46, 47)
      cheeks         from the outer eye corner and the lids region down to the jaw (points 0-2 /
                     14-16) and inwards to beside the nose wing: AU 6's bulge, furrow and crow's
                     feet
      nose           bridge (0.15 d either side of 27) widening to the wings (31, 35) and base
      upper_lip      between the nose base (31-35) and the inner upper lip (60-64), out to the
                     mouth corners (48, 54): philtrum and upper lip, which AU 10 raises
      mouth_corners  discs of radius 0.3 mouth widths around 48 and 54 (AU 14's dimple sits just
                     outside the corner)
      chin           from 0.05 d below the outer lower lip (55-59) to the jaw (7-9)
      mouth_jaw      the opening between the inner upper lip (60-64) and the outer lower lip
                     (54-59, 48), enlarged 1.1 times about its centre: lips parted (AU 25) and
                     the lower lip the jaw carries down (AU 26)
    The regions do not overlap: where two drawings meet, the pixel goes to the region first in
    `_PRIORITY`. Some pixels are in none (the temple above the outer eye corner, small gaps at
    the inner corners, the jaw line). Masks are clipped to the map. Small maps make small
    regions (at 96 px `lids` holds some 12-22 pixels for both eyes); each region is scored
    against the same shape moved elsewhere (`rank_aus`), so size does not favour any.
    """
    lm = _check_landmarks(landmarks_map)
    r_eye_c, l_eye_c = lm[list(R_EYE)].mean(axis=0), lm[list(L_EYE)].mean(axis=0)
    d = float(np.linalg.norm(l_eye_c - r_eye_c))
    if d <= 0:
        raise ValueError("region_masks: the two eye centres coincide; landmarks are degenerate")
    up, down = np.array([0.0, -0.30 * d]), np.array([0.0, 0.08 * d])
    brows = lm[list(R_BROW) + list(L_BROW)]
    masks: dict[str, np.ndarray] = {}
    masks["brows"] = _polygon(np.concatenate([brows + up, (brows + down)[::-1]]), size)
    masks.update(_eye_masks(lm, d, down, size))

    side = np.array([0.15 * d, 0.0])
    masks["nose"] = _polygon(
        np.stack(
            [
                lm[27] - side,
                lm[27] + side,
                lm[35] + 0.5 * side,
                lm[33] + np.array([0.0, 0.05 * d]),
                lm[31] - 0.5 * side,
            ]
        ),
        size,
    )
    masks["upper_lip"] = _polygon(
        np.concatenate([lm[31:36], lm[[54]], lm[60:65][::-1], lm[[48]]]), size
    )
    mouth_width = float(np.linalg.norm(lm[54] - lm[48]))
    radius = 0.3 * mouth_width
    masks["mouth_corners"] = _ellipse(lm[48], radius, radius, size) | _ellipse(
        lm[54], radius, radius, size
    )
    lower_lip = lm[[59, 58, 57, 56, 55]] + np.array([0.0, 0.05 * d])
    masks["chin"] = _polygon(np.concatenate([lower_lip, lm[[9, 8, 7]]]), size)
    masks["mouth_jaw"] = _polygon(
        _scaled(lm[[48, 60, 61, 62, 63, 64, 54, 55, 56, 57, 58, 59]], 1.1), size
    )
    taken = np.zeros((size, size), bool)
    for name in _PRIORITY:
        masks[name] = masks[name] & ~taken
        taken |= masks[name]
    return {name: masks[name] for name in AU_REGIONS}


def face_box(landmarks_map: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1), end-exclusive: the landmarks' bounding box raised by 0.5 d for
    the forehead and clipped to the map. The null regions of `rank_aus` are placed inside it."""
    lm = _check_landmarks(landmarks_map)
    d = float(np.linalg.norm(lm[list(L_EYE)].mean(axis=0) - lm[list(R_EYE)].mean(axis=0)))
    x0, y0 = lm.min(axis=0) - np.array([0.0, 0.5 * d])
    x1, y1 = lm.max(axis=0)
    row0, col0 = max(int(np.floor(y0)), 0), max(int(np.floor(x0)), 0)
    row1, col1 = min(int(np.ceil(y1)), size), min(int(np.ceil(x1)), size)
    return row0, row1, col0, col1


def _null_shares(
    diff: np.ndarray,
    mask: np.ndarray,
    box: tuple[int, int, int, int],
    total: float,
    n_null: int,
    rng: np.random.Generator,
    max_overlap: float,
    max_tries: int,
) -> np.ndarray:
    """Mass shares of up to n_null translated copies of `mask`, kept inside `box` and overlapping
    the original by at most max_overlap of its area (rejection sampling, max_tries draws)."""
    rows, cols = np.nonzero(mask)
    area = rows.size
    row0, row1, col0, col1 = box
    dy_lo, dy_hi = row0 - rows.min(), row1 - 1 - rows.max()
    dx_lo, dx_hi = col0 - cols.min(), col1 - 1 - cols.max()
    if dy_lo > dy_hi or dx_lo > dx_hi:  # the region is larger than the face box in some direction
        return np.empty(0)
    shares: list[float] = []
    for _ in range(max_tries):
        dy = int(rng.integers(dy_lo, dy_hi + 1))
        dx = int(rng.integers(dx_lo, dx_hi + 1))
        r, c = rows + dy, cols + dx
        if mask[r, c].sum() > max_overlap * area:
            continue
        shares.append(float(diff[r, c].sum()) / total)
        if len(shares) == n_null:
            break
    return np.asarray(shares)


def rank_aus(
    diff_maps: np.ndarray,
    landmarks_map: Sequence[np.ndarray],
    *,
    reference: np.ndarray | None = None,
    n_null: int = 200,
    seed: int = 0,
    max_overlap: float = 0.2,
    sd_floor: float = 1e-3,
    region_set=None,
) -> pd.DataFrame:
    """Rank AU regions by how much more positive difference mass they hold than chance placement.

    diff_maps (N, H, W) with H == W (e.g. `lrp.difference` maps); landmarks_map: N arrays (68, 2)
    already in the map frame (`landmarks_to_map`). Negative values are clipped to 0.

    reference (N, H, W), optional: the maps the difference was taken from (FreezeB5's relevance).
    Some places draw relevance in every map -- the pupils' contrast, the nostrils -- so a
    difference map that is B5's map minus a weaker, more diffuse one puts much of its mass there
    whatever was forgotten. With a reference, each image's statistic is the difference's share of
    a region minus the reference's share of it (both maps as distributions over pixels): where the
    evidence was lost beyond where the evidence was. s_i, n_ik below become those excess shares,
    and `reference_share` holds the reference's share of the region.

    For image i and region R, the observed share is s_i = mass(R) / mass(whole map).
    Null: the same mask (same shape and area, both halves of two-part regions moved together)
    translated by a random integer shift, uniformly among shifts that keep it inside the face box
    (`face_box`) and that overlap the original region by at most `max_overlap` of its area;
    n_null such draws per image give null shares n_ik. Then per image
        z_i = (s_i - mean_k n_ik) / max(sd_k n_ik, sd_floor)
    (a z / Cohen's-d style effect; the floor stops an image whose null draws all agree from
    giving an infinite z), and effect_size is the mean of z_i over images.
    p_value is a one-sided Monte Carlo test of the mean share over images: with null means
    m_k = mean_i n_ik (draw k of every image), p = (1 + #{m_k >= mean_i s_i}) / (1 + K), K the
    number of draws all images have. It is not corrected for the nine regions tested.

    Images whose map has no positive mass, or for which no valid null shift exists, are skipped
    for that region (n_images counts the rest). Shifts are drawn from a generator seeded by
    (seed, image index, region index), so results are deterministic and do not depend on order.

    Returns a DataFrame sorted best first (effect_size, then mass_share, descending) with columns
    region, aus ("1,2,4"), mass_share (mean s_i), null_share (mean null share), effect_size,
    p_value, n_images, area_share (mean fraction of the map the region covers), reference_share
    (NaN without a reference).

    region_set (region_sets.RegionSet, optional): a regions manifest's regions instead of the AU
    regions; the `aus` column then holds each region's `concepts` text.
    """
    maps = np.asarray(diff_maps, dtype=np.float64)
    if maps.ndim != 3 or maps.shape[1] != maps.shape[2]:
        raise ValueError(f"rank_aus: diff_maps must be (N, S, S), got shape {maps.shape}")
    if len(landmarks_map) != maps.shape[0]:
        raise ValueError(f"rank_aus: {len(landmarks_map)} landmark sets for {maps.shape[0]} maps")
    if n_null < 1:
        raise ValueError(f"rank_aus: n_null must be at least 1, got {n_null}")
    fields = _distributions(np.clip(maps, 0, None))
    ref = None
    if reference is not None:
        ref = _distributions(np.clip(np.asarray(reference, dtype=np.float64), 0, None))
        if ref.shape != maps.shape:
            raise ValueError(
                f"rank_aus: reference maps {ref.shape} do not match the difference maps "
                f"{maps.shape}"
            )
        fields = fields - ref  # NaN where either map has no mass: that image is skipped
    obs, nulls, areas, ref_shares = _region_shares(
        fields,
        ref,
        landmarks_map,
        n_null=n_null,
        seed=seed,
        max_overlap=max_overlap,
        region_set=region_set,
    )
    rows = [
        _region_row(
            name,
            np.asarray(obs[name]),
            nulls[name],
            float(np.mean(areas[name])),
            sd_floor,
            float(np.mean(ref_shares[name])) if ref_shares[name] else float("nan"),
            aus=region_set.label(name) if region_set is not None else None,
        )
        for name in (region_set.names if region_set is not None else AU_REGIONS)
    ]
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["effect_size", "mass_share"], ascending=False, na_position="last", kind="mergesort"
    ).reset_index(drop=True)


def _distributions(maps: np.ndarray) -> np.ndarray:
    """Each non-negative map divided by its total mass; NaN maps where there is none."""
    totals = maps.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, maps / np.where(totals > 0, totals, 1.0), np.nan)


def _region_shares(
    fields: np.ndarray,
    reference: np.ndarray | None,
    landmarks_map: Sequence[np.ndarray],
    *,
    n_null: int,
    seed: int,
    max_overlap: float,
    region_set=None,
):
    """Per region: observed shares s_i, null shares n_ik (one array per kept image), mask areas and
    the reference's shares. `fields` are the maps as distributions (minus the reference's)."""
    size = fields.shape[1]
    names = list(region_set.names if region_set is not None else AU_REGIONS)
    obs: dict[str, list[float]] = {n: [] for n in names}
    nulls: dict[str, list[np.ndarray]] = {n: [] for n in names}
    areas: dict[str, list[float]] = {n: [] for n in names}
    ref_shares: dict[str, list[float]] = {n: [] for n in names}
    for i, (field, lm) in enumerate(zip(fields, landmarks_map)):
        if region_set is not None:
            masks, box = region_set.masks(lm, size), region_set.box(lm, size)
        else:
            masks, box = region_masks(lm, size), face_box(lm, size)
        for j, name in enumerate(names):
            mask = masks[name]
            areas[name].append(float(mask.mean()))
            if np.isnan(field).any() or not mask.any():
                continue
            rng = np.random.default_rng([seed, i, j])
            null = _null_shares(
                field, mask, box, 1.0, n_null, rng, max_overlap, max_tries=50 * n_null
            )
            if null.size < 2:
                log.warning(
                    "rank_aus: image %d, region %s: no room for a null draw; skipped", i, name
                )
                continue
            obs[name].append(float(field[mask].sum()))
            nulls[name].append(null)
            if reference is not None:
                ref_shares[name].append(float(reference[i][mask].sum()))
    return obs, nulls, areas, ref_shares


def _region_row(
    name: str,
    s: np.ndarray,
    null: list[np.ndarray],
    area_share: float,
    sd_floor: float,
    reference_share: float = float("nan"),
    aus: str | None = None,
) -> dict:
    """One row of `rank_aus` from a region's observed and null shares (formulas in its
    docstring)."""
    aus = ",".join(map(str, AU_REGIONS[name])) if aus is None else aus
    if s.size == 0:
        return dict(
            region=name,
            aus=aus,
            mass_share=np.nan,
            null_share=np.nan,
            effect_size=np.nan,
            p_value=np.nan,
            n_images=0,
            area_share=area_share,
            reference_share=reference_share,
        )
    null_mean = np.array([n.mean() for n in null])
    null_sd = np.array([n.std(ddof=1) for n in null])
    z = (s - null_mean) / np.maximum(null_sd, sd_floor)
    k = min(n.size for n in null)
    group_null = np.mean([n[:k] for n in null], axis=0)
    p = (1 + int(np.sum(group_null >= s.mean()))) / (1 + k)
    return dict(
        region=name,
        aus=aus,
        mass_share=float(s.mean()),
        null_share=float(null_mean.mean()),
        effect_size=float(z.mean()),
        p_value=float(p),
        n_images=int(s.size),
        area_share=area_share,
        reference_share=reference_share,
    )
