"""The report's "Findings" section: what fine-tuning forgot, with intervals and no verdict.

It shows the forgetting run's logit-scale excess with its seed interval and minimum detectable
effect (logit_excess.csv), the per-image mixed logistic model's p-values (mixed_logistic.csv) and
the cka run's block-by-block similarity figure (cka.png, cka.csv) and its block reset (reset.csv,
reset.png: FreezeB0 given back one base block at a time). Pure functions of the tables
and figure, as the other sections; `findings_evidence` downloads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.entities import Run

from auforget.core import artifacts
from auforget.data.study_names import PAPER_WORDS, TaskWords
from auforget.stages.report import lookup
from auforget.stages.report.render import Section, esc, fmt, image, missing, runs_line, table
from auforget.stages.report.sections import TITLES, named_columns

ANCHOR = "findings"
TITLE = TITLES[ANCHOR]


@dataclass(frozen=True)
class FindingsEvidence:
    forgetting_run: str | None = None
    logit: pd.DataFrame | None = None
    mixed: pd.DataFrame | None = None
    cka_run: str | None = None
    cka: pd.DataFrame | None = None
    cka_png: bytes | None = None
    cka_frozen_ok: float | None = None
    cka_problems: str = ""
    survey_run: str | None = None
    survey: pd.DataFrame | None = None
    reset: pd.DataFrame | None = None
    reset_png: bytes | None = None


def findings_evidence(
    forgetting: Run | None, cka: Run | None, folder: Path, survey: Run | None = None
) -> FindingsEvidence:
    """Download what the section shows from the forgetting, cka and AU-survey runs (any may be
    None)."""
    return FindingsEvidence(
        forgetting.info.run_id if forgetting else None,
        lookup._csv(forgetting, artifacts.LOGIT_EXCESS_CSV, folder) if forgetting else None,
        lookup._csv(forgetting, artifacts.MIXED_LOGISTIC_CSV, folder) if forgetting else None,
        cka.info.run_id if cka else None,
        lookup._csv(cka, artifacts.CKA_CSV, folder, dtype={"k": str}) if cka else None,
        lookup._bytes(cka, artifacts.CKA_PNG, folder) if cka else None,
        cka.data.metrics.get(artifacts.CKA_FROZEN_OK) if cka else None,
        cka.data.tags.get("auforget.cka_frozen_problems", "") if cka else "",
        survey.info.run_id if survey else None,
        lookup._csv(survey, artifacts.PROBE_SURVEY_CSV, folder) if survey else None,
        lookup._csv(cka, artifacts.RESET_CSV, folder) if cka else None,
        lookup._bytes(cka, artifacts.RESET_PNG, folder) if cka else None,
    )


def _interval(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:+.2f} [n/a]"
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def logit_table(logit: pd.DataFrame) -> pd.DataFrame:
    """Emotion x FreezeBk: the logit excess with its interval, and the MDE at the seeds."""
    rows = {}
    for r in logit.itertuples():
        row = rows.setdefault(r.emotion, {"emotion": r.emotion})
        row[f"{r.model} excess [95%]"] = _interval(
            r.logit_excess_mean, r.logit_excess_low, r.logit_excess_high
        )
        row[f"{r.model} MDE"] = (
            fmt(r.logit_excess_mde) if np.isfinite(r.logit_excess_mde) else "undefined"
        )
    return pd.DataFrame(list(rows.values()))


def reset_table(reset: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Block given back x emotion: the recall gained over FreezeB0, * where McNemar against
    FreezeB0 (Holm across the block's emotions) is below alpha; FreezeB0's own recall last."""
    rows = []
    for block, part in reset.groupby("block", sort=True):
        row = {"given back": f"block {block}"}
        for r in part.itertuples():
            row[r.emotion] = f"{r.gain:+.3f}" + ("*" if r.pvalue_holm < alpha else "")
        rows.append(row)
    first = reset[reset["block"] == reset["block"].min()]
    rows.append({"given back": "FreezeB0's recall", **dict(zip(first.emotion, first.recall_b0))})
    return pd.DataFrame(rows)


def mixed_table(mixed: pd.DataFrame) -> pd.DataFrame:
    shown = mixed[["model", "emotion", "coef", "sd", "p"]].rename(
        columns={"coef": "logit effect Bk - B5", "sd": "posterior sd"}
    )
    return shown


def section_findings(
    ev: FindingsEvidence | None,
    alpha: float,
    problem: str = "",
    words: TaskWords = PAPER_WORDS,
    withdrawn: str = "",
) -> Section:
    """`withdrawn`: as for the forgetting section; the block reset's McNemar marks go too."""
    one, many = esc(words.source_class), esc(words.sources)
    if ev is None or all(x is None for x in (ev.logit, ev.mixed, ev.cka, ev.survey)):
        return Section(
            ANCHOR,
            TITLE,
            missing("auforget forgetting && auforget cka", problem),
            False,
        )
    parts = [
        runs_line(
            **{
                k: v
                for k, v in (
                    ("forgetting", ev.forgetting_run),
                    ("cka", ev.cka_run),
                    ("AU survey", ev.survey_run),
                )
                if v is not None
            }
        ),
        "<p>What SGD does to the network's features is not known by construction, so nothing here "
        "passes or fails: each number is a finding with its interval.</p>",
    ]
    if ev.logit is not None and len(ev.logit):
        n = int(ev.logit["n_seeds"].max())
        parts += [
            f"<h3>Each {one}'s recall change beyond the other {many}, on the logit scale</h3>",
            "<p>Per seed, logit(recall of FreezeB<i>k</i>) - logit(recall of FreezeB5) for the "
            f"{one}, minus the other {many}' mean of the same, with recalls taken as "
            "(correct + 0.5) / (n + 1); mean over seeds with a 95% t interval. The logit scale "
            f"was declared before analysis: it lets a well-recognised {one} lose as much "
            f"evidence as a poorly recognised one. Below zero, the {one} lost more than the "
            "others. MDE: the smallest mean excess a two-sided t-test over the study's "
            f"{n} seed{'s' if n != 1 else ''} detects with 80% power at alpha {esc(alpha)}, "
            "(t<sub>1-&alpha;/2, n-1</sub> + t<sub>0.8, n-1</sub>) sd / &radic;n; undefined with "
            "one seed.</p>",
            table(named_columns(logit_table(ev.logit), words)),
        ]
    if ev.mixed is not None and len(ev.mixed):
        seeds = int(ev.mixed["n_seeds"].max())
        parts += [
            "<h3>Per-image mixed logistic model across seeds</h3>",
            "<p><code>correct ~ model &times; emotion + (1|seed) + (1|image)</code> on every test "
            "image of FreezeB<i>k</i> and FreezeB5 (statsmodels' BinomialBayesMixedGLM, "
            f"variational Bayes); per {one}, the Bk - B5 effect on the logit scale, its "
            f"posterior sd and a two-sided normal p ({seeds} seed{'s' if seeds != 1 else ''}"
            + ("; the seed term is left out with one seed" if seeds < 2 else "")
            + "). Metrics <code>mixed_p_&lt;emotion&gt;_b&lt;k&gt;</code>.</p>",
            table(named_columns(mixed_table(ev.mixed), words), p_columns=("p",), alpha=alpha),
        ]
    if ev.survey is not None and len(ev.survey):
        shown = ev.survey[
            [
                c
                for c in (
                    "au",
                    "variant",
                    "n_positive",
                    "f1_b5",
                    "f1_bk",
                    "drop",
                    "drop_low",
                    "drop_high",
                    "p_holm",
                    "note",
                )
                if c in ev.survey
            ]
        ]
        parts += [
            "<h3>Concept probes of every drawn AU: F1 of FreezeB5 minus F1 of FreezeB<i>k</i></h3>",
            "<p>Each AU's linear probe on features extracted once per model (fewer CV seeds than "
            "the two headline probes); the interval is over CV seeds, the p the corrected "
            "resampled t-test, Holm-corrected across the AUs. Whether a lost AU is specific reads "
            "against the other AUs' drops.</p>",
            table(shown, p_columns=("p_holm",), alpha=alpha),
        ]
    if ev.cka is not None and len(ev.cka):
        check = (
            "every block a FreezeB<i>k</i> froze reads 1.0, as it must"
            if ev.cka_frozen_ok == 1.0
            else "<strong>a frozen block does not read 1.0</strong>: "
            + esc(ev.cka_problems or "see the cka run")
        )
        parts += [
            "<h3>How much each block changed: debiased linear CKA with the base "
            f"{esc(words.source)} model</h3>",
            f"<p>Each block's output on the {esc(words.source)} test split, base "
            f"{esc(words.source)} model against {esc(words.target)} model FreezeB<i>k</i> "
            "(unbiased HSIC averaged over minibatches, Nguyen et al. 2021). "
            f"Built-in check: {check}."
            + (
                " The last row compares two seeds' base models: the noise floor."
                if "floor" in set(ev.cka["k"])
                else " With one seed there is no noise floor (it needs two seeds' base models)."
            )
            + "</p>",
            image(ev.cka_png, "CKA of each block, FreezeBk x block") if ev.cka_png else "",
        ]
    if ev.reset is not None and len(ev.reset):
        parts += [
            "<h3>Which block's change costs which class: FreezeB0 given back one base block</h3>",
            "<p>The first seed's FreezeB0 with block <i>j</i> (numbered from 1) of the base "
            f"{esc(words.source)} model put back, its output layers retrained on "
            f"{esc(words.source)} by the retrain recipe and seed, as FreezeB0's own: each "
            "cell is the recall gained over FreezeB0 on the whole test split "
            + (
                "(no cell is marked: the McNemar verdicts are withdrawn, see the forgetting "
                "section). "
                if withdrawn
                else "(* McNemar against FreezeB0, Holm across every block and class, p &lt; "
                f"{fmt(alpha)}). "
            )
            + "The same seed in every arm, so what differs beyond the block is the heads' "
            "training noise. A lead, not a proof: blocks interact.</p>",
            table(reset_table(ev.reset, 0.0 if withdrawn else alpha)),
            image(ev.reset_png, "Recall gained, block given back x class") if ev.reset_png else "",
        ]
    return Section(ANCHOR, TITLE, "\n".join(p for p in parts if p), True)
