"""Shared set-up for the benchmarks: synthetic data and splits in a scratch folder."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from auforget.core.config import Params


def scratch_study(folder: Path, scale: str = "demo", seed: int = 0) -> Params:
    """Write the synthetic datasets and their splits under `folder`; returns matching Params."""
    from auforget.stages.prepare import run_prepare
    from auforget.stages.synth import run_synth, synthetic_is_current

    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(folder)
    params = Params()
    raw = "data/raw/synthetic"
    params = dataclasses.replace(
        params,
        synth=dataclasses.replace(params.synth, out=raw, scale=scale, seed=seed),
        data=dataclasses.replace(
            params.data,
            affectnet_root=f"{raw}/affectnet",
            unbc_root=f"{raw}/unbc",
            ckplus_root=f"{raw}/ckplus",
        ),
    )
    if scale == "tiny":
        params = params.with_overrides("prepare", unbc_pool_per_class=24, unbc_val_size=8)
    if not synthetic_is_current(params):
        run_synth(params, progress=False)
    if not Path("data/splits/unbc/train.csv").exists():
        run_prepare(params, progress=False)
    return params
