"""Manipulation figures of unlearned AU14 lesions with each kept AU as a constraint (PLAN.md), or
of any lesion construction given as controls settings (../2026-12-07-flat-readout/).

Run in a multi-seed study folder (its params.yaml and MLflow store holding auforget-emotion@base
for each seed of study.seeds; FreezeB5's conv blocks are the emotion model's). Per seed and arm:
the lesion fitted on the controls' pairs (controls.seed, controls.n_pairs people) and read,
with its sham, either on selection people (seed 20,000) or on the demo's own check people
(controls.seed + 10,000), with the `controls` step's own manipulation check (an arm qualifies
where it passes: the sham's variance within controls.variance_tolerance of the lesion's too).

    python kept.py OUT.csv --seeds 0 --read selection --people 48 --arms 0.4:0:300,1:0.1:300
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from auforget.analysis import erasure
from auforget.analysis import instrument_checks as checks
from auforget.core.config import load_params
from auforget.data.face_pairs import drawn_aus, render_pairs
from auforget.stages import controls
from auforget.stages.main import seed_params
from auforget.tracking import connection, registry

SELECTION_SEED = 20_000


def parse_arms(text: str) -> list[dict]:
    """'1:0.05:300,0.4:0:300:0.003,...' -> erase_weight, keep_tolerance, steps[, lr] of the
    unlearned lesion at block 4; an arm written 'key=value key=value' sets those controls keys
    instead (e.g. 'lesion=projection block=4 eraser=flat protect=drawn')."""
    arms = []
    for item in text.split(","):
        if "=" in item:
            arms.append(dict(kv.split("=") for kv in item.split()))  # with_overrides coerces
            continue
        w, tol, steps, *lr = item.split(":")
        arm = {"erase_weight": float(w), "keep_tolerance": float(tol), "steps": int(steps)}
        arms.append({**arm, "lr": float(lr[0])} if lr else arm)
    return arms


def main(out: str, seeds: list[int], read: str, people: int, arms: list[dict]) -> None:
    study = load_params("params.yaml")
    connection.configure(study.tracking)
    rows = []
    for seed in seeds:
        params = seed_params(study, seed)
        sx = registry.seed_suffix(seed, study.study.seeds)
        model, _ = registry.load_model(
            registry.EMOTION_MODEL, registry.BASE_ALIAS + sx, hint="", profile=params.model.profile
        )
        model = model.eval()
        cfg, inward = params.controls, params.synth.au14_inward
        size = model.profile.image_size
        fit = render_pairs(drawn_aus(), cfg.n_pairs, size, cfg.seed, inward)
        read_seed = SELECTION_SEED if read == "selection" else cfg.seed + controls.CHECK_SEED_OFFSET
        readp = render_pairs(drawn_aus(), people, size, read_seed, inward)
        for arm in arms:
            start = time.perf_counter()
            p = params.with_overrides("controls", **({"lesion": "unlearn", "block": 4} | arm))
            setup = controls.Setup(p, model, None, None, {}, {}, fit, readp, torch.device("cpu"))
            directions, lesioned = controls.au_lesion(setup)
            cov = controls.activation_covariance(setup)
            Q, sham = controls.sham_lesion(setup, directions, cov, 0)
            variance = (erasure.lesion_variance(directions, cov), erasure.removed_variance(Q, cov))
            # the `controls` step's own check, on the pairs read here (setup.check_pairs)
            figures, _ = controls.manipulation_check(setup, lesioned, sham, variance)
            change = {a: figures[f"lesion_sensitivity_change_au{a}"] for a in drawn_aus()}
            worst = max((a for a in change if a != cfg.au), key=lambda a: abs(change[a]))
            cut, other = figures["lesion_sensitivity_cut"], figures["lesion_other_change_max"]
            sham_cut = figures["negative_sensitivity_cut"]
            row = {
                "seed": seed,
                "read": read,
                "people": people,
                **arm,
                "au_cut": round(cut, 3),
                "other_max": round(other, 3),
                "other_worst_au": worst,
                "sham_cut": round(sham_cut, 3),
                "variance_ratio": round(figures["negative_variance_ratio"], 3),
                "qualifies": bool(figures["manipulation_pass"]),
                "margin": round(
                    min(
                        cut - checks.LESION_CUT,
                        checks.OTHER_CHANGE - other,
                        checks.SHAM_CUT - sham_cut,
                    ),
                    3,
                ),
                "seconds": round(time.perf_counter() - start, 1),
                "changes": " ".join(f"{a}:{change[a]:+.3f}" for a in drawn_aus()),
            }
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out, index=False)
    print(table.drop(columns="changes").to_string(index=False))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    ap.add_argument("--read", choices=("selection", "check"), default="selection")
    ap.add_argument("--people", type=int, default=48)
    ap.add_argument("--arms", type=parse_arms, required=True)
    a = ap.parse_args()
    main(a.out, a.seeds, a.read, a.people, a.arms)
