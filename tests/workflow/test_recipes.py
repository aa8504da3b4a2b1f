"""Recipes: what each training stage trains and how, decided in one place from params.yaml.

Built on the tiny synthetic splits; nothing is trained here (the stages' tests train), so the
checks are on the decisions: route (images or cached head), settings, loss, frozen blocks,
identity, and that a tune trial's recipe is the stage's own with only gamma and lr changed.
"""

from __future__ import annotations

import dataclasses

import pytest

from auforget.core.config import EMOTIONS, N_BLOCKS, PAIN_CLASSES
from auforget.nn.backbones import build_vgg16
from auforget.stages.tune import TrialSetup
from auforget.workflow.recipes import RECIPES, emotion_recipe, retrain_recipe, transfer_recipe


def test_emotion_recipe_takes_its_section(tiny_data):
    params = tiny_data.with_overrides("emotion", epochs=3, lr=0.02, gamma=4.0, batch_size=8)
    recipe = emotion_recipe(params)
    assert (recipe.name, recipe.cached, recipe.views, recipe.batch_size) == ("emotion", False, 0, 8)
    assert (recipe.settings.epochs, recipe.settings.lr, recipe.loss.gamma) == (3, 0.02, 4.0)
    assert recipe.upstream is None and list(
        recipe.artifacts["class_weights.json"]["counts"]
    ) == list(EMOTIONS)
    model, note = recipe.prepare(None)
    assert model.n_classes == len(EMOTIONS) and model.frozen_blocks == 0 and note
    assert recipe.checkpoint_dir("0123456789abcdef0123").as_posix() == (
        "checkpoints/emotion/0123456789abcdef"
    )


@pytest.mark.parametrize("freeze, cached", [(2, False), (5, True)])
def test_transfer_recipe_freezes_and_caches_only_freezeb5(tiny_data, freeze, cached):
    recipe = transfer_recipe(tiny_data.with_overrides("transfer", freeze=freeze))
    assert recipe.name == f"transfer-b{freeze}" and recipe.cached is cached
    assert (recipe.upstream.model, recipe.upstream.alias) == ("auforget-emotion", "base")
    assert recipe.registration.aliases[0] == f"freezeb{freeze}" and recipe.tags[
        "freeze_blocks"
    ] == str(freeze)
    model, _ = recipe.prepare(build_vgg16("small", len(EMOTIONS)))
    assert model.n_classes == len(PAIN_CLASSES) and model.frozen_blocks == freeze


def test_retrain_recipe_freezes_every_block_and_can_take_emotions_optimiser(tiny_data):
    params = tiny_data.with_overrides("emotion", lr=0.03, epochs=7).with_overrides(
        "retrain", freeze=3, lr=0.001
    )
    own, same = (
        retrain_recipe(params),
        retrain_recipe(params.with_overrides("retrain", same_as_emotion=True)),
    )
    assert (own.settings.lr, same.settings.lr, same.settings.epochs) == (0.001, 0.03, 7)
    assert own.loss.gamma == params.emotion.gamma and own.upstream.alias == "freezeb3"
    assert own.key() != same.key()
    model, _ = own.prepare(build_vgg16("small", len(PAIN_CLASSES)))
    assert model.n_classes == len(EMOTIONS) and model.frozen_blocks == N_BLOCKS


@pytest.mark.parametrize("stage", ["emotion", "transfer"])
def test_a_tune_trial_trains_the_stages_recipe_with_its_gamma_and_lr(tiny_data, stage):
    params = tiny_data.with_overrides("transfer", freeze=5)
    stage_recipe = RECIPES[stage](params)
    trial = TrialSetup(stage, params, stage_recipe.data).recipe(gamma=1.25, lr=0.005)
    assert (trial.loss.gamma, trial.settings.lr) == (1.25, 0.005)
    same = ("name", "cached", "views", "batch_size", "upstream", "registration")
    assert [getattr(trial, f) for f in same] == [getattr(stage_recipe, f) for f in same]
    assert dataclasses.replace(trial.settings, lr=stage_recipe.settings.lr) == stage_recipe.settings
