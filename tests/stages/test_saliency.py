"""`saliency`: selection by the planted right/wrong pattern, the logged maps and rankings, reuse,
errors.

The fixture is a real MLflow sqlite store in tmp_path with two tiny registered retrain models
(auforget-retrain@freezeb5 and @freezeb0) whose runs carry hand-written predictions.csv files,
and a dozen drawn face images with landmarks in an AffectNet-style split manifest.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image, ImageDraw

from auforget.analysis import regions
from auforget.analysis.metrics import predictions_table
from auforget.core import artifacts
from auforget.core.config import EMOTIONS, DataConfig, Params, SaliencyConfig
from auforget.data.manifest import format_landmarks
from auforget.nn.backbones import build_vgg16
from auforget.stages.report.lookup import saliency_evidence
from auforget.stages.report.sections import section_saliency
from auforget.stages.saliency import ATTRIBUTION_TAG, run_saliency, select
from auforget.tracking import connection, registry
from auforget.workflow.fitting import log_torch_model

SURPRISE, CONTEMPT, HAPPY = (EMOTIONS.index(e) for e in ("surprise", "contempt", "happy"))
IMAGE, BOX = (
    80,
    (8, 8, 64, 64),
)  # face box inside a larger image, so landmarks must be moved into the crop
MAX_IMAGES = 3

# test samples: (sample_id, label, B5 right, B0 right, has landmarks)
TEST = (
    [(f"sur{i}", SURPRISE, i < 5, i >= 4, True) for i in range(6)]  # qualifying: sur0-sur3 (4)
    + [
        (f"con{i}", CONTEMPT, True, i >= 2, i != 1) for i in range(4)
    ]  # qualifying: con0, con1 (con1 no landmarks)
    + [(f"hap{i}", HAPPY, True, True, True) for i in range(2)]  # qualifying: none
)
QUALIFYING = {
    "surprise": {"sur0", "sur1", "sur2", "sur3"},
    "contempt": {"con0", "con1"},
    "happy": set(),
}


def _draw_face(path: Path, landmarks: np.ndarray, shade: int, open_mouth: bool) -> None:
    img = Image.new("RGB", (IMAGE, IMAGE), (40, 50, 60))
    draw = ImageDraw.Draw(img)
    x, y, w, h = BOX
    draw.ellipse(
        [x + 0.08 * w, y + 0.02 * h, x + 0.92 * w, y + 0.98 * h],
        fill=(shade, shade - 30, shade - 60),
    )
    for brow in (regions.R_BROW, regions.L_BROW):
        draw.line([tuple(p) for p in landmarks[list(brow)]], fill=(30, 20, 10), width=2)
    for eye in (regions.R_EYE, regions.L_EYE):
        draw.polygon(
            [tuple(p) for p in landmarks[list(eye)]], fill=(250, 250, 250), outline=(0, 0, 0)
        )
    mouth = landmarks[list(regions.OUTER_MOUTH)]
    draw.polygon([tuple(p) for p in mouth], fill=(60, 0, 0) if open_mouth else (160, 60, 60))
    img.save(path)


def _predictions(b5: bool) -> pd.DataFrame:
    ids, labels, probs = [], [], []
    for sample_id, label, b5_right, b0_right, _ in TEST:
        right = b5_right if b5 else b0_right
        p = np.full(len(EMOTIONS), 0.02)
        p[label if right else (label + 1) % len(EMOTIONS)] = 0.86
        ids.append(sample_id)
        labels.append(label)
        probs.append(p)
    return predictions_table(ids, np.array(labels), np.array(probs), EMOTIONS)


def _log_retrain(freeze: int, seed: int, predictions: pd.DataFrame) -> None:
    torch.manual_seed(seed)
    model = build_vgg16("small", len(EMOTIONS))
    with (
        torch.no_grad()
    ):  # an untrained net's evidence can be all negative; keep it positive so maps are not empty
        for layer in (model.head[1], model.head[-1]):
            layer.weight.abs_()
    with mlflow.start_run(run_name=f"retrain-b{freeze}") as run:
        mlflow.log_text(predictions.to_csv(index=False), artifacts.PREDICTIONS)
        info = log_torch_model(model)
        registry.register(
            info.model_uri,
            registry.RETRAIN_MODEL,
            aliases=[registry.freeze_alias(freeze)],
            tags={"freeze_blocks": str(freeze), "run_id": run.info.run_id},
        )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A project folder with images, split manifests and a registry holding FreezeB5 and
    FreezeB0."""
    root = tmp_path_factory.mktemp("saliency")
    images = root / "data" / "raw" / "affectnet"
    images.mkdir(parents=True)
    x, y, w, h = BOX
    landmarks = regions.template_face() * np.array([w, h]) + np.array([x, y])
    rows = []
    for i, (sample_id, label, _, _, has_lm) in enumerate(TEST):
        _draw_face(
            images / f"{sample_id}.png", landmarks, 170 + 6 * i, open_mouth=label == SURPRISE
        )
        rows.append(
            dict(
                sample_id=sample_id,
                path=f"{sample_id}.png",
                label=label,
                x=x,
                y=y,
                w=w,
                h=h,
                landmarks=format_landmarks(landmarks) if has_lm else "",
            )
        )
    splits = root / "data" / "splits" / "affectnet"
    splits.mkdir(parents=True)
    test = pd.DataFrame(rows)
    test.to_csv(splits / "test.csv", index=False)
    test.iloc[::2].to_csv(splits / "train.csv", index=False)
    test.iloc[1::2].to_csv(splits / "val.csv", index=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        connection.configure(Params().tracking)
        _log_retrain(5, seed=0, predictions=_predictions(b5=True))
        _log_retrain(0, seed=1, predictions=_predictions(b5=False))
    return root


@pytest.fixture
def project(store, monkeypatch) -> Path:
    monkeypatch.chdir(store)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    return store


def _params(**saliency) -> Params:
    cfg = dict(k=0, emotions=("surprise", "contempt", "happy"), max_images=MAX_IMAGES, seed=0)
    return Params(
        data=DataConfig(affectnet_root="data/raw/affectnet", splits_dir="data/splits"),
        saliency=SaliencyConfig(**{**cfg, **saliency}),
    ).with_overrides("model", profile="small")


def _saliency_runs() -> list:
    return mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'saliency-b0'",
    )


def test_saliency_maps_rankings_and_reuse(project):
    metrics = run_saliency(_params(), progress=False)

    assert metrics["saliency_n_surprise"] == MAX_IMAGES  # 4 qualify, capped at max_images
    assert metrics["saliency_qualifying_surprise"] == 4
    assert metrics["saliency_n_contempt"] == 2
    assert metrics["saliency_no_landmarks_contempt"] == 1
    assert metrics["saliency_n_happy"] == 0  # none qualify: no crash
    assert any(k.startswith("au_effect_") and k.endswith("_surprise") for k in metrics)
    assert (project / "metrics" / "saliency.json").exists()

    (run,) = _saliency_runs()
    client = MlflowClient()
    logged = {a.path for a in client.list_artifacts(run.info.run_id, artifacts.SALIENCY_DIR)}
    for emotion in ("surprise", "contempt"):
        for suffix in (
            artifacts.GRID_SUFFIX,
            artifacts.MAPS_SUFFIX,
            artifacts.EMOTION_RANKING_SUFFIX,
        ):
            assert artifacts.saliency_file(emotion, suffix) in logged
    assert artifacts.saliency_file("happy", artifacts.GRID_SUFFIX) not in logged
    assert {artifacts.AU_RANKING_CSV, artifacts.SALIENCY_NOTES} <= logged
    assert run.data.tags["auforget.top_region_surprise"].split(" (AU ")[0] in regions.AU_REGIONS

    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path=artifacts.SALIENCY_DIR,
            dst_path=str(project / "download"),
        )
    )
    for emotion, n in (("surprise", MAX_IMAGES), ("contempt", 2)):
        arrays = np.load(local / f"{emotion}_maps.npz")
        assert set(arrays["sample_ids"]) <= QUALIFYING[emotion] and len(arrays["sample_ids"]) == n
        for name in ("b5", "bk", "diff"):
            assert arrays[name].shape == (n, 64, 64)
            assert arrays[name].min() >= 0 and arrays[name].max() <= 1
        assert arrays["landmarks"].shape == (n, 68, 2)
    contempt = np.load(local / "contempt_maps.npz")
    missing = np.isnan(contempt["landmarks"]).any(axis=(1, 2))
    assert list(contempt["sample_ids"][missing]) == ["con1"]
    # landmarks are moved from image pixels into the 64 x 64 crop: the template face itself
    np.testing.assert_allclose(
        contempt["landmarks"][~missing][0], regions.template_face() * 64, atol=0.01
    )

    combined = pd.read_csv(local / "au_ranking.csv")
    assert set(combined["emotion"]) == {"surprise", "contempt", "all"}
    assert set(combined["region"]) == set(regions.AU_REGIONS)
    assert (combined["p_holm"].dropna() >= combined["p_value"].dropna()).all()
    assert combined.loc[combined["emotion"] == "all", "n_images"].max() == MAX_IMAGES + 1
    assert "happy" in (local / "notes.txt").read_text()

    # what the report reads back from this very run: every part present, no "not available"
    shown = saliency_evidence(run, project / "report-download")
    assert (
        shown.notes and shown.ranking is not None and list(shown.grids) == ["contempt", "surprise"]
    )
    assert "not available" not in section_saliency(shown, alpha=0.05).body

    again = run_saliency(_params(), progress=False, reuse=True)
    assert len(_saliency_runs()) == 1
    assert again == pytest.approx(metrics)

    # another composite is another run, named in its attribution tag, with other maps
    run_saliency(_params(composite="epsilon_gamma_box"), progress=False, reuse=True)
    runs = _saliency_runs()
    assert len(runs) == 2
    other = next(r for r in runs if r.info.run_id != run.info.run_id)
    assert "epsilon_gamma_box" in other.data.tags[ATTRIBUTION_TAG]
    assert "epsilon_zplus" in run.data.tags[ATTRIBUTION_TAG]
    maps = Path(
        mlflow.artifacts.download_artifacts(
            run_id=other.info.run_id,
            artifact_path=artifacts.saliency_file("surprise", artifacts.MAPS_SUFFIX),
            dst_path=str(project / "download-gamma"),
        )
    )
    assert not np.allclose(np.load(maps)["b5"], np.load(local / "surprise_maps.npz")["b5"])


def test_selection_is_seeded_sorted_and_independent_of_row_order():
    test = pd.DataFrame({"sample_id": [f"s{i:02d}" for i in range(20)], "label": SURPRISE})
    b5 = pd.DataFrame({"pred_label": SURPRISE}, index=test["sample_id"])
    bk = pd.DataFrame(
        {"pred_label": [HAPPY if i % 2 else SURPRISE for i in range(20)]}, index=test["sample_id"]
    )
    rows, qualifying = select(test, b5, bk, "surprise", max_images=4, seed=3)
    assert qualifying == 10 and len(rows) == 4
    assert list(rows["sample_id"]) == sorted(rows["sample_id"])
    assert all(int(s[1:]) % 2 for s in rows["sample_id"])
    shuffled, _ = select(
        test.sample(frac=1, random_state=0), b5, bk, "surprise", max_images=4, seed=3
    )
    assert list(shuffled["sample_id"]) == list(rows["sample_id"])
    everything, _ = select(test, b5, bk, "surprise", max_images=0, seed=3)
    assert len(everything) == 10


def test_k5_is_refused():
    with pytest.raises(ValueError, match=r"saliency.k must be 0..4"):
        run_saliency(dataclasses.replace(_params(), saliency=SaliencyConfig(k=5)), progress=False)


def test_missing_retrain_alias_says_what_to_run(project):
    with pytest.raises(
        ValueError, match=r"auforget-retrain@freezeb3.*run `auforget retrain --freeze 3`"
    ):
        run_saliency(_params(k=3), progress=False)
