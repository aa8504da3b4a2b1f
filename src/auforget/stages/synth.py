"""`synth`: write the built-in synthetic AffectNet, UNBC and CK+ in their native layouts."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from auforget.core.config import Params

log = logging.getLogger(__name__)

MARKER = "SYNTHETIC.json"


def generator_version() -> str:
    """Content hash of the generator's code and the face template it draws from: regenerate when
    they change."""
    import hashlib

    folder = Path(__file__).resolve().parent.parent / "data"
    h = hashlib.sha256()
    for name in ("synthetic.py", "faces.py", "face_template.json", "synthetic_manifests.py"):
        h.update((folder / name).read_bytes())  # a missing file is an error, not an empty hash
    return h.hexdigest()[:12]


def synthetic_is_current(params: Params) -> bool:
    """True when synth.out already holds this scale, seed, world and AU14 drawing, written by this
    generator code."""
    marker = Path(params.synth.out) / MARKER
    if not marker.exists():
        return False
    try:
        written = json.loads(marker.read_text())
    except ValueError:
        return False
    return (
        written.get("scale"),
        written.get("seed"),
        written.get("generator"),
        written.get("world", "paper"),
        written.get("au14_pull", "outward"),
    ) == (
        params.synth.scale,
        params.synth.seed,
        generator_version(),
        params.synth.world,
        params.synth.au14_pull,
    )


def run_synth(params: Params, *, progress: bool = True) -> dict[str, int]:
    """Regenerate `synth.out` from scratch (stale files from another scale never linger)."""
    from auforget.data.synthetic import write_synthetic

    cfg = params.synth
    out = Path(cfg.out)
    if out.exists():
        shutil.rmtree(out)
    if not params.data.synthetic:
        out.mkdir(parents=True)
        (out / MARKER).write_text(
            json.dumps({"disabled": "params.yaml data.synthetic is false"}) + "\n"
        )
        log.info("synth: data.synthetic is false; the real roots in params.yaml are used")
        return {}
    if cfg.world == "fatigue":  # emotions -> fatigue, written as manifests (examples/fatigue/)
        from auforget.data.synthetic_manifests import write_fatigue_world

        counts = write_fatigue_world(out, scale=cfg.scale, seed=cfg.seed, progress=progress)
    else:
        counts = write_synthetic(
            out, scale=cfg.scale, seed=cfg.seed, progress=progress, au14_inward=cfg.au14_inward
        )
    marker = {"scale": cfg.scale, "seed": cfg.seed, "generator": generator_version(), **counts}
    if cfg.world != "paper":
        marker["world"] = cfg.world
    if cfg.au14_pull != "outward":
        marker["au14_pull"] = cfg.au14_pull
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    log.info("synth: wrote %s to %s", counts, out)
    return counts
