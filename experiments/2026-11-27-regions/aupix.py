"""The region instrument against a known answer: each drawn AU's own pixel change, ranked.

Renders the same face with and without one AU (intensity 3.5; same identity, pose and noise),
takes the absolute pixel change as a perfect difference map (and a blurred one, sigma 1.5 px,
closer to an LRP map), and ranks it with `regions.rank_aus`. Prints each AU's top three regions.
Run from anywhere: python experiments/2026-11-27-regions/aupix.py (no network, no data; seconds)
"""

import numpy as np
from scipy.ndimage import gaussian_filter

from auforget.analysis import regions
from auforget.data import faces

S = 96
for blur in (0.0, 1.5):
    wrong = []
    for au in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26):
        maps, lms = [], []
        for i in range(20):
            pose = faces.Pose(0.5 + 0.03 * np.sin(i), 0.55, 0.28, 8 * np.cos(i))
            idn = faces.random_identity(np.random.default_rng([7, i]), pose)
            a, lm = faces.render_face(idn, {}, (S, S), np.random.default_rng([9, i]))
            b, lm_b = faces.render_face(idn, {au: 3.5}, (S, S), np.random.default_rng([9, i]))
            d = np.abs(np.asarray(a, float) - np.asarray(b, float)).sum(-1)
            maps.append(gaussian_filter(d, blur) if blur else d)
            lms.append(lm_b)  # the regions of the image that shows the AU, as the study draws them
        t = regions.rank_aus(np.stack(maps), lms, n_null=100, seed=0)
        own = [k for k, v in regions.AU_REGIONS.items() if au in v][0]
        if t.region[0] != own:
            wrong.append(au)
        print(
            f"blur {blur} AU{au:<3} own {own:<13} top:",
            ", ".join(f"{r} {e:.1f}" for r, e in zip(t.region[:3], t.effect_size[:3])),
        )
    print(f"blur {blur}: own region not first for AU {wrong}\n")
