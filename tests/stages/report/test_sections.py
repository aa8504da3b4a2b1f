"""Report sections from hand-made tables and numbers, without MLflow."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from auforget.core import artifacts
from auforget.core.config import EMOTIONS
from auforget.stages.report.sections import (
    ChampionEvidence,
    ForgettingEvidence,
    ModelRun,
    PlantedEvidence,
    ProbeEvidence,
    SaliencyEvidence,
    SeedEvidence,
    TradeoffEvidence,
    section_champion,
    section_emotion,
    section_forgetting,
    section_pain,
    section_planted,
    section_probes,
    section_saliency,
    section_seeds,
    section_tradeoff,
)

PNG = b"\x89PNG\r\n\x1a\n tiny"


def _pain(i: int) -> ModelRun:
    metrics = {
        artifacts.test_metric(m, c): 0.5
        for m in ("precision", "recall", "f1")
        for c in ("pain", "no_pain", "macro")
    }
    metrics[artifacts.test_metric("recall", "pain")] = 0.61 + i / 10
    return ModelRun(str(10 + i), f"run{i}", metrics, frozen_blocks=i)


def test_table1_rows_star_and_missing_models():
    section = section_pain({0: _pain(0), 3: _pain(3)}, champion="13")
    assert section.available and section.anchor == "table1"
    assert "<td>FreezeB3 \u2605</td>" in section.body and "<td>FreezeB0</td>" in section.body
    assert "<td>0.610</td>" in section.body and "<td>0.910</td>" in section.body
    assert "<td>\u2013</td>" in section.body  # no accuracy logged
    for i in (1, 2, 4, 5):
        assert (
            f"run <code>auforget transfer --freeze {i}</code> (no auforget-pain@freezeb{i})"
            in section.body
        )
    assert not section_pain({}, None).available


def test_emotion_recalls_in_class_order():
    metrics = {artifacts.test_metric("recall", e): k / 10 for k, e in enumerate(EMOTIONS)}
    body = section_emotion(ModelRun("4", "erun", metrics)).body
    assert body.index("<th>neutral</th>") < body.index("<th>contempt</th>")
    assert "<td>0.700</td>" in body and "base (version 4)" in body and "erun" in body
    missing = section_emotion(None, "no alias base")
    assert not missing.available and "auforget emotion</code> (no alias base)" in missing.body


def test_forgetting_pivots_holm_p_and_counts_significant_pairs():
    vs_b5 = pd.DataFrame(
        [
            {
                "model_a": f"b{k}",
                "model_b": "b5",
                "emotion": e,
                "pvalue": 0.01,
                "pvalue_holm": 0.02 if (k, e) == (0, "contempt") else 0.5,
            }
            for k in range(2)
            for e in ("surprise", "contempt")
        ]
    )
    section = section_forgetting(
        ForgettingEvidence(
            "frun", PNG, pd.DataFrame({"emotion": ["sad"], "b0": [0.25]}), vs_b5, vs_b5
        ),
        alpha=0.05,
    )
    body = section.body
    assert "<th>b0 vs b5 (Holm p)</th>" in body and "<th>b1 vs b5 (Holm p)</th>" in body
    assert body.index("<td>surprise</td>") < body.index("<td>contempt</td>")  # EMOTIONS order
    assert body.count('<td class="sig">0.020 *</td>') == 3  # pivot, all tests, pairwise
    assert "(1 of 4 significant after Holm)" in body and "data:image/png;base64," in body
    lacking = section_forgetting(ForgettingEvidence("frun"), alpha=0.05).body
    assert f"no {artifacts.MCNEMAR_VS_B5_CSV}" in lacking
    withdrawn = section_forgetting(
        ForgettingEvidence("frun", vs_b5=vs_b5, pairwise=vs_b5),
        alpha=0.05,
        withdrawn="FreezeB5 against FreezeB5' gave 3 Holm-significant emotions",
    ).body
    assert "McNemar verdicts withdrawn" in withdrawn and "3 Holm-significant" in withdrawn
    assert 'class="sig"' not in withdrawn and "(verdicts withdrawn after Holm)" in withdrawn
    assert "<td>0.020</td>" in withdrawn  # the p-values stay, unmarked


@pytest.mark.parametrize(
    ("heads", "said"),
    [
        ("10", "(retrained output layers, the average of 10 heads per model;"),
        ("1", "(retrained output layers, one head per model;"),
        ("1, 10", "heads per model differ between the retrains: 1, 10;"),
        (None, "(retrained output layers; base"),  # a forgetting run from before retrain.heads
    ],
)
def test_forgetting_says_how_many_heads_each_recall_averages(heads, said):
    recalls = pd.DataFrame({"emotion": ["sad"], "b0": [0.25]})
    assert (
        said
        in section_forgetting(
            ForgettingEvidence("frun", recalls=recalls, heads=heads), alpha=0.05
        ).body
    )


def test_saliency_shows_the_top_regions_per_emotion_all_last():
    ranking = pd.DataFrame(
        [
            {
                "emotion": label,
                "region": f"r{j}",
                "aus": "1,2",
                "effect_size": float(j),
                "p_value": 0.01,
                "p_holm": 0.04,
            }
            for label in ("all", "surprise")
            for j in range(7)
        ]
    )
    body = section_saliency(
        SaliencyEvidence("srun", "saliency-b2", "notes <here>", ranking, {"surprise": PNG}),
        alpha=0.05,
    ).body
    assert body.index("Top 5 AU regions: surprise") < body.index("Top 5 AU regions: all")
    surprise = body[body.index("Top 5 AU regions: surprise") : body.index("Top 5 AU regions: all")]
    assert [int(r) for r in re.findall(r"<td>r(\d)</td>", surprise)] == [6, 5, 4, 3, 2]
    assert "notes &lt;here&gt;" in body and "surprise: input | FreezeB5 | FreezeB2" in body
    assert "1,2" in body and "effect_size" in body and "area_share" not in body
    empty = section_saliency(
        SaliencyEvidence("srun", "saliency-b2", ranking=ranking.iloc[:0]), alpha=0.05
    ).body
    assert "The AU ranking is empty" in empty


def test_probes_table_reads_each_probes_own_model():
    metrics = {
        artifacts.probe_f1_mean("b5"): 0.8,
        artifacts.probe_f1_mean("b3"): 0.4,
        artifacts.PROBE_P: 0.001,
        artifacts.PROBE_P_CORRECTED: 0.3,
    }
    body = section_probes(
        [ProbeEvidence("prun", "probes-b3-au14", metrics, "peak", "B5 wins.", PNG)], alpha=0.05
    ).body
    assert "<td>0.800</td>" in body and "<td>0.400</td>" in body and "<td>14</td>" in body
    assert '<td class="sig">0.001 *</td>' in body and "<td>0.300</td>" in body
    assert "probes-b3-au14: AU14, FreezeB5 vs FreezeB3" in body and "B5 wins." in body


def test_tradeoff_and_champion_with_a_stale_alias():
    trade = section_tradeoff(
        TradeoffEvidence("trun", PNG, pd.DataFrame({"model": ["FreezeB1"]}), "rule >= 0\n")
    )
    assert "rule &gt;= 0</pre>" in trade.body and "<td>FreezeB1</td>" in trade.body
    tags = {
        "freeze_blocks": "1",
        artifacts.CHAMPION_RULE_TAG: "the rule",
        "champion_score": "0.6543",
        "champion_pareto_models": "FreezeB0,FreezeB1",
    }
    body = section_champion(ChampionEvidence("7", "crun", tags, promoted="FreezeB4")).body
    assert "<strong>FreezeB1</strong> is <code>auforget-pain@champion</code> (version 7)" in body
    assert (
        "Why: the rule." in body
        and "<td>0.654</td>" in body
        and "<td>FreezeB0,FreezeB1</td>" in body
    )
    assert "The newest promote run chose FreezeB4" in body
    assert (
        "chose"
        not in section_champion(ChampionEvidence("7", "crun", tags, promoted="FreezeB1")).body
    )


def _across(n_seeds: int, low: float, high: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "emotion": "contempt",
                "model": "b0",
                "n_seeds": n_seeds,
                "diffs": "-0.4000 -0.2000",
                "diff_mean": -0.3,
                "diff_low": low,
                "diff_high": high,
                "p_combined": 0.001,
                "p_combined_holm": 0.008,
            }
        ]
    )


def test_seeds_section_shows_means_with_intervals():
    # probe F1 differences 0.1 and 0.3: mean 0.2, t interval [-1.071, 1.471] (worked in
    # tests/test_stats.py)
    ev = SeedEvidence(
        (0, 1),
        _across(2, -1.5706, 0.9706),
        {"B0 vs B5, AU14": {0: 0.1, 1: 0.3}},
        {"contempt (B0 vs B5)": {0: "mouth_corner", 1: "brows"}},
        "1/2 seeds (seed 0: FreezeB1)",
        {"forgetting": "f1"},
    )
    section = section_seeds(ev, alpha=0.05)
    assert section.available and section.anchor == "seeds"
    assert "[-1.571, +0.971]" in section.body and "[-1.071, +1.471]" in section.body
    assert "<td>0.200</td>" in section.body  # the probe mean
    assert "mouth_corner 50%, brows 50%" in section.body and "1/2 seeds" in section.body
    assert 'class="sig">0.008' in section.body  # combined Holm p < alpha
    assert "One seed" not in section.body


def test_seeds_section_shows_forgetting_beyond_the_other_emotions_when_the_run_has_it():
    with_excess = _across(2, -1.5706, 0.9706).assign(
        excess_diffs="-0.3000 -0.1500",
        excess_mean=-0.225,
        excess_low=-1.177965,
        excess_high=0.727965,
    )
    body = section_seeds(SeedEvidence((0, 1), with_excess), alpha=0.05).body
    assert "minus the other emotions' mean difference" in body and "-0.225 [-1.178, +0.728]" in body
    missing = section_seeds(
        SeedEvidence((0, 1), with_excess.assign(excess_mean=float("nan"))), alpha=0.05
    ).body
    assert "n/a (no recall)" in missing and "nan" not in missing.lower().replace("n/a", "")
    older = section_seeds(SeedEvidence((0, 1), _across(2, -1.5706, 0.9706)), alpha=0.05).body
    assert "minus the other seven" not in older and "-0.300 [-1.571, +0.971]" in older


def test_seeds_section_with_one_seed_says_intervals_are_not_available():
    ev = SeedEvidence((0,), _across(1, float("nan"), float("nan")), {"B0 vs B5, AU14": {0: 0.1}})
    body = section_seeds(ev, alpha=0.05).body
    assert "n/a (one seed)" in body and "One seed" in body
    assert not section_seeds(None, alpha=0.05).available


def test_planted_section_shows_each_check_its_outcome_and_the_truth():
    nan = float("nan")
    rows = pd.DataFrame(
        [
            (
                "recall",
                "contempt",
                "FreezeB0 recall below FreezeB5",
                "B5 0.60, B0 0.20",
                "recall B5 - Bk",
                0.4,
                0.004,
                True,
            ),
            (
                "recall (control)",
                "happy",
                "FreezeB0 not significantly below FreezeB5",
                "B5 0.80, B0 0.70",
                "recall B5 - Bk",
                0.1,
                0.7,
                True,
            ),
            (
                "top region",
                "surprise",
                "brows or eyes",
                "mouth, brows, eyes",
                "effect size of mouth",
                1.5,
                nan,
                False,
            ),
            (
                "probe (no expectation)",
                "AU5",
                "none: lids are PSPI's too",
                "F1 B5 0.55, B0 0.57",
                "F1 B5 - Bk",
                -0.02,
                0.69,
                None,
            ),
        ],
        columns=["check", "subject", "expected", "found", "statistic", "value", "p", "recovered"],
    )
    truth = pd.DataFrame(
        [
            {
                "emotion": "contempt",
                "aus": "AU14 (nuisance)",
                "expected": "forgotten",
                "regions": "mouth",
            }
        ]
    )
    section = section_planted(
        PlantedEvidence(
            0, rows, "Recovered 1 of 2 planted findings.", truth, {"forgetting": "run-f"}
        ),
        0.05,
    )
    assert (
        section.available
        and section.anchor == "planted"
        and section.title.startswith("Planted truth")
    )
    body = section.body
    assert "Recovered 1 of 2 planted findings." in body and "run-f" in body
    # an old table's yes/no is not shown: the rows are findings, not verdicts
    assert "<td>yes</td>" not in body and "<td>no</td>" not in body
    assert "recovered" not in body.split("<table")[1] and "none: lids are PSPI" in body
    assert "No row is a verdict" in body
    assert '<td class="sig">0.004 *</td>' in body and '<td class="sig">0.700' not in body
    assert "AU14 (nuisance)" in body and "mouth, brows, eyes" in body
    assert "Across training seeds" not in body and "measured" not in body
    association = pd.DataFrame(
        [
            {
                "AU": 26,
                "declared": "other",
                "pain frames": 0.28,
                "no-pain frames": 0.10,
                "phi with pain": 0.23,
            }
        ]
    )
    body = section_planted(PlantedEvidence(0, rows, "", truth, association=association), 0.05).body
    assert "How the pain training frames use each AU, measured" in body and "<td>0.230</td>" in body
    # several seeds: the across-seed findings come first, the first seed's networks after it
    across = rows.assign(
        found=[
            "mean drop +0.300",
            "mean drop +0.050",
            "mouth 2/3, brows 1/3",
            "mean F1 drop -0.02",
        ],
        recovered=[True, True, False, None],
    )
    body = section_planted(
        PlantedEvidence(
            0,
            rows,
            "Recovered 1 of 2 planted findings.",
            truth,
            {},
            across,
            "Across 3 training seeds. Recovered 1 of 2 planted findings.",
        ),
        0.05,
    ).body
    assert (
        body.index("Across 3 training seeds.")
        < body.index("The first seed's networks")
        < body.index("B5 0.60")
    )
    assert "mouth 2/3, brows 1/3" in body and "<td>yes</td>" not in body


def test_planted_section_without_evidence_says_what_to_run():
    missing = section_planted(None, 0.05)
    assert not missing.available and "auforget forgetting" in missing.body
    empty = section_planted(
        PlantedEvidence(0, pd.DataFrame(columns=["check", "recovered"]), ""), 0.05
    )
    assert not empty.available and "auforget main" in empty.body and "FreezeB0" in empty.body


def test_controls_section_shows_each_flag_with_its_figures_and_void_controls():
    from auforget.stages.report.sections import ControlsEvidence, section_controls

    metrics = {
        "manipulation_pass": 0.0,
        "lesion_manipulation_pass": 1.0,
        "negative_manipulation_pass": 0.0,
        "lesion_void": 0.0,
        "negative_void": 1.0,
        "lesion_sensitivity_cut": 0.62,
        "lesion_recall_pass": 1.0,
        "lesion_recall_drop": 0.14,
        "lesion_recall_p_holm": 0.003,
        "lesion_maps_pass": 0.0,
        "lesion_probe_pass": 1.0,
        "negative_recall_n_significant": 0.0,
        "sham_recall_n_significant": 1.0,
    }
    section = section_controls(ControlsEvidence("run-c", metrics, "AU14 lesion and sham", None))
    body = section.body
    assert section.available and section.title.startswith("Instrument checks")
    assert "run-c" in body and "1 Holm-significant emotion(s)" in body
    assert "<td>lesion_recall_pass</td>" in body and "lesion_recall_drop 0.14" in body
    assert body.count("void (manipulation check failed)") == 3  # the three negative flags
    assert body.count("<td>FAIL</td>") == 2  # manipulation_pass and lesion_maps_pass
    assert body.count("<td>pass</td>") == 2
    empty = section_controls(None, "no controls run")
    assert not empty.available and "auforget controls" in empty.body
    # several draws: the FreezeB5' pairs are counted together and the section says how many
    many = section_controls(
        ControlsEvidence("run-c", {**metrics, "negative_draws": 20.0}, "", None)
    ).body
    assert "(20 pairs, each under its own seed): 1 Holm-significant emotion(s)" in many
