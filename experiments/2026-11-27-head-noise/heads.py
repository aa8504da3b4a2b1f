"""Head-only noise of the forgetting measure (PLAN.md): ten retrained heads on the same frozen
FreezeB0 and FreezeB5 blocks of one study. `retrain_recalls` is also ensembles.py's loop.

    cd STUDY_DIR && python experiments/2026-11-27-head-noise/heads.py [H]

STUDY_DIR is where `auforget main` ran (its params.yaml, its mlflow.db); writes heads.json there.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from auforget.core.config import EMOTIONS, N_BLOCKS, Params, load_params
from auforget.nn.backbones import freeze_blocks, replace_head
from auforget.nn.training import make_loader, pick_device, predict
from auforget.tracking import connection
from auforget.workflow.fitting import cached_sets, fit_on_task
from auforget.workflow.recipes import retrain_recipe


def retrain_recalls(
    params: Params, fits: int, heads: int, label: str
) -> dict[str, dict[str, list[float]]]:
    """Test recall per emotion of `fits` retrains (seeds 0..fits-1, `heads` heads each, as the
    retrain stage seeds them) of FreezeB0 and FreezeB5, all on the same frozen blocks and the
    stage's cached features, so only the heads' starts and batch orders differ."""
    connection.configure(params.tracking)
    out: dict[str, dict[str, list[float]]] = {}
    for freeze in (0, 5):
        recipe = retrain_recipe(replace(params, retrain=replace(params.retrain, freeze=freeze)))
        pain, _ = recipe.upstream.load(params.model.profile)
        device = pick_device()
        base = freeze_blocks(replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=0), N_BLOCKS)
        features = cached_sets(
            base,
            recipe.data,
            batch_size=recipe.batch_size,
            views=recipe.views,
            seed=recipe.settings.seed,
            device=device,
            progress=False,
        )
        test = recipe.data.dataset("test")
        recalls: dict[str, list[float]] = {e: [] for e in EMOTIONS}
        for seed in range(fits):
            model = freeze_blocks(
                replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=seed), N_BLOCKS
            )
            fit_on_task(
                model,
                recipe.data,
                recipe.loss,
                replace(recipe.settings, seed=seed),
                batch_size=recipe.batch_size,
                cached=True,
                views=recipe.views,
                checkpoint_dir=Path(f"checkpoints/{label}s-b{freeze}-{seed}"),
                features=features,
                device=device,
                progress=False,
                heads=heads,
            )
            probs, _, labels = predict(
                model,
                make_loader(test, recipe.batch_size, shuffle=False, seed=0, device=device),
                device,
                progress=False,
            )
            pred = probs.argmax(1)
            for c, e in enumerate(EMOTIONS):
                recalls[e].append(float((pred[labels == c] == c).mean()))
            print(
                f"b{freeze} {label} {seed}: "
                + " ".join(f"{e[:4]} {recalls[e][-1]:.3f}" for e in EMOTIONS),
                flush=True,
            )
        out[f"b{freeze}"] = recalls
    return out


def main(heads: int) -> None:
    out = retrain_recalls(load_params("params.yaml"), heads, 1, "head")
    Path("heads.json").write_text(json.dumps(out, indent=1))
    print(
        "\n| emotion | B5 SD over heads | B0 SD over heads | SD of B5 - B0 (paired) "
        "| mean B5 - B0 over heads | head 0 |"
    )
    print("|---|---|---|---|---|---|")
    for e in EMOTIONS:
        b5, b0 = np.array(out["b5"][e]), np.array(out["b0"][e])
        d = b5 - b0
        spreads = f"{b5.std(ddof=1):.3f} | {b0.std(ddof=1):.3f} | {d.std(ddof=1):.3f}"
        print(f"| {e} | {spreads} | {d.mean():+.3f} | {d[0]:+.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
