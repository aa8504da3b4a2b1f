"""The forgetting tables on hand-built predictions: recalls and McNemar with Holm per pair; the
stage's logged files are the ones the report reads."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from auforget.core import artifacts
from auforget.core.config import EMOTIONS, Params
from auforget.stages.forgetting import (
    forgetting_metrics,
    forgetting_tables,
    mcnemar_rows,
    recall_table,
    run_forgetting,
    seed_findings,
    seed_forgetting,
    seed_metrics,
)
from auforget.stages.report.lookup import forgetting_evidence
from auforget.stages.report.sections import section_forgetting
from auforget.tracking import connection, registry

SURPRISE = EMOTIONS.index("surprise")


def _table(true, pred):
    return pd.DataFrame(
        {"true_label": true, "pred_label": pred}, index=[f"s{i}" for i in range(len(true))]
    )


def test_recalls_and_mcnemar_counts_on_one_emotion():
    # 10 surprise samples: b5 right on all 10, b0 right on the first 3, so for the pair (a=b0, b=b5)
    # n01 (a wrong, b right) = 7 and n10 = 0; plus one happy sample both get right.
    true = [SURPRISE] * 10 + [1]
    b5 = _table(true, true)
    b0 = _table(true, [SURPRISE] * 3 + [0] * 7 + [1])
    tables = {"b0": b0, "b5": b5}
    recalls = recall_table(tables).set_index("emotion")
    assert recalls.loc["surprise", "b0"] == pytest.approx(0.3)
    assert recalls.loc["surprise", "b5"] == 1.0 and recalls.loc["surprise", "n"] == 10
    assert np.isnan(recalls.loc["fear", "b0"])  # no fear samples: no recall, not zero
    rows = mcnemar_rows(tables, [("b0", "b5")], exact_below=25).set_index("emotion")
    row = rows.loc["surprise"]
    assert (row["n01"], row["n10"], row["method"]) == (7, 0, "exact")
    # exact two-sided binomial with 7 discordant pairs all one way: 2 * 0.5^7
    assert row["pvalue"] == pytest.approx(2 * 0.5**7)
    # Holm across the emotions that have samples (surprise, happy): surprise is the smaller p, x2
    assert row["pvalue_holm"] == pytest.approx(min(1.0, 2 * 2 * 0.5**7))
    assert rows.loc["happy", "pvalue"] == 1.0
    assert rows.loc["fear", "method"] == "none"


def test_chi_square_branch_above_the_threshold():
    true = [SURPRISE] * 60
    b5 = _table(true, true)
    b0 = _table(true, [SURPRISE] * 20 + [0] * 40)
    row = (
        mcnemar_rows({"b0": b0, "b5": b5}, [("b0", "b5")], exact_below=25)
        .set_index("emotion")
        .loc["surprise"]
    )
    # 40 discordant pairs, all one way: (|40 - 0| - 1)^2 / 40 = 38.025
    assert row["method"] == "chi2" and row["statistic"] == pytest.approx(38.025)


def test_metrics_are_named_per_emotion_and_model_and_leave_out_empty_emotions():
    true = [SURPRISE] * 10 + [1]
    right = _table(true, true)
    tables = {name: right for name in ("base", "b1", "b2", "b3", "b4", "b5")}
    tables["b0"] = _table(true, [SURPRISE] * 3 + [0] * 7 + [1])
    out = forgetting_tables(tables, exact_below=25)
    assert set(out) == {
        artifacts.RECALLS_CSV,
        artifacts.MCNEMAR_VS_B5_CSV,
        artifacts.MCNEMAR_PAIRWISE_CSV,
    }
    assert len(out[artifacts.MCNEMAR_PAIRWISE_CSV]) == 21 * len(EMOTIONS)  # 7 choose 2 pairs
    metrics = forgetting_metrics(
        out[artifacts.RECALLS_CSV], out[artifacts.MCNEMAR_VS_B5_CSV], alpha=0.05
    )
    assert (
        metrics["recall_surprise_b0"] == pytest.approx(0.3)
        and metrics["recall_surprise_base"] == 1.0
    )
    assert metrics["mcnemar_p_surprise_b0_vs_b5"] == pytest.approx(2 * 0.5**7)  # 0.015625
    assert metrics["mcnemar_p_holm_surprise_b0_vs_b5"] == pytest.approx(
        4 * 0.5**7
    )  # 0.03125 < 0.05
    assert metrics["n_significant_vs_b5"] == 1.0
    assert (
        "recall_fear_b0" not in metrics and "mcnemar_p_fear_b0_vs_b5" not in metrics
    )  # no fear samples


def _register(
    name: str,
    alias: str,
    files: dict[str, str],
    metrics: dict[str, float] | None = None,
    params: dict[str, object] | None = None,
) -> None:
    """A FINISHED run with the given text files, registered under name@alias (no model needed to
    read it back)."""
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_params(params or {})
        for path, text in files.items():
            mlflow.log_text(text, path)
        mlflow.log_metrics(metrics or {})
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, alias, version.version)


def test_the_stage_logs_what_the_report_reads(mlflow_store, tmp_path):
    """The real stage on registered predictions, read back by the report's lookup: nothing
    missing."""
    params = Params()
    connection.configure(params.tracking)
    true = [SURPRISE] * 10 + [1] * 4
    for i in range(6):
        pred = true if i == 5 else [SURPRISE] * i + [0] * (10 - i) + [1] * 4
        _register(
            registry.RETRAIN_MODEL,
            registry.freeze_alias(i),
            {
                artifacts.PREDICTIONS: _table(true, pred)
                .rename_axis("sample_id")
                .reset_index()
                .to_csv(index=False)
            },
            params={"retrain.heads": 10},
        )
    _register(
        registry.EMOTION_MODEL,
        registry.BASE_ALIAS,
        {
            artifacts.PREDICTIONS: _table(true, true)
            .rename_axis("sample_id")
            .reset_index()
            .to_csv(index=False)
        },
    )
    metrics = run_forgetting(params, progress=False)
    assert metrics["recall_surprise_b2"] == pytest.approx(0.2)
    # findings with no verdict: the mixed model of FreezeB0 (forgetting.mixed_freeze) sees
    # surprise's 10 of 10 lost and happy's nothing (all correct in both: no evidence either
    # way); one seed leaves the logit MDE undefined
    assert metrics["mixed_coef_surprise_b0"] < 0 < metrics["mixed_p_surprise_b0"] < 0.05
    assert metrics["mixed_p_happy_b0"] > 0.2
    assert metrics["seed_logit_excess_mean_surprise_b0_vs_b5"] < 0
    assert "logit_excess_mde_surprise_b0_vs_b5" not in metrics
    assert not any(name.startswith("mixed_p_") and name.endswith("_b1") for name in metrics)
    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'forgetting'",
    )
    shown = forgetting_evidence(run, tmp_path / "report-download")
    assert shown.recalls_png and all(
        t is not None for t in (shown.recalls, shown.vs_b5, shown.pairwise)
    )
    section = section_forgetting(shown, alpha=params.forgetting.alpha)
    assert "not available" not in section.body and "b0 vs b5 (Holm p)" in section.body
    assert "the average of 10 heads per model" in section.body


def _seed_tables(recall_b0: float, recall_b5: float, p_b0: float):
    """One seed's recall table (every emotion: b0..b4 at recall_b0, b5 at recall_b5) and McNemar
    rows."""
    recalls = pd.DataFrame(
        [
            {
                "emotion": e,
                "n": 10,
                "base": 0.5,
                **{f"b{k}": recall_b0 for k in range(5)},
                "b5": recall_b5,
            }
            for e in EMOTIONS
        ]
    )
    tests = pd.DataFrame(
        [
            {"emotion": e, "model_a": f"b{k}", "model_b": "b5", "pvalue": p_b0}
            for k in range(5)
            for e in EMOTIONS
        ]
    )
    return recalls, tests


def test_forgetting_across_seeds_by_hand():
    # seed 0: Bk 0.2 vs B5 0.6 (diff -0.4, McNemar p 0.01); seed 1: 0.3 vs 0.5 (diff -0.2, p 0.04)
    # mean -0.3; sd 0.141421, se 0.1, t(0.975, 1) = 12.706205 -> [-1.570620, 0.970620]
    # Stouffer: z = -2.575829, -2.053749 -> Z = -3.273606 -> p = 0.0010618; Holm over 8 equal p: x 8
    (r0, t0), (r1, t1) = _seed_tables(0.2, 0.6, 0.01), _seed_tables(0.3, 0.5, 0.04)
    across = seed_forgetting({0: r0, 1: r1}, {0: t0, 1: t1})
    assert len(across) == 5 * len(EMOTIONS) and set(across["model"]) == {f"b{k}" for k in range(5)}
    row = across[(across["emotion"] == "contempt") & (across["model"] == "b0")].iloc[0]
    assert row["n_seeds"] == 2 and row["diffs"] == "-0.4000 -0.2000"
    np.testing.assert_allclose(
        [row["diff_mean"], row["diff_low"], row["diff_high"]],
        [-0.3, -1.570620, 0.970620],
        atol=1e-6,
    )
    assert row["p_combined"] == pytest.approx(0.0010618, abs=1e-6)
    assert row["p_combined_holm"] == pytest.approx(8 * 0.0010618, abs=1e-5)


def test_forgetting_beyond_the_other_emotions_by_hand():
    # B5 0.6 (seed 0) and 0.5 (seed 1) for every emotion; Bk 0.5 and 0.45, but contempt 0.2 and 0.3.
    # contempt: seed 0 -0.4 - (-0.1) = -0.3, seed 1 -0.2 - (-0.05) = -0.15; mean -0.225, sd
    # 0.106066, se 0.075, t(0.975, 1) 12.706205 -> [-1.177965, +0.727965]. Another emotion, seed 0:
    # -0.1 - (6 x -0.1 - 0.4) / 7 = +0.042857; seed 1: -0.05 - (6 x -0.05 - 0.2) / 7 = +0.021429.
    tables = {}
    for seed, (b0, b5, contempt) in {0: (0.5, 0.6, 0.2), 1: (0.45, 0.5, 0.3)}.items():
        recalls, tests = _seed_tables(b0, b5, 0.5)
        recalls.loc[recalls["emotion"] == "contempt", [f"b{k}" for k in range(5)]] = contempt
        tables[seed] = (recalls, tests)
    across = seed_forgetting(
        {s: t[0] for s, t in tables.items()}, {s: t[1] for s, t in tables.items()}
    )
    rows = across[across["model"] == "b0"].set_index("emotion")
    assert rows.loc["contempt", "excess_diffs"] == "-0.3000 -0.1500"
    np.testing.assert_allclose(
        rows.loc["contempt", ["excess_mean", "excess_low", "excess_high"]].astype(float),
        [-0.225, -1.177965, 0.727965],
        atol=1e-6,
    )
    assert rows.loc["happy", "excess_diffs"] == "+0.0429 +0.0214"
    assert rows["excess_mean"].sum() == pytest.approx(
        0.0, abs=1e-12
    )  # the emotions' excesses cancel
    metrics = seed_metrics(across, 0.05)
    assert metrics["seed_excess_mean_contempt_b0_vs_b5"] == pytest.approx(-0.225)
    assert metrics["seed_excess_high_contempt_b0_vs_b5"] == pytest.approx(0.727965, abs=1e-6)


def test_an_emotion_without_recall_leaves_the_others_excess_intact():
    # fear has no test images (NaN recall): its own excess is NaN; every other emotion's is taken
    # over the six remaining others. contempt -0.4 against -0.1: -0.3;
    # happy -0.1 - (5 x -0.1 - 0.4) / 6 = +0.05.
    recalls, tests = _seed_tables(0.5, 0.6, 0.5)
    recalls.loc[recalls["emotion"] == "contempt", [f"b{k}" for k in range(5)]] = 0.2
    recalls.loc[recalls["emotion"] == "fear", [f"b{k}" for k in range(6)]] = float("nan")
    rows = seed_forgetting({0: recalls}, {0: tests}).query("model == 'b0'").set_index("emotion")
    assert np.isnan(rows.loc["fear", "excess_mean"])
    np.testing.assert_allclose(
        rows.loc[["contempt", "happy"], "excess_mean"], [-0.3, 0.05], atol=1e-9
    )


def test_forgetting_with_one_seed_has_no_interval_and_keeps_its_p():
    recalls, tests = _seed_tables(0.2, 0.6, 0.01)
    across = seed_forgetting({0: recalls}, {0: tests})
    assert across["diff_low"].isna().all() and (across["n_seeds"] == 1).all()
    np.testing.assert_allclose(across["diff_mean"], -0.4)
    np.testing.assert_allclose(across["p_combined"], 0.01)


def test_findings_compare_with_the_fully_frozen_level_in_the_source_tasks_classes():
    """A paper-ViT-like study (levels 0, 3 and 13, the last fully frozen) of a manifest pair with
    three source classes: the findings compare b0 and b3 with b13, class by class (they were
    empty for any reference but b5, and named AffectNet's eight emotions)."""
    classes = ("calm", "tense", "sleepy")
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1, 2], 20)

    def predictions(accuracy: float) -> pd.DataFrame:
        right = rng.random(true.size) < accuracy
        table = _table(true, np.where(right, true, (true + 1) % 3))
        for c in classes:
            table[f"prob_{c}"] = 1 / 3
        return table

    predicted = {
        s: {"base": predictions(0.9), "b0": predictions(0.6), "b3": predictions(0.7)}
        | {"b13": predictions(0.9)}
        for s in (0, 1)
    }
    by_seed = {s: forgetting_tables(p, exact_below=25) for s, p in predicted.items()}
    logit, mixed = seed_findings(by_seed, predicted, mixed_freeze=(0,), alpha=0.05)
    assert sorted(set(logit["model"])) == ["b0", "b3"]
    assert list(logit["emotion"].unique()) == list(classes)
    assert logit["logit_diff_mean"].notna().all()
    assert list(mixed["model"].unique()) == ["b0"] and list(mixed["emotion"]) == list(classes)
    assert mixed["p"].notna().all()
