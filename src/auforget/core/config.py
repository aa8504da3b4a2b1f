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
from auforget.core.profiles import BACKBONES, MAX_STAGES, N_BLOCKS, get_profile  # noqa: E402

FREEZE_LEVELS = tuple(
    range(N_BLOCKS + 1)
)  # FreezeB0 .. FreezeB5 of VGG16: how many leading blocks a pain model froze (other backbones:
#  Params.freeze_levels)
MODEL_PROFILES = ("small", "small96", "paper")  # the networks models.PROFILES defines
PAIN_CLASSES = ("no_pain", "pain")
DATA_KINDS = ("native", "manifest")  # data.kind: the three datasets' layouts | CSV manifests


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
    image_store: bool = True
    # data.kind: manifest reads the source task, the target task, the concept sets and the
    # regions from plain CSV manifests (or ImageFolder trees) instead of the three datasets
    # (docs/manifests.md); the class lists give each task's label order (empty: sorted labels)
    kind: str = "native"
    source: str = ""
    target: str = ""
    concepts: tuple[str, ...] = ()
    regions: str = ""
    source_classes: tuple[str, ...] = ()
    target_classes: tuple[str, ...] = ()
    target_focus: str = ""  # the target class whose recall promote trades; empty: macro recall
    # what the report and the figures call each task ("emotion", "fatigue"); empty: "source" and
    # "target" (manifest data only: native data are the paper's emotion and pain)
    source_task: str = ""
    target_task: str = ""

    def __post_init__(self) -> None:
        _choice("data.decoder", self.decoder, ("pil", "simplejpeg", "torchvision"))
        _choice("data.kind", self.kind, DATA_KINDS)
        if self.kind == "manifest" and not (self.source and self.target):
            raise ValueError(
                "data.kind is manifest but data.source or data.target is empty: give the "
                "source and target task manifests (CSV files or ImageFolder folders)"
            )
        VALID["data.image_store"] = "true | false"
        if not isinstance(self.image_store, bool):
            raise ValueError(f"data.image_store: expected true or false, got {self.image_store!r}")


@dataclass(frozen=True)
class SynthConfig:
    out: str = "data/raw/synthetic"
    scale: str = "demo"
    seed: int = 0
    # paper: AffectNet, UNBC and CK+ in their layouts; fatigue: emotions -> fatigue as manifests
    # (data/synthetic_manifests.py, examples/fatigue/)
    world: str = "paper"
    # AU14's one-sided corner: `inward` (in and up, as FACS describes the dimpler; there the
    # instrument checks' lesion can take AU14 without AU20) | `outward` (out and up, as AU12 and
    # AU20 move it; every study before 2026-12-07, and the only drawing of the fatigue world)
    au14_pull: str = "inward"

    @property
    def au14_inward(self) -> bool:
        return self.au14_pull == "inward"

    def __post_init__(self) -> None:
        _choice("synth.scale", self.scale, ("micro", "tiny", "demo", "large"))
        _choice("synth.world", self.world, ("paper", "fatigue"))
        _choice("synth.au14_pull", self.au14_pull, ("outward", "inward"))
        if self.au14_inward and self.world != "paper":
            raise ValueError(
                f"synth.au14_pull: inward is drawn by the paper world only; synth.world is "
                f"{self.world!r}, whose faces keep AU14 outward (set au14_pull: outward)"
            )


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
    # data.kind manifest: the shares of each task's rows (of its subjects, where it names them)
    # drawn for test and val, stratified by class, when the manifest has no split column
    manifest_test_fraction: float = 0.2
    manifest_val_fraction: float = 0.1

    def __post_init__(self) -> None:
        _range("prepare.manifest_test_fraction", self.manifest_test_fraction, 0.05, 0.5)
        _range("prepare.manifest_val_fraction", self.manifest_val_fraction, 0.05, 0.5)
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
    backbone: str = "vgg16"  # vgg16 | resnet50 | vit_b_16 (nn/adapters.py, docs/backbones.md)

    def __post_init__(self) -> None:
        _choice("model.profile", self.profile, MODEL_PROFILES)
        _choice("model.backbone", self.backbone, BACKBONES)
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
    # the FreezeB<k> levels main trains; empty = every level 0..n of the backbone (Params checks
    # them against its stage count). Deep backbones pick a subset, e.g. ViT-B/16's 0,3,6,9,12,13.
    freeze_levels: tuple[int, ...] = ()
    # where the study's DVC metrics files (<metrics_dir>/<step>.json) go: studies of other
    # backbones in the same project keep their own (examples/backbones/). Where a study writes
    # is not what it computes, so no step's identity includes it.
    metrics_dir: str = "metrics"
    # where its DVC plots go (<plots_dir>/<step>/: confusion tables, Figure 3, the trade-off), for
    # the same reason: a backbone or example study must not overwrite the demo's figures
    plots_dir: str = "plots"

    @property
    def metrics_path(self) -> Path:
        return Path(self.metrics_dir)

    @property
    def plots_path(self) -> Path:
        return Path(self.plots_dir)

    def __post_init__(self) -> None:
        VALID["study.seeds"] = "a non-empty list of distinct whole numbers >= 0"
        VALID["study.freeze_levels"] = "empty (all) or distinct stage counts 0..n of the backbone"
        VALID["study.metrics_dir"] = "a folder, relative to the project (e.g. metrics/resnet50)"
        VALID["study.plots_dir"] = "a folder, relative to the project (e.g. plots/resnet50)"
        for key, example in (("metrics_dir", "metrics/resnet50"), ("plots_dir", "plots/resnet50")):
            if not getattr(self, key).strip():
                raise ValueError(
                    f"study.{key}: empty; expected a folder such as {example.split('/')[0]} or "
                    f"{example}"
                )
        levels = self.freeze_levels
        if len(set(levels)) != len(levels) or any(k < 0 or k > MAX_STAGES for k in levels):
            raise ValueError(
                f"study.freeze_levels: {list(levels)} is not a list of distinct stage counts "
                f"0..{MAX_STAGES}"
            )
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
    optimizer: str = "sgd"  # sgd (the paper's) | adamw (momentum unused): OPTIMIZERS
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
    optimizer: str = "sgd"  # sgd (the paper's) | adamw (momentum unused): OPTIMIZERS
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
    optimizer: str = "sgd"  # sgd (the paper's) | adamw (momentum unused): OPTIMIZERS
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
    # FreezeB0 given back each block of the base model in turn, each copy's output layers
    # retrained on emotions: which block's change costs which emotion (one retrain per block)
    reset: bool = True

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


# nn/lrp.py's COMPOSITES by name (tests/nn/test_lrp.py holds the two lists equal)
LRP_COMPOSITES = (
    "epsilon_zplus",
    "epsilon_zplus_flat",
    "epsilon_gamma_box",
    "epsilon_alpha2_beta1",
)


@dataclass(frozen=True)
class SaliencyConfig:
    k: int = 0
    emotions: tuple[str, ...] = ("surprise", "contempt")
    max_images: int = 32
    seed: int = 0
    difference: str = "normalise_first"
    ranking: str = "beyond_b5"
    # the LRP rules (nn/lrp.py COMPOSITES): the study's epsilon_zplus (z+ through the convolutions)
    composite: str = "epsilon_zplus"

    def __post_init__(self) -> None:
        _freeze("saliency.k", self.k)
        _choice("saliency.difference", self.difference, ("normalise_first", "raw_then_normalise"))
        _choice("saliency.ranking", self.ranking, ("beyond_b5", "difference"))
        _choice("saliency.composite", self.composite, LRP_COMPOSITES)
        VALID["saliency.emotions"] = "classes of the source task"


@dataclass(frozen=True)
class ProbesConfig:
    k: int = 0
    au: int = 14
    mouthless_aus: tuple[int, ...] = (5,)
    concept: str = ""  # data.kind manifest: the concept probed (a concept manifest's column)
    seeds: int = 500
    folds: int = 2
    C: float = 1.0
    seed: int = 0
    # every drawn AU probed once more on features extracted once per model (probes.run_au_survey),
    # with fewer CV seeds than the two headline probes; empty = no survey (the CK+ AUs of native
    # data: a manifest study probes its own concepts instead)
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
class ControlsConfig:
    """The instrument controls (stages/controls.py): which AU is erased from a copy of FreezeB5 and
    where, how many face pairs measure it, and the shams' draws."""

    au: int = 14
    # how the AU is erased: `projection`, I - UU^T over block `block`'s output channels (the
    # closed-form eraser below); `unlearn`, the weights of block `block` and every block after it
    # retrained so that faces showing the AU give, at the last block's output, what the same faces
    # at rest give, and every other face what it gave (`steps` Adam steps at `lr`; the erased
    # AU's term weighted `erase_weight` against the kept faces' 1)
    lesion: str = "unlearn"
    block: int = 4  # 0-based: the first block retrained, or the block whose output is projected
    rank: int = 0  # 0 = the fewest directions holding `energy` of the AU's difference energy
    energy: float = 0.9
    # of each AU sharing the region, the directions kept out of U: its top directions holding this
    # share of its difference energy (0 = its mean difference alone)
    shared_energy: float = 0.5
    # which AUs' directions are kept out of U: `region`, the AUs sharing the lesioned AU's region;
    # `drawn`, every other drawn AU (a channel projection acts at every position of the map, so an
    # AU elsewhere on the face that uses the same channels would lose them too)
    protect: str = "region"
    # where span(U) is erased: `channel`, at every cell, folded into the next block's first
    # convolution; `region`, at the AU region's cells only (a module after the block); `flat`, U
    # a direction of the whole flattened map, so one cell can be weighed against another (a
    # module after the block; the AUs' differences are read over the whole map)
    eraser: str = "channel"
    n_pairs: int = 64  # people, each at rest and showing every fitted AU; as many again checked
    seed: int = 0
    # random-subspace shams per run (draw d is seeded with (seed, d)), and as many FreezeB5' pairs
    draws: int = 1
    variance_tolerance: float = 0.1
    steps: int = 300  # lesion unlearn: full-batch Adam steps
    lr: float = 0.001  # lesion unlearn: Adam's learning rate
    erase_weight: float = 0.4  # lesion unlearn: the erased AU's term against the kept faces' 1
    # lesion unlearn: 0, the kept faces' terms weighted as fixed shares of 1; above 0, each kept
    # kind's weight rises while its relative RMS error exceeds this (nn/lesion.unlearn)
    keep_tolerance: float = 0.0
    probe_seeds: int = 100
    max_images: int = 32  # contempt's difference maps (0 = all qualifying test images)

    def __post_init__(self) -> None:
        _range("controls.energy", self.energy, 0.01, 1.0)
        _range("controls.shared_energy", self.shared_energy, 0.0, 1.0)
        _range("controls.variance_tolerance", self.variance_tolerance, 0.0, 1.0)
        _choice("controls.protect", self.protect, ("region", "drawn"))
        _choice("controls.eraser", self.eraser, ("channel", "region", "flat"))
        _choice("controls.lesion", self.lesion, ("projection", "unlearn"))
        for name in ("lr", "erase_weight"):
            if not getattr(self, name) > 0:
                raise ValueError(f"controls.{name} must be above 0, got {getattr(self, name)}")
        _range("controls.keep_tolerance", self.keep_tolerance, 0.0, 1.0)
        VALID["controls.block"] = f"0..{N_BLOCKS - 1}"
        if not 0 <= self.block <= N_BLOCKS - 1:
            raise ValueError(
                f"controls.block must be 0..{N_BLOCKS - 1} (0-based: the block whose output "
                f"loses span(U), or the first block unlearn retrains), got {self.block}"
            )
        for name, low in (
            ("rank", 0),
            ("n_pairs", 2),
            ("draws", 1),
            ("probe_seeds", 2),
            ("steps", 1),
        ):
            if getattr(self, name) < low:
                raise ValueError(
                    f"controls.{name} must be at least {low}, got {getattr(self, name)}"
                )
        if self.au not in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 25, 26):
            raise ValueError(
                f"controls.au must be an AU with a facial region (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, "
                f"15, 17, 25, 26), got {self.au}"
            )


@dataclass(frozen=True)
class PromoteConfig:
    emotions: tuple[str, ...] = ("surprise", "contempt")
    pain_weight: float = 0.5
    min_pain_recall: float = 0.0

    def __post_init__(self) -> None:
        _range("promote.pain_weight", self.pain_weight, 0.0, 1.0)
        VALID["promote.emotions"] = "classes of the source task"


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
class CompareConfig:
    # the backbones whose studies `compare` puts side by side (those without one are named)
    backbones: tuple[str, ...] = BACKBONES
    out: str = "reports"

    def __post_init__(self) -> None:
        VALID["compare.backbones"] = " | ".join(BACKBONES)
        bad = [b for b in self.backbones if b not in BACKBONES]
        if bad or not self.backbones:
            raise ValueError(
                f"compare.backbones: {list(self.backbones)} is not a non-empty list of "
                f"backbones; valid backbones are {list(BACKBONES)}"
            )


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
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)

    def __post_init__(self) -> None:
        # freeze levels are checked against the backbone's stage count, known only here
        n = self.n_stages
        for where, cfg, name in (
            ("transfer.freeze", self.transfer, "freeze"),
            ("retrain.freeze", self.retrain, "freeze"),
            ("saliency.k", self.saliency, "k"),
            ("probes.k", self.probes, "k"),
            ("tune.freeze", self.tune, "freeze"),
        ):
            _freeze(where, getattr(cfg, name), n)
        bad = [k for k in self.study.freeze_levels if k > n]
        if bad:
            raise ValueError(
                f"study.freeze_levels: {bad} exceed the {n} stages of model.backbone "
                f"{self.model.backbone!r} (profile {self.model.profile!r}); expected 0..{n}"
            )
        if self.study.freeze_levels and n not in self.study.freeze_levels:
            raise ValueError(
                f"study.freeze_levels: {list(self.study.freeze_levels)} lacks {n}, every stage of "
                f"model.backbone {self.model.backbone!r} frozen: the model every other level is "
                "compared with"
            )
        for where, k in (("saliency.k", self.saliency.k), ("probes.k", self.probes.k)):
            if self.study.freeze_levels and k not in self.study.freeze_levels:
                raise ValueError(
                    f"{where}: {k} is not among study.freeze_levels "
                    f"{list(self.study.freeze_levels)}; main compares FreezeB{k} with "
                    f"FreezeB{n}, so it must train it"
                )
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
        # The source task's class names are the data's: fixed (AffectNet's) for native data,
        # checked against the manifest's classes by the stages that read them otherwise.
        if self.data.kind == "native":
            for section in ("saliency", "promote"):
                for e in getattr(self, section).emotions:
                    _choice(f"{section}.emotions", e, EMOTIONS)

    @property
    def n_stages(self) -> int:
        """How many leading stages the model's backbone can freeze (VGG16: 5 conv blocks)."""
        return get_profile(self.model.profile, self.model.backbone).n_stages

    @property
    def freeze_levels(self) -> tuple[int, ...]:
        """The FreezeB<k> levels the study trains, ascending: study.freeze_levels, else 0..n."""
        return tuple(sorted(self.study.freeze_levels)) or tuple(range(self.n_stages + 1))

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
# sgd: the paper's, with momentum; adamw: decoupled weight decay, the usual choice for a vision
# transformer (on the demo's small ViT it did not make the emotion model learn either:
# experiments/2026-12-07-vit-recipe)
OPTIMIZERS = ("sgd", "adamw")


def _choice(where: str, value: Any, valid: tuple) -> None:
    VALID[where] = " | ".join(map(str, valid))
    if value not in valid:
        raise ValueError(f"{where}: {value!r} is not one of {list(valid)}")


def _range(where: str, value: float, low: float, high: float) -> None:
    VALID[where] = f"{low} to {high}"
    if not low <= value <= high:
        raise ValueError(f"{where}: {value} is outside [{low}, {high}]")


def _freeze(where: str, value: int, stages: int | None = None) -> None:
    """A number of frozen leading stages: 0..n, n the backbone's stages once Params knows it, the
    most any backbone has while a section is read alone."""
    n = MAX_STAGES if stages is None else stages
    if stages is not None:
        VALID[where] = f"0 to {n}"
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= n:
        raise ValueError(f"{where}: {value} is not a number of frozen conv blocks; expected 0..{n}")


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
    _choice(f"{section}.optimizer", cfg.optimizer, OPTIMIZERS)
