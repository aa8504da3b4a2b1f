"""The controls step on each later seed's FreezeB5 of a multi-seed study.

`auforget main` runs the instrument checks on the first seed's FreezeB5 only; this runs the same
step (stages/controls.run_controls, every controls setting as params.yaml has it) on the FreezeB5
of each other seed of study.seeds, which writes metrics/controls-seed<s>.json and a run
`controls-seed<s>` in the study's store.

    python experiments/2026-12-07-five-seed-controls/per_seed_controls.py STUDY_DIR
"""

from __future__ import annotations

import os
import sys

from auforget.core.config import load_params
from auforget.stages.controls import run_controls
from auforget.stages.main import seed_params


def main() -> None:
    os.chdir(sys.argv[1])
    params = load_params("params.yaml")
    for seed in params.study.seeds[1:]:
        run_controls(seed_params(params, seed), progress=False, reuse=True)


if __name__ == "__main__":
    main()
