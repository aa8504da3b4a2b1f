"""`compare`: the studies of several backbones side by side, on one HTML page.

Each backbone's study registers its own names (`auforget-pain-resnet50`, ...; VGG16's plain
`auforget-pain`), so studies on several backbones can share one store. For every backbone in
`compare.backbones` that has a registered study, the page shows

  - pain F1 (macro) and pain recall of each FreezeB<k> (`auforget-pain[-<backbone>]@freezeb<k>`);
  - the recall drop per emotion per freeze level: the base emotion model's test recall minus the
    recall after the FreezeB<k> model's output layers are retrained (`...-retrain@freezeb<k>`);
  - CKA per stage from each study's `cka` run (`cka_b<k>_block<j>`; "not available" otherwise);
  - the trade-off front over all backbones' FreezeB models together, and the champion across
    backbones chosen by promote's own rule (`promote.*`: Pareto-optimal, pain recall at least
    the minimum, best weighted score). That pain model version gets the alias
    `champion-across-backbones` (moved off any other backbone's pain model) and the rule's tags.

Writes `<compare.out>/compare.html`, logs it with `compare.csv` and `tradeoff.png` to a `compare`
run, with metrics `compare_champion_freeze` and tag `auforget.champion` ("<backbone> FreezeB<k>").
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from auforget.core import artifacts
from auforget.core.config import EMOTIONS, Params, flat
from auforget.core.identity import fingerprint
from auforget.stages import promote
from auforget.stages.report.render import CSS, esc, image, table
from auforget.tracking import connection, registry, stage_runs

log = logging.getLogger(__name__)

COMPARE_HTML, COMPARE_CSV, ACROSS_ALIAS = (
    artifacts.COMPARE_HTML,
    artifacts.COMPARE_CSV,
    artifacts.ACROSS_ALIAS,
)
CKA = re.compile(r"cka_b(\d+)_block(\d+)$")
NOT_AVAILABLE = "not available"


def freeze_levels_of(name: str, client: MlflowClient) -> list[int]:
    """The FreezeB levels registered under `name` (its freezeb<k> aliases); [] when none."""
    try:
        aliases = client.get_registered_model(name).aliases
    except Exception:  # not registered: that backbone's study has not run
        return []
    return sorted(int(m.group(1)) for a in aliases if (m := re.fullmatch(r"freezeb(\d+)", a)))


def backbone_rows(backbone: str, params: Params, client: MlflowClient) -> pd.DataFrame:
    """promote's trade-off rows of one backbone's study (every registered level), with the base
    model's recalls, the recall drops, pain F1 and CKA metrics; empty when it has no study."""
    levels = freeze_levels_of(registry.model_name(registry.PAIN_MODEL, backbone), client)
    if not levels:
        return pd.DataFrame()
    cfg = params.promote
    wide = promote.PromoteConfig(
        **{**cfg.__dict__, "emotions": EMOTIONS}
    )  # every emotion's recall for the drops; the rule still uses cfg.emotions
    rows = promote.tradeoff_rows(wide, "", tuple(levels), backbone)
    base = registry.resolve_alias(
        registry.model_name(registry.EMOTION_MODEL, backbone), registry.BASE_ALIAS, hint=""
    )
    base_metrics = client.get_run(base.run_id).data.metrics
    rows.insert(0, "backbone", backbone)
    rows["model"] = [f"{backbone} B{k}" for k in rows["freeze"]]
    for emotion in EMOTIONS:
        before = base_metrics.get(artifacts.test_metric("recall", emotion), float("nan"))
        rows[f"drop_{emotion}"] = before - rows[f"recall_{emotion}"]
    measured, upstream = cka_of(base.run_id, client)
    rows["cka"] = [
        {k: v for k, v in measured.items() if CKA.match(k).group(1) == str(level)}
        if upstream.get(str(level)) == pain_run
        else {}  # the cka run measured another FreezeB<level> than the one registered now
        for level, pain_run in zip(rows["freeze"], rows["pain_run"])
    ]
    return rows


def cka_of(base_run: str, client: MlflowClient) -> tuple[dict[str, float], dict[str, str]]:
    """The `cka_b<k>_block<j>` metrics of the newest finished `cka` run against this base model
    and the pain run it measured per level (stages/cka.py tags both); ({}, {}) when none."""
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=(
            f"attributes.run_name = 'cka' and attributes.status = 'FINISHED' "
            f"and tags.`auforget.upstream_run.base` = '{base_run}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return {}, {}
    prefix = "auforget.upstream_run."
    upstream = {
        k.removeprefix(prefix): v for k, v in runs[0].data.tags.items() if k.startswith(prefix)
    }
    return {k: v for k, v in runs[0].data.metrics.items() if CKA.match(k)}, upstream


def champion_across(rows: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.Series]:
    """promote's rule over every backbone's FreezeB models at once: (scored table, champion)."""
    scored = promote.score_models(rows, params.promote)
    return scored, promote.choose(scored)


def _cka_table(rows: pd.DataFrame) -> str:
    records = []
    for row in rows.itertuples():
        for key, value in sorted(row.cka.items()):
            k, j = CKA.match(key).groups()
            records.append(
                {"backbone": row.backbone, "freeze": int(k), "stage": int(j), "cka": value}
            )
    if not records:
        return (
            f"<p>CKA per stage: {NOT_AVAILABLE} (no run logs <code>cka_b&lt;k&gt;_block&lt;j&gt;"
            "</code> metrics).</p>"
        )
    frame = pd.DataFrame(records).pivot_table(
        index=["backbone", "freeze"], columns="stage", values="cka"
    )
    frame.columns = [f"stage {c}" for c in frame.columns]
    return table(frame.reset_index())


def render(scored: pd.DataFrame, champion: pd.Series, png: bytes, missing: list[str], cfg) -> str:
    """The whole page: pain F1, the recall drops, CKA, the front and the champion."""
    perf = scored[["backbone", "freeze", "pain_f1_macro", "pain_recall", "pareto", "score"]]
    drops = scored[["backbone", "freeze", *[f"drop_{e}" for e in EMOTIONS]]].rename(
        columns={f"drop_{e}": e for e in EMOTIONS}
    )
    parts = [
        "<h1>auforget: backbones side by side</h1>",
        f"<p>Backbones compared: {esc(', '.join(sorted(set(scored['backbone']))))}"
        + (f"; without a registered study: {esc(', '.join(missing))}" if missing else "")
        + ".</p>",
        "<h2>Pain performance per freeze level</h2>",
        table(perf),
        "<h2>Recall drop per emotion per freeze level</h2>",
        "<p>The base emotion model's test recall minus the recall after the FreezeB<i>k</i> "
        "model's output layers are retrained on emotions: what fine-tuning the unfrozen stages "
        "for pain cost each emotion (positive = forgotten).</p>",
        table(drops),
        "<h2>CKA per stage</h2>",
        _cka_table(scored),
        "<h2>The trade-off front and the champion across backbones</h2>",
        f"<p>{esc(promote.rule_text(cfg))}</p>",
        f"<p><b>Champion across backbones: {esc(champion['model'])}</b> "
        f"(<code>{esc(registry.model_name(registry.PAIN_MODEL, champion['backbone']))}</code> "
        f"version {esc(champion['pain_version'])}, alias <code>{ACROSS_ALIAS}</code>).</p>",
        image(png, "trade-off across backbones"),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>auforget backbone comparison</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def _move_alias(champion: pd.Series, backbones: tuple[str, ...], client: MlflowClient) -> None:
    """The across-backbones alias on the champion's pain model version only."""
    name = registry.model_name(registry.PAIN_MODEL, champion["backbone"])
    for other in backbones:
        other_name = registry.model_name(registry.PAIN_MODEL, other)
        if other_name != name and ACROSS_ALIAS in (
            getattr(_registered(other_name, client), "aliases", None) or {}
        ):
            client.delete_registered_model_alias(other_name, ACROSS_ALIAS)
    client.set_registered_model_alias(name, ACROSS_ALIAS, str(champion["pain_version"]))


def _registered(name: str, client: MlflowClient):
    try:
        return client.get_registered_model(name)
    except Exception:
        return None


def run_compare(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg = params.compare
    connection.configure(params.tracking)
    client = MlflowClient()
    frames, missing = [], []
    for backbone in cfg.backbones:
        rows = backbone_rows(backbone, params, client)
        (frames.append(rows) if len(rows) else missing.append(backbone))
    if not frames:
        raise ValueError(
            f"compare: none of compare.backbones {list(cfg.backbones)} has a registered study in "
            f"{mlflow.get_tracking_uri()}; run `auforget main` with model.backbone set first"
        )
    rows = pd.concat(frames, ignore_index=True)
    scored, champion = champion_across(rows, params)
    key = fingerprint("compare", flat(cfg), flat(params.promote), rows["pain_run"].tolist())
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "compare_champion_freeze": float(champion["freeze"]),
        "compare_backbones": float(len(frames)),
    }
    with stage_runs.stage_run("compare", flat(cfg, "compare."), tags={"auforget.key": key}):
        with tempfile.TemporaryDirectory() as tmp:
            png_path = Path(tmp) / artifacts.TRADEOFF_PNG
            promote.plot_tradeoff(scored, params.promote, champion, png_path)
            html = render(scored, champion, png_path.read_bytes(), missing, params.promote)
            (out / COMPARE_HTML).write_text(html, encoding="utf-8")
            scored.drop(columns=["cka"]).to_csv(Path(tmp) / COMPARE_CSV, index=False)
            (Path(tmp) / COMPARE_HTML).write_text(html, encoding="utf-8")
            mlflow.log_artifacts(tmp)
        mlflow.log_metrics(metrics)
        mlflow.set_tag(artifacts.CHAMPION_TAG, champion["model"])
    _move_alias(champion, cfg.backbones, client)
    log.info("compare: %s is the champion across backbones; page %s", champion["model"], out)
    return metrics
