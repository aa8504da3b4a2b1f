"""The `auforget` command's help, through the executable users run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.project import REPO

AUFORGET = str(Path(sys.executable).parent / "auforget")


def test_help_shows_current_values_from_the_params_file_and_valid_ranges(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["transfer"]["freeze"] = 4
    params["transfer"]["cached_features"] = False
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run(
        [AUFORGET, "--params", "mine.yaml", "transfer", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = " ".join(out.split())  # argparse wraps lines
    assert "--freeze INT overrides transfer.freeze: params.yaml has 4; valid: 0 to 5" in text
    assert "transfer.cached_features: params.yaml has false; valid: true | false" in text
    assert "transfer.lr: params.yaml has 0.01; valid: > 0" in text

    promote = " ".join(
        subprocess.run(
            [AUFORGET, "promote", "-h"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "promote.pain_weight: params.yaml has 0.5; valid: 0.0 to 1.0" in promote
    assert "valid: neutral | happy | sad | surprise | fear | disgust | anger | contempt" in promote
