"""params.yaml -> frozen dataclasses, one per section.

Every stage reads its settings from here and nowhere else, so that the MLproject entry
points, the `auforget` CLI, dvc.yaml and Optuna all see the same values. Command-line
parameters override a section's fields through `with_overrides`, and the result is what
gets logged to MLflow.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EMOTIONS = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)  # AffectNet codes 0-7
N_BLOCKS = 5  # VGG16's conv blocks (models.py builds them)
FREEZE_LEVELS = tuple(
    range(N_BLOCKS + 1)
)  # FreezeB0 .. FreezeB5: how many leading blocks a pain model froze
MODEL_PROFILES = ("small", "small96", "paper")  # the networks models.PROFILES defines
PAIN_CLASSES = ("no_pain", "pain")


@dataclass(frozen=True)
class DataConfig:
    synthetic: bool = True
    affectnet_root: str = "data/raw/synthetic/affectnet"
    unbc_root: str = "data/raw/synthetic/unbc"
    ckplus_root: str = "data/raw/synthetic/ckplus"
    splits_dir: str = "data/splits"
    decoder: str = "pil"
    # true: each split's faces decoded and resized once into a uint8 store on disk
    # (data/image_store.py), augmented per batch on the device (data/batch_augment.py)
    image_store: bool = False

    def __post_init__(self) -> None:
        _choice("data.decoder", self.decoder, ("pil", "simplejpeg", "torchvision"))
        VALID["data.image_store"] = "true | false"
        if not isinstance(self.image_store, bool):
            raise ValueError(f"data.image_store: expected true or false, got {self.image_store!r}")


@dataclass(frozen=True)
class SynthConfig:
    out: str = "data/raw/synthetic"
    scale: str = "demo"
    seed: int = 0

    def __post_init__(self) -> None:
        _choice("synth.scale", self.scale, ("micro", "tiny", "demo", "large"))


# The four UNBC-McMaster subjects whose images may be published: the study's test set.
UNBC_PUBLISHABLE = ("095-tv095", "047-jl047", "109-ib109", "064-ak064")


@dataclass(frozen=True)
class PrepareConfig:
    seed: int = 0
    affectnet_classes: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
    affectnet_val_fraction: float = 0.05
    affectnet_max_train_per_class: int = 0
    unbc_test_subjects: tuple[str, ...] = UNBC_PUBLISHABLE
    unbc_pool_per_class: int = 500
    unbc_val_size: int = 100
    unbc_pool_draw: str = "balanced"
    ckplus_mouth_crop_fraction: float = 0.4
    verify_images: bool = True

    def __post_init__(self) -> None:
        _range("prepare.affectnet_val_fraction", self.affectnet_val_fraction, 0.0, 0.5)
        _range("prepare.ckplus_mouth_crop_fraction", self.ckplus_mouth_crop_fraction, 0.0, 0.9)
        _choice("prepare.unbc_pool_draw", self.unbc_pool_draw, ("balanced", "random"))
        bad = [c for c in self.affectnet_classes if c not in range(len(EMOTIONS))]
        if bad:
            raise ValueError(
                f"prepare.affectnet_classes: {bad} are not AffectNet expression codes 0-7"
            )


@dataclass(frozen=True)
class ModelConfig:
    profile: str = "small96"
    imagenet_weights: str = ""
    from_scratch: bool = False

    def __post_init__(self) -> None:
        _choice("model.profile", self.profile, MODEL_PROFILES)
        # Checked when params.yaml is read, not when the emotion step builds its model: on the
        # paper's data that is after the whole prepare step.
        if self.imagenet_weights and self.profile != "paper":
            raise ValueError(
                f"model.imagenet_weights is set ({self.imagenet_weights!r}), but ImageNet VGG16 "
                f"weights only fit the 'paper' profile, not {self.profile!r}; leave it empty"
            )
        if self.imagenet_weights and self.from_scratch:
            raise ValueError(
                "model.from_scratch is true but model.imagenet_weights is set "
                f"({self.imagenet_weights!r}); choose one: empty the weights path, or set "
                "from_scratch: false"
            )


@dataclass(frozen=True)
class TrackingConfig:
    experiment: str = "auforget"
    db: str = "mlflow.db"
    artifacts: str = "mlartifacts"
    system_metrics: bool = False
    claim_timeout_s: float = (
        120.0  # a `main` worker's step claim expires this long after its last heartbeat
    )

    def __post_init__(self) -> None:
        _range("tracking.claim_timeout_s", self.claim_timeout_s, 5.0, 86400.0)


@dataclass(frozen=True)
class StudyConfig:
    # `main` trains every model (emotion, FreezeB0..B5, their retrains) once per seed: each seed
    # overrides emotion.seed, transfer.seed and retrain.seed, so a finding is about the recipe.
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        VALID["study.seeds"] = "a non-empty list of distinct whole numbers >= 0"
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(
                f"study.seeds: {list(self.seeds)} is not a non-empty list of distinct seeds >= 0"
            )


@dataclass(frozen=True)
class EmotionConfig:
    seed: int = 0
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_schedule: str = "onecycle"
    gamma: float = 0.0
    beta: float = 0.99998
    patience: int = 8
    max_train_images: int = 0
    # emotions left out of pre-training (and of the retrain on emotions that measures
    # forgetting): the paper's future-work question; their images are dropped from every split
    exclude_classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _training_checks("emotion", self)
        _range("emotion.beta", self.beta, 0.0, 1.0 - 1e-12)
        VALID["emotion.exclude_classes"] = f"a list of at most {len(EMOTIONS) - 2} of " + ", ".join(
            EMOTIONS
        )
        unknown = [c for c in self.exclude_classes if c not in EMOTIONS]
        if unknown:
            raise ValueError(
                f"emotion.exclude_classes: {unknown} are not emotions; valid: {list(EMOTIONS)}"
            )
        if len(set(self.exclude_classes)) != len(self.exclude_classes):
            raise ValueError(
                f"emotion.exclude_classes: {list(self.exclude_classes)} names a class twice"
            )
        if len(self.exclude_classes) > len(EMOTIONS) - 2:
            raise ValueError(
                f"emotion.exclude_classes: {list(self.exclude_classes)} leaves fewer than 2 of "
                f"the {len(EMOTIONS)} emotions to classify"
            )

    @property
    def exclude_labels(self) -> tuple[int, ...]:
        """The AffectNet codes of exclude_classes."""
        return tuple(sorted(EMOTIONS.index(c) for c in self.exclude_classes))


@dataclass(frozen=True)
class TransferConfig:
    seed: int = 0
    freeze: int = 2
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_schedule: str = "constant"
    gamma: float = 2.0
    patience: int = 6
    cached_features: bool = True
    augmented_views: int | str = 4

    def __post_init__(self) -> None:
        _training_checks("transfer", self)
        _freeze("transfer.freeze", self.freeze)
        _views("transfer", self, exact=False)


@dataclass(frozen=True)
class RetrainConfig:
    seed: int = 0
    freeze: int = 2
    epochs: int = 8
    batch_size: int = 64
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_schedule: str = "constant"
    patience: int = 3
    cached_features: bool = True
    augmented_views: int | str = 1  # or "exact": both views of the flip-only emotion recipe
    max_train_images: int = 0
    same_as_emotion: bool = False
    heads: int = 10

    def __post_init__(self) -> None:
        _training_checks("retrain", self)
        _freeze("retrain.freeze", self.freeze)
        _views("retrain", self, exact=True)
        VALID["retrain.heads"] = ">= 1"
        if self.heads < 1:
            raise ValueError(
                "retrain.heads must be at least 1 (heads trained on the frozen blocks and "
                f"averaged), got {self.heads}"
            )


@dataclass(frozen=True)
class ForgettingConfig:
    alpha: float = 0.05
    exact_below: int = 25
    # FreezeBk (k < 5) whose per-image mixed logistic model against FreezeB5 is fitted
    # (analysis/findings.py; about 10 s each at demo scale on 2 CPU cores); empty = none
    mixed_freeze: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        VALID["forgetting.mixed_freeze"] = f"a list of 0 to {N_BLOCKS - 1}"
        bad = [k for k in self.mixed_freeze if k not in FREEZE_LEVELS[:-1]]
        if bad:
            raise ValueError(
                f"forgetting.mixed_freeze: {bad} are not FreezeBk to compare with FreezeB5; "
                f"expected numbers 0..{N_BLOCKS - 1}"
            )


@dataclass(frozen=True)
class CkaConfig:
    batch_size: int = 64  # images per minibatch of the unbiased HSIC (at least 4)
    max_images: int = 0  # of the emotion test split, in order (0 = all)

    def __post_init__(self) -> None:
        VALID["cka.batch_size"] = "4 or more"
        if self.batch_size < 4:
            raise ValueError(
                f"cka.batch_size: {self.batch_size} is too small; the unbiased HSIC needs 4 or "
                "more images per minibatch"
            )
        VALID["cka.max_images"] = "0 (all) or more"
        if self.max_images < 0:
            raise ValueError(f"cka.max_images: expected 0 (all) or more, got {self.max_images}")


@dataclass(frozen=True)
class SaliencyConfig:
    k: int = 0
    emotions: tuple[str, ...] = ("surprise", "contempt")
    max_images: int = 32
    seed: int = 0
    difference: str = "normalise_first"
    ranking: str = "beyond_b5"

    def __post_init__(self) -> None:
        _freeze("saliency.k", self.k)
        _choice("saliency.difference", self.difference, ("normalise_first", "raw_then_normalise"))
        _choice("saliency.ranking", self.ranking, ("beyond_b5", "difference"))
        for e in self.emotions:
            _choice("saliency.emotions", e, EMOTIONS)


@dataclass(frozen=True)
class ProbesConfig:
    k: int = 0
    au: int = 14
    mouthless_aus: tuple[int, ...] = (5,)
    seeds: int = 500
    folds: int = 2
    C: float = 1.0
    seed: int = 0
    # every drawn AU probed once more on features extracted once per model (probes.run_au_survey),
    # with fewer CV seeds than the two headline probes; empty = no survey
    survey_aus: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 20, 23, 25, 26)
    survey_seeds: int = 50

    def __post_init__(self) -> None:
        _freeze("probes.k", self.k)
        VALID["probes.survey_seeds"] = "2 or more"
        if self.survey_seeds < 2:
            raise ValueError(
                f"probes.survey_seeds must be at least 2 (a t-test needs two values), got "
                f"{self.survey_seeds}"
            )
        if self.seeds < 2:
            raise ValueError(
                f"probes.seeds must be at least 2 (a t-test needs two values), got {self.seeds}"
            )
        if self.folds < 2:
            raise ValueError(f"probes.folds must be at least 2, got {self.folds}")


@dataclass(frozen=True)
class PromoteConfig:
    emotions: tuple[str, ...] = ("surprise", "contempt")
    pain_weight: float = 0.5
    min_pain_recall: float = 0.0

    def __post_init__(self) -> None:
        _range("promote.pain_weight", self.pain_weight, 0.0, 1.0)
        for e in self.emotions:
            _choice("promote.emotions", e, EMOTIONS)


@dataclass(frozen=True)
class TuneConfig:
    n_trials: int = 8
    stage: str = "transfer"
    freeze: int = 2
    gamma_low: float = 0.0
    gamma_high: float = 5.0
    tune_lr: bool = False
    lr_low: float = 0.001
    lr_high: float = 0.05
    epochs: int = 4
    storage: str = ""
    study_name: str = "auforget-gamma"
    seed: int = 0

    def __post_init__(self) -> None:
        _choice("tune.stage", self.stage, ("transfer", "emotion"))
        _freeze("tune.freeze", self.freeze)
        if not self.gamma_low <= self.gamma_high:
            raise ValueError(
                f"tune.gamma_low ({self.gamma_low}) must not exceed tune.gamma_high "
                f"({self.gamma_high})"
            )


@dataclass(frozen=True)
class ReportConfig:
    out: str = "reports"


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    study: StudyConfig = field(default_factory=StudyConfig)
    emotion: EmotionConfig = field(default_factory=EmotionConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    forgetting: ForgettingConfig = field(default_factory=ForgettingConfig)
    cka: CkaConfig = field(default_factory=CkaConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        excluded = set(self.emotion.exclude_classes)
        for where, named in (
            ("saliency.emotions", self.saliency.emotions),
            ("promote.emotions", self.promote.emotions),
        ):
            if clash := [e for e in named if e in excluded]:
                raise ValueError(
                    f"{where}: {clash} are left out by emotion.exclude_classes "
                    f"{list(self.emotion.exclude_classes)}; name emotions the models still learn"
                )

    def with_overrides(self, section: str, **values: Any) -> "Params":
        """Return a copy where `section`'s fields named in `values` are replaced.

        None values are ignored, so a CLI can pass every optional flag straight through.
        """
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        current = getattr(self, section)
        merged = _build(type(current), section, {**dataclasses.asdict(current), **values})
        return dataclasses.replace(self, **{section: merged})


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml; a missing file gives the built-in defaults."""
    path = Path(path)
    if not path.exists():
        return Params()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}"
        )
    sections = {f.name: f for f in dataclasses.fields(Params)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ValueError(
            f"{path}: unknown section(s) {unknown}; valid sections are {sorted(sections)}"
        )
    built = {}
    for name, f in sections.items():
        body = raw.get(name) or {}
        if not isinstance(body, dict):
            raise ValueError(
                f"{path}: section '{name}' must be a mapping, got {type(body).__name__}"
            )
        built[name] = _build(f.default_factory, f"{path}:{name}", body)  # type: ignore[misc]
    return Params(**built)


def flat(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """Flatten a section dataclass into MLflow-friendly params (`prefix.field`)."""
    out = {}
    for k, v in dataclasses.asdict(cfg).items():
        if isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        out[f"{prefix}{k}"] = v
    return out


def _build(cls: type, where: str, body: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(body) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys are {sorted(names)}")
    kwargs = {k: _coerce(f"{where}.{k}", v, hints[k]) for k, v in body.items()}
    return cls(**kwargs)


def _coerce(where: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(where, v, inner) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    if hint in (int, float):
        try:
            number = (
                hint(value)
                if not isinstance(value, str)
                else hint(float(value))
                if hint is int
                else float(value)
            )
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected a {hint.__name__}, got {value!r}") from None
        if hint is int and float(value) != number:
            raise ValueError(f"{where}: expected a whole number, got {value!r}")
        return number
    if hint is str:
        return "" if value is None else str(value).strip()
    return value


# "section.field" -> its valid values in words, filled in as the checks below run (every
# load_params runs all of them); the CLI's help shows it beside each option's current value.
VALID: dict[str, str] = {}

# How the learning rate moves over a training step's batches (train.lr_factor): constant (the
# paper's plain SGD) or onecycle (warm up to lr over the first 30 %, then anneal towards zero).
LR_SCHEDULES = ("constant", "onecycle")


def _choice(where: str, value: Any, valid: tuple) -> None:
    VALID[where] = " | ".join(map(str, valid))
    if value not in valid:
        raise ValueError(f"{where}: {value!r} is not one of {list(valid)}")


def _range(where: str, value: float, low: float, high: float) -> None:
    VALID[where] = f"{low} to {high}"
    if not low <= value <= high:
        raise ValueError(f"{where}: {value} is outside [{low}, {high}]")


def _freeze(where: str, value: int) -> None:
    VALID[where] = f"0 to {N_BLOCKS}"
    if value not in FREEZE_LEVELS:
        raise ValueError(
            f"{where}: {value} is not a number of frozen conv blocks; expected 0..{N_BLOCKS}"
        )


def _views(section: str, cfg: Any, *, exact: bool) -> None:
    """augmented_views: a whole number of cached augmented views >= 0, or (where the section's
    recipe has a finite set of views: the emotion recipe's flips) "exact"."""
    where = f"{section}.augmented_views"
    VALID[where] = ">= 0" + (" | exact" if exact else "")
    value = cfg.augmented_views
    if isinstance(value, str) and value.strip().lower() == "exact":
        if not exact:
            raise ValueError(
                f"{where}: 'exact' needs a recipe whose views are a finite set (the emotion "
                f"recipe's flips); the pain recipe draws affine transforms from a continuum: "
                f"give a number of cached views"
            )
        object.__setattr__(cfg, "augmented_views", "exact")
        return
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number != float(value) or number < 0:
        raise ValueError(f"{where}: expected a whole number >= 0 or 'exact', got {value!r}")
    object.__setattr__(cfg, "augmented_views", number)


def _training_checks(section: str, cfg: Any) -> None:
    VALID.update(
        {
            f"{section}.epochs": ">= 1",
            f"{section}.batch_size": ">= 1",
            f"{section}.lr": "> 0",
            f"{section}.gamma": ">= 0",
        }
    )
    if cfg.epochs < 1:
        raise ValueError(f"{section}.epochs must be at least 1, got {cfg.epochs}")
    if cfg.batch_size < 1:
        raise ValueError(f"{section}.batch_size must be at least 1, got {cfg.batch_size}")
    if cfg.lr <= 0:
        raise ValueError(f"{section}.lr must be positive, got {cfg.lr}")
    if getattr(cfg, "gamma", 0.0) < 0:
        raise ValueError(f"{section}.gamma must be non-negative, got {cfg.gamma}")
    _choice(f"{section}.lr_schedule", cfg.lr_schedule, LR_SCHEDULES)
