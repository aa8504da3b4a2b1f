"""Spread of ten-head ensembles (PLAN.md, second addendum): five disjoint ensembles of ten heads on
the same frozen FreezeB0 and FreezeB5 blocks.

    cd STUDY_DIR && python experiments/2026-11-27-head-noise/ensembles.py [E]

STUDY_DIR is where `auforget main` ran with `retrain.heads: 10` (its params.yaml, its mlflow.db);
heads.py's heads.json there, if present, gives the one-head SD. Writes ensembles.json there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from heads import retrain_recalls

from auforget.core.config import EMOTIONS, load_params


def main(ensembles: int) -> None:
    params = load_params("params.yaml")
    heads = params.retrain.heads
    out = retrain_recalls(params, ensembles, heads, "ensemble")
    Path("ensembles.json").write_text(json.dumps(out, indent=1))
    one = json.loads(Path("heads.json").read_text()) if Path("heads.json").exists() else None
    print(
        f"\n| emotion | SD of B5 - B0 over {ensembles} ensembles of {heads} heads "
        "| one head's SD (heads.json) | ratio | mean B5 - B0 |"
    )
    print("|---|---|---|---|---|")
    for e in EMOTIONS:
        d = np.array(out["b5"][e]) - np.array(out["b0"][e])
        single = (
            float(np.std(np.array(one["b5"][e]) - np.array(one["b0"][e]), ddof=1))
            if one
            else float("nan")
        )
        spread = d.std(ddof=1)
        print(f"| {e} | {spread:.3f} | {single:.3f} | {spread / single:.2f} | {d.mean():+.3f} |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
