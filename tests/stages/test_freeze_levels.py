"""`study.freeze_levels`: main trains exactly the levels picked, each with its own transfer and
retrain; forgetting compares every level with the fully frozen one, whatever its number."""

import pandas as pd

from auforget.core.config import Params
from auforget.stages.forgetting import forgetting_tables, models_of, reference_of
from auforget.stages.main import study_layers


def test_main_trains_the_picked_levels_of_a_deep_backbone():
    params = Params().with_overrides(
        "model", backbone="vit_b_16", profile="paper", from_scratch=True
    )
    params = params.with_overrides("study", freeze_levels=(0, 3, 6, 9, 12, 13))
    params = params.with_overrides("saliency", k=0).with_overrides("probes", k=0)
    emotion, transfer, retrain, *_ = study_layers(params)
    assert [s.name for s in transfer] == [f"transfer-b{k}" for k in (0, 3, 6, 9, 12, 13)]
    assert [s.params.retrain.freeze for s in retrain] == [0, 3, 6, 9, 12, 13]


def test_vgg16_still_trains_six_levels():
    _, transfer, _, *_ = study_layers(Params())
    assert [s.name for s in transfer] == [f"transfer-b{k}" for k in range(6)]


def test_forgetting_compares_with_the_highest_level():
    truth = [0, 1, 1, 0]
    table = lambda pred: pd.DataFrame(  # noqa: E731
        {"true_label": truth, "pred_label": pred}, index=["a", "b", "c", "d"]
    )
    tables = {
        "base": table([0, 1, 1, 0]),
        "b0": table([1, 1, 1, 0]),
        "b6": table([0, 1, 0, 0]),
        "b13": table([0, 1, 1, 0]),
    }
    assert models_of(tables) == ("base", "b0", "b6", "b13") and reference_of(tables) == "b13"
    out = forgetting_tables(tables, exact_below=25)
    vs = next(v for k, v in out.items() if "vs_b5" in k)
    assert set(vs["model_a"]) == {"b0", "b6"} and set(vs["model_b"]) == {"b13"}
