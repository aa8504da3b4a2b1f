"""Judge the saved demo results by the planted truth of 2026-11-26 afternoon (controls: a PSPI AU
among the strongest; AU5's probe shown with no verdict). Seed 0 (single-seed view) and all 3 seeds.

    python experiments/2026-11-26-three-seed-demo/replant.py STORE_DIR SEED0_SALIENCY_JSON

Historical: on 2026-11-26 it read the three-seed demo's store (STORE_DIR/mlflow.db, since
deleted) and the beyond_b5 saliency numbers of seed 0 from the single-seed rerun (that run's
metrics/saliency.json, ../2026-11-26-demo-beyond-b5/), seeds 1 and 2 re-ranked from their saved
difference maps as rerank.py does; it wrote measured/planted_replanted.json. Today's `auforget
main` ranks beyond FreezeB5 and judges by these rules itself, so a rerun (run.sh) does not need
it. Its imports follow the package layout of 2026-12-06 and its calls match that code's
signatures; it has not been run since."""

import json
import sys
from pathlib import Path

import mlflow
import numpy as np

from auforget.analysis import planted
from auforget.analysis.regions import rank_aus

HERE = Path(__file__).resolve().parent
mlflow.set_tracking_uri(f"sqlite:///{Path(sys.argv[1]).resolve() / 'mlflow.db'}")
runs = {
    r.data.tags.get("auforget.stage", r.info.run_name): r
    for r in reversed(
        mlflow.search_runs(
            search_all_experiments=True,
            output_format="list",
            max_results=1000,
            filter_string="attributes.status = 'FINISHED'",
        )
    )
}
seeds = {0: "", 1: "-seed1", 2: "-seed2"}
forgetting = dict(runs["forgetting"].data.metrics)
saliency = {0: json.loads(Path(sys.argv[2]).read_text())}
for s in (1, 2):
    run = runs[f"saliency-b0{seeds[s]}"]
    local = Path(
        mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="saliency")
    )
    m = {}
    for emo in ("surprise", "contempt"):
        z = np.load(local / f"{emo}_maps.npz", allow_pickle=True)
        if len(z["diff"]):
            for r in rank_aus(z["diff"], list(z["landmarks"]), reference=z["b5"]).itertuples():
                m[f"au_effect_{r.region}_{emo}"] = r.effect_size
    saliency[s] = m
probes = {
    au: {s: dict(runs[f"probes-b0-au{au}{sx}"].data.metrics) for s, sx in seeds.items()}
    for au in (14, 5)
}
one, one_text = planted.compare(
    forgetting,
    planted.rankings_from_metrics(saliency[0]),
    {au: probes[au][0] for au in probes},
    k=0,
)
many, many_text = planted.compare_seeds(forgetting, saliency, probes, k=0)
for table, text in ((one, one_text), (many, many_text)):
    print(text)
    print(table[["check", "subject", "found", "value", "p", "recovered"]].to_string(), "\n")
numbers = planted.planted_metrics(one) | planted.planted_metrics(many, planted.SEEDS_PREFIX)
target = HERE / "measured" / "planted_replanted.json"
target.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
