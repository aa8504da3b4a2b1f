"""Head-only noise of the forgetting measure (PLAN.md): ten retrained heads on the same frozen
FreezeB0 and FreezeB5 blocks of one study. Run from the study's folder (its params.yaml, its
mlflow.db): python heads.py [H]."""
from __future__ import annotations

import copy
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from auforget import tracking
from auforget.classifier import cached_sets, fit_on_task
from auforget.config import EMOTIONS, load_params
from auforget.models import N_BLOCKS, freeze_blocks, replace_head
from auforget.recipes import retrain_recipe
from auforget.train import make_loader, pick_device, predict


def main(heads: int) -> None:
    params = load_params("params.yaml")
    tracking.configure(params.tracking)
    torch.manual_seed(0)
    out: dict[str, dict[str, list[float]]] = {}
    for freeze in (0, 5):
        recipe = retrain_recipe(replace(params, retrain=replace(params.retrain, freeze=freeze)))
        pain, version = recipe.upstream.load(params.model.profile)
        device = pick_device()
        base = freeze_blocks(replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=0), N_BLOCKS)
        features = cached_sets(base, recipe.data, batch_size=recipe.batch_size, views=recipe.views,
                               seed=recipe.settings.seed, device=device, progress=False)
        test = recipe.data.dataset("test")
        recalls: dict[str, list[float]] = {e: [] for e in EMOTIONS}
        for seed in range(heads):
            model = freeze_blocks(replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=seed), N_BLOCKS)
            settings = replace(recipe.settings, seed=seed)
            fit_on_task(model, recipe.data, recipe.loss, settings, batch_size=recipe.batch_size, cached=True,
                        views=recipe.views, checkpoint_dir=Path(f"checkpoints/heads-b{freeze}-{seed}"),
                        features=features, device=device, progress=False)
            probs, _, labels = predict(model, make_loader(test, recipe.batch_size, shuffle=False, seed=0, device=device),
                                       device, progress=False)
            pred = probs.argmax(1)
            for c, e in enumerate(EMOTIONS):
                recalls[e].append(float((pred[labels == c] == c).mean()))
            print(f"b{freeze} head {seed}: " + " ".join(f"{e[:4]} {recalls[e][-1]:.3f}" for e in EMOTIONS), flush=True)
        out[f"b{freeze}"] = recalls
    Path("heads.json").write_text(json.dumps(out, indent=1))
    print("\n| emotion | B5 SD over heads | B0 SD over heads | SD of B5 - B0 (paired) | mean B5 - B0 over heads | head 0 |")
    print("|---|---|---|---|---|---|")
    for e in EMOTIONS:
        b5, b0 = np.array(out["b5"][e]), np.array(out["b0"][e])
        d = b5 - b0
        print(f"| {e} | {b5.std(ddof=1):.3f} | {b0.std(ddof=1):.3f} | {d.std(ddof=1):.3f} | {d.mean():+.3f} | {d[0]:+.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
