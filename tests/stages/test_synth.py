"""`synth` rewrites its data when anything that shapes the faces changes."""

from __future__ import annotations

import json

from auforget.core.config import Params
from auforget.stages.synth import MARKER, generator_version, synthetic_is_current


def test_a_changed_au14_drawing_makes_the_written_world_stale(tmp_path):
    params = Params().with_overrides("synth", out=str(tmp_path), scale="tiny", au14_pull="outward")
    # a marker written before synth.au14_pull existed: its world was drawn outward
    marker = {"scale": "tiny", "seed": 0, "generator": generator_version()}
    (tmp_path / MARKER).write_text(json.dumps(marker))
    assert synthetic_is_current(params)
    assert not synthetic_is_current(params.with_overrides("synth", au14_pull="inward"))
    (tmp_path / MARKER).write_text(json.dumps({**marker, "au14_pull": "inward"}))
    assert synthetic_is_current(params.with_overrides("synth", au14_pull="inward"))
    assert not synthetic_is_current(params)
