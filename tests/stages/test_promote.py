"""The trade-off rule: Pareto front, scores and the choice, each against numbers worked out by hand;
the stage moves the alias and logs the files the report reads."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from auforget.core import artifacts
from auforget.core.config import Params, PromoteConfig
from auforget.stages.promote import (
    champion_tags,
    choose,
    pareto_front,
    run_promote,
    score_models,
    seed_average,
    seed_choices,
    stability,
)
from auforget.stages.report.lookup import Evidence, champion_evidence, tradeoff_evidence
from auforget.stages.report.sections import section_champion, section_tradeoff
from auforget.tracking import connection, registry


def test_pareto_front_by_hand():
    points = np.array([[0.9, 0.2], [0.5, 0.5], [0.4, 0.4], [0.2, 0.9], [0.5, 0.5]])
    # (0.4, 0.4) is dominated by (0.5, 0.5); equal points do not dominate each other
    assert pareto_front(points).tolist() == [True, True, False, True, True]


def _rows(pain, surprise, contempt) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": [f"FreezeB{i}" for i in range(len(pain))],
            "freeze": range(len(pain)),
            "pain_version": [str(i + 1) for i in range(len(pain))],
            "pain_recall": pain,
            "recall_surprise": surprise,
            "recall_contempt": contempt,
        }
    )


# pain, surprise, contempt recall of four models, and what follows from them on paper:
#   B2 (0.6, 0.3, 0.5) is dominated by B1 (0.8, 0.4, 0.6); B0 has the best pain recall, B3 the
#   best surprise
#   emotion mean:            B0 0.20   B1 0.50   B2 0.40   B3 0.60
#   score, pain weight 0.5:  B0 0.55   B1 0.65   B2 0.50   B3 0.55
#   score, pain weight 0.2:  B0 0.34   B1 0.56   B2 0.44   B3 0.58
ROWS = _rows([0.90, 0.80, 0.60, 0.50], [0.10, 0.40, 0.30, 0.70], [0.30, 0.60, 0.50, 0.50])


def test_scores_and_pareto_flags_match_the_hand_worked_table():
    table = score_models(ROWS, PromoteConfig())
    assert table["pareto"].tolist() == [True, True, False, True]
    np.testing.assert_allclose(table["emotion_recall_mean"], [0.20, 0.50, 0.40, 0.60])
    np.testing.assert_allclose(table["score"], [0.55, 0.65, 0.50, 0.55])
    assert table["eligible"].tolist() == [True, True, False, True]
    np.testing.assert_allclose(
        score_models(ROWS, PromoteConfig(pain_weight=0.2))["score"], [0.34, 0.56, 0.44, 0.58]
    )


def test_rule_picks_the_weighted_best_pareto_model_and_respects_the_minimum():
    assert choose(score_models(ROWS, PromoteConfig()))["model"] == "FreezeB1"  # 0.65
    assert choose(score_models(ROWS, PromoteConfig(pain_weight=0.2)))["model"] == "FreezeB3"  # 0.58
    strict = score_models(ROWS, PromoteConfig(pain_weight=0.2, min_pain_recall=0.55))
    assert strict["eligible"].tolist() == [True, True, False, False]
    assert choose(strict)["model"] == "FreezeB1"  # 0.56 > 0.34
    with pytest.raises(ValueError, match="min_pain_recall"):
        choose(score_models(ROWS, PromoteConfig(min_pain_recall=0.95)))


def test_ties_go_to_higher_pain_recall_then_fewer_frozen_blocks():
    # both score exactly 0.5 (0.5*0.75 + 0.5*0.25 = 0.5*0.5 + 0.5*0.5), both on the front
    assert (
        choose(score_models(_rows([0.5, 0.75], [0.5, 0.25], [0.5, 0.25]), PromoteConfig()))["model"]
        == "FreezeB1"
    )
    # two equal points: neither dominates, same score and pain recall -> fewer frozen blocks
    assert (
        choose(score_models(_rows([0.5, 0.5], [0.5, 0.5], [0.5, 0.5]), PromoteConfig()))["model"]
        == "FreezeB0"
    )


def test_champion_tags_state_the_rule_and_its_numbers():
    cfg = PromoteConfig()
    table = score_models(ROWS, cfg)
    tags = champion_tags(table, choose(table), cfg)
    assert tags == {
        "champion_rule": "Pareto-optimal over pain recall and recall of surprise, contempt, pain "
        "recall >= 0.0; max 0.5 * pain recall + 0.5 * mean emotion recall",
        "champion_score": "0.6500",
        "champion_pain_recall": "0.8000",
        "champion_recall_surprise": "0.4000",
        "champion_recall_contempt": "0.6000",
        "champion_pareto_models": "FreezeB0,FreezeB1,FreezeB3",
    }


def _registered(name: str, i: int, metrics: dict[str, float]) -> None:
    """A FINISHED run with `metrics`, registered as name@freezeb<i> (promote reads only metrics and
    the registry)."""
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name,
        f"runs:/{run.info.run_id}/model",
        run_id=run.info.run_id,
        tags={"freeze_blocks": str(i)},
    )
    client.set_registered_model_alias(name, registry.freeze_alias(i), version.version)


def test_the_stage_aliases_the_champion_and_logs_what_the_report_reads(mlflow_store, tmp_path):
    params = Params()
    connection.configure(params.tracking)
    pain, surprise, contempt = (
        [0.9, 0.8, 0.6, 0.5, 0.3, 0.2],
        [0.1, 0.4, 0.3, 0.7, 0.2, 0.1],
        [0.3, 0.6, 0.5, 0.5, 0.2, 0.1],
    )
    for i in range(6):
        _registered(registry.PAIN_MODEL, i, {artifacts.test_metric("recall", "pain"): pain[i]})
        _registered(
            registry.RETRAIN_MODEL,
            i,
            {
                artifacts.test_metric("recall", "surprise"): surprise[i],
                artifacts.test_metric("recall", "contempt"): contempt[i],
            },
        )
    metrics = run_promote(params, progress=False)
    assert metrics["champion_freeze"] == 1.0 and metrics["champion_score"] == pytest.approx(0.65)
    champion = MlflowClient().get_model_version_by_alias(
        registry.PAIN_MODEL, registry.CHAMPION_ALIAS
    )
    assert (
        champion.tags["freeze_blocks"] == "1"
        and champion.tags["champion_pareto_models"] == "FreezeB0,FreezeB1,FreezeB3"
    )

    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'promote'",
    )
    shown = tradeoff_evidence(run, tmp_path / "report-download")
    assert (
        shown.png
        and shown.table is not None
        and shown.rule.endswith("champion: FreezeB1 (auforget-pain version 2)\n")
    )
    assert len(shown.table) == 6 and "not available" not in section_tradeoff(shown).body
    evidence = Evidence(champion=champion, promote=run)
    assert "The newest promote run chose" not in section_champion(champion_evidence(evidence)).body


def test_seed_averaged_choice_and_its_stability_by_hand():
    # seed 0 = ROWS: FreezeB1 wins (0.65). Seed 1: pain 0.9 0.6 0.6 0.7, surprise 0.1 0.2 0.3 0.9,
    # contempt 0.3 0.4 0.5 0.7 -> scores 0.55 0.45 0.50 0.75: FreezeB3. averaged: pain 0.9 0.7 0.6
    # 0.6, surprise 0.1 0.3 0.3 0.8, contempt 0.3 0.5 0.5 0.6 -> emotion mean 0.2 0.4 0.4 0.7 ->
    # scores 0.55 0.55 0.50 0.65; B2 is dominated by B1 -> FreezeB3, chosen by 1 of 2 seeds
    seed1 = _rows([0.9, 0.6, 0.6, 0.7], [0.1, 0.2, 0.3, 0.9], [0.3, 0.4, 0.5, 0.7])
    per_seed = {0: ROWS, 1: seed1}
    averaged = seed_average(per_seed)
    np.testing.assert_allclose(averaged["pain_recall"], [0.9, 0.7, 0.6, 0.6])
    assert (
        averaged["pain_version"].tolist() == ROWS["pain_version"].tolist()
    )  # the first seed's versions
    table = score_models(averaged, PromoteConfig())
    np.testing.assert_allclose(table["score"], [0.55, 0.55, 0.50, 0.65])
    assert table["pareto"].tolist() == [True, True, False, True]
    assert choose(table)["model"] == "FreezeB3"
    assert seed_choices(per_seed, PromoteConfig()) == {0: 1, 1: 3}
    assert stability({0: 1, 1: 3}, 3) == 0.5 and stability({0: 3}, 3) == 1.0
    # one seed: the average is that seed's table, unchanged
    pd.testing.assert_frame_equal(seed_average({0: ROWS}), ROWS)
