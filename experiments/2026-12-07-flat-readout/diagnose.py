"""Why the flat AU14 eraser does not carry to new people (README.md): the share of new people's
AU14 difference energy at the last block's flattened output that the top-k directions of the fit
people's differences hold, by k and by the number of fit people; the same for the channels at
the mouth-corner cells (the channel eraser's space), for comparison; and, in the flat space, the
share the protected AUs' directions hold (what projecting them out takes from AU14 before U is
chosen) and the share the arms' U holds.

Run in the five-seed demo folder:  python diagnose.py OUT.csv [--seed 0] [--fit 64,256]"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from auforget.analysis import erasure
from auforget.core.config import load_params
from auforget.data.face_pairs import drawn_aus, render_pairs
from auforget.nn import lesion
from auforget.stages.main import seed_params
from auforget.tracking import connection, registry

SELECTION_SEED = 20_000  # kept.py's selection people


def held_share(fit: np.ndarray, new: np.ndarray, ks: list[int]) -> list[float]:
    _, _, vt = np.linalg.svd(fit, full_matrices=False)
    total = float(np.sum(new**2))
    return [float(np.sum((new @ vt[:k].T) ** 2) / total) for k in ks]


def main(out: str, seed: int, fits: list[int]) -> None:
    study = load_params("params.yaml")
    connection.configure(study.tracking)
    params = seed_params(study, seed)
    sx = registry.seed_suffix(seed, study.study.seeds)
    model, _ = registry.load_model(
        registry.EMOTION_MODEL, registry.BASE_ALIAS + sx, hint="", profile=params.model.profile
    )
    model = model.eval()
    size, inward, au = model.profile.image_size, params.synth.au14_inward, params.controls.au
    new = render_pairs(drawn_aus(), 48, size, SELECTION_SEED, inward)
    rows = []
    ks = [1, 2, 4, 8, 16, 32, 64, 128]
    for n in fits:
        fit = render_pairs(drawn_aus(), n, size, params.controls.seed, inward)
        for space, read in (
            ("flat", lambda p: lesion.flat_differences(model, p, au, 4)),
            ("channels in region", lambda p: lesion.region_differences(model, p, au, 4)),
        ):
            f, g = read(fit), read(new)
            usable = [k for k in ks if k <= min(f.shape)]
            fit_share = held_share(f, f, usable)
            new_share = held_share(f, g, usable)
            for k, a, b in zip(usable, fit_share, new_share):
                rows.append({"fit_people": n, "space": space, "k": k, "fit": a, "new": b})
                print(rows[-1], flush=True)
        f, g = (lesion.flat_differences(model, p, au, 4) for p in (fit, new))
        for protect, others in (
            ("region", lesion.sharing_aus(au)),
            ("drawn", tuple(a for a in drawn_aus() if a != au)),
        ):
            shared = [lesion.flat_differences(model, fit, a, 4) for a in others]
            d = erasure.au_directions(f, shared, energy=0.9, shared_energy=0.5)
            for what, basis in (("protected span", d.shared), (f"U (rank {d.rank})", d.U)):
                a, b = (float(np.sum((x @ basis) ** 2) / np.sum(x**2)) for x in (f, g))
                rows.append(
                    {"fit_people": n, "space": f"flat, {protect}: {what}", "fit": a, "new": b}
                )
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(3)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit", type=lambda s: [int(x) for x in s.split(",")], default=[64, 256])
    a = ap.parse_args()
    main(a.out, a.seed, a.fit)
