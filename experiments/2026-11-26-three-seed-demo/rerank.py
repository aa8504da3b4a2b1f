"""Re-rank the three-seed demo's saved difference maps with both rankings (`difference`,
`beyond_b5`) and judge the planted truth across seeds.

    python experiments/2026-11-26-three-seed-demo/rerank.py STORE_DIR OUT_JSON

Historical: on 2026-11-26 it read the three-seed demo's store (STORE_DIR/mlflow.db, since
deleted) and wrote what measured/planted_seeds_both_rankings.json holds. Its imports follow the
package layout of 2026-12-06 and the calls match that code's signatures; not run since."""

import json
import sys
from pathlib import Path

import mlflow
import numpy as np

from auforget.analysis import planted
from auforget.analysis.regions import rank_aus

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
out = {}
for mode in ("difference", "beyond_b5"):
    sal = {}
    for s, sx in seeds.items():
        run = runs[f"saliency-b0{sx}"]
        local = Path(
            mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="saliency")
        )
        m = {}
        for emo in ("surprise", "contempt"):
            z = np.load(local / f"{emo}_maps.npz", allow_pickle=True)
            if len(z["diff"]) == 0:
                continue
            t = rank_aus(
                z["diff"], list(z["landmarks"]), reference=z["b5"] if mode == "beyond_b5" else None
            )
            for r in t.itertuples():
                m[f"au_effect_{r.region}_{emo}"] = r.effect_size
            print(
                mode,
                s,
                emo,
                len(z["diff"]),
                "images; top:",
                list(t["region"][:3]),
                np.round(t["effect_size"][:3].values, 2),
            )
        sal[s] = m
    probes = {
        au: {s: dict(runs[f"probes-b0-au{au}{sx}"].data.metrics) for s, sx in seeds.items()}
        for au in (14, 5)
    }
    table, text = planted.compare_seeds(forgetting, sal, probes, k=0)
    print(mode, text)
    print(table[["check", "subject", "found", "value", "p", "recovered"]].to_string())
    out[mode] = planted.planted_metrics(table, planted.SEEDS_PREFIX)
Path(sys.argv[2]).write_text(json.dumps(out, indent=1))
