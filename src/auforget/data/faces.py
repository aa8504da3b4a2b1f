"""Procedural FACS faces: 68 iBUG landmarks from an identity and AU intensities, pixels from the
landmarks.

The synthetic datasets stand in for licensed ones, so their labels must be true: the face is
drawn *from* the landmark array that goes into the landmark files, and every action unit moves
points or marks skin only in the facial region FACS assigns to it. Probes and saliency maps
run on these images can therefore be checked against where the AU really is.

Geometry is in face units: the origin is on the nose, a little below the eyes; +x is image
right (the subject's left, as iBUG point 16 is), +y is down, the half-width of the face is about
one unit. A `Pose` maps face units to pixels. Intensities are FACS A-E as 1-5 (0 = absent);
AU43 (eyes closed) is binary in FACS, so intensity >= 1 closes the eyes and fractions between
0 and 1 half-close them (used while a CK+ sequence ramps up).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import numpy as np
from PIL import Image, ImageDraw

SUPERSAMPLE = 2  # draw at twice the size and box-downsample: graded AUs stay graded, not 1-px steps

RENDERED_AUS = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26, 43)

R_BROW = [17, 18, 19, 20, 21]  # outer -> inner
L_BROW = [26, 25, 24, 23, 22]  # outer -> inner, mirroring R_BROW
LID_PAIRS = (
    ([37, 38], [41, 40]),
    ([43, 44], [47, 46]),
)  # upper-lid points over their lower-lid points
UP_OUT, UP_IN = [49, 50, 51, 52, 53], [61, 62, 63]
LO_OUT, LO_IN = [55, 56, 57, 58, 59], [65, 66, 67]
CORNER = {-1: [48, 60], 1: [54, 64]}  # outer and inner mouth corner of each image side
NEAR_UP = {-1: [49, 61], 1: [53, 63]}
NEAR_LO = {-1: [59, 67], 1: [55, 65]}

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Pose:
    """Where the face sits in the image: centre as fractions, size, in-plane rotation."""

    cx: float = 0.5
    cy: float = 0.5
    scale: float = 0.2  # pixels per face unit, as a fraction of the image height
    angle: float = 0.0  # degrees; positive turns the face clockwise on screen


@dataclass(frozen=True)
class Identity:
    """Everything that stays fixed for one person (and their camera and room)."""

    face_w: float
    chin_y: float
    jaw_n: float  # superellipse exponent of the jaw: higher = squarer
    jaw_taper: float
    crown: float  # top of the head is at y = -crown
    eye_x: float
    eye_y: float
    eye_w: float
    eye_open: float
    brow_y: float
    brow_arch: float
    brow_thick: float
    nose_tip: float
    nose_w: float
    mouth_y: float
    mouth_w: float
    lip_up: float
    lip_lo: float
    skin: Colour
    hair: Colour
    lips: Colour
    iris: Colour
    shirt: Colour
    bg: Colour
    bg2: Colour
    hair_style: int  # 0 shaved, 1 short, 2 fringe, 3 long, 4 side parting
    hairline: float
    bg_style: int  # 0 flat, 1 gradient, 2 blotches, 3 stripes, 4 fine texture
    bg_seed: int
    light_angle: float
    light: float  # strength of the lighting gradient, as a +-fraction of brightness
    noise: float  # sensor noise, grey levels (standard deviation)
    au14_side: int  # -1 image left, +1 image right: AU14 is drawn one-sided (contempt)
    pose: Pose
    # the world's drawing of AU14's corner (synth.au14_pull): False pulls it out and up, as AU12
    # and AU20 move it; True pulls it in and up, as FACS describes the dimpler. Not drawn from
    # the seed: the same seed gives the same person either way.
    au14_inward: bool = False


# The numbers that are a table rather than a rule (the palettes people are drawn from, and the
# resting nose base and mouth as multiples of the identity's nose width, mouth width and lip
# heights) live in this package-data file next to the module; its "about" fields say what each
# column means. The order of each palette is part of the seed -> face mapping.
TEMPLATE_FILE = "face_template.json"
_TEMPLATE = json.loads(files(__package__).joinpath(TEMPLATE_FILE).read_text(encoding="utf-8"))


def _rows(table: str, columns: tuple[str, ...]) -> tuple[tuple, ...]:
    """The rows of a face_template.json table, whose columns must be the ones the code reads."""
    assert tuple(_TEMPLATE[table]["columns"]) == columns, (table, _TEMPLATE[table]["columns"])
    return tuple(tuple(row) for row in _TEMPLATE[table]["rows"])


_SKIN_LIGHT, _SKIN_DARK = tuple(_TEMPLATE["skin_light"]), tuple(_TEMPLATE["skin_dark"])
_HAIR = tuple(tuple(colour) for colour in _TEMPLATE["hair"])
_IRIS = tuple(tuple(colour) for colour in _TEMPLATE["iris"])
_NOSE_BASE = _rows("nose_base", ("point", "x_per_nose_w", "y_offset"))
_MOUTH = _rows("mouth", ("point", "x_per_mouth_w", "y_per_lip_up", "y_per_lip_lo", "y_offset"))


def _mix(a, b, t: float) -> Colour:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def _clip_colour(c) -> Colour:
    return tuple(int(min(255, max(0, round(v)))) for v in c)


def random_identity(rng: np.random.Generator, pose: Pose | None = None) -> Identity:
    """Draw a person: face shape, colouring, hair, room and camera; `pose` overrides the random
    one."""
    u = rng.uniform
    skin = _clip_colour(np.add(_mix(_SKIN_LIGHT, _SKIN_DARK, u() ** 1.3), rng.normal(0, 7, 3)))
    hair = _clip_colour(np.multiply(_HAIR[rng.integers(len(_HAIR))], u(0.85, 1.15)))
    nose_tip, lip_up = u(0.17, 0.26), u(0.045, 0.07)
    mouth_y = nose_tip + 0.1 + lip_up + u(0.17, 0.23)
    lip_lo = u(0.055, 0.085)
    style = int(rng.integers(5))
    return Identity(
        face_w=u(0.86, 1.0),
        chin_y=max(u(0.98, 1.14), mouth_y + lip_lo + 0.26),
        jaw_n=u(2.0, 3.2),
        jaw_taper=u(0.0, 0.2),
        crown=u(1.38, 1.52),
        eye_x=u(0.39, 0.44),
        eye_y=-0.3 + u(-0.03, 0.03),
        eye_w=u(0.14, 0.17),
        eye_open=u(0.05, 0.065),
        brow_y=u(-0.58, -0.52),
        brow_arch=u(0.03, 0.07),
        brow_thick=u(0.035, 0.06),
        nose_tip=nose_tip,
        nose_w=u(0.13, 0.18),
        mouth_y=mouth_y,
        mouth_w=u(0.27, 0.34),
        lip_up=lip_up,
        lip_lo=lip_lo,
        skin=skin,
        hair=hair,
        lips=_mix(skin, (176, 62, 74), u(0.3, 0.55)),
        iris=_IRIS[rng.integers(len(_IRIS))],
        shirt=_clip_colour(rng.integers(20, 236, 3)),
        bg=_clip_colour(rng.integers(30, 226, 3)),
        bg2=_clip_colour(rng.integers(30, 226, 3)),
        hair_style=style,
        hairline=-1.15 if style == 0 else u(-1.06, -0.97),
        bg_style=int(rng.integers(5)),
        bg_seed=int(rng.integers(2**31)),
        light_angle=u(0, 2 * math.pi),
        light=u(0.0, 0.3),
        noise=u(1.5, 6.0),
        au14_side=int(rng.choice([-1, 1])),
        pose=pose or Pose(u(0.42, 0.58), u(0.45, 0.55), u(0.17, 0.21), u(-5, 5)),
    )


# ---------------------------------------------------------------- geometry


def neutral_landmarks(idn: Identity) -> np.ndarray:
    """The 68 iBUG points of the resting face, in face units: jaw, brows, nose bridge and eyes by
    rule, the nose base and the mouth from face_template.json scaled by the identity."""
    P = np.zeros((68, 2))
    top = -0.3
    for i in range(17):  # jaw: a superellipse from the right ear (0) round the chin (8)
        th = (1 - abs(i - 8) / 8) * math.pi / 2
        c, s = math.cos(th), math.sin(th)
        x = idn.face_w * c ** (2 / idn.jaw_n) * (1 - idn.jaw_taper * s * s)
        P[i] = (x if i > 8 else -x, top + (idn.chin_y - top) * s ** (2 / idn.jaw_n))
    inner, outer = 0.1, idn.eye_x + idn.eye_w + 0.09
    for k in range(5):  # brows, outer -> inner, arched about a third of the way in
        t = k / 4
        y = idn.brow_y - idn.brow_arch * math.sin(math.pi * (0.25 + 0.75 * t)) + 0.015 * t
        x = outer + (inner - outer) * t
        P[R_BROW[k]] = (-x, y)
        P[L_BROW[k]] = (x, y)
    for k, y in enumerate(np.linspace(-0.3, idn.nose_tip, 4)):
        P[27 + k] = (0.0, y)
    base = idn.nose_tip + 0.08
    for i, x, dy in _NOSE_BASE:
        P[i] = (x * idn.nose_w, base + dy)
    for side, (o, uo, ui, i_, li, lo) in (
        (-1, (36, 37, 38, 39, 40, 41)),
        (1, (45, 44, 43, 42, 47, 46)),
    ):
        cx, cy, w, op = side * idn.eye_x, idn.eye_y, idn.eye_w, idn.eye_open
        P[o] = (cx + side * w, cy + 0.006)
        P[i_] = (cx - side * w, cy)
        P[uo] = (cx + side * w / 3, cy - op)
        P[ui] = (cx - side * w / 3, cy - op * 0.93)
        P[lo] = (cx + side * w / 3, cy + op * 0.55)
        P[li] = (cx - side * w / 3, cy + op * 0.6)
    my, mw, lu, ll = idn.mouth_y, idn.mouth_w, idn.lip_up, idn.lip_lo
    for i, x, y_up, y_lo, dy in _MOUTH:
        P[i] = (x * mw, my + y_up * lu + y_lo * ll + dy)
    return P


def _strengths(aus: dict[int, float]) -> dict[int, float]:
    return {au: min(1.0, max(0.0, float(aus.get(au, 0.0)) / 5.0)) for au in RENDERED_AUS}


# Long on purpose: the displacement table, one AU per line or two, reads like the FACS manual; split
# up it would scatter the table that the planted-truth tests check against.
def landmarks(idn: Identity, aus: dict[int, float]) -> np.ndarray:
    """The 68 points of `idn` showing `aus`, in face units.

    Displacements are linear in intensity/5 and add up, so combinations (AU1+4 in sadness,
    AU5+7 in anger) give the mixed shapes FACS describes. Sizes are chosen to be a few pixels
    at 64 px input, so a small CNN can see intensity 2 and up.
    """
    P = neutral_landmarks(idn)
    f = _strengths(aus)
    D = np.zeros_like(P)
    inner_w = np.array([0.0, 0.15, 0.4, 0.7, 1.0])
    outer_w = np.array([1.0, 0.85, 0.5, 0.2, 0.05])
    for side, idx in ((-1, R_BROW), (1, L_BROW)):
        D[idx, 1] += (
            -0.15 * f[1] * inner_w - 0.14 * f[2] * outer_w + 0.09 * f[4] * (0.35 + 0.65 * inner_w)
        )
        D[idx, 0] += -side * 0.07 * f[4] * inner_w  # AU4 pulls the brows together
    for up, lo in LID_PAIRS:
        D[up, 1] += -0.06 * f[5] + 0.02 * f[7]
        D[lo, 1] += -0.045 * f[7] - 0.03 * f[6]
    D[[31, 35], 1] -= 0.035 * f[9]  # AU9 lifts the nostril wings
    D[31, 0] -= 0.015 * f[9]
    D[35, 0] += 0.015 * f[9]
    D[[30, 32, 33, 34], 1] -= np.array([0.01, 0.025, 0.025, 0.025]) * f[9]
    for s in (-1, 1):
        c, nu, nl = CORNER[s], NEAR_UP[s], NEAR_LO[s]
        D[c] += (s * 0.08 * f[12], -0.09 * f[12])  # AU12 up and out
        D[nu] += (s * 0.03 * f[12], -0.035 * f[12])
        D[nl] += (s * 0.03 * f[12], -0.045 * f[12])
        D[c] += (-s * 0.012 * f[15], 0.08 * f[15])  # AU15 down
        D[nu] += (0.0, 0.02 * f[15])
        D[nl] += (0.0, 0.035 * f[15])
        D[c] += (s * 0.12 * f[20], 0.015 * f[20])  # AU20 sideways
        D[nu] += (s * 0.06 * f[20], 0.0)
        D[nl] += (s * 0.06 * f[20], 0.0)
        D[c] += (-s * 0.045 * f[23], 0.0)  # AU23 tightens towards the centre
        D[c] += (-s * 0.03 * f[26], 0.066 * f[26])  # an open jaw narrows the mouth
        if s == idn.au14_side:  # AU14 one-sided: corner back (out, or in) and up
            w = -s if idn.au14_inward else s
            D[c] += (w * 0.1 * f[14], -0.09 * f[14])
            D[nu] += (w * 0.045 * f[14], -0.045 * f[14])
            D[nl] += (w * 0.045 * f[14], -0.055 * f[14])
    D[[48, 54, 60, 64], 1] -= 0.015 * f[10]
    D[[56, 57, 58], 1] -= 0.01 * f[12]
    D[[50, 51, 52], 1] += 0.015 * f[20]
    D[[56, 57, 58], 1] -= 0.02 * f[20]
    D[UP_OUT, 1] -= np.array([0.05, 0.07, 0.075, 0.07, 0.05]) * f[10]
    D[UP_IN, 1] -= np.array([0.05, 0.06, 0.05]) * f[10]
    thin = np.array([0.55, 0.7, 0.7, 0.7, 0.55]) * f[23]
    D[UP_OUT, 1] += thin * idn.lip_up
    D[LO_OUT, 1] -= thin * idn.lip_lo
    D[LO_OUT, 1] += np.array([0.03, 0.06, 0.065, 0.06, 0.03]) * f[16]
    D[LO_IN, 1] += np.array([0.06, 0.07, 0.06]) * f[16]
    D[LO_OUT, 1] -= np.array([0.6, 1, 1, 1, 0.6]) * 0.045 * f[17]
    D[LO_IN, 1] -= 0.03 * f[17]
    D[[7, 8, 9], 1] -= np.array([0.02, 0.035, 0.02]) * f[17]
    D[LO_IN, 1] += np.array([0.04, 0.05, 0.04]) * f[25]
    D[LO_OUT, 1] += np.array([0.02, 0.035, 0.04, 0.035, 0.02]) * f[25]
    D[UP_IN, 1] -= 0.01 * f[25]
    drop = 0.22 * f[26]
    D[:17, 1] += drop * np.sin(np.pi * np.arange(17) / 16) ** 2
    D[LO_OUT, 1] += drop * np.array([0.7, 0.95, 1, 0.95, 0.7])
    D[LO_IN, 1] += drop * np.array([0.85, 0.95, 0.85])
    P = P + D

    closed = min(1.0, max(0.0, float(aus.get(43, 0.0))))
    for up, lo in LID_PAIRS:
        P[up] += (P[lo] - (0.0, 0.006) - P[up]) * closed
        P[up, 1] = np.minimum(P[up, 1], P[lo, 1] - 0.004)
    for u, lo in ((61, 67), (62, 66), (63, 65)):  # the lower lip stops at the upper one
        P[lo, 1] = max(P[lo, 1], P[u, 1])
    for o, i in ((50, 61), (51, 62), (52, 63)):
        P[o, 1] = min(P[o, 1], P[i, 1] - 0.012)
    for o, i in ((58, 67), (57, 66), (56, 65)):
        P[o, 1] = max(P[o, 1], P[i, 1] + 0.015)
    return P


def to_pixels(
    points: np.ndarray, size: tuple[int, int], pose: Pose, supersample: int = 1
) -> np.ndarray:
    """Face units -> pixel coordinates of an image of `size` (width, height)."""
    W, H = size
    a = math.radians(pose.angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    unit = pose.scale * H
    return (np.asarray(points, float) @ rot.T * unit + (pose.cx * W, pose.cy * H)) * supersample


def landmarks_px(
    idn: Identity, aus: dict[int, float], size: tuple[int, int], pose: Pose | None = None
) -> np.ndarray:
    """The (68, 2) pixel landmarks `render_face` would return, without drawing anything."""
    return to_pixels(landmarks(idn, aus), size, pose or idn.pose)


# ---------------------------------------------------------------- drawing

_CIRCLE = np.stack(
    [
        np.cos(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
        np.sin(np.linspace(0, 2 * np.pi, 20, endpoint=False)),
    ],
    axis=1,
)


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return _CIRCLE * (rx, ry) + (cx, cy)


def _chaikin(points: np.ndarray) -> np.ndarray:
    """One round of corner cutting on a closed outline: the jaw stops looking like 17 facets."""
    nxt = np.roll(points, -1, axis=0)
    return np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], axis=1).reshape(-1, 2)


class _Pen:
    """ImageDraw in face units: every shape goes through the same pose as the landmarks."""

    def __init__(self, img: Image.Image, size: tuple[int, int], pose: Pose):
        self.draw = ImageDraw.Draw(img)
        W, H = size
        a = math.radians(pose.angle)
        self.unit = pose.scale * H * SUPERSAMPLE
        self.matrix = (
            np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) * self.unit
        )
        self.offset = np.array([pose.cx * W, pose.cy * H]) * SUPERSAMPLE

    def xy(self, pts) -> list[float]:
        return (np.asarray(pts, float).reshape(-1, 2) @ self.matrix + self.offset).ravel().tolist()

    def poly(self, pts, fill: Colour) -> None:
        self.draw.polygon(self.xy(pts), fill=fill)

    def line(self, pts, fill: Colour, width: float) -> None:
        self.draw.line(
            self.xy(pts), fill=fill, width=max(1, int(round(width * self.unit))), joint="curve"
        )

    def ellipse(self, cx, cy, rx, ry, fill: Colour) -> None:
        self.poly(_ellipse(cx, cy, rx, ry), fill)


@lru_cache(maxsize=32)
def _background(
    style: int, bg: Colour, bg2: Colour, seed: int, size: tuple[int, int]
) -> Image.Image:
    """The room behind the person; cached because a video subject keeps the same wall."""
    W, H = size
    rng = np.random.default_rng(seed)
    a, b = np.array(bg, np.float32), np.array(bg2, np.float32)
    if style == 1:
        ang = rng.uniform(0, 2 * np.pi)
        x, y = np.meshgrid(
            np.linspace(-1, 1, W, dtype=np.float32), np.linspace(-1, 1, H, dtype=np.float32)
        )
        t = np.clip(0.5 + 0.5 * (x * np.cos(ang) + y * np.sin(ang)), 0, 1)[..., None]
        return Image.fromarray((a + (b - a) * t).astype(np.uint8))
    if style == 2:
        grid = a + (b - a) * rng.uniform(0, 1, (3, 4, 1)).astype(np.float32)
    elif style == 3:
        n = int(rng.integers(3, 9))
        grid = np.where((np.arange(n) % 2)[None, :, None] == 0, a, a + (b - a) * 0.5)
        return Image.fromarray(grid.astype(np.uint8)).resize((W, H), Image.NEAREST)
    elif style == 4:
        grid = a + rng.normal(0, 14, (max(2, H // 6), max(2, W // 6), 1)).astype(np.float32)
    else:
        grid = a + rng.normal(0, 4, (2, 2, 1)).astype(np.float32)
    return Image.fromarray(np.clip(grid, 0, 255).astype(np.uint8)).resize((W, H), Image.BILINEAR)


@lru_cache(maxsize=32)
def _lighting(size: tuple[int, int], angle: float, strength: float) -> np.ndarray:
    W, H = size
    x, y = np.meshgrid(
        np.linspace(-1, 1, W, dtype=np.float32), np.linspace(-1, 1, H, dtype=np.float32)
    )
    return (1 + strength * (x * math.cos(angle) + y * math.sin(angle)))[..., None]


def _hair_cap(idn: Identity) -> np.ndarray:
    rx, ry = idn.face_w + 0.05, idn.crown - 0.3 + 0.06
    t = np.linspace(-0.12, np.pi + 0.12, 18)
    outer = np.stack(
        [rx * np.cos(t), -0.3 - ry * np.sin(t)], axis=1
    )  # image right, over the top, to the left
    hl, fw = idn.hairline, idn.face_w
    if idn.hair_style == 2:  # fringe: a jagged edge across the forehead
        mid = [(x, hl + (0.04 if k % 2 else 0.0)) for k, x in enumerate(np.linspace(-0.6, 0.6, 9))]
    elif idn.hair_style == 4:  # side parting
        mid = [(-0.42, hl + 0.05), (-0.1, hl - 0.02), (0.2, hl - 0.1), (0.42, hl + 0.02)]
    else:
        mid = [(-0.42, hl + 0.04), (0.0, hl), (0.42, hl + 0.04)]
    inner = [
        (-(fw - 0.05), -0.22),
        (-(fw - 0.09), -0.62),
        (-0.74, -0.86),
        *mid,
        (0.74, -0.86),
        (fw - 0.09, -0.62),
        (fw - 0.05, -0.22),
    ]
    return np.concatenate([outer, np.array(inner)])


def _draw_head(pen: _Pen, idn: Identity, P: np.ndarray) -> None:
    S = idn.skin
    if idn.hair_style == 3:  # long hair hangs behind the head and shoulders
        rx, ry = idn.face_w + 0.2, idn.crown - 0.3 + 0.12
        t = np.linspace(0, np.pi, 16)
        arc = np.stack([rx * np.cos(t), -0.3 - ry * np.sin(t)], axis=1)
        pen.poly(np.concatenate([arc, [(-rx - 0.05, 1.1), (rx + 0.05, 1.1)]]), idn.hair)
    pen.poly([(-0.42, 0.5), (0.42, 0.5), (0.5, 3.0), (-0.5, 3.0)], _mix(S, (0, 0, 0), 0.18))
    pen.poly(
        [
            (-2.6, 3.5),
            (-2.2, 1.75),
            (-1.2, 1.45),
            (-0.45, 1.38),
            (0, 1.58),
            (0.45, 1.38),
            (1.2, 1.45),
            (2.2, 1.75),
            (2.6, 3.5),
        ],
        idn.shirt,
    )
    for side in (-1, 1):
        pen.ellipse(side * (idn.face_w - 0.02), -0.18, 0.1, 0.19, _mix(S, (0, 0, 0), 0.1))
    t = np.linspace(0, np.pi, 15)[1:-1]
    crown = np.stack([idn.face_w * np.cos(t), -0.3 - (idn.crown - 0.3) * np.sin(t)], axis=1)
    pen.poly(_chaikin(np.concatenate([P[:17], crown])), S)


def _draw_eyes(pen: _Pen, idn: Identity, P: np.ndarray, gaze: np.ndarray) -> None:
    """Sclera, iris and pupil, then skin over whatever lies outside the lids: the lids clip the
    iris."""
    S = idn.skin
    lash, lid_line, crease = (38, 28, 26), _mix(S, (0, 0, 0), 0.28), _mix(S, (0, 0, 0), 0.2)
    r = idn.eye_open * 1.05
    for side, upper, lower in (
        (-1, [36, 37, 38, 39], [39, 40, 41, 36]),
        (1, [42, 43, 44, 45], [45, 46, 47, 42]),
    ):
        pen.poly(P[upper + lower[1:3]], (236, 232, 226))
        cx = side * idn.eye_x + gaze[0] * idn.eye_w * 0.3
        cy = idn.eye_y - 0.1 * idn.eye_open + gaze[1] * 0.01
        pen.ellipse(cx, cy, r, r, idn.iris)
        pen.ellipse(cx, cy, r * 0.45, r * 0.45, (16, 12, 12))
        pen.ellipse(cx + 0.3 * r, cy - 0.3 * r, r * 0.16, r * 0.16, (250, 250, 250))
        up, lo = P[upper], P[lower]
        pen.poly(np.concatenate([up, up[::-1] - (0, 0.15)]), S)
        pen.poly(np.concatenate([lo, lo[::-1] + (0, 0.12)]), S)
        pen.line(up[1:3] - (0, 0.035), crease, 0.01)
        pen.line(lo, lid_line, 0.01)
        pen.line(up, lash, 0.02)


def _draw_marks(pen: _Pen, idn: Identity, P: np.ndarray, f: dict[int, float]) -> None:
    """Skin changes that come with AUs (wrinkles, bulges, dimples), each where FACS puts it."""
    S = idn.skin
    dark, light = _mix(S, (0, 0, 0), 0.45), _clip_colour(np.multiply(S, 1.08) + 5)
    by = idn.brow_y
    for k in range(2):  # forehead: AU1 centre, AU2 sides
        y = by - 0.2 - 0.075 * k
        if f[1]:
            pen.line(
                [(-0.22, y + 0.01), (0, y - 0.012), (0.22, y + 0.01)],
                _mix(S, dark, 0.6 * f[1]),
                0.014,
            )
        if f[2]:
            for s in (-1, 1):
                pen.line(
                    [(s * 0.3, y + 0.015), (s * 0.46, y), (s * 0.62, y + 0.02)],
                    _mix(S, dark, 0.6 * f[2]),
                    0.014,
                )
    if f[4]:  # AU4: vertical furrows at the glabella
        for s in (-1, 1):
            pen.line(
                [(s * 0.035, by - 0.04), (s * 0.05, by + 0.12)], _mix(S, dark, 0.75 * f[4]), 0.016
            )
    if f[9]:  # AU9: wrinkles across the nose bridge
        for y in (-0.25, -0.18, -0.11):
            pen.line(
                [(-0.085, y + 0.01), (0, y - 0.006), (0.085, y + 0.01)],
                _mix(S, dark, 0.9 * f[9]),
                0.026,
            )
    for s, outer in ((-1, 36), (1, 45)):
        ex = s * idn.eye_x
        if f[6]:  # AU6: cheek bulge, lid furrow, crow's feet
            pen.ellipse(ex + s * 0.02, idn.eye_y + 0.2, 0.17, 0.075, _mix(S, light, f[6]))
            pen.line(
                [
                    (ex - s * 0.12, idn.eye_y + 0.1),
                    (ex, idn.eye_y + 0.125),
                    (ex + s * 0.15, idn.eye_y + 0.085),
                ],
                _mix(S, dark, 0.65 * f[6]),
                0.014,
            )
            ox, oy = P[outer]
            for dy in (-0.045, 0.0, 0.045):
                pen.line(
                    [(ox + s * 0.03, oy + dy * 0.4), (ox + s * 0.09, oy + dy)],
                    _mix(S, dark, 0.7 * f[6]),
                    0.012,
                )
        fold = max(f[10], 0.9 * f[12])
        if fold:  # AU10/AU12: nasolabial furrow
            cx, cy = P[CORNER[s][0]]
            pen.line(
                [
                    (s * (idn.nose_w + 0.04), idn.nose_tip + 0.05),
                    (s * (idn.nose_w + 0.12), idn.mouth_y - 0.06),
                    (cx + s * 0.06, cy + 0.05),
                ],
                _mix(S, dark, 0.6 * fold),
                0.016,
            )
        cx, cy = P[CORNER[s][0]]
        if f[15]:  # AU15: folds pulled down from the corners
            pen.line(
                [(cx + s * 0.02, cy + 0.03), (cx + s * 0.06, cy + 0.15)],
                _mix(S, dark, 0.8 * f[15]),
                0.026,
            )
        if f[20]:  # AU20: skin stretched beside the corners
            pen.line(
                [(cx + s * 0.03, cy - 0.015), (cx + s * 0.12, cy - 0.005)],
                _mix(S, dark, 0.8 * f[20]),
                0.024,
            )
        if f[14] and s == idn.au14_side:  # AU14: the dimple and the tucked corner, one side only
            pen.ellipse(cx + s * 0.1, cy - 0.01, 0.07, 0.1, _mix(S, light, f[14]))
            deep = _mix(S, (0, 0, 0), 0.6)
            pen.line(
                [(cx + s * 0.05, cy - 0.1), (cx + s * 0.1, cy), (cx + s * 0.05, cy + 0.09)],
                _mix(S, deep, f[14]),
                0.05,
            )
            pen.line(
                [(cx - s * 0.01, cy + 0.005), (cx + s * 0.06, cy)], _mix(S, deep, 0.8 * f[14]), 0.03
            )
    if f[17]:  # AU17: chin boss, pitted skin, deeper sulcus
        chin = P[8, 1]
        pen.ellipse(0, chin - 0.14, 0.14, 0.075, _mix(S, light, f[17]))
        sy = (P[57, 1] + chin) / 2 - 0.03
        pen.line(
            [(-0.13, sy + 0.015), (0, sy - 0.01), (0.13, sy + 0.015)],
            _mix(S, dark, 0.85 * f[17]),
            0.026,
        )
        for dx, dy in ((-0.06, -0.12), (0.05, -0.14), (0.0, -0.1), (-0.03, -0.17), (0.07, -0.09)):
            pen.ellipse(dx, chin + dy, 0.012, 0.012, _mix(S, dark, 0.5 * f[17]))


def _draw_nose(pen: _Pen, idn: Identity, P: np.ndarray) -> None:
    S = idn.skin
    shadow = _mix(S, (0, 0, 0), 0.3)
    for s in (-1, 1):
        pen.line(
            [(s * 0.06, -0.24), (s * idn.nose_w * 0.7, idn.nose_tip - 0.02)],
            _mix(S, shadow, 0.45),
            0.014,
        )
    pen.ellipse(P[30, 0], P[30, 1] + 0.02, 0.05, 0.035, _clip_colour(np.multiply(S, 1.06) + 4))
    pen.line(P[31:36], shadow, 0.018)
    for a, b in ((31, 33), (35, 33)):
        m = P[a] * 0.55 + P[b] * 0.45
        pen.ellipse(m[0], m[1] - 0.008, 0.035, 0.017, _mix(S, (0, 0, 0), 0.62))


def _draw_brows(pen: _Pen, idn: Identity, P: np.ndarray) -> None:
    colour = _mix(idn.hair, (20, 15, 12), 0.45)
    for idx in (R_BROW, L_BROW):
        pen.line(P[idx], colour, idn.brow_thick)
        pen.line(P[idx[2:]], colour, idn.brow_thick * 1.2)  # brows are thicker at the head


def _draw_mouth(pen: _Pen, idn: Identity, P: np.ndarray) -> None:
    gaps = P[[67, 66, 65], 1] - P[UP_IN, 1]
    if gaps.max() > 0.008:
        pen.poly(P[60:68], (58, 20, 24))
        top = P[60:65]
        g = np.concatenate([[0.0], gaps, [0.0]])
        teeth = top + np.stack([np.zeros(5), np.minimum(0.05, 0.6 * g)], axis=1)
        pen.poly(np.concatenate([top, teeth[::-1]]), (228, 226, 214))
    lip_lo = _mix(idn.lips, (255, 255, 255), 0.06)
    pen.poly(P[[48, 49, 50, 51, 52, 53, 54, 64, 63, 62, 61, 60]], idn.lips)
    pen.poly(P[[54, 55, 56, 57, 58, 59, 48, 60, 67, 66, 65, 64]], lip_lo)
    pen.line(P[60:65], _mix(idn.lips, (0, 0, 0), 0.45), 0.012)


def render_face(
    identity: Identity,
    aus: dict[int, float],
    size: tuple[int, int],
    rng: np.random.Generator,
    pose: Pose | None = None,
) -> tuple[Image.Image, np.ndarray]:
    """Draw `identity` showing `aus` on an RGB image of `size` (width, height).

    Returns the image and the (68, 2) landmarks in its pixels. All randomness (gaze, sensor
    noise) is drawn from `rng` before anything depends on the AUs, so the same generator state
    gives identical pixels outside the regions the AUs touch.
    """
    pose = pose or identity.pose
    W, H = size
    gaze = rng.uniform(-1, 1, 2)
    noise = rng.standard_normal((H, W), dtype=np.float32)
    P = landmarks(identity, aus)
    f = _strengths(aus)
    img = _background(
        identity.bg_style,
        identity.bg,
        identity.bg2,
        identity.bg_seed,
        (W * SUPERSAMPLE, H * SUPERSAMPLE),
    ).copy()
    pen = _Pen(img, size, pose)
    _draw_head(pen, identity, P)
    _draw_eyes(pen, identity, P, gaze)
    _draw_marks(pen, identity, P, f)
    if identity.hair_style:
        pen.poly(_hair_cap(identity), identity.hair)
    else:
        pen.poly(_hair_cap(identity), _mix(identity.skin, identity.hair, 0.3))
    _draw_nose(pen, identity, P)
    _draw_brows(pen, identity, P)
    _draw_mouth(pen, identity, P)
    arr = np.asarray(img.reduce(SUPERSAMPLE), dtype=np.float32)
    arr = arr * _lighting(size, round(identity.light_angle, 6), round(identity.light, 6))
    arr += noise[..., None] * identity.noise
    out = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
    return out, to_pixels(P, size, pose)


def render_nonface(
    identity: Identity, size: tuple[int, int], rng: np.random.Generator
) -> Image.Image:
    """An AffectNet 'non-face' image: the room and some objects, nobody in it."""
    W, H = size
    img = _background(identity.bg_style, identity.bg, identity.bg2, identity.bg_seed, (W, H)).copy()
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = rng.uniform(0, W), rng.uniform(0, H)
        w, h = rng.uniform(10, W / 2), rng.uniform(10, H / 2)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            [x0, y0, x0 + w, y0 + h], fill=colour
        )
    arr = (
        np.asarray(img, np.float32)
        + rng.standard_normal((H, W, 1), dtype=np.float32) * identity.noise
    )
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")
