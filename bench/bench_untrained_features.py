"""How much of each emotion can the forgetting measure take away? Recall from untrained conv blocks.

The forgetting measure (the retrain stage) freezes a pain model's conv blocks and trains new
emotion output layers on AffectNet: an emotion counts as forgotten when the retrained model
recognises it less well than FreezeB5's. But the retrained head can recognise an emotion from
conv features nobody trained at all, when what marks it is large or high-contrast. Then no
amount of fine-tuning for pain can make that emotion look forgotten, whatever the planted world
says. This runs the retrain recipe on the small profile's conv blocks as initialised (seeded,
never trained) and prints, per emotion, the test recall of that floor next to the study's
retrained FreezeB5 and FreezeB0 (mean over the study's seeds): the room the measure has is
B5 - floor.

    .venv/bin/python bench/bench_untrained_features.py STUDY_DIR [--seeds 0 1 2] [--threads 2]

STUDY_DIR is a folder where `auforget main` ran (its params.yaml, data/splits and metrics files).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from auforget.analysis.metrics import classification_metrics
from auforget.core.config import EMOTIONS, load_params
from auforget.nn.backbones import initial_model
from auforget.nn.training import make_loader, pick_device, predict
from auforget.workflow.fitting import fit_on_task
from auforget.workflow.recipes import retrain_recipe


def floor_recalls(study: Path, seed: int) -> np.ndarray:
    """Per-emotion test recall of the retrain recipe (`recipes.retrain_recipe`, so its data, loss,
    settings and head are the study's) on untrained, seed-initialised conv blocks."""
    os.chdir(study)
    params = load_params(study / "params.yaml")
    recipe = retrain_recipe(params.with_overrides("retrain", seed=seed))
    untrained, _ = initial_model(params.model, len(EMOTIONS), seed=seed)
    model, _ = recipe.prepare(untrained)
    device = pick_device()
    with tempfile.TemporaryDirectory() as tmp:
        fit_on_task(
            model,
            recipe.data,
            recipe.loss,
            recipe.settings,
            batch_size=recipe.batch_size,
            cached=recipe.cached,
            views=recipe.views,
            checkpoint_dir=Path(tmp),
            key=f"untrained-{seed}",
            device=device,
            progress=False,
            desc=f"untrained seed {seed}",
        )
    model.to(device)
    loader = make_loader(
        recipe.data.dataset("test"), recipe.batch_size, shuffle=False, seed=0, device=device
    )
    probs, _, labels = predict(model, loader, device, progress=False)
    metrics = classification_metrics(labels, probs.argmax(1), EMOTIONS)
    return np.array([metrics[f"recall_{e}"] for e in EMOTIONS])


def study_recalls(study: Path, model: str) -> tuple[np.ndarray, int]:
    """The study's retrained FreezeB<k> recalls per emotion, mean over every seed's retrain
    metrics (in the study's study.metrics_dir)."""
    folder = study / load_params(study / "params.yaml").study.metrics_dir
    files = sorted(folder.glob(f"retrain-{model}*.json"))
    rows = [json.loads(f.read_text()) for f in files]
    return np.array([np.mean([r[f"test_recall_{e}"] for r in rows]) for e in EMOTIONS]), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    study = args.study.resolve()
    floors = np.array([floor_recalls(study, s) for s in args.seeds])
    b5, n = study_recalls(study, "b5")
    b0, _ = study_recalls(study, "b0")
    print(f"untrained conv blocks, seeds {args.seeds}; study retrains: mean of {n} seeds ({study})")
    print(
        "| emotion | untrained (per seed) | untrained mean | retrained B5 | retrained B0 "
        "| room B5 - untrained |"
    )
    print("|---|---|---|---|---|---|")
    for i, emotion in enumerate(EMOTIONS):
        per_seed = ", ".join(f"{v:.2f}" for v in floors[:, i])
        print(
            f"| {emotion} | {per_seed} | {floors[:, i].mean():.2f} | {b5[i]:.2f} | {b0[i]:.2f} | "
            f"{b5[i] - floors[:, i].mean():+.2f} |"
        )
    print(
        f"| macro | | {floors.mean():.2f} | {b5.mean():.2f} | {b0.mean():.2f} | "
        f"{b5.mean() - floors.mean():+.2f} |"
    )


if __name__ == "__main__":
    main()
