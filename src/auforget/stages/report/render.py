"""HTML for the report: cell formatting, tables, embedded figures and the page around the sections.

Pure functions of their arguments (no MLflow, no files), so the page can be tested from hand-made
tables. The page fits the window: a table wider than the text column scrolls inside its own box
(`div.scroll`) and figures shrink to the column, so nothing runs off the right edge.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auforget.data.study_names import PAPER_WORDS, TaskWords

_SIG = "\u2063sig\u2063"  # marks a significant p-value cell; escape-proof, replaced after to_html

STUDY = (
    "This report reproduces Prajod et al., <em>Do Deep Neural Networks Forget Facial Action "
    "Units?</em> A VGG16 emotion model trained on AffectNet (eight expressions) is fine-tuned "
    "for pain detection on UNBC-McMaster six times, with its first <i>i</i> convolutional blocks "
    "frozen (FreezeB0 &hellip; FreezeB5). To measure what each pain model forgot about emotions, "
    "its convolutional blocks are kept and only new emotion output layers are retrained on "
    "AffectNet; per-emotion recalls are compared with McNemar's test against FreezeB5, whose "
    "convolutional blocks are still the emotion model's. LRP difference maps (FreezeB5 &minus; "
    "FreezeB<i>k</i>) show which facial regions, i.e. action units, lost their evidence; linear "
    "concept probes on CK+ test whether the last convolutional block still encodes such action "
    "units; and the pain model with the best pain/emotion trade-off is promoted to "
    "<code>auforget-pain@champion</code>."
)
SYNTHETIC = (
    "<strong>Synthetic data.</strong> This run used the built-in synthetic datasets "
    "(<code>data.synthetic: true</code> in params.yaml; drawn faces written by <code>auforget "
    "synth</code>), not AffectNet, UNBC-McMaster or CK+. The numbers show that the pipeline "
    "works end to end; they say nothing about the study's findings."
)

CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1d2430; line-height: 1.45;
       overflow-wrap: anywhere; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { border-bottom: 2px solid #d8dee9; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { margin-top: 1.4rem; }
div.scroll { max-width: 100%; overflow-x: auto; margin: .6rem 0 1rem; }
table.data { border-collapse: collapse; font-size: .86rem; overflow-wrap: normal; }
table.data th, table.data td { border: 1px solid #d8dee9; padding: .25rem .55rem; text-align: right;
       white-space: nowrap; }
table.data th { background: #eef1f6; } table.data td:first-child { text-align: left; }
table.data tbody tr:nth-child(even) { background: #f8f9fb; }
td.sig { background: #ffe9a8; font-weight: 600; }
img { display: block; max-width: 100%; height: auto; border: 1px solid #e3e7ee; margin: .4rem 0; }
code, pre { background: #f3f5f8; border-radius: 3px; padding: 0 .25rem; font-size: .86rem; }
pre { padding: .6rem; white-space: pre-wrap; }
.meta { color: #4c566a; font-size: .9rem; } .runs { color: #4c566a; font-size: .82rem; }
.note { background: #fff6d6; border-left: 4px solid #e5b400; padding: .5rem .8rem; }
.missing { background: #fbeaea; border-left: 4px solid #c0392b; padding: .5rem .8rem; }
nav ol { columns: 2; font-size: .92rem; }
@media (max-width: 40rem) { nav ol { columns: 1; } body { margin: 1rem auto; } }
details summary { cursor: pointer; color: #34495e; }
"""


@dataclass
class Section:
    anchor: str
    title: str
    body: str
    available: bool


@dataclass(frozen=True)
class PageInfo:
    """What the page header says about where the report came from."""

    key: str  # reuse key, also written into a <meta> tag
    report_run: str
    generated: str  # e.g. "2026-01-31 12:00 UTC"
    code_version: str
    tracking_uri: str  # shown as given: strip credentials before
    synthetic: bool
    # data.kind manifest: the study's own pair in words (manifest_intro, manifest_title); "" =
    # the paper's
    intro: str = ""
    title: str = ""


def esc(value: object) -> str:
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
    """A small DataFrame as an HTML table (escaped), numbers to 3 decimals, significant p-values
    marked, inside a box that scrolls sideways when the table is wider than the page."""
    shown = frame.copy()
    for column in shown.columns:
        formatter = (lambda v: fmt_p(v, alpha)) if column in p_columns else fmt
        shown[column] = [formatter(v) for v in shown[column]]
    text = shown.to_html(escape=True, index=False, border=0, classes="data")
    text = text.replace(f"<td>{_SIG}", '<td class="sig">').replace(_SIG, "")
    return f'<div class="scroll">\n{text}\n</div>'


def image(png: bytes, alt: str) -> str:
    """An <img> with the PNG embedded as a data URI."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def runs_line(**runs: str) -> str:
    parts = [f"{esc(name)} <code>{esc(run_id)}</code>" for name, run_id in runs.items()]
    return f'<p class="runs">MLflow run{"s" if len(parts) > 1 else ""}: {"; ".join(parts)}</p>'


def missing(command: str, reason: str = "") -> str:
    extra = f" ({esc(reason)})" if reason else ""
    return (
        '<p class="missing"><strong>not available:</strong> run '
        f"<code>{esc(command)}</code>{extra}</p>"
    )


PAPER_TITLE = "Do deep neural networks forget facial action units?"


def manifest_title(words: TaskWords) -> str:
    """The page's heading for a pair of one's own: the paper's question, asked of that pair."""
    return f"What does a network forget when fine-tuned from {words.source} to {words.target}?"


def manifest_intro(
    source: tuple[str, ...],
    target: tuple[str, ...],
    concepts: tuple[str, ...],
    words: TaskWords = PAPER_WORDS,
) -> str:
    """The report's opening for a study read from manifests (docs/manifests.md), in its names."""
    return (
        "This report applies the method of Prajod et al., <em>Do Deep Neural Networks Forget "
        "Facial Action Units?</em>, to a pair read from manifests. A VGG16 model trained on the "
        f"{esc(words.source)} task ({esc(', '.join(source))}) is fine-tuned for the "
        f"{esc(words.target)} task ({esc(', '.join(target))}) six times, with its first <i>i</i> "
        "convolutional blocks frozen (FreezeB0 &hellip; FreezeB5). To measure what each "
        f"{esc(words.target)} model forgot about the {esc(words.source)} task, its convolutional "
        f"blocks are kept and only new {esc(words.source)} output layers are retrained; per-class "
        "recalls are compared with McNemar's test against FreezeB5. LRP difference maps are "
        "ranked by the manifest's face regions; linear concept probes test whether the last "
        f"convolutional block still encodes {esc(', '.join(concepts))}; and the "
        f"{esc(words.target)} model with the best trade-off is promoted to "
        "<code>auforget-pain@champion</code>: the registered model names "
        "(<code>auforget-emotion</code> for the source task, <code>auforget-pain</code> for the "
        "target task, <code>auforget-retrain</code>) are the same for every pair, so that "
        "scripts that load them work unchanged."
    )


def _header(info: PageInfo) -> list[str]:
    header = [
        f"<h1>{esc(info.title or PAPER_TITLE)} \u2014 study report</h1>",
        f"<p>{info.intro or STUDY}</p>",
    ]
    if info.synthetic and not info.intro:
        header.append(f'<p class="note">{SYNTHETIC}</p>')
    header.append(
        f'<p class="meta">Generated {esc(info.generated)} &middot; code version '
        f"<code>{esc(info.code_version)}</code> &middot; tracking URI "
        f"<code>{esc(info.tracking_uri)}</code> "
        f"&middot; report run <code>{esc(info.report_run)}</code></p>"
    )
    header.append(
        '<p class="meta">Every table and figure names the MLflow run it comes from; search for '
        "the run id in the MLflow UI to see its parameters and artifacts.</p>"
    )
    return header


def page(
    sections: list[Section], provenance: dict[str, str], info: PageInfo, *, key_meta: str
) -> str:
    """The whole self-contained page: header, contents, the sections, and the runs behind them
    (`provenance`: what -> run id)."""
    nav = "".join(
        f'<li><a href="#{s.anchor}">{esc(s.title)}</a>'
        f"{'' if s.available else ' (not available)'}</li>"
        for s in sections
    )
    body = [
        f'<section id="{s.anchor}"><h2>{esc(s.title)}</h2>\n{s.body}\n</section>' for s in sections
    ]
    runs = pd.DataFrame([{"evidence": k, "run": v} for k, v in provenance.items()])
    body.append(
        '<section id="runs"><h2>Runs behind this report</h2>'
        + (table(runs) if len(runs) else "<p>none</p>")
        + "</section>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="{key_meta}" content="{esc(info.key)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>auforget study report</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(_header(info))
        + f"\n<nav><ol>{nav}</ol></nav>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )
