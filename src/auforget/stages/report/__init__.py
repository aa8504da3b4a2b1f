"""`report`: one self-contained HTML page with the study's evidence, logged and written to
`reports/`.

Sections, each from the runs that hold its numbers (run ids are printed beside every table and
figure, so each number can be found in the MLflow UI):
  Table 1       the six pain models behind auforget-pain@freezeb0..5 (test precision, recall, F1,
                accuracy) and the base emotion model behind auforget-emotion@base;
  forgetting    the newest FINISHED `forgetting` run: recall figure, recalls, McNemar tests vs
                FreezeB5 (Holm-corrected) and the pairwise matrix;
  saliency      the newest FINISHED `saliency-b<k>` run: LRP grids and the top of the AU ranking;
  probes        the newest FINISHED run of each `probes-b<k>-au<au>`: both t-tests and the
                shuffled-label baseline;
  trade-off     the newest FINISHED `promote` run: Figure 6 and the trade-off table;
  champion      auforget-pain@champion and the tags that say why it won;
  findings      the forgetting run's logit-scale excess with its MDE and mixed-model p-values, and
                the newest FINISHED `cka` run's block-by-block CKA figure (report/findings.py);
  seeds         across study.seeds: forgetting, probe F1 differences and top AU regions as means
                (or shares) over seeds with 95% t intervals, and how stable the promotion is;
  planted       synthetic data only: the world's planted truth (planted.py) against the forgetting,
                saliency and probe numbers of FreezeB<probes.k>; left out for real data.

A part whose runs do not exist yet becomes a "not available: run `auforget <stage>`" section
instead of an error. The page has inline CSS, images as base64 data URIs and no scripts or
external links, so it opens in a browser without a network. It is written to
`<report.out>/report.html` and logged as the artifact `report/report.html` of a `report` run.

Three parts: `lookup` finds the runs and downloads their files, `sections` turns tables and
figures into section HTML, `render` formats cells and assembles the page; this module wires
them into the stage (reuse, the MLflow run, the file).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import mlflow
import pandas as pd
from mlflow.entities import Run

from auforget.analysis import planted
from auforget.core import identity
from auforget.core.config import Params, flat
from auforget.core.identity import fingerprint
from auforget.data.study_names import PAPER_WORDS, TaskWords, study_names, task_words
from auforget.stages.report import findings, lookup, render, sections
from auforget.stages.report.lookup import EVIDENCE_ERRORS, Evidence, collect
from auforget.stages.report.render import PageInfo, Section, missing, page
from auforget.tracking import connection, stage_runs

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
ARTIFACT_DIR = "report"
KEY_META = "auforget-report-key"


def _intro(params: Params) -> str:
    """The report's opening in the manifests' names (data.kind manifest); "" for the paper's."""
    if params.data.kind != "manifest":
        return ""
    names = study_names(params)
    return render.manifest_intro(
        names.source_classes, names.target_classes, names.concepts, task_words(params)
    )


def _display_uri(uri: str) -> str:
    """The tracking URI without any user name or password in it."""
    parts = urlsplit(uri)
    if parts.username or parts.password:
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def _builders(
    ev: Evidence,
    alpha: float,
    folder: Path,
    seeds: tuple[int, ...] = (0,),
    planted_k: int | None = None,
    association: pd.DataFrame | None = None,
    words: TaskWords = PAPER_WORDS,
) -> list[tuple[str, str, Callable[[], Section]]]:
    """(anchor, command that makes its evidence, build) per section, in reading order; the
    planted-truth section only with `planted_k` (synthetic data: FreezeB<k> against the world's
    truth)."""

    def problem(name: str) -> str:
        return ev.problems.get(name, "")

    def read(run: Run | None, evidence: Callable[[Run, Path], object]):
        return evidence(run, folder) if run is not None else None

    champion = str(ev.champion.version) if ev.champion is not None else None
    planted = (
        []
        if planted_k is None
        else [
            (
                "planted",
                "auforget forgetting",
                lambda: sections.section_planted(
                    lookup.planted_evidence(ev, planted_k, alpha, seeds, association)
                    if ev.forgetting is not None
                    else None,
                    alpha,
                    problem("forgetting"),
                ),
            ),
            (
                "controls",
                "auforget controls",
                lambda: sections.section_controls(
                    read(ev.controls, lookup.controls_evidence), problem("controls")
                ),
            ),
        ]
    )
    return [
        (
            "table1",
            "auforget transfer",
            lambda: sections.section_pain(lookup.pain_models(ev), champion, words),
        ),
        (
            "emotion",
            "auforget emotion",
            lambda: sections.section_emotion(lookup.emotion_model(ev), problem("emotion"), words),
        ),
        (
            "forgetting",
            "auforget forgetting",
            lambda: sections.section_forgetting(
                read(ev.forgetting, lookup.forgetting_evidence),
                alpha,
                problem("forgetting"),
                words,
                lookup.mcnemar_withdrawn(ev.controls),
            ),
        ),
        (
            "saliency",
            "auforget saliency",
            lambda: sections.section_saliency(
                read(ev.saliency, lookup.saliency_evidence), alpha, problem("saliency"), words
            ),
        ),
        (
            "probes",
            "auforget probes",
            lambda: sections.section_probes(
                [lookup.probe_evidence(run, folder) for run in ev.probes],
                alpha,
                problem("probes"),
                words,
            ),
        ),
        (
            "tradeoff",
            "auforget promote",
            lambda: sections.section_tradeoff(
                read(ev.promote, lookup.tradeoff_evidence), problem("promote"), words
            ),
        ),
        (
            "champion",
            "auforget promote",
            lambda: sections.section_champion(lookup.champion_evidence(ev), problem("champion")),
        ),
        (
            findings.ANCHOR,
            "auforget forgetting && auforget cka",
            lambda: findings.section_findings(
                findings.findings_evidence(ev.forgetting, ev.cka, folder, ev.survey),
                alpha,
                problem("forgetting") or problem("cka"),
                words,
                lookup.mcnemar_withdrawn(ev.controls),
            ),
        ),
        (
            "seeds",
            "auforget main",
            lambda: sections.section_seeds(
                lookup.seed_evidence(ev, seeds, folder) if ev.forgetting is not None else None,
                alpha,
                problem("forgetting"),
                words,
            ),
        ),
        *planted,
    ]


def build_sections(
    ev: Evidence,
    alpha: float,
    folder: Path,
    seeds: tuple[int, ...] = (0,),
    planted_k: int | None = None,
    association: pd.DataFrame | None = None,
    words: TaskWords = PAPER_WORDS,
) -> list[Section]:
    """Every section in reading order, in the study's words; a section whose evidence is broken
    says so instead of failing."""
    out = []
    built = _builders(ev, alpha, folder, seeds, planted_k, association, words)
    for anchor, command, build in built:
        try:
            out.append(build())
        except EVIDENCE_ERRORS as exc:
            log.warning("report: section %s is not available: %s", anchor, exc)
            out.append(
                Section(
                    anchor,
                    sections.titles(words)[anchor],
                    missing(command, f"its evidence could not be read: {exc}"),
                    False,
                )
            )
    return out


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
    """Make sure `path` is the report of the reused run: download it when absent or another
    report."""
    marker = f'<meta name="{KEY_META}" content="{key}">'
    if path.exists() and marker in path.read_text(encoding="utf-8", errors="replace"):
        return
    with tempfile.TemporaryDirectory() as tmp:
        local = stage_runs.run_artifact(run.info.run_id, f"{ARTIFACT_DIR}/{REPORT_FILE}", Path(tmp))
        _write(path, local.read_text(encoding="utf-8"))


def run_report(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    """Write `<report.out>/report.html` from the study's runs and log it; returns the section
    counts.

    With reuse, a FINISHED report run over the same runs, parameters and code is not repeated;
    its report is downloaded to `report.out` if the file there is missing or another one.
    """
    cfg = params.report
    connection.configure(params.tracking)
    ev = collect(params.freeze_levels, params.model.backbone)
    association = (
        planted.association_or_none(params.data.splits_dir, "report")
        if params.data.synthetic and params.data.kind == "native"
        else None
    )
    words = task_words(params)
    key = fingerprint(
        "report",
        flat(cfg),
        dataclasses.asdict(words),  # the page's words (a manifest pair's, or the paper's)
        params.data.synthetic,
        params.forgetting.alpha,
        ev.identity(),
        association.to_csv(index=False) if association is not None else "",
        *(
            [params.study.seeds, lookup.seed_run_ids(params.study.seeds)]
            if len(params.study.seeds) > 1
            else []
        ),
    )
    path = Path(cfg.out) / REPORT_FILE
    if reuse and (done := stage_runs.find_finished_run(key)):
        with _download_bars(progress):
            _restore(done, path, key)
        return stage_runs.reused(done, "report")
    tags = {"auforget.key": key, **{f"auforget.upstream_run.{n}": r for n, r in ev.runs().items()}}
    with (
        stage_runs.stage_run("report", flat(cfg, "report."), tags=tags) as run,
        tempfile.TemporaryDirectory() as tmp,
        _download_bars(progress),
    ):
        # real data have no planted truth: that section is left out (and the log says so)
        # (a manifest study's planted answer is its example's own: examples/<pair>/README.md)
        native_synthetic = params.data.synthetic and params.data.kind == "native"
        planted_k = params.probes.k if native_synthetic else None
        if planted_k is None:
            log.info(
                "report: no planted-truth section (data.synthetic is false: real data plant "
                "nothing)"
                if not params.data.synthetic
                else "report: no planted-truth section (a manifest world's planted answer is "
                "its example's)"
            )
        shown = build_sections(
            ev,
            params.forgetting.alpha,
            Path(tmp),
            params.study.seeds,
            planted_k,
            association,
            words,
        )
        info = PageInfo(
            key=key,
            report_run=run.info.run_id,
            code_version=identity.code_version(),
            generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            tracking_uri=_display_uri(mlflow.get_tracking_uri()),
            synthetic=params.data.synthetic,
            intro=_intro(params),
            title=render.manifest_title(words) if params.data.kind == "manifest" else "",
        )
        _write(path, page(shown, ev.provenance(), info, key_meta=KEY_META))
        metrics = {
            "report_sections": float(sum(s.available for s in shown)),
            "report_sections_missing": float(sum(not s.available for s in shown)),
        }
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(path), artifact_path=ARTIFACT_DIR)
    log.info(
        "report: %s (%d of %d sections available)", path, metrics["report_sections"], len(shown)
    )
    return metrics
