"""The report's findings section from hand-made tables: intervals, MDE, mixed p and CKA figure."""

import pandas as pd

from auforget.stages.report.findings import (
    FindingsEvidence,
    logit_table,
    reset_table,
    section_findings,
)

NAN = float("nan")


def _logit(n_seeds: int) -> pd.DataFrame:
    low, high, m = (-0.9, -0.1, 0.35) if n_seeds > 1 else (NAN, NAN, NAN)
    return pd.DataFrame(
        [
            {
                "emotion": "contempt",
                "model": "b0",
                "n_seeds": n_seeds,
                "logit_excess_mean": -0.5,
                "logit_excess_low": low,
                "logit_excess_high": high,
                "logit_excess_mde": m,
            },
            {
                "emotion": "surprise",
                "model": "b0",
                "n_seeds": n_seeds,
                "logit_excess_mean": 0.2,
                "logit_excess_low": low,
                "logit_excess_high": high,
                "logit_excess_mde": m,
            },
        ]
    )


def test_logit_table_shows_interval_and_mde_or_says_undefined():
    shown = logit_table(_logit(5)).set_index("emotion")
    assert shown.at["contempt", "b0 excess [95%]"] == "-0.50 [-0.90, -0.10]"
    assert shown.at["contempt", "b0 MDE"] != "undefined"
    one = logit_table(_logit(1)).set_index("emotion")
    assert one.at["contempt", "b0 excess [95%]"] == "-0.50 [n/a]"
    assert one.at["contempt", "b0 MDE"] == "undefined"


def test_section_shows_every_part_and_the_frozen_check():
    mixed = pd.DataFrame(
        {
            "model": ["b0", "b0"],
            "emotion": ["contempt", "surprise"],
            "coef": [-0.4, 0.1],
            "sd": [0.1, 0.1],
            "p": [6e-5, 0.3],
            "n_seeds": [1, 1],
        }
    )
    cka = pd.DataFrame({"k": ["0", "5"], "block": [1, 1], "cka": [0.9, 1.0]})
    ev = FindingsEvidence("run-f", _logit(1), mixed, "run-c", cka, b"\x89PNG", 1.0, "")
    body = section_findings(ev, alpha=0.05).body
    assert "-0.50 [n/a]" in body and "undefined" in body
    assert "mixed_p_&lt;emotion&gt;_b&lt;k&gt;" in body and "seed term is left out" in body
    assert "reads 1.0, as it must" in body and "no noise floor" in body
    assert "data:image/png;base64" in body
    broken = FindingsEvidence(
        cka=cka, cka_png=None, cka_frozen_ok=0.0, cka_problems="FreezeB3 block 2"
    )
    assert "does not read 1.0" in section_findings(broken, 0.05).body
    assert not section_findings(None, 0.05).available


def test_reset_table_marks_the_holm_significant_gains_and_shows_freezeb0s_recall():
    reset = pd.DataFrame(
        {
            "block": [1, 1, 5, 5],
            "emotion": ["contempt", "surprise", "contempt", "surprise"],
            "n": [20, 20, 20, 20],
            "recall": [0.6, 0.8, 0.9, 0.8],
            "recall_b0": [0.6, 0.8, 0.6, 0.8],
            "gain": [0.0, 0.0, 0.3, 0.0],
            "pvalue": [1.0, 1.0, 0.001, 1.0],
            "pvalue_holm": [1.0, 1.0, 0.002, 1.0],
        }
    )
    shown = reset_table(reset, 0.05).set_index("given back")
    assert shown.at["block 5", "contempt"] == "+0.300*"
    assert shown.at["block 1", "contempt"] == "+0.000"
    assert shown.at["FreezeB0's recall", "contempt"] == 0.6
    cka = pd.DataFrame({"k": ["0"], "block": [1], "cka": [0.9]})
    body = section_findings(FindingsEvidence(cka=cka, reset=reset), 0.05).body
    assert "given back one base block" in body and "+0.300*" in body


def test_withdrawn_mcnemar_verdicts_leave_the_reset_table_unmarked():
    reset = pd.DataFrame(
        {
            "block": [2],
            "emotion": ["neutral"],
            "n": [200],
            "recall": [0.8],
            "recall_b0": [0.695],
            "gain": [0.105],
            "pvalue": [0.0007],
            "pvalue_holm": [0.03],
        }
    )
    cka = pd.DataFrame({"k": ["0"], "block": [1], "cka": [0.9]})
    ev = FindingsEvidence(cka=cka, reset=reset)
    assert "+0.105*" in section_findings(ev, 0.05).body
    body = section_findings(ev, 0.05, withdrawn="three significant").body
    assert "+0.105*" not in body and "+0.105" in body and "verdicts are withdrawn" in body
