"""Face pairs that differ by one action unit only: the instrument controls' known cause.

A control that erases an AU from a network needs to know what that AU does to the network's
activations, and nothing else. Each pair is one synthetic person (identity, pose, room, camera)
drawn twice with the same generator state for gaze and sensor noise: once at rest, once showing
the AU (`faces.render_face` draws every random number before anything depends on the AUs, so the
two images differ only where the AU moves the face). Both are cut with the resting face's box
(the AU must not move the crop) and sized as the eval preset feeds the network.

The intensity of an AU is its typical intensity in the emotion prototypes
(`synthetic.EMOTION_AUS`, the largest where several use it), so a pair shows the AU as the
emotion images show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from .faces import RENDERED_AUS, random_identity, render_face
from .images import preset
from .manifest import box_from_landmarks
from .synthetic import EMOTION_AUS, _place_face

CANVAS = (120, 120)  # the rendered image; the face box fills most of it, as in AffectNet's crops
DEFAULT_INTENSITY = 3.0


def drawn_aus() -> tuple[int, ...]:
    """The AUs the emotion prototypes draw: the ones whose sensitivity a lesion must leave alone."""
    return tuple(sorted({au for aus in EMOTION_AUS.values() for au in aus}))


def typical_intensity(au: int) -> float:
    """The AU's largest prototype intensity (DEFAULT_INTENSITY for an AU no emotion draws)."""
    if au not in RENDERED_AUS:
        raise ValueError(f"AU{au} is not drawn by the synthetic face; drawn AUs: {RENDERED_AUS}")
    found = [aus[au] for aus in EMOTION_AUS.values() if au in aus]
    return float(max(found)) if found else DEFAULT_INTENSITY


@dataclass(frozen=True)
class FacePairs:
    """`n` resting faces and, per AU, the same faces showing it, ready for the network.

    rest: (n, 3, S, S) normalised as the eval preset does; shown[au]: the same shape, pair by
    pair; landmarks: (n, 68, 2) of the resting faces in the S x S frame (what AU regions are
    drawn from); size: S.
    """

    rest: torch.Tensor
    shown: dict[int, torch.Tensor]
    landmarks: np.ndarray
    size: int

    @property
    def n(self) -> int:
        return int(self.rest.shape[0])


def render_pairs(
    aus: Sequence[int], n_pairs: int, image_size: int, seed: int, au14_inward: bool = False
) -> FacePairs:
    """`n_pairs` people, each at rest and showing each AU of `aus` alone (same identity, pose and
    noise); person i is drawn from the seed sequence (seed, i), so a pair does not depend on
    which other AUs or how many pairs are asked for. `au14_inward`: the world's AU14 drawing
    (synth.au14_pull), which must be the one the network was trained on."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be at least 1, got {n_pairs}")
    intensities = {au: typical_intensity(au) for au in aus}
    transform = preset("eval", image_size)
    rest, shown, marks = [], {au: [] for au in aus}, []
    for i in range(n_pairs):
        plan_seq, render_seq = np.random.SeedSequence([seed, i]).spawn(2)
        plan = np.random.default_rng(plan_seq)
        idn = replace(random_identity(plan), au14_inward=au14_inward)
        side = plan.uniform(90, 110)
        pose = _place_face(idn, {}, CANVAS, side, plan)
        state = render_seq.generate_state(4)

        def draw(face_aus: dict[int, float]) -> tuple[Image.Image, np.ndarray]:
            return render_face(idn, face_aus, CANVAS, np.random.default_rng(state), pose)

        img, lm = draw({})
        x, y, w, h = box_from_landmarks(lm, *CANVAS)
        box = (x, y, x + w, y + h)
        rest.append(transform(img.crop(box)))
        marks.append((lm - (x, y)) * (image_size / w, image_size / h))
        for au in aus:
            face, _ = draw({au: intensities[au]})
            shown[au].append(transform(face.crop(box)))
    return FacePairs(
        torch.stack(rest),
        {au: torch.stack(images) for au, images in shown.items()},
        np.stack(marks),
        image_size,
    )
