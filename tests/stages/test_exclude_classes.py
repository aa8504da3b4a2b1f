"""`emotion.exclude_classes`: the emotion model and the retrain on emotions never see the
excluded classes, in any split, and say so in what they log."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest

from auforget.core import artifacts
from auforget.core.config import EMOTIONS
from auforget.data.task_data import emotion_task
from auforget.stages.emotion import run_emotion
from auforget.stages.retrain import run_retrain
from auforget.stages.transfer import run_transfer
from auforget.tracking import connection, registry

EXCLUDED = ("surprise", "contempt")


def test_emotion_task_drops_the_excluded_classes_from_every_split(tiny_data):
    params = _params(tiny_data)
    full, cut = emotion_task(tiny_data), emotion_task(params)
    codes = {EMOTIONS.index(e) for e in EXCLUDED}
    for split, frame in cut.splits.items():
        assert not set(frame["label"]) & codes
        kept = full.splits[split][~full.splits[split]["label"].isin(codes)]
        assert list(frame["sample_id"]) == list(kept["sample_id"])
    assert cut.files_digest() != full.files_digest()  # a new identity: nothing is reused


def _params(fast_params):
    # saliency and promote must name emotions the models still learn (config checks it)
    return (
        fast_params.with_overrides("saliency", emotions=("happy",))
        .with_overrides("promote", emotions=("sad", "fear"))
        .with_overrides("emotion", exclude_classes=EXCLUDED)
    )


def test_emotion_and_retrain_never_see_the_excluded_classes(fast_params, mlflow_store, tmp_path):
    params = _params(fast_params)
    connection.configure(params.tracking)
    run_emotion(params, progress=False)
    run_transfer(params.with_overrides("transfer", freeze=5), progress=False)
    run_retrain(params.with_overrides("retrain", freeze=5), progress=False)
    codes = {EMOTIONS.index(e) for e in EXCLUDED}
    for name, alias in (
        (registry.EMOTION_MODEL, registry.BASE_ALIAS),
        (registry.RETRAIN_MODEL, registry.freeze_alias(5)),
    ):
        version = registry.resolve_alias(name, alias, hint="")
        local = mlflow.artifacts.download_artifacts(
            run_id=version.run_id, artifact_path=artifacts.PREDICTIONS, dst_path=str(tmp_path)
        )
        predictions = pd.read_csv(local)
        assert len(predictions) and not set(predictions["true_label"]) & codes, name
        run = mlflow.MlflowClient().get_run(version.run_id)
        assert run.data.params["emotion.exclude_classes"] in ("surprise,contempt", str(EXCLUDED)), (
            name
        )
        # the macros average over the classes the model was trained on, not the excluded zeros
        kept = [e for e in EMOTIONS if e not in EXCLUDED]
        metrics = run.data.metrics
        for kind in ("recall", "precision", "f1"):
            assert metrics[f"test_{kind}_macro"] == pytest.approx(
                sum(metrics[f"test_{kind}_{e}"] for e in kept) / len(kept)
            ), (name, kind)
    emotion = registry.resolve_alias(registry.EMOTION_MODEL, registry.BASE_ALIAS, hint="")
    weights = json.loads(mlflow.artifacts.load_text(f"runs:/{emotion.run_id}/class_weights.json"))
    assert all(weights["counts"][e] == 0 and weights["weights"][e] == 0 for e in EXCLUDED)


def test_saliency_or_promote_naming_an_excluded_emotion_is_a_clear_error(fast_params):
    with pytest.raises(ValueError, match="promote.emotions: \\['surprise', 'contempt'\\]"):
        fast_params.with_overrides("saliency", emotions=("happy",)).with_overrides(
            "emotion", exclude_classes=EXCLUDED
        )
