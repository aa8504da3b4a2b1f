"""`synth`: write the built-in synthetic AffectNet, UNBC and CK+ in their native layouts."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from auforget.config import Params

log = logging.getLogger(__name__)


def run_synth(params: Params, *, progress: bool = True) -> dict[str, int]:
    """Regenerate `synth.out` from scratch (stale files from another scale never linger)."""
    from auforget.datasets.synthetic import write_synthetic

    cfg = params.synth
    out = Path(cfg.out)
    if out.exists():
        shutil.rmtree(out)
    counts = write_synthetic(out, scale=cfg.scale, seed=cfg.seed, progress=progress)
    (out / "SYNTHETIC.json").write_text(json.dumps({"scale": cfg.scale, "seed": cfg.seed, **counts}, indent=2) + "\n")
    log.info("synth: wrote %s to %s", counts, out)
    return counts
