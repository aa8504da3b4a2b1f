"""The report's sections, each a pure function from the numbers, tables and figures it shows
(plain dataclasses filled by `lookup`) to a `Section`: testable from hand-made tables.

An input of None means the stage behind the section has not run; the section then says which
command to run instead of showing anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from auforget.analysis import instrument_checks
from auforget.analysis.stats import seed_interval, top_share
from auforget.core import artifacts
from auforget.core.config import EMOTIONS, FREEZE_LEVELS
from auforget.data.study_names import PAPER_WORDS, TaskWords, capitalised
from auforget.stages.report.render import Section, esc, image, missing, runs_line, table
from auforget.tracking import registry

TOP_REGIONS = 5  # rows of the region ranking shown per source class
# probes-b<k>-au<au> (native data) or probes-b<k>-<concept> (manifest data); not a later seed's
PROBE_STAGE = re.compile(r"^probes-b(\d+)-(?!.*-seed\d+$)(.+)$")
NAN = float("nan")


def titles(words: TaskWords = PAPER_WORDS) -> dict[str, str]:
    """Each section's title in the study's words (the paper's for native data)."""
    return {
        "table1": f"Table 1: the {words.target} models FreezeB0\u2013B5 ({words.target_data} "
        "test set)",
        "emotion": f"The base {words.source} model ({words.source_data} test set)",
        "forgetting": f"Forgetting: {words.source} recall after {words.target} transfer, "
        "McNemar tests",
        "saliency": f"LRP difference maps and the {words.ranking_title}",
        "probes": f"Concept probes on {words.concept_data}: is the {words.concept} still encoded?",
        "tradeoff": f"The {words.target} / {words.source} trade-off",
        "champion": "The promoted model",
        "findings": "Findings: what fine-tuning forgot, with intervals and no verdict",
        "seeds": "Across training seeds: means with 95% intervals",
        "controls": "Instrument checks: a loss made by construction, and a sham",
        "planted": "Planted truth: the synthetic world's design, beside what the study measured",
    }


TITLES = titles()  # the paper's
RANKING_SHOWN = (
    "emotion",
    "region",
    "aus",
    "mass_share",
    "reference_share",
    "null_share",
    "effect_size",
    "p_value",
    "p_holm",
    "n_images",
)


@dataclass(frozen=True)
class ModelRun:
    """A registered model version and the metrics of the run that made it."""

    version: str
    run_id: str
    metrics: Mapping[str, float]
    frozen_blocks: object = ""  # transfer.freeze as the run logged it


@dataclass(frozen=True)
class ForgettingEvidence:
    run_id: str
    recalls_png: bytes | None = None
    recalls: pd.DataFrame | None = None
    vs_b5: pd.DataFrame | None = None
    pairwise: pd.DataFrame | None = None
    heads: str | None = None  # the retrains' retrain.heads, as the forgetting run recorded it


@dataclass(frozen=True)
class SaliencyEvidence:
    run_id: str
    stage: str  # saliency-b<k>
    notes: str | None = None
    ranking: pd.DataFrame | None = None
    grids: dict[str, bytes] = field(default_factory=dict)  # emotion -> PNG, in display order
    attribution: str = ""  # the run's auforget.attribution tag (LRP, or Integrated Gradients)


@dataclass(frozen=True)
class ProbeEvidence:
    run_id: str
    stage: str  # probes-b<k>-au<au>
    metrics: Mapping[str, float]
    variant: str = ""
    conclusion: str = ""
    png: bytes | None = None


@dataclass(frozen=True)
class TradeoffEvidence:
    run_id: str
    png: bytes | None = None
    table: pd.DataFrame | None = None
    rule: str | None = None


@dataclass(frozen=True)
class ChampionEvidence:
    version: str
    run_id: str
    tags: Mapping[str, str]
    promoted: str | None = None  # what the newest promote run chose, to catch a stale alias


def probe_order(stage: str) -> tuple[int, int | str]:
    """(k, au) of a probes-b<k>-au<au> stage name; (k, concept) of probes-b<k>-<concept>."""
    k, concept = PROBE_STAGE.match(stage).groups()
    if re.fullmatch(r"au\d+", concept):
        return int(k), int(concept[2:])
    return int(k), concept


def probe_sort_key(stage: str) -> tuple:
    """Probe stages by k, then AU number (native data), then concept name (manifest data)."""
    k, concept = probe_order(stage)
    return (k, 0, concept, "") if isinstance(concept, int) else (k, 1, 0, concept)


_NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def _number(n: int) -> str:
    """A count as the page's sentences write it ("eight emotions")."""
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def _others(n: int, words: TaskWords) -> str:
    """The classes other than one of `n`, counted where there are several ("seven emotions")."""
    return f"{_number(n - 1)} {words.sources}" if n > 2 else words.sources


def named_columns(frame: pd.DataFrame, words: TaskWords) -> pd.DataFrame:
    """A table as shown: the artifacts' `emotion` column (a name scripts read) under the source
    task's word."""
    return frame.rename(columns={"emotion": words.source}) if words.source != "emotion" else frame


def _unavailable(
    anchor: str, command: str, reason: str = "", words: TaskWords = PAPER_WORDS
) -> Section:
    return Section(anchor, titles(words)[anchor], missing(command, reason), False)


def _classes(metrics: Mapping[str, float], known: tuple[str, ...]) -> tuple[str, ...]:
    """The classes a model's test metrics name (test_recall_<class>): `known`'s order when they
    are the study's (native data), the metrics' own names otherwise (manifest data)."""
    found = {k[len("test_recall_") :] for k in metrics if k.startswith("test_recall_")}
    found.discard("macro")
    if not found or found <= set(known):
        return known
    return tuple(sorted(found))


def section_pain(
    models: Mapping[int, ModelRun], champion: str | None, words: TaskWords = PAPER_WORDS
) -> Section:
    """Table 1 from the pain models by number of frozen blocks; `champion` = the champion's
    version."""
    if not models:
        return _unavailable("table1", "auforget transfer --freeze <i>  (i = 0..5)", words=words)
    rows = []
    for i, model in sorted(models.items()):
        classes = _classes(model.metrics, ("pain", "no_pain"))
        row = {
            "model": f"FreezeB{i}" + (" \u2605" if model.version == champion else ""),
            "frozen blocks": model.frozen_blocks,
            "version": model.version,
        }
        for measure in ("precision", "recall", "f1"):
            for cls in (*classes, "macro"):
                row[f"{measure} {cls}"] = model.metrics.get(
                    artifacts.test_metric(measure, cls), NAN
                )
        row["accuracy"] = model.metrics.get(artifacts.test_metric("accuracy"), NAN)
        row["run"] = model.run_id
        rows.append(row)
    body = table(pd.DataFrame(rows))
    rule = f" ({esc(words.target_rule)})" if words.target_rule else ""
    body += (
        f"<p>Test-set precision, recall and F1 per class{rule} and their macro average, for the "
        f"{esc(words.target)} model with the first <i>i</i> conv blocks frozen during transfer "
        f"(<code>{registry.PAIN_MODEL}@freezeb&lt;i&gt;</code>). \u2605 = the promoted "
        "champion.</p>"
    )
    for i in (i for i in FREEZE_LEVELS if i not in models):
        body += missing(f"auforget transfer --freeze {i}", f"no {registry.PAIN_MODEL}@freezeb{i}")
    return Section("table1", titles(words)["table1"], body, True)


def section_emotion(
    model: ModelRun | None, problem: str = "", words: TaskWords = PAPER_WORDS
) -> Section:
    if model is None:
        return _unavailable("emotion", "auforget emotion", problem, words)
    m = model.metrics
    row = {"model": f"base (version {model.version})"}
    row.update({e: m.get(artifacts.test_metric("recall", e), NAN) for e in _classes(m, EMOTIONS)})
    row["macro recall"] = m.get(artifacts.test_metric("recall", "macro"), NAN)
    row["accuracy"] = m.get(artifacts.test_metric("accuracy"), NAN)
    body = (
        f"<p>Test recall per {esc(words.source_class)} of <code>"
        + esc(f"{registry.EMOTION_MODEL}@{registry.BASE_ALIAS}")
        + f"</code>, the model every {esc(words.target)} model starts from.</p>"
        + table(pd.DataFrame([row]))
        + runs_line(emotion=model.run_id)
    )
    return Section("emotion", titles(words)["emotion"], body, True)


def _mcnemar_vs_b5(
    tests: pd.DataFrame, alpha: float, words: TaskWords, withdrawn: str = ""
) -> list[str]:
    n = tests["emotion"].nunique() if "emotion" in tests else 0
    parts = [
        f"<h3>McNemar's test, FreezeB<i>k</i> vs FreezeB5, per {esc(words.source_class)}</h3>",
        f"<p>Holm-corrected across the {_number(n)} {esc(words.sources)} of each pair; "
        + (
            "no p-value is highlighted: the verdicts are withdrawn (above). "
            if withdrawn
            else f"highlighted: p &lt; {alpha:g} "
        )
        + "(n01 / n10: test images only model_a / only model_b classifies correctly).</p>",
    ]
    if withdrawn:
        alpha = 0.0  # p < 0 never holds: no p-value is marked
    if {"emotion", "model_a", "pvalue_holm"} <= set(tests.columns):
        pivot = tests.pivot(index="emotion", columns="model_a", values="pvalue_holm")
        pivot = pivot.reindex(
            [e for e in EMOTIONS if e in pivot.index]
            + [e for e in pivot.index if e not in EMOTIONS]
        )
        pivot.columns = [f"{c} vs b5 (Holm p)" for c in pivot.columns]
        pivot = named_columns(pivot.reset_index(), words)
        parts.append(table(pivot, p_columns=tuple(c for c in pivot.columns[1:]), alpha=alpha))
    parts.append(
        "<details><summary>all McNemar tests against FreezeB5</summary>"
        + table(named_columns(tests, words), p_columns=("pvalue", "pvalue_holm"), alpha=alpha)
        + "</details>"
    )
    return parts


def _heads_note(heads: str | None) -> str:
    if not heads:
        return ""
    if heads == "1":
        return ", one head per model"
    if "," in heads:
        return f", heads per model differ between the retrains: {esc(heads)}"
    return f", the average of {esc(heads)} heads per model"


def section_forgetting(
    ev: ForgettingEvidence | None,
    alpha: float,
    problem: str = "",
    words: TaskWords = PAPER_WORDS,
    withdrawn: str = "",
) -> Section:
    """`withdrawn`: why the McNemar verdicts do not stand (instrument_checks.mcnemar_withdrawn),
    or "": the p-values are then shown with no significance marked."""
    if ev is None:
        return _unavailable("forgetting", "auforget forgetting", problem, words)
    source = esc(words.source)
    parts = [runs_line(forgetting=ev.run_id)]
    if withdrawn:
        parts.append(
            f"<p><strong>McNemar verdicts withdrawn</strong>: {esc(withdrawn)} (the instrument "
            "checks). The recalls stand; which differences are significant does not.</p>"
        )
        alpha = 0.0
    if ev.recalls_png is not None:
        parts.append(
            image(ev.recalls_png, f"recall per {words.source_class} for each FreezeB model")
        )
    if ev.recalls is not None:
        parts.append(
            f"<h3>Recall per {esc(words.source_class)} (retrained output layers"
            f"{_heads_note(ev.heads)}; "
            f"base = the {source} model itself)</h3>"
        )
        parts.append(table(named_columns(ev.recalls, words)))
    if ev.vs_b5 is not None:
        parts.extend(_mcnemar_vs_b5(ev.vs_b5, alpha, words, withdrawn))
    else:
        parts.append(
            missing(
                "auforget forgetting", f"the forgetting run has no {artifacts.MCNEMAR_VS_B5_CSV}"
            )
        )
    if ev.pairwise is not None:
        pairs = ev.pairwise
        n_sig = int((pairs["pvalue_holm"] < alpha).sum()) if "pvalue_holm" in pairs else 0
        count = "verdicts withdrawn" if withdrawn else f"{n_sig} of {len(pairs)} significant"
        parts.append(
            f"<details><summary>pairwise McNemar tests between all seven models ({count} "
            "after Holm)</summary>"
            + table(pairs, p_columns=("pvalue", "pvalue_holm"), alpha=alpha)
            + "</details>"
        )
    return Section("forgetting", titles(words)["forgetting"], "\n".join(parts), True)


def _ranking_tops(ranking: pd.DataFrame, alpha: float, words: TaskWords) -> list[str]:
    """The TOP_REGIONS regions with the largest effect per source class, the pooled "all"
    last."""
    if ranking.empty:
        return [f"<p>The {esc(words.ranking)} is empty (no selected image had face landmarks).</p>"]
    parts = []
    columns = [c for c in RANKING_SHOWN if c in ranking.columns]
    labels = list(dict.fromkeys(ranking["emotion"])) if "emotion" in ranking else [None]
    for label in sorted(labels, key=lambda e: (e == "all", str(e))):
        rows = ranking if label is None else ranking[ranking["emotion"] == label]
        rows = rows.sort_values("effect_size", ascending=False, na_position="last").head(
            TOP_REGIONS
        )
        parts.append(
            f"<h3>Top {TOP_REGIONS} {esc(words.regions)}: "
            f"{esc(label if label is not None else 'all images')}</h3>"
        )
        parts.append(
            table(named_columns(rows[columns], words), p_columns=("p_value", "p_holm"), alpha=alpha)
        )
    return parts


def section_saliency(
    ev: SaliencyEvidence | None,
    alpha: float,
    problem: str = "",
    words: TaskWords = PAPER_WORDS,
) -> Section:
    if ev is None:
        return _unavailable("saliency", "auforget saliency", problem, words)
    k = esc(ev.stage.rsplit("-b", 1)[-1])
    parts = [
        f"<p>Test images that FreezeB5 classifies correctly and FreezeB{k} does not: LRP "
        f"relevance of both models for the true class and their difference (B5 &minus; B{k}, "
        f"positive part): where FreezeB5 still finds evidence the {esc(words.target)} transfer "
        "removed. The ranking measures how much of the difference falls in each "
        f"{esc(words.region)} "
        "(by default beyond FreezeB5's own share of relevance there, <b>reference_share</b>, so "
        "that places every map lights up do not win by default; the notes say which) against the "
        "same region moved elsewhere on the face (effect size; p one-sided Monte Carlo, "
        f"Holm-corrected across regions; highlighted: p &lt; {alpha:g}).</p>",
        runs_line(**{ev.stage: ev.run_id}),
    ]
    if ev.attribution:  # Integrated Gradients for a backbone without an LRP rule, said plainly
        parts.insert(1, f"<p><b>Attribution method: {esc(ev.attribution)}.</b></p>")
    if ev.notes is not None:
        parts.append(f"<pre>{esc(ev.notes.strip())}</pre>")
    if ev.ranking is not None:
        parts.extend(_ranking_tops(ev.ranking, alpha, words))
    else:
        parts.append(
            missing(
                f"auforget saliency --k {k}", f"the saliency run has no {artifacts.AU_RANKING_CSV}"
            )
        )
    for emotion, png in ev.grids.items():
        parts.append(f"<h3>{esc(emotion)}: input | FreezeB5 | FreezeB{k} | B5 &minus; B{k}</h3>")
        parts.append(image(png, f"LRP maps for {emotion}"))
    return Section("saliency", titles(words)["saliency"], "\n".join(parts), True)


def _probe_row(ev: ProbeEvidence) -> dict[str, object]:
    k, au = probe_order(ev.stage)
    m, bk = ev.metrics, f"b{k}"
    return {
        "probe": ev.stage,
        ("AU" if isinstance(au, int) else "concept"): au,
        "faces": ev.variant,
        "F1 B5": m.get(artifacts.probe_f1_mean("b5"), NAN),
        "F1 Bk": m.get(artifacts.probe_f1_mean(bk), NAN),
        "t": m.get(artifacts.PROBE_T, NAN),
        "p": m.get(artifacts.PROBE_P, NAN),
        "t corrected": m.get(artifacts.PROBE_T_CORRECTED, NAN),
        "p corrected": m.get(artifacts.PROBE_P_CORRECTED, NAN),
        "baseline F1 B5": m.get(artifacts.probe_baseline("b5"), NAN),
        "baseline F1 Bk": m.get(artifacts.probe_baseline(bk), NAN),
        "run": ev.run_id,
    }


def section_probes(
    probes: list[ProbeEvidence],
    alpha: float,
    problem: str = "",
    words: TaskWords = PAPER_WORDS,
) -> Section:
    if not probes:
        return _unavailable("probes", "auforget probes", problem, words)
    details = []
    for ev in probes:
        k, au = probe_order(ev.stage)
        concept = f"AU{au}" if isinstance(au, int) else au
        details.append(f"<h3>{esc(ev.stage)}: {esc(concept)}, FreezeB5 vs FreezeB{k}</h3>")
        if ev.conclusion:
            details.append(f"<p>{esc(ev.conclusion)}</p>")
        if ev.png is not None:
            details.append(image(ev.png, f"probe F1 per seed, {ev.stage}"))
    body = (
        "<p>A linear SVM per model on the last conv block's features, the same stratified folds "
        "for both, repeated over many seeds. <b>t / p</b>: the paired t-test of the study over "
        "the per-seed mean F1; <b>t corrected / p corrected</b>: the corrected resampled t-test "
        "(Nadeau &amp; Bengio), which allows for the overlap of training sets across "
        "repetitions; <b>baseline</b>: mean F1 of the same probe on shuffled labels, the chance "
        "level. Bk = the model named in the probe (FreezeB<i>k</i>). Highlighted: p &lt; "
        f"{alpha:g}.</p>"
        + table(
            pd.DataFrame([_probe_row(ev) for ev in probes]),
            p_columns=("p", "p corrected"),
            alpha=alpha,
        )
        + "\n".join(details)
    )
    return Section("probes", titles(words)["probes"], body, True)


def section_tradeoff(
    ev: TradeoffEvidence | None, problem: str = "", words: TaskWords = PAPER_WORDS
) -> Section:
    if ev is None:
        return _unavailable("tradeoff", "auforget promote", problem, words)
    parts = [runs_line(promote=ev.run_id)]
    if ev.png is not None:
        parts.append(
            image(
                ev.png,
                f"{words.target} recall against {words.source} recall per FreezeB model",
            )
        )
    if ev.table is not None:
        # the CSV's pain_* columns (a file scripts read) shown under the target task's name
        parts.append(
            table(
                ev.table.rename(
                    columns=lambda c: f"{words.target}_{c[5:]}" if c.startswith("pain_") else c
                )
            )
        )
    if ev.rule is not None:
        parts.append(
            "<p>The rule and its choice "
            f"({artifacts.RULE_TXT}):</p><pre>{esc(ev.rule.strip())}</pre>"
        )
    return Section("tradeoff", titles(words)["tradeoff"], "\n".join(parts), True)


def _as_number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def section_champion(ev: ChampionEvidence | None, problem: str = "") -> Section:
    if ev is None:
        return _unavailable("champion", "auforget promote", problem)
    tags = dict(ev.tags)
    name = f"FreezeB{tags['freeze_blocks']}" if "freeze_blocks" in tags else f"version {ev.version}"
    parts = [
        f"<p><strong>{esc(name)}</strong> is "
        f"<code>{esc(registry.PAIN_MODEL)}@{registry.CHAMPION_ALIAS}</code> (version "
        f"{esc(ev.version)}).</p>"
    ]
    if artifacts.CHAMPION_RULE_TAG in tags:
        parts.append(f"<p>Why: {esc(tags[artifacts.CHAMPION_RULE_TAG])}.</p>")
    rows = [
        {"tag": k, "value": _as_number(v)}
        for k, v in sorted(tags.items())
        if k.startswith(artifacts.CHAMPION_TAG_PREFIX) and k != artifacts.CHAMPION_RULE_TAG
    ]
    if rows:
        parts.append(table(pd.DataFrame(rows)))
    if ev.promoted and ev.promoted != name:
        parts.append(
            f'<p class="note">The newest promote run chose {esc(ev.promoted)}, but the alias '
            f"points at {esc(name)}: run <code>auforget promote</code> again.</p>"
        )
    parts.append(runs_line(**{f"{registry.PAIN_MODEL} version {ev.version}": ev.run_id}))
    return Section("champion", TITLES["champion"], "\n".join(parts), True)


# ---------------------------------------------------------------- across training seeds


@dataclass(frozen=True)
class SeedEvidence:
    """What the across-seed section shows, per seed of study.seeds."""

    seeds: tuple[int, ...]
    forgetting: pd.DataFrame | None = None  # forgetting_seeds.csv of the forgetting run
    probe_diffs: Mapping[str, Mapping[int, float]] = field(
        default_factory=dict
    )  # "B0 vs B5, AU14" -> seed -> F1 B5 - Bk
    top_regions: Mapping[str, Mapping[int, str]] = field(
        default_factory=dict
    )  # "surprise (B0 vs B5)" -> seed -> region
    stability: str | None = None  # the champion's champion_seed_stability tag
    run_ids: Mapping[str, str] = field(default_factory=dict)


def _with_interval(values: list[float]) -> dict[str, object]:
    ci = seed_interval(values)
    shown = f"[{ci.low:+.3f}, {ci.high:+.3f}]" if ci.available else "n/a (one seed)"
    return {"n_seeds": ci.n, "mean": ci.mean, "95% interval": shown}


def seed_forgetting_table(frame: pd.DataFrame) -> pd.DataFrame:
    """forgetting_seeds.csv as shown: one row per emotion; per FreezeBk the mean recall difference
    Bk - B5 with its interval, and the combined test's Holm p."""
    rows: dict[str, dict[str, object]] = {}
    for row in frame.itertuples():
        interval = (
            f"[{row.diff_low:+.3f}, {row.diff_high:+.3f}]"
            if pd.notna(row.diff_low)
            else "[n/a (one seed)]"
        )
        cells = rows.setdefault(row.emotion, {"emotion": row.emotion})
        cells[f"{row.model} - b5"] = f"{row.diff_mean:+.3f} {interval}"
        cells[f"{row.model} p (Holm)"] = row.p_combined_holm
    return pd.DataFrame(list(rows.values()))


def seed_excess_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """forgetting_seeds.csv's excess_* columns as shown (None for a forgetting run from before
    them)."""
    if "excess_mean" not in frame.columns:
        return None
    rows: dict[str, dict[str, object]] = {}
    for row in frame.itertuples():
        if pd.isna(row.excess_mean):
            shown = "n/a (no recall)"
        else:
            shown = f"{row.excess_mean:+.3f} " + (
                f"[{row.excess_low:+.3f}, {row.excess_high:+.3f}]"
                if pd.notna(row.excess_low)
                else "[n/a (one seed)]"
            )
        rows.setdefault(row.emotion, {"emotion": row.emotion})[f"{row.model} - b5"] = shown
    return pd.DataFrame(list(rows.values()))


def seed_probe_table(diffs: Mapping[str, Mapping[int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "probe": name,
                **_with_interval(list(by_seed.values())),
                "per seed": " ".join(f"{v:+.3f}" for v in by_seed.values()),
            }
            for name, by_seed in diffs.items()
        ]
    )


def seed_region_table(tops: Mapping[str, Mapping[int, str]]) -> pd.DataFrame:
    """How often each region ranks first across seeds, per emotion."""
    rows = []
    for name, by_seed in tops.items():
        shares = top_share([[region] for region in by_seed.values()])
        rows.append(
            {
                "emotion": name,
                "n_seeds": len(by_seed),
                "top region (share of seeds)": ", ".join(
                    f"{r} {v:.0%}" for r, v in sorted(shares.items(), key=lambda kv: -kv[1])
                ),
            }
        )
    return pd.DataFrame(rows)


def section_seeds(
    ev: SeedEvidence | None,
    alpha: float,
    problem: str = "",
    words: TaskWords = PAPER_WORDS,
) -> Section:
    """Forgetting, probes, AU ranking and promotion as findings about training recipes: each
    seed's number, their mean and a t interval over seeds (n/a with one seed)."""
    if ev is None:
        return _unavailable("seeds", "auforget main", problem, words)
    if ev.forgetting is None or not len(ev.forgetting):
        return _unavailable(
            "seeds",
            "auforget forgetting",
            f"the forgetting run has no {artifacts.FORGETTING_SEEDS_CSV}",
            words,
        )
    n = len(ev.seeds)
    parts = [
        runs_line(**ev.run_ids) if ev.run_ids else "",
        f"<p>{n} training seed{'s' if n != 1 else ''} ({esc(', '.join(map(str, ev.seeds)))}): "
        "every model was trained once per seed. Intervals are two-sided 95% t intervals over "
        "seeds (training randomness); the combined p joins each seed's McNemar test (test-image "
        "sampling) by signed Stouffer, so a difference must point the same way in every seed.</p>",
    ]
    if n < 2:
        parts.append(
            "<p><strong>One seed:</strong> intervals are n/a and the combined p is that seed's "
            "own McNemar p; set <code>study.seeds</code> to several seeds for findings about "
            "recipes.</p>"
        )
    shown = seed_forgetting_table(ev.forgetting)
    parts += [
        "<h3>Forgetting: recall difference FreezeB<i>k</i> - FreezeB5 per "
        f"{esc(words.source_class)}, mean [95% interval]</h3>",
        table(
            named_columns(shown, words),
            p_columns=tuple(c for c in shown.columns if c.endswith("p (Holm)")),
            alpha=alpha,
        ),
    ]
    if (excess := seed_excess_table(ev.forgetting)) is not None:
        parts += [
            f"<h3>The same, minus the other {_others(ev.forgetting['emotion'].nunique(), words)}' "
            "mean difference in each seed</h3>",
            f"<p>Fine-tuning blocks for {esc(words.target)} can cost every "
            f"{esc(words.source_class)} some recall; below zero here, "
            f"{esc(words.a_source_class)} lost more than the others did, which is forgetting "
            "specific to it.</p>",
            table(named_columns(excess, words)),
        ]
    if ev.probe_diffs:
        parts += [
            "<h3>Concept probes: F1 of FreezeB5 minus F1 of FreezeB<i>k</i></h3>",
            table(seed_probe_table(ev.probe_diffs)),
        ]
    if ev.top_regions:
        parts += [
            f"<h3>{esc(capitalised(words.ranking))}: how often each region ranks first</h3>",
            table(named_columns(seed_region_table(ev.top_regions), words)),
        ]
    if ev.stability:
        parts.append(
            "<p>Promotion on seed-averaged recalls; the rule on each seed alone chose the "
            f"champion in {esc(ev.stability)}.</p>"
        )
    return Section("seeds", titles(words)["seeds"], "\n".join(p for p in parts if p), True)


# ---------------------------------------------------------------- planted truth (synthetic data)


@dataclass(frozen=True)
class PlantedEvidence:
    """`planted.compare`'s table and paragraph for FreezeB`k` vs FreezeB5, and the world's truth."""

    k: int
    table: pd.DataFrame  # planted.COLUMNS, one row per expectation
    text: str
    truth: pd.DataFrame | None = None  # planted.planted_truth()
    run_ids: Mapping[str, str] = field(default_factory=dict)
    seeds_table: pd.DataFrame | None = None  # planted.compare_seeds, several seeds only
    seeds_text: str = ""
    association: pd.DataFrame | None = None  # planted.pain_association of the UNBC train split


def section_planted(ev: PlantedEvidence | None, alpha: float, problem: str = "") -> Section:
    """The synthetic world's design beside what the study measured there, as findings: the world
    fixes which AUs pain training can use, not what SGD does with them."""
    if ev is None:
        return _unavailable("planted", "auforget forgetting", problem)
    if not len(ev.table):
        return _unavailable(
            "planted",
            "auforget main",
            f"no forgetting, saliency or probe numbers for FreezeB{ev.k}",
        )

    def shown(checks: pd.DataFrame) -> pd.DataFrame:
        # tables from before the rows became findings carry yes/no; none is shown as a verdict
        return checks.drop(columns=["recovered"], errors="ignore")

    parts = [runs_line(**ev.run_ids) if ev.run_ids else ""]
    if ev.seeds_table is not None and len(ev.seeds_table):
        parts += [
            "<h3>Across training seeds</h3>",
            f"<p>{esc(ev.seeds_text)}</p>",
            table(shown(ev.seeds_table), p_columns=("p",), alpha=alpha),
            "<h3>The first seed's networks</h3>",
        ]
    parts += [
        f"<p>{esc(ev.text)}</p>",
        table(shown(ev.table), p_columns=("p",), alpha=alpha),
        "<p><b>value</b>: the statistic, positive in the planted direction (recall or F1 of "
        f"FreezeB5 minus FreezeB{ev.k}; for a top region its effect size; across seeds the mean "
        "over seeds, and for a top region the share of seeds in which an expected region ranks "
        "first). No row is a verdict: the expected column describes the world's design, and "
        "what SGD does to the network is a finding (the Findings section has its intervals).</p>",
    ]
    if ev.truth is not None:
        parts += [
            "<h3>The planted truth: each emotion's AUs and how the pain data use them</h3>",
            table(ev.truth),
        ]
    if ev.association is not None:
        parts += [
            "<h3>How the pain training frames use each AU, measured</h3>",
            "<p>Share of the UNBC train split's pain and no-pain frames that show each AU, and "
            "its phi coefficient with the pain label: what pain training can exploit, beside "
            "what the generator declares (PSPI, nuisance, other, absent).</p>",
            table(ev.association),
        ]
    return Section("planted", TITLES["planted"], "\n".join(p for p in parts if p), True)


@dataclass(frozen=True)
class ControlsEvidence:
    run_id: str
    metrics: dict[str, float]
    notes: str
    recall: pd.DataFrame | None


CONTROL_FIGURES = {
    "manipulation_pass": (
        "lesion_sensitivity_cut",
        "lesion_other_change_max",
        "negative_sensitivity_cut",
        "negative_variance_ratio",
    ),
    "lesion_recall_pass": ("lesion_recall_drop", "lesion_recall_p_holm"),
    "lesion_maps_pass": ("lesion_maps_region_first", "lesion_maps_n_images"),
    "lesion_probe_pass": (
        "lesion_probe_drop",
        "lesion_probe_p_corrected",
        "lesion_probe_others_median_drop",
    ),
    "negative_recall_pass": ("negative_recall_n_significant", "negative_recall_min_p_holm"),
    "negative_maps_pass": ("negative_maps_region_first", "negative_maps_n_images"),
    "negative_probe_pass": ("negative_probe_drop", "negative_probe_p_corrected"),
}


def section_controls(ev: ControlsEvidence | None, problem: str = "") -> Section:
    """The instruments' verdicts: each flag with its figures; a control whose manipulation check
    failed is void, and says so."""
    if ev is None:
        return _unavailable("controls", "auforget controls", problem)
    m = ev.metrics
    rows = []
    for flag, figures in CONTROL_FIGURES.items():
        side = flag.split("_")[0]
        if flag != "manipulation_pass" and m.get(f"{side}_void") == 1.0:
            verdict = "void (manipulation check failed)"
        elif flag in m:
            verdict = "pass" if m[flag] == 1.0 else "FAIL"
        else:
            verdict = "not measured"
        shown = ", ".join(f"{f} {m[f]:.3g}" for f in figures if f in m)
        rows.append({"check": flag, "verdict": verdict, "figures": shown})
    n_pairs = int(m.get(instrument_checks.NEGATIVE_DRAWS, 1))
    pairs = f" ({n_pairs} pairs, each under its own seed)" if n_pairs > 1 else ""
    parts = [
        runs_line(controls=ev.run_id),
        "<p>A copy of FreezeB5 with one AU erased (its difference directions projected out at "
        "one block's output, or its last blocks retrained to read the AU's faces as the same "
        "faces at rest: controls.lesion) must be found by the retrain with McNemar, the "
        "difference maps and the probe; a random subspace removing the same variance must "
        "not be. The manipulation check comes first, without the instruments; a control "
        "that fails it is void and says nothing about the instruments. "
        f"FreezeB5 against FreezeB5 with its output layers retrained under another seed"
        f"{pairs}: {m.get(instrument_checks.SHAM_N_SIGNIFICANT, NAN):.0f} Holm-significant "
        "emotion(s).</p>",
        table(pd.DataFrame(rows)),
        f"<p>{esc(ev.notes)}</p>" if ev.notes else "",
    ]
    if ev.recall is not None:
        parts += ["<h3>Recall under each control</h3>", table(ev.recall, p_columns=("p", "p_holm"))]
    return Section("controls", TITLES["controls"], "\n".join(p for p in parts if p), True)
