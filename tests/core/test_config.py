from pathlib import Path

import pytest

from auforget.core.config import Params, flat, load_params

REPO = Path(__file__).resolve().parents[2]


def test_repository_params_yaml_loads_and_matches_the_study():
    params = load_params(REPO / "params.yaml")
    # the demo trains its emotion model with cross entropy (gamma 0, measured); the paper's gamma 5
    # is in the preset
    assert (
        params.emotion.gamma == 0.0 and params.emotion.beta == 0.99998 and params.emotion.lr == 0.01
    )
    assert load_params(REPO / "params-paper.yaml").emotion.gamma == 5.0
    assert params.transfer.gamma == 2.0
    assert params.prepare.unbc_test_subjects == ("095-tv095", "047-jl047", "109-ib109", "064-ak064")
    assert params.prepare.unbc_pool_per_class == 500 and params.prepare.unbc_val_size == 100
    assert params.probes.seeds == 500 and params.probes.folds == 2


def test_overrides_coerce_strings_and_ignore_empty_values():
    params = Params().with_overrides("transfer", freeze="3", gamma="1.5", lr=None)
    assert (
        params.transfer.freeze == 3 and params.transfer.gamma == 1.5 and params.transfer.lr == 0.01
    )
    assert (
        Params().with_overrides("transfer", cached_features="false").transfer.cached_features
        is False
    )
    assert Params().with_overrides("saliency", emotions="fear,anger").saliency.emotions == (
        "fear",
        "anger",
    )


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("transfer", {"freeze": 7}, r"transfer.freeze: 7 .* 0..5"),
        ("transfer", {"freeze": "two"}, r"transfer.freeze: expected a int"),
        (
            "model",
            {"profile": "huge"},
            r"model.profile: 'huge' is not one of \['small', 'small96', 'paper'\]",
        ),
        ("saliency", {"emotions": "joy"}, r"saliency.emotions: 'joy' is not one of"),
        ("emotion", {"lr": 0}, r"emotion.lr must be positive"),
        (
            "retrain",
            {"heads": 0},
            r"retrain.heads must be at least 1 \(heads trained on the frozen blocks and "
            r"averaged\), got 0",
        ),
        (
            "model",
            {"profile": "paper", "from_scratch": "true", "imagenet_weights": "w.pth"},
            r"from_scratch is true but model.imagenet_weights is set \('w.pth'\); choose one",
        ),
        ("model", {"imagenet_weights": "w.pth"}, r"only fit the 'paper' profile, not 'small96'"),
        ("study", {"metrics_dir": " "}, r"study.metrics_dir: empty; expected a folder such as"),
        ("controls", {"block": 5}, r"controls.block must be 0..4"),
        ("controls", {"eraser": "pixel"}, r"controls.eraser: 'pixel' is not one of"),
        ("controls", {"protect": "all"}, r"controls.protect: 'all' is not one of"),
    ],
)
def test_bad_values_name_the_field_and_the_valid_choices(section, values, message):
    """Each bad value is one ValueError naming the field and what it accepts; the controls' block
    4 (the last block's output) and both erasers and protections are accepted."""
    controls = Params().with_overrides("controls", block=4, eraser="region", protect="drawn")
    assert (controls.controls.block, controls.controls.eraser) == (4, "region")
    with pytest.raises(ValueError, match=message):
        Params().with_overrides(section, **values)


def test_unknown_keys_and_sections_are_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("transfer:\n  frezee: 2\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['frezee'\].*freeze"):
        load_params(path)
    path.write_text("trasnfer:\n  freeze: 2\n")
    with pytest.raises(ValueError, match=r"unknown section\(s\) \['trasnfer'\]"):
        load_params(path)
    path.write_text("transfer: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_params(path)


def test_flat_params_are_readable_strings_for_mlflow():
    out = flat(Params().saliency, "saliency.")
    assert out["saliency.emotions"] == "surprise,contempt" and out["saliency.k"] == 0


def test_dataclass_defaults_equal_params_yaml():
    """A missing params.yaml (or a missing key) means the study's shipped values, not other ones."""
    import dataclasses

    shipped, defaults = load_params(REPO / "params.yaml"), Params()
    differ = [
        f"{s.name}.{f.name}: {getattr(getattr(defaults, s.name), f.name)!r} != "
        f"{getattr(getattr(shipped, s.name), f.name)!r}"
        for s in dataclasses.fields(Params)
        for f in dataclasses.fields(getattr(defaults, s.name))
        if getattr(getattr(defaults, s.name), f.name) != getattr(getattr(shipped, s.name), f.name)
    ]
    assert not differ, differ


@pytest.mark.parametrize(
    "seeds, expected",
    [("[]", "non-empty"), ("[0, 0]", "distinct"), ("[-1]", ">= 0"), ("[0, x]", "expected a int")],
)
def test_study_seeds_must_be_distinct_whole_numbers(tmp_path, seeds, expected):
    path = tmp_path / "params.yaml"
    path.write_text(f"study:\n  seeds: {seeds}\n")
    with pytest.raises(ValueError, match="study.seeds") as error:
        load_params(path)
    assert expected in str(error.value)
    assert load_params(REPO / "params-paper.yaml").study.seeds == (0, 1, 2)


def test_augmented_views_takes_a_count_or_exact_where_the_views_are_finite():
    assert Params().with_overrides("retrain", augmented_views="exact").retrain.augmented_views == (
        "exact"
    )
    assert Params().with_overrides("retrain", augmented_views="3").retrain.augmented_views == 3
    with pytest.raises(ValueError, match="transfer.augmented_views: 'exact' needs a recipe"):
        Params().with_overrides("transfer", augmented_views="exact")
    with pytest.raises(ValueError, match="retrain.augmented_views: expected a whole number"):
        Params().with_overrides("retrain", augmented_views="some")


def test_exclude_classes_names_emotions_and_leaves_two():
    params = Params().with_overrides("saliency", emotions=("happy",))
    params = params.with_overrides("promote", emotions=("sad",))
    cut = params.with_overrides("emotion", exclude_classes=("surprise", "contempt"))
    assert cut.emotion.exclude_labels == (3, 7)
    with pytest.raises(ValueError, match="emotion.exclude_classes: \\['joy'\\] are not emotions"):
        params.with_overrides("emotion", exclude_classes=("joy",))
    with pytest.raises(ValueError, match="names a class twice"):
        params.with_overrides("emotion", exclude_classes=("fear", "fear"))
    with pytest.raises(ValueError, match="fewer than 2"):
        params.with_overrides(
            "emotion",
            exclude_classes=("neutral", "sad", "surprise", "fear", "disgust", "anger", "contempt"),
        )
