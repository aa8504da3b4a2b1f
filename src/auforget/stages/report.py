"""`report`: one self-contained HTML page with the study's evidence, logged and written to `reports/`.

Sections, each from the runs that hold its numbers (run ids are printed beside every table and
figure, so each number can be found in the MLflow UI):
  Table 1       the six pain models behind auforget-pain@freezeb0..5 (test precision, recall, F1,
                accuracy) and the base emotion model behind auforget-emotion@base;
  forgetting    the newest FINISHED `forgetting` run: recall figure, recalls, McNemar tests vs FreezeB5
                (Holm-corrected) and the pairwise matrix;
  saliency      the newest FINISHED `saliency-b<k>` run: LRP grids and the top of the AU ranking;
  probes        the newest FINISHED run of each `probes-b<k>-au<au>`: both t-tests and the
                shuffled-label baseline;
  trade-off     the newest FINISHED `promote` run: Figure 6 and the trade-off table;
  champion      auforget-pain@champion and the tags that say why it won.

A part whose runs do not exist yet becomes a "not available: run `auforget <stage>`" section
instead of an error. The page has inline CSS, images as base64 data URIs and no scripts or
external links, so it opens in a browser without a network. It is written to
`<report.out>/report.html` and logged as the artifact `report/report.html` of a `report` run.
"""
from __future__ import annotations

import base64
import contextlib
import html
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget import tracking
from auforget.classifier import fingerprint
from auforget.config import EMOTIONS, Params, flat

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
ARTIFACT_DIR = "report"
KEY_META = "auforget-report-key"
TOP_REGIONS = 5          # rows of the AU ranking shown per emotion
PROBE_STAGE = re.compile(r"^probes-b(\d+)-au(\d+)$")
# what a missing or malformed piece of evidence raises; it becomes a "not available" section
EVIDENCE_ERRORS = (MlflowException, OSError, ValueError, KeyError, IndexError)

TITLES = {
    "table1": "Table 1: the pain models FreezeB0\u2013B5 (UNBC-McMaster test set)",
    "emotion": "The base emotion model (AffectNet test set)",
    "forgetting": "Forgetting: emotion recall after pain transfer, McNemar tests",
    "saliency": "LRP difference maps and the action-unit ranking",
    "probes": "Concept probes on CK+: is the action unit still encoded?",
    "tradeoff": "The pain / emotion trade-off",
    "champion": "The promoted model",
}
_SIG = "\u2063sig\u2063"  # marks a significant p-value cell; escape-proof, replaced after to_html

STUDY = (
    "This report reproduces Prajod et al., <em>Do Deep Neural Networks Forget Facial Action Units?</em> "
    "A VGG16 emotion model trained on AffectNet (eight expressions) is fine-tuned for pain detection on "
    "UNBC-McMaster six times, with its first <i>i</i> convolutional blocks frozen (FreezeB0 &hellip; FreezeB5). "
    "To measure what each pain model forgot about emotions, its convolutional blocks are kept and only new "
    "emotion output layers are retrained on AffectNet; per-emotion recalls are compared with McNemar's test "
    "against FreezeB5, whose convolutional blocks are still the emotion model's. LRP difference maps "
    "(FreezeB5 &minus; FreezeB<i>k</i>) show which facial regions, i.e. action units, lost their evidence; "
    "linear concept probes on CK+ test whether the last convolutional block still encodes such action units; "
    "and the pain model with the best pain/emotion trade-off is promoted to <code>auforget-pain@champion</code>."
)
SYNTHETIC = (
    "<strong>Synthetic data.</strong> This run used the built-in synthetic datasets "
    "(<code>data.synthetic: true</code> in params.yaml; drawn faces written by <code>auforget synth</code>), "
    "not AffectNet, UNBC-McMaster or CK+. The numbers show that the pipeline works end to end; they say "
    "nothing about the study's findings."
)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1d2430; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { border-bottom: 2px solid #d8dee9; padding-bottom: .2rem;
       margin-top: 2.2rem; } h3 { margin-top: 1.4rem; }
table.data { border-collapse: collapse; font-size: .86rem; margin: .6rem 0 1rem; }
table.data th, table.data td { border: 1px solid #d8dee9; padding: .25rem .55rem; text-align: right; }
table.data th { background: #eef1f6; } table.data td:first-child { text-align: left; }
table.data tbody tr:nth-child(even) { background: #f8f9fb; }
td.sig { background: #ffe9a8; font-weight: 600; }
img { max-width: 100%; border: 1px solid #e3e7ee; margin: .4rem 0; }
code, pre { background: #f3f5f8; border-radius: 3px; padding: 0 .25rem; font-size: .86rem; }
pre { padding: .6rem; white-space: pre-wrap; }
.meta { color: #4c566a; font-size: .9rem; } .runs { color: #4c566a; font-size: .82rem; }
.note { background: #fff6d6; border-left: 4px solid #e5b400; padding: .5rem .8rem; }
.missing { background: #fbeaea; border-left: 4px solid #c0392b; padding: .5rem .8rem; }
nav ol { columns: 2; font-size: .92rem; }
details summary { cursor: pointer; color: #34495e; }
"""


@dataclass
class Evidence:
    """The runs and registry versions the report reads, found before anything is downloaded."""

    pain: dict[int, tuple[Any, Run]] = field(default_factory=dict)   # freeze -> (ModelVersion, run)
    emotion: tuple[Any, Run] | None = None
    forgetting: Run | None = None
    saliency: Run | None = None
    probes: list[Run] = field(default_factory=list)                  # newest run per probes-b<k>-au<au>
    promote: Run | None = None
    champion: Any = None                                             # ModelVersion of auforget-pain@champion
    problems: dict[str, str] = field(default_factory=dict)           # what went wrong looking things up

    def identity(self) -> dict[str, Any]:
        """Run ids and versions: part of the report's reuse key."""
        out: dict[str, Any] = {f"pain_b{i}": (v.version, r.info.run_id) for i, (v, r) in sorted(self.pain.items())}
        if self.emotion:
            out["emotion"] = (self.emotion[0].version, self.emotion[1].info.run_id)
        for name in ("forgetting", "saliency", "promote"):
            run = getattr(self, name)
            out[name] = run.info.run_id if run else None
        out["probes"] = sorted(r.info.run_id for r in self.probes)
        if self.champion is not None:
            out["champion"] = (str(self.champion.version), sorted(self.champion.tags.items()))
        return out

    def runs(self) -> dict[str, str]:
        """name -> run id of every run the report shows."""
        out = {f"transfer-b{i}": r.info.run_id for i, (_, r) in sorted(self.pain.items())}
        if self.emotion:
            out["emotion"] = self.emotion[1].info.run_id
        for run in (self.forgetting, self.saliency, *self.probes, self.promote):
            if run is not None:
                out[run.data.tags.get("auforget.stage", run.info.run_name)] = run.info.run_id
        if self.champion is not None:
            out["champion"] = self.champion.run_id
        return out


@dataclass
class Section:
    anchor: str
    title: str
    body: str
    available: bool


# ---------------------------------------------------------------- finding the evidence

def newest_finished(stage_condition: str, max_results: int = 1) -> list[Run]:
    """FINISHED runs whose `auforget.stage` tag meets the condition (e.g. "= 'promote'"), newest first."""
    condition = f"tags.`auforget.stage` {stage_condition} and attributes.status = 'FINISHED'"
    return mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=max_results,
                              filter_string=condition, order_by=["attributes.start_time DESC"])


def _version_and_run(name: str, alias: str, client: MlflowClient) -> tuple[Any, Run]:
    version = tracking.resolve_alias(name, alias, hint="")
    return version, client.get_run(version.run_id)


def collect() -> Evidence:
    """Look up every run and registry version the report shows; what is missing stays None/empty."""
    client = MlflowClient()
    ev = Evidence()
    for i in range(6):
        try:
            ev.pain[i] = _version_and_run(tracking.PAIN_MODEL, tracking.freeze_alias(i), client)
        except EVIDENCE_ERRORS as exc:
            ev.problems[f"pain_b{i}"] = str(exc)
    try:
        ev.emotion = _version_and_run(tracking.EMOTION_MODEL, tracking.BASE_ALIAS, client)
    except EVIDENCE_ERRORS as exc:
        ev.problems["emotion"] = str(exc)
    for name, condition in (("forgetting", "= 'forgetting'"), ("saliency", "LIKE 'saliency-b%'"),
                            ("promote", "= 'promote'")):
        try:
            found = newest_finished(condition)
            setattr(ev, name, found[0] if found else None)
        except EVIDENCE_ERRORS as exc:
            ev.problems[name] = str(exc)
    try:
        newest: dict[str, Run] = {}
        for run in newest_finished("LIKE 'probes-b%'", max_results=1000):
            stage = run.data.tags.get("auforget.stage", "")
            if PROBE_STAGE.match(stage) and stage not in newest:
                newest[stage] = run
        ev.probes = [newest[s] for s in sorted(newest, key=_probe_order)]
    except EVIDENCE_ERRORS as exc:
        ev.problems["probes"] = str(exc)
    try:
        ev.champion = tracking.resolve_alias(tracking.PAIN_MODEL, tracking.CHAMPION_ALIAS, hint="")
    except EVIDENCE_ERRORS as exc:
        ev.problems["champion"] = str(exc)
    return ev


def _probe_order(stage: str) -> tuple[int, int]:
    k, au = PROBE_STAGE.match(stage).groups()
    return int(k), int(au)


# ---------------------------------------------------------------- HTML pieces

def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _is_nan(value: object) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def fmt(value: object) -> str:
    """Numbers to 3 decimals, integers as they are, missing as a dash."""
    if _is_nan(value):
        return "\u2013"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}"
    return str(value)


def fmt_p(value: object, alpha: float) -> str:
    """A p-value: 3 decimals (scientific below 0.001), flagged for highlighting when below alpha."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        return fmt(value)
    if math.isnan(p):
        return "\u2013"
    text = f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
    return f"{_SIG}{text} *" if p < alpha else text


def table(frame: pd.DataFrame, *, p_columns: tuple[str, ...] = (), alpha: float = 0.05) -> str:
    """A small DataFrame as an HTML table (escaped), numbers to 3 decimals, significant p-values marked."""
    shown = frame.copy()
    for column in shown.columns:
        formatter = (lambda v: fmt_p(v, alpha)) if column in p_columns else fmt
        shown[column] = [formatter(v) for v in shown[column]]
    text = shown.to_html(escape=True, index=False, border=0, classes="data")
    text = text.replace(f"<td>{_SIG}", '<td class="sig">')
    return text.replace(_SIG, "")


def image(path: Path, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def runs_line(**runs: str) -> str:
    parts = [f"{_esc(name)} <code>{_esc(run_id)}</code>" for name, run_id in runs.items()]
    return f'<p class="runs">MLflow run{"s" if len(parts) > 1 else ""}: {"; ".join(parts)}</p>'


def missing(command: str, reason: str = "") -> str:
    extra = f" ({_esc(reason)})" if reason else ""
    return f'<p class="missing"><strong>not available:</strong> run <code>{_esc(command)}</code>{extra}</p>'


def _artifact(run: Run, path: str, folder: Path) -> Path | None:
    """Download one artifact of the run; None when the run has no such file."""
    try:
        local = tracking.run_artifact(run.info.run_id, path, folder / run.info.run_id)
    except (MlflowException, OSError):
        return None
    return local if local.is_file() else None


def _artifact_names(run: Run, folder: str) -> list[str]:
    try:
        return sorted(f.path for f in MlflowClient().list_artifacts(run.info.run_id, folder) if not f.is_dir)
    except (MlflowException, OSError):
        return []


# ---------------------------------------------------------------- sections

def section_pain(ev: Evidence) -> Section:
    title = TITLES["table1"]
    if not ev.pain:
        return Section("table1", title, missing("auforget transfer --freeze <i>  (i = 0..5)"), False)
    champion = str(ev.champion.version) if ev.champion is not None else None
    rows = []
    for i, (version, run) in sorted(ev.pain.items()):
        m, p = run.data.metrics, run.data.params
        row = {"model": f"FreezeB{i}" + (" \u2605" if str(version.version) == champion else ""),
               "frozen blocks": p.get("transfer.freeze", version.tags.get("freeze_blocks", i)),
               "version": str(version.version)}
        for measure in ("precision", "recall", "f1"):
            for cls in ("pain", "no_pain", "macro"):
                row[f"{measure} {cls}"] = m.get(f"test_{measure}_{cls}", float("nan"))
        row["accuracy"] = m.get("test_accuracy", float("nan"))
        row["run"] = run.info.run_id
        rows.append(row)
    body = table(pd.DataFrame(rows))
    body += ("<p>Test-set precision, recall and F1 per class (pain = PSPI &gt; 0) and their macro average, for the "
             "pain model with the first <i>i</i> conv blocks frozen during transfer "
             f"(<code>{tracking.PAIN_MODEL}@freezeb&lt;i&gt;</code>). \u2605 = the promoted champion.</p>")
    absent = [i for i in range(6) if i not in ev.pain]
    for i in absent:
        body += missing(f"auforget transfer --freeze {i}", f"no {tracking.PAIN_MODEL}@freezeb{i}")
    return Section("table1", title, body, True)


def section_emotion(ev: Evidence) -> Section:
    title = TITLES["emotion"]
    if ev.emotion is None:
        return Section("emotion", title, missing("auforget emotion", ev.problems.get("emotion", "")), False)
    version, run = ev.emotion
    m = run.data.metrics
    row = {"model": f"base (version {version.version})"}
    row.update({e: m.get(f"test_recall_{e}", float("nan")) for e in EMOTIONS})
    row["macro recall"] = m.get("test_recall_macro", float("nan"))
    row["accuracy"] = m.get("test_accuracy", float("nan"))
    body = ("<p>Test recall per emotion of <code>" + _esc(f"{tracking.EMOTION_MODEL}@{tracking.BASE_ALIAS}")
            + "</code>, the model every pain model starts from.</p>" + table(pd.DataFrame([row]))
            + runs_line(emotion=run.info.run_id))
    return Section("emotion", title, body, True)


def section_forgetting(ev: Evidence, folder: Path, alpha: float) -> Section:
    title = TITLES["forgetting"]
    run = ev.forgetting
    if run is None:
        return Section("forgetting", title, missing("auforget forgetting", ev.problems.get("forgetting", "")), False)
    parts = [runs_line(forgetting=run.info.run_id)]
    if (png := _artifact(run, "recalls.png", folder)) is not None:
        parts.append(image(png, "recall per emotion for each FreezeB model"))
    if (csv := _artifact(run, "recalls.csv", folder)) is not None:
        parts.append("<h3>Recall per emotion (retrained output layers; base = the emotion model itself)</h3>")
        parts.append(table(pd.read_csv(csv)))
    vs_b5 = _artifact(run, "mcnemar_vs_b5.csv", folder)
    if vs_b5 is not None:
        tests = pd.read_csv(vs_b5)
        parts.append("<h3>McNemar's test, FreezeB<i>k</i> vs FreezeB5, per emotion</h3>")
        parts.append(f"<p>Holm-corrected across the eight emotions of each pair; highlighted: p &lt; {alpha:g} "
                     "(n01 / n10: test images only model_a / only model_b classifies correctly).</p>")
        if {"emotion", "model_a", "pvalue_holm"} <= set(tests.columns):
            pivot = tests.pivot(index="emotion", columns="model_a", values="pvalue_holm")
            pivot = pivot.reindex([e for e in EMOTIONS if e in pivot.index] +
                                  [e for e in pivot.index if e not in EMOTIONS])
            pivot.columns = [f"{c} vs b5 (Holm p)" for c in pivot.columns]
            pivot = pivot.reset_index()
            parts.append(table(pivot, p_columns=tuple(c for c in pivot.columns if c != "emotion"), alpha=alpha))
        parts.append("<details><summary>all McNemar tests against FreezeB5</summary>"
                     + table(tests, p_columns=("pvalue", "pvalue_holm"), alpha=alpha) + "</details>")
    else:
        parts.append(missing("auforget forgetting", "the forgetting run has no mcnemar_vs_b5.csv"))
    if (pairwise := _artifact(run, "mcnemar_pairwise.csv", folder)) is not None:
        pairs = pd.read_csv(pairwise)
        n_sig = int((pairs["pvalue_holm"] < alpha).sum()) if "pvalue_holm" in pairs else 0
        parts.append(f"<details><summary>pairwise McNemar tests between all seven models ({n_sig} of {len(pairs)} "
                     f"significant after Holm)</summary>"
                     + table(pairs, p_columns=("pvalue", "pvalue_holm"), alpha=alpha) + "</details>")
    return Section("forgetting", title, "\n".join(parts), True)


def section_saliency(ev: Evidence, folder: Path, alpha: float) -> Section:
    title = TITLES["saliency"]
    run = ev.saliency
    if run is None:
        return Section("saliency", title, missing("auforget saliency", ev.problems.get("saliency", "")), False)
    stage = run.data.tags.get("auforget.stage", "saliency")
    k = stage.rsplit("-b", 1)[-1]
    parts = [f"<p>Test images that FreezeB5 classifies correctly and FreezeB{_esc(k)} does not: LRP relevance of "
             f"both models for the true class and their difference (B5 &minus; B{_esc(k)}, positive part): where "
             "FreezeB5 still finds evidence the pain transfer removed. The ranking measures how much of the difference "
             "falls in each action unit's facial region against the same region moved elsewhere on the face "
             "(effect size; p one-sided Monte Carlo, Holm-corrected across regions; highlighted: "
             f"p &lt; {alpha:g}).</p>",
             runs_line(**{stage: run.info.run_id})]
    if (notes := _artifact(run, "saliency/notes.txt", folder)) is not None:
        parts.append(f"<pre>{_esc(notes.read_text().strip())}</pre>")
    if (csv := _artifact(run, "saliency/au_ranking.csv", folder)) is not None:
        ranking = pd.read_csv(csv, dtype={"aus": str})
        if ranking.empty:
            parts.append("<p>The AU ranking is empty (no selected image had face landmarks).</p>")
        else:
            columns = [c for c in ("emotion", "region", "aus", "mass_share", "null_share", "effect_size", "p_value",
                                   "p_holm", "n_images") if c in ranking.columns]
            labels = list(dict.fromkeys(ranking["emotion"])) if "emotion" in ranking else [None]
            for label in sorted(labels, key=lambda e: (e == "all", str(e))):
                rows = ranking if label is None else ranking[ranking["emotion"] == label]
                rows = rows.sort_values("effect_size", ascending=False, na_position="last").head(TOP_REGIONS)
                parts.append(f"<h3>Top {TOP_REGIONS} AU regions: {_esc(label if label is not None else 'all images')}"
                             "</h3>")
                parts.append(table(rows[columns], p_columns=("p_value", "p_holm"), alpha=alpha))
    else:
        parts.append(missing(f"auforget saliency --k {k}", "the saliency run has no saliency/au_ranking.csv"))
    for name in _artifact_names(run, "saliency"):
        if name.endswith("_grid.png") and (png := _artifact(run, name, folder)) is not None:
            emotion = Path(name).name[:-len("_grid.png")]
            parts.append(f"<h3>{_esc(emotion)}: input | FreezeB5 | FreezeB{_esc(k)} | B5 &minus; B{_esc(k)}</h3>")
            parts.append(image(png, f"LRP maps for {emotion}"))
    return Section("saliency", title, "\n".join(parts), True)


def section_probes(ev: Evidence, folder: Path, alpha: float) -> Section:
    title = TITLES["probes"]
    if not ev.probes:
        return Section("probes", title, missing("auforget probes", ev.problems.get("probes", "")), False)
    rows, details = [], []
    for run in ev.probes:
        stage = run.data.tags["auforget.stage"]
        k, au = _probe_order(stage)
        m = run.data.metrics
        rows.append({"probe": stage, "AU": au, "faces": run.data.tags.get("auforget.variant", ""),
                     "F1 B5": m.get("probe_f1_mean_b5", float("nan")),
                     "F1 Bk": m.get(f"probe_f1_mean_b{k}", float("nan")),
                     "t": m.get("probe_t", float("nan")), "p": m.get("probe_p", float("nan")),
                     "t corrected": m.get("probe_t_corrected", float("nan")),
                     "p corrected": m.get("probe_p_corrected", float("nan")),
                     "baseline F1 B5": m.get("probe_baseline_f1_b5", float("nan")),
                     "baseline F1 Bk": m.get(f"probe_baseline_f1_b{k}", float("nan")),
                     "run": run.info.run_id})
        details.append(f"<h3>{_esc(stage)}: AU{au}, FreezeB5 vs FreezeB{k}</h3>")
        conclusion = _artifact(run, "probes/conclusion.txt", folder)
        text = (conclusion.read_text().strip() if conclusion is not None
                else run.data.tags.get("auforget.conclusion", ""))
        if text:
            details.append(f"<p>{_esc(text)}</p>")
        if (png := _artifact(run, "probes/probe_f1.png", folder)) is not None:
            details.append(image(png, f"probe F1 per seed, {stage}"))
    body = ("<p>A linear SVM per model on the last conv block's features, the same stratified folds for both, "
            "repeated over many seeds. <b>t / p</b>: the paired t-test of the study over the per-seed mean F1; "
            "<b>t corrected / p corrected</b>: the corrected resampled t-test (Nadeau &amp; Bengio), which allows for "
            "the overlap of training sets across repetitions; <b>baseline</b>: mean F1 of the same probe on shuffled "
            f"labels, the chance level. Bk = the model named in the probe (FreezeB<i>k</i>). Highlighted: p &lt; "
            f"{alpha:g}.</p>"
            + table(pd.DataFrame(rows), p_columns=("p", "p corrected"), alpha=alpha) + "\n".join(details))
    return Section("probes", title, body, True)


def section_tradeoff(ev: Evidence, folder: Path) -> Section:
    title = TITLES["tradeoff"]
    run = ev.promote
    if run is None:
        return Section("tradeoff", title, missing("auforget promote", ev.problems.get("promote", "")), False)
    parts = [runs_line(promote=run.info.run_id)]
    if (png := _artifact(run, "tradeoff.png", folder)) is not None:
        parts.append(image(png, "pain recall against emotion recall per FreezeB model"))
    if (csv := _artifact(run, "tradeoff.csv", folder)) is not None:
        parts.append(table(pd.read_csv(csv, dtype={"pain_version": str})))
    if (rule := _artifact(run, "rule.txt", folder)) is not None:
        parts.append(f"<p>The rule and its choice (rule.txt):</p><pre>{_esc(rule.read_text().strip())}</pre>")
    return Section("tradeoff", title, "\n".join(parts), True)


def section_champion(ev: Evidence) -> Section:
    title = TITLES["champion"]
    version = ev.champion
    if version is None:
        return Section("champion", title, missing("auforget promote", ev.problems.get("champion", "")), False)
    tags = dict(version.tags)
    name = f"FreezeB{tags['freeze_blocks']}" if "freeze_blocks" in tags else f"version {version.version}"
    parts = [f"<p><strong>{_esc(name)}</strong> is <code>{_esc(tracking.PAIN_MODEL)}@{tracking.CHAMPION_ALIAS}</code> "
             f"(version {_esc(version.version)}).</p>"]
    if "champion_rule" in tags:
        parts.append(f"<p>Why: {_esc(tags['champion_rule'])}.</p>")
    rows = [{"tag": k, "value": v} for k, v in sorted(tags.items())
            if k.startswith("champion_") and k != "champion_rule"]
    if rows:
        for row in rows:
            try:
                row["value"] = float(row["value"])
            except ValueError:
                pass
        parts.append(table(pd.DataFrame(rows)))
    promoted = ev.promote.data.tags.get("auforget.champion") if ev.promote is not None else None
    if promoted and promoted != name:
        parts.append(f'<p class="note">The newest promote run chose {_esc(promoted)}, but the alias points at '
                     f"{_esc(name)}: run <code>auforget promote</code> again.</p>")
    parts.append(runs_line(**{f"{tracking.PAIN_MODEL} version {version.version}": version.run_id}))
    return Section("champion", title, "\n".join(parts), True)


# ---------------------------------------------------------------- the page

def _display_uri(uri: str) -> str:
    """The tracking URI without any user name or password in it."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def render(sections: list[Section], ev: Evidence, params: Params, *, key: str, report_run: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = ["<h1>Do deep neural networks forget facial action units? \u2014 study report</h1>",
              f"<p>{STUDY}</p>"]
    if params.data.synthetic:
        header.append(f'<p class="note">{SYNTHETIC}</p>')
    header.append(f'<p class="meta">Generated {_esc(now)} &middot; code version <code>{_esc(tracking.code_version())}'
                  f"</code> &middot; tracking URI <code>{_esc(_display_uri(mlflow.get_tracking_uri()))}</code> "
                  f"&middot; report run <code>{_esc(report_run)}</code></p>")
    header.append("<p class=\"meta\">Every table and figure names the MLflow run it comes from; search for the run id "
                  "in the MLflow UI to see its parameters and artifacts.</p>")
    nav = "".join(f'<li><a href="#{s.anchor}">{_esc(s.title)}</a>{"" if s.available else " (not available)"}</li>'
                  for s in sections)
    body = [f'<section id="{s.anchor}"><h2>{_esc(s.title)}</h2>\n{s.body}\n</section>' for s in sections]
    champion = f"champion ({tracking.PAIN_MODEL} version {ev.champion.version})" if ev.champion is not None else ""
    provenance = pd.DataFrame([{"evidence": champion if k == "champion" else k, "run": v}
                               for k, v in ev.runs().items()])
    body.append('<section id="runs"><h2>Runs behind this report</h2>'
                + (table(provenance) if len(provenance) else "<p>none</p>") + "</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta name="{KEY_META}" content="{_esc(key)}">\n'
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>auforget study report</title>\n"
            f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(header)
            + f"\n<nav><ol>{nav}</ol></nav>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def build_sections(ev: Evidence, params: Params, folder: Path) -> list[Section]:
    """Every section in reading order; a section whose evidence is broken says so instead of failing."""
    alpha = params.forgetting.alpha
    builders = [
        ("table1", "auforget transfer", lambda: section_pain(ev)),
        ("emotion", "auforget emotion", lambda: section_emotion(ev)),
        ("forgetting", "auforget forgetting", lambda: section_forgetting(ev, folder, alpha)),
        ("saliency", "auforget saliency", lambda: section_saliency(ev, folder, alpha)),
        ("probes", "auforget probes", lambda: section_probes(ev, folder, alpha)),
        ("tradeoff", "auforget promote", lambda: section_tradeoff(ev, folder)),
        ("champion", "auforget promote", lambda: section_champion(ev)),
    ]
    sections = []
    for anchor, command, build in builders:
        try:
            sections.append(build())
        except EVIDENCE_ERRORS as exc:
            log.warning("report: section %s is not available: %s", anchor, exc)
            sections.append(Section(anchor, TITLES[anchor], missing(command, f"its evidence could not be read: {exc}"),
                                    False))
    return sections


@contextlib.contextmanager
def _download_bars(enabled: bool) -> Iterator[None]:
    """MLflow draws a progress bar per artifact download; the report downloads many small files."""
    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(name)
    if not enabled:
        os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _restore(run: Run, path: Path, key: str) -> None:
    """Make sure `path` is the report of the reused run: download it when absent or another report."""
    marker = f'<meta name="{KEY_META}" content="{key}">'
    if path.exists() and marker in path.read_text(encoding="utf-8", errors="replace"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = tracking.run_artifact(run.info.run_id, f"{ARTIFACT_DIR}/{REPORT_FILE}", Path(tmp))
        _write(path, local.read_text(encoding="utf-8"))


def run_report(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    """Write `<report.out>/report.html` from the study's runs and log it; returns the section counts.

    With reuse, a FINISHED report run over the same runs, parameters and code is not repeated;
    its report is downloaded to `report.out` if the file there is missing or another one.
    """
    cfg = params.report
    tracking.configure(params.tracking)
    ev = collect()
    key = fingerprint("report", flat(cfg), params.data.synthetic, params.forgetting.alpha, ev.identity())
    path = Path(cfg.out) / REPORT_FILE
    if reuse and (done := tracking.find_finished_run(key)):
        with _download_bars(progress):
            _restore(done, path, key)
        return tracking.reused(done, "report")
    tags = {"auforget.key": key, **{f"auforget.upstream_run.{n}": r for n, r in ev.runs().items()}}
    with tracking.stage_run("report", flat(cfg, "report."), tags=tags) as run, \
            tempfile.TemporaryDirectory() as tmp, _download_bars(progress):
        sections = build_sections(ev, params, Path(tmp))
        _write(path, render(sections, ev, params, key=key, report_run=run.info.run_id))
        metrics = {"report_sections": float(sum(s.available for s in sections)),
                   "report_sections_missing": float(sum(not s.available for s in sections))}
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(path), artifact_path=ARTIFACT_DIR)
    log.info("report: %s (%d of %d sections available)", path, metrics["report_sections"], len(sections))
    return metrics

