"""Spread of ten-head ensembles (PLAN.md, second addendum): five disjoint ensembles of ten heads on
the same frozen FreezeB0 and FreezeB5 blocks. Run from the study's folder: python ensembles.py [E]."""
from __future__ import annotations

import copy
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from auforget import tracking
from auforget.classifier import cached_sets, fit_on_task
from auforget.config import EMOTIONS, load_params
from auforget.models import N_BLOCKS, freeze_blocks, replace_head
from auforget.recipes import retrain_recipe
from auforget.train import make_loader, pick_device, predict


def main(ensembles: int) -> None:
    params = load_params("params.yaml")
    tracking.configure(params.tracking)
    heads = params.retrain.heads
    out: dict[str, dict[str, list[float]]] = {}
    for freeze in (0, 5):
        recipe = retrain_recipe(replace(params, retrain=replace(params.retrain, freeze=freeze)))
        pain, _ = recipe.upstream.load(params.model.profile)
        device = pick_device()
        base = freeze_blocks(replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=0), N_BLOCKS)
        features = cached_sets(base, recipe.data, batch_size=recipe.batch_size, views=recipe.views,
                               seed=recipe.settings.seed, device=device, progress=False)
        test = recipe.data.dataset("test")
        recalls: dict[str, list[float]] = {e: [] for e in EMOTIONS}
        for b in range(ensembles):
            model = freeze_blocks(replace_head(copy.deepcopy(pain), len(EMOTIONS), seed=b), N_BLOCKS)
            fit_on_task(model, recipe.data, recipe.loss, replace(recipe.settings, seed=b), batch_size=recipe.batch_size,
                        cached=True, views=recipe.views, checkpoint_dir=Path(f"checkpoints/ensembles-b{freeze}-{b}"),
                        features=features, device=device, progress=False, heads=heads)
            probs, _, labels = predict(model, make_loader(test, recipe.batch_size, shuffle=False, seed=0, device=device),
                                       device, progress=False)
            pred = probs.argmax(1)
            for c, e in enumerate(EMOTIONS):
                recalls[e].append(float((pred[labels == c] == c).mean()))
            print(f"b{freeze} ensemble {b}: " + " ".join(f"{e[:4]} {recalls[e][-1]:.3f}" for e in EMOTIONS), flush=True)
        out[f"b{freeze}"] = recalls
    Path("ensembles.json").write_text(json.dumps(out, indent=1))
    one = json.loads(Path("heads.json").read_text()) if Path("heads.json").exists() else None
    print(f"\n| emotion | SD of B5 - B0 over {ensembles} ensembles of {heads} heads | one head's SD (heads.json) | ratio | mean B5 - B0 |")
    print("|---|---|---|---|---|")
    for e in EMOTIONS:
        d = np.array(out["b5"][e]) - np.array(out["b0"][e])
        single = float(np.std(np.array(one["b5"][e]) - np.array(one["b0"][e]), ddof=1)) if one else float("nan")
        print(f"| {e} | {d.std(ddof=1):.3f} | {single:.3f} | {d.std(ddof=1) / single:.2f} | {d.mean():+.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
