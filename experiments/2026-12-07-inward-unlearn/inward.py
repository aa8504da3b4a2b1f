"""The manipulation figures of four unlearned AU14 lesions on one study's emotion model, in the
world that study was drawn in (PLAN.md; au14-pull's script with this experiment's arms).

Run in a study folder (its params.yaml, with synth.au14_pull, and its MLflow store holding
auforget-emotion@base): the lesions are fitted on the controls' pairs (controls.seed, 24 people,
every drawn AU) and read on selection pairs of other people (seed 20,000, 24 people), both drawn
with the study's synth.au14_pull. FreezeB5's conv blocks are the emotion model's, so the figures
are FreezeB5's.

    python inward.py OUT.csv [--fit-people 24] [--selection-people 24] [--arms 4:0.3,4:0.2,...]

The flags' defaults are this experiment's design; fit-people (its follow-up) passes others.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from auforget.analysis import erasure
from auforget.core.config import load_params
from auforget.data.face_pairs import drawn_aus, render_pairs
from auforget.nn import lesion
from auforget.stages import controls
from auforget.tracking import connection, registry

SELECTION_SEED = 20_000
PAIRS = 24
ARMS = (
    {"lesion": "unlearn", "block": 4, "erase_weight": 0.3},
    {"lesion": "unlearn", "block": 4, "erase_weight": 0.2},
    {"lesion": "unlearn", "block": 4, "erase_weight": 0.15},
    {"lesion": "unlearn", "block": 3, "erase_weight": 0.3},
)


def main(out: str, fit_people: int, selection_people: int, arms: tuple[dict, ...]) -> None:
    params = load_params("params.yaml")
    connection.configure(params.tracking)
    model, _ = registry.load_model(
        registry.EMOTION_MODEL,
        registry.BASE_ALIAS,
        hint="run auforget emotion first",
        profile=params.model.profile,
    )
    model = model.eval()
    cfg, inward = params.controls, params.synth.au14_inward
    size = model.profile.image_size
    fit = render_pairs(drawn_aus(), fit_people, size, cfg.seed, inward)
    selection = render_pairs(drawn_aus(), selection_people, size, SELECTION_SEED, inward)
    before = lesion.sensitivity(model, selection, drawn_aus())
    rest = lesion.last_block(model, selection.rest).flatten(1)
    au14 = lesion.last_block(model, selection.shown[cfg.au]).flatten(1) - rest
    for a in drawn_aus():
        if a != cfg.au:
            d = lesion.last_block(model, selection.shown[a]).flatten(1) - rest
            cos = torch.nn.functional.cosine_similarity(au14, d, dim=1).mean()
            print(f"AU{cfg.au} vs AU{a}: mean cosine {float(cos):.3f}", flush=True)
    rows = []
    for arm in arms:
        start = time.perf_counter()
        p = params.with_overrides("controls", n_pairs=fit_people, **arm)
        setup = controls.Setup(p, model, None, None, {}, {}, fit, selection, torch.device("cpu"))
        row = {"au14_pull": params.synth.au14_pull, "fit_people": fit_people, **arm}
        try:
            directions, lesioned = controls.au_lesion(setup)
        except ValueError as e:  # nothing specific left to erase
            rows.append({**row, "error": str(e)})
            print(rows[-1], flush=True)
            continue
        after = lesion.sensitivity(lesioned, selection, drawn_aus())
        change = {a: after[a] / before[a] - 1 for a in before}
        others = {a: abs(v) for a, v in change.items() if a != cfg.au}
        worst = max(others, key=others.get)
        cut = -change[cfg.au]
        row.update(
            rank=directions.rank,
            au_cut=round(cut, 3),
            other_max=round(others[worst], 3),
            other_worst_au=worst,
        )
        cov = controls.activation_covariance(setup)
        try:
            Q, sham = controls.sham_lesion(setup, directions, cov, 0)
        except ValueError as e:  # no sham of its rank matching its variance: it cannot qualify
            rows.append({**row, "error": str(e), "qualifies": False})
            print(rows[-1], flush=True)
            continue
        after_sham = lesion.sensitivity(sham, selection, drawn_aus())
        row.update(
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


def parse_arms(text: str) -> tuple[dict, ...]:
    """'4:0.3,3:0.3' -> unlearned arms (first block retrained, erase_weight)."""
    arms = []
    for item in text.split(","):
        block, weight = item.split(":")
        arms.append({"lesion": "unlearn", "block": int(block), "erase_weight": float(weight)})
    return tuple(arms)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--fit-people", type=int, default=PAIRS)
    ap.add_argument("--selection-people", type=int, default=PAIRS)
    ap.add_argument("--arms", type=parse_arms, default=ARMS)
    a = ap.parse_args()
    main(a.out, a.fit_people, a.selection_people, a.arms)
