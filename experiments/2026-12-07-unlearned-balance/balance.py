"""The manipulation figures of the balanced unlearned AU14 lesion's four arms on one study's
FreezeB5 (PLAN.md).

Run in a study folder (its params.yaml and MLflow store): the lesion is fitted on the controls
stage's own pairs (controls.seed, every drawn AU, controls.n_pairs people); the figures are read on
selection pairs of other people (seed 20,000, 24 people), neither those nor the stage's check
pairs (controls.seed + 10,000).

    python balance.py OUT.csv
"""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import pandas as pd
import torch

from auforget.analysis import erasure
from auforget.core.config import load_params
from auforget.data.face_pairs import drawn_aus, render_pairs
from auforget.nn import lesion
from auforget.nn.backbones import N_BLOCKS
from auforget.stages import controls
from auforget.tracking import connection, registry

SELECTION_SEED = 20_000
SELECTION_PAIRS = 24
FIT_PAIRS = 24


def main(out: str) -> None:
    params = load_params("params.yaml").with_overrides("controls", lesion="unlearn")
    connection.configure(params.tracking)
    b5, _ = registry.load_model(
        registry.RETRAIN_MODEL,
        registry.freeze_alias(N_BLOCKS),
        hint="run the study first",
        profile=params.model.profile,
    )
    b5 = b5.eval()
    cfg = params.controls
    size = b5.profile.image_size
    selection = render_pairs(drawn_aus(), SELECTION_PAIRS, size, SELECTION_SEED)
    before = lesion.sensitivity(b5, selection, drawn_aus())
    rows = []
    fit = render_pairs(drawn_aus(), FIT_PAIRS, size, cfg.seed)
    for block, weight in itertools.product((4, 3), (0.3, 0.1)):
        start = time.perf_counter()
        p = params.with_overrides("controls", block=block, n_pairs=FIT_PAIRS, erase_weight=weight)
        setup = controls.Setup(p, b5, None, None, {}, {}, fit, selection, torch.device("cpu"))
        row = {"block": block, "erase_weight": weight}
        directions, lesioned = controls.au_lesion(setup)
        cov = controls.activation_covariance(setup)
        try:
            Q, sham = controls.sham_lesion(setup, directions, cov, 0)
        except ValueError as e:  # no sham of the lesion's rank matches its variance
            rows.append({**row, "rank": directions.rank, "error": str(e)})
            print(rows[-1], flush=True)
            continue
        after = lesion.sensitivity(lesioned, selection, drawn_aus())
        after_sham = lesion.sensitivity(sham, selection, drawn_aus())
        change = {a: after[a] / before[a] - 1 for a in before}
        others = {a: abs(v) for a, v in change.items() if a != cfg.au}
        worst = max(others, key=others.get)
        cut = -change[cfg.au]
        row.update(
            rank=directions.rank,
            fit_energy_erased=round(directions.raw_energy, 3),
            au_cut=round(cut, 3),
            other_max=round(others[worst], 3),
            other_worst_au=worst,
            sham_cut=round(1 - after_sham[cfg.au] / before[cfg.au], 3),
            variance_ratio=round(
                erasure.removed_variance(Q, cov) / erasure.lesion_variance(directions, cov), 3
            ),
            seconds=round(time.perf_counter() - start, 1),
        )
        row["qualifies"] = cut >= 0.5 and others[worst] <= 0.15 and row["sham_cut"] <= 0.15
        row["margin"] = round(min(cut - 0.5, 0.15 - others[worst], 0.15 - row["sham_cut"]), 3)
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main(*sys.argv[1:2])
