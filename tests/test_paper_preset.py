"""The paper preset cannot rot: it names every setting params.yaml has, and the paper profile
runs the whole study end to end (VGG16 at full width, 224 px) through the `auforget` door.

The smoke run is sized for a 2-core CPU, where full VGG16 trains at about 3 images/s: the
`micro` synthetic scale (AffectNet 8 train / 8 val / 8 test images; UNBC: the 4 test subjects'
24 frames and 6 training subjects; CK+ 24 peaks), the smallest UNBC pool those 6 subjects allow
(6 + 6 frames: 10 train, 2 val), one epoch, 3 probe seeds and 2 saliency images; FreezeB0 and
FreezeB5 only: 5 models of 15 M conv weights each, and the instrument checks' two copies. It
checks that every stage accepts the preset's settings (random UNBC draw, retrain same as emotion
on fresh images, the image store, exact two-view retrains, 224 px) -- not the science.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from auforget.core.config import load_params
from tests.conftest import SAME_KERNELS_AS_RECORDED

from .project import REPO, copy_project, run

SMOKE = {
    "data": {
        "synthetic": True,
        "affectnet_root": "data/raw/synthetic/affectnet",
        "unbc_root": "data/raw/synthetic/unbc",
        "ckplus_root": "data/raw/synthetic/ckplus",
    },
    "synth": {"scale": "micro"},
    # FreezeB0 and FreezeB5 cover both routes (fine-tuned blocks; every block frozen, cached
    # features); B1-B4 differ from B0 only in a count
    "study": {"seeds": [0], "freeze_levels": [0, 5]},
    "prepare": {"unbc_pool_per_class": 6, "unbc_val_size": 2},
    "model": {
        "imagenet_weights": "",
        "from_scratch": True,
    },  # no weights file in CI; asked for explicitly
    "emotion": {"epochs": 1, "batch_size": 8},
    "transfer": {"epochs": 1, "batch_size": 8},
    "probes": {"seeds": 3, "survey_seeds": 3},
    "saliency": {"max_images": 2},
    "cka": {"reset": False},  # five more retrains at 224 px; the tiny study covers the reset
    # the fewest pairs, seeds and maps the controls accept: at 224 px each pair is 18 faces
    # through three models (327 of the run's 658 s with 4 pairs, 5 seeds and 8 maps, 2-core AMD
    # EPYC, 2026-12-07)
    "controls": {"n_pairs": 2, "probe_seeds": 2, "max_images": 2},
}


def test_the_paper_preset_sets_every_key_params_yaml_has():
    demo = yaml.safe_load((REPO / "params.yaml").read_text())
    paper = yaml.safe_load((REPO / "params-paper.yaml").read_text())
    missing = sorted(
        f"{s}.{k}"
        for s, body in demo.items()
        for k in (body or {})
        if k not in (paper.get(s) or {})
    )
    assert missing == []
    params = load_params(REPO / "params-paper.yaml")
    assert params.model.profile == "paper" and not params.model.from_scratch
    assert params.emotion.lr == 0.01 and params.prepare.unbc_pool_draw == "random"
    assert params.retrain.same_as_emotion and params.retrain.cached_features
    assert params.retrain.augmented_views == "exact"  # fresh flips, from a two-view cache


# The longest test of the default run (11.0 min in a fresh-clone .ci/run on a 2-core AMD EPYC
# without AVX-512, 2026-12-07, nothing else running; 3.0 min on a 2-core AVX-512 one, 2026-11-26):
# it goes first (tests/conftest.py LONGEST_FIRST) and runs with one torch thread, so that it and
# the other pytest worker do not fight over the two cores.
def test_the_paper_profile_runs_every_stage_at_224_px(tmp_path):
    project = copy_project(tmp_path / "project")
    paper = yaml.safe_load((REPO / "params-paper.yaml").read_text())
    for section, values in SMOKE.items():
        paper[section].update(values)
    (project / "paper-smoke.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))
    # It compares no numbers, so it runs the CPU's own kernels, as users do, not the AVX2 ones
    # the recorded-numbers tests hold to (tests/conftest.py): 183-192 s against 279 s on AVX-512.
    run(
        ["auforget", "--quiet", "--params", "paper-smoke.yaml", "main"],
        project,
        timeout=1800,
        OMP_NUM_THREADS="1",
        unset=tuple(SAME_KERNELS_AS_RECORDED),
    )
    for name in ("emotion", "transfer-b0", "retrain-b5", "cka", "controls"):
        metrics = json.loads((project / "metrics" / f"{name}.json").read_text())
        assert metrics, name
    assert (project / "reports" / "report.html").exists()
    # Without from_scratch, a missing weights file stops the study with where to put it.
    paper["model"].update(from_scratch=False, imagenet_weights="")
    (project / "paper-no-weights.yaml").write_text(yaml.safe_dump(paper, sort_keys=False))
    with pytest.raises(
        AssertionError, match=r"vgg16-397923af\.pth is absent.*from_scratch: true"
    ) as err:
        run(
            ["auforget", "--quiet", "--params", "paper-no-weights.yaml", "emotion"],
            project,
            timeout=300,
        )
    assert "Traceback" not in str(err.value)
    # The logged VGG16s (about 150 MB each) would stay in pytest's kept basetemps for two runs.
    shutil.rmtree(project / "mlartifacts")
