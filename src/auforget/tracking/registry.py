"""The model registry: the registered names and aliases scripts rely on, registering a version,
and loading a model by alias.

Names users and scripts rely on (see README):
  registered models  auforget-emotion (alias `base`), auforget-pain and auforget-retrain
                     (one version per run, tag freeze_blocks=i, alias freezeb<i> on the latest),
                     auforget-pain@champion set by `promote`.
  other backbones    the same names with the backbone as a suffix (`model_name`):
                     auforget-pain-resnet50, auforget-retrain-vit_b_16, ..., the same aliases;
                     VGG16's names carry none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)


EMOTION_MODEL = "auforget-emotion"


PAIN_MODEL = "auforget-pain"


RETRAIN_MODEL = "auforget-retrain"


BASE_ALIAS = "base"


CHAMPION_ALIAS = "champion"


def model_name(name: str, backbone: str = "vgg16") -> str:
    """A registered name for `backbone`: VGG16's as it always was (`auforget-pain`), any other
    backbone's with it as a suffix (`auforget-pain-resnet50`), so several backbones' studies
    share one store without moving each other's aliases."""
    return name if backbone == "vgg16" else f"{name}-{backbone}"


def freeze_alias(i: int) -> str:
    return f"freezeb{i}"


def seed_suffix(seed: int, seeds: Sequence[int]) -> str:
    """ "" for the study's first seed (its runs and aliases keep the single-seed names), else
    "-seed<s>": `transfer-b2-seed1`, `auforget-pain@freezeb2-seed1`."""
    return "" if seeds and seed == seeds[0] else f"-seed{seed}"


def seed_aliases(alias: str, seed: int, seeds: Sequence[int]) -> tuple[str, ...]:
    """The aliases a model trained under `seed` gets: `<alias>-seed<s>` always (a script can loop
    over seeds), and the plain `<alias>` too for the study's first seed."""
    return tuple(dict.fromkeys((alias + seed_suffix(seed, seeds), f"{alias}-seed{seed}")))


def register(
    model_uri: str, name: str, *, aliases: list[str], tags: dict[str, str], description: str = ""
) -> str:
    """Register a logged model as a new version, tag it and move the aliases to it.

    Called last in a stage, after every metric and artifact is written, so a run that fails
    earlier never reaches the registry.
    """
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name, tags=tags)
    try:
        if description:
            client.update_model_version(name, version.version, description=description)
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version.version)
    except BaseException:
        # A version without its aliases would be a half-written registry entry: take it back.
        client.delete_model_version(name, version.version)
        raise
    log.info("registered %s version %s (aliases %s)", name, version.version, ", ".join(aliases))
    return str(version.version)


def resolve_alias(name: str, alias: str, *, hint: str):
    """The ModelVersion behind name@alias, or a ValueError that says what to run first."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        raise ValueError(
            f"no registered model {name}@{alias} in {mlflow.get_tracking_uri()}; {hint}"
        ) from None


def load_model(
    name: str, alias: str, *, hint: str, profile: str | None = None, backbone: str = "vgg16"
):
    """(torch model, ModelVersion) for name@alias; clear error if it is not registered yet, or
    (with `profile`) if it was trained with another model profile (of `backbone`) than
    params.yaml names."""
    import mlflow.pytorch

    from auforget.core.profiles import get_profile

    version = resolve_alias(name, alias, hint=hint)
    model = mlflow.pytorch.load_model(f"models:/{name}@{alias}", map_location="cpu")
    if profile is not None and getattr(model, "profile", None) != get_profile(profile, backbone):
        raise ValueError(
            f"{name}@{alias} (version {version.version}) was trained with another model profile "
            f"than params.yaml model.profile={profile!r} ({getattr(model, 'profile', None)}); "
            "retrain the models upstream of it with this profile, or set model.profile back"
        )
    return model, version
