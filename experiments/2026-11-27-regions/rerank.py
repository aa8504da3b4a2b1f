"""Re-rank a finished study's saved difference maps with the AU regions of the code on PYTHONPATH.

Reads every saliency run of the study's MLflow store (sqlite, `<project>/mlflow.db`; only the
given SEEDs' runs when any are given), loads its `saliency/<emotion>_maps.npz` and ranks them
with `stages.saliency.ranking`, exactly as the saliency step does (FreezeB5's maps as the
reference, the step's seed). Nothing is retrained, so two runs of this script under two versions
of `auforget.analysis.regions` compare the regions on the same maps. Prints, per seed and
emotion, the top three regions with their effect sizes, then each planted top-region check
across seeds (`planted._seed_region_rows`).

    PYTHONPATH=<checkout>/src python rerank.py PROJECT [SEED ...] > out.txt
"""

import sys
from pathlib import Path

import mlflow
import numpy as np

from auforget.analysis import planted
from auforget.stages import saliency

project = Path(sys.argv[1]).resolve()
wanted = {int(s) for s in sys.argv[2:]}
mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
runs = mlflow.search_runs(
    search_all_experiments=True,
    output_format="list",
    max_results=5000,
    filter_string="tags.`auforget.stage` LIKE 'saliency%' AND attributes.status = 'FINISHED'",
)
by_seed: dict[int, dict[str, float]] = {}
for run in sorted(runs, key=lambda r: int(r.data.tags["seed"])):
    seed = int(run.data.tags["seed"])
    if wanted and seed not in wanted:
        continue
    folder = Path(run.info.artifact_uri.removeprefix("file://")) / "saliency"
    metrics = {}
    for npz in sorted(folder.glob("*_maps.npz")):
        emotion = npz.name.removesuffix("_maps.npz")
        maps = np.load(npz)
        keep = ~np.isnan(maps["landmarks"]).any(axis=(1, 2))
        table = saliency.ranking(
            maps["diff"][keep],
            maps["landmarks"][keep],
            emotion,
            int(run.data.params["saliency.seed"]),
            maps["b5"][keep],
        )
        recorded = {r: run.data.metrics.get(f"au_effect_{r}_{emotion}") for r in table["region"]}
        print(
            f"seed {seed} {emotion:<9} n {int(keep.sum()):>3} top: "
            + ", ".join(
                f"{r} {e:.2f}" for r, e in zip(table["region"][:3], table["effect_size"][:3])
            )
            + f"   (the run recorded: {max(recorded, key=lambda r: recorded[r] or -1e9)})"
        )
        metrics.update(
            {
                f"au_effect_{r}_{emotion}": float(e)
                for r, e in zip(table["region"], table["effect_size"])
                if np.isfinite(e)
            }
        )
    by_seed[seed] = metrics
print()
for row in planted._seed_region_rows(by_seed):
    print(
        f"{row['subject']}: expected {row['expected']}; found {row['found']}; "
        f"recovered {row['recovered']}"
    )
