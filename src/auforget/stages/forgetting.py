"""`forgetting`: per-emotion recalls of the retrained models and McNemar tests between them.

Reads the per-sample test predictions of the base emotion model and of the six retrain runs
(FreezeB0..B5 conv blocks with new emotion output layers), and logs:
  - `recall_<emotion>_<model>` for model in base, b0..b5, the study's Figure 3 (recalls.png)
    and recalls.csv;
  - for each emotion and each FreezeBk vs FreezeB5, McNemar's test on that emotion's test
    samples, Holm-corrected across the emotions: metrics `mcnemar_p_<emotion>_b<k>_vs_b5`
    (raw) and `mcnemar_p_holm_<emotion>_b<k>_vs_b5`; mcnemar_vs_b5.csv holds counts,
    statistic, method (exact binomial below `forgetting.exact_below` discordant pairs,
    continuity-corrected chi-square otherwise), p and corrected p;
  - the full pairwise matrix over all seven models in mcnemar_pairwise.csv.
The run's `retrain.heads` parameter records how many output-layer heads each retrain averaged, so
the report can say what a recall is an average of. These are the single-seed view: the models of the
first seed of study.seeds. With several seeds forgetting_seeds.csv (and `seed_diff_*`, `seed_p_*`
metrics) gives, per emotion and FreezeBk, the mean recall difference Bk - B5 over seeds with a t
interval (training randomness) and the seeds' McNemar tests combined by signed Stouffer (test-image
sampling, in a direction every seed must share), Holm-corrected across emotions; with one seed the
interval is NaN ("n/a"). Its `excess_*` columns (`seed_excess_*` metrics) subtract, seed by seed,
the mean difference of the other seven emotions: full fine-tuning can cost every emotion some
recall, and these columns ask which emotions it costs *more* than the rest
(experiments/2026-11-27-transfer-lr/).

Findings with no verdict (analysis/findings.py): logit_excess.csv (`seed_logit_excess_*`,
`logit_excess_mde_*`) gives the same excess on the logit scale, declared before analysis, with its
minimum detectable effect at the study's number of seeds; mixed_logistic.csv (`mixed_p_*`,
`mixed_coef_*`) the per-image mixed logistic model across seeds for each FreezeBk of
`forgetting.mixed_freeze`.
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from auforget.analysis.findings import logit_excess, mixed_logistic, per_image_frame  # noqa: E402
from auforget.analysis.metrics import plot_file, write_metrics_json  # noqa: E402
from auforget.analysis.stats import holm, mcnemar, others_mean, seed_interval, stouffer  # noqa: E402
from auforget.core import artifacts
from auforget.core.config import EMOTIONS, FREEZE_LEVELS, Params, flat  # noqa: E402,F401

# noqa: E402
from auforget.core.identity import fingerprint  # noqa: E402
from auforget.data.study_names import PAPER_WORDS, TaskWords, capitalised, task_words  # noqa: E402
from auforget.tracking import connection, registry, stage_runs

log = logging.getLogger(__name__)

MODELS = ("base", "b0", "b1", "b2", "b3", "b4", "b5")  # VGG16's; other backbones: models_of


def models_of(tables) -> tuple[str, ...]:
    """The model names of a study's tables (dict keys or recall-table columns) in order: base,
    then b<k> for each freeze level the study trained."""
    levels = sorted(int(n[1:]) for n in tables if re.fullmatch(r"b\d+", str(n)))
    return ("base", *(f"b{k}" for k in levels))


def reference_of(tables) -> str:
    """The fully frozen model every FreezeBk is compared with: the highest level (b5 for VGG16)."""
    return models_of(tables)[-1]


def model_versions(
    seed: int | None = None,
    seeds: tuple[int, ...] = (),
    levels: tuple[int, ...] = FREEZE_LEVELS,
    backbone: str = "vgg16",
) -> dict[str, object]:
    """ModelVersion of the base emotion model and of each retrain model trained under `seed` (None:
    the plain aliases, i.e. the study's first seed), with what to run if missing; `levels` and
    `backbone` from Params.freeze_levels and model.backbone."""
    sx = "" if seed is None else registry.seed_suffix(seed, seeds)
    also = f" --seed {seed}" if sx else ""
    versions = {
        "base": registry.resolve_alias(
            registry.model_name(registry.EMOTION_MODEL, backbone),
            registry.BASE_ALIAS + sx,
            hint=f"run `auforget emotion{also}` (or `auforget main`) first",
        )
    }
    for i in levels:
        versions[f"b{i}"] = registry.resolve_alias(
            registry.model_name(registry.RETRAIN_MODEL, backbone),
            registry.freeze_alias(i) + sx,
            hint=f"run `auforget retrain --freeze {i}{also}` first",
        )
    return versions


def retrain_heads(versions: dict[str, object]) -> str:
    """The retrains' `retrain.heads` ("10", or "1, 10" when they differ; runs from before the
    parameter count as 1): the report says whether a recall comes from one set of output layers
    or from an average of several."""
    client = mlflow.MlflowClient()
    found = {
        client.get_run(v.run_id).data.params.get("retrain.heads", "1")
        for n, v in versions.items()
        if n != "base"
    }
    return ", ".join(sorted(found, key=int))


def load_predictions(versions: dict[str, object], folder: Path) -> dict[str, pd.DataFrame]:
    """predictions.csv of each model's run, indexed by sample_id and checked to cover one test
    set."""
    tables = {}
    for name, version in versions.items():
        path = stage_runs.run_artifact(version.run_id, artifacts.PREDICTIONS, folder / name)
        tables[name] = (
            pd.read_csv(path, dtype={"sample_id": str}).set_index("sample_id").sort_index()
        )
    ref = reference_of(tables)
    reference = tables[ref]
    for name, table in tables.items():
        if (
            not table.index.equals(reference.index)
            or not (table["true_label"] == reference["true_label"]).all()
        ):
            raise ValueError(
                f"the test predictions of {name} (run {versions[name].run_id}) cover other "
                f"samples than those of {ref} (run {versions[ref].run_id}); retrain both on the "
                "same splits"
            )
    return tables


def class_names(tables: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    """The source task's classes in label order, from the predictions' prob_<class> columns (the
    data's names: AffectNet's emotions natively, the source manifest's classes otherwise)."""
    table = next(iter(tables.values()))
    found = tuple(c[len("prob_") :] for c in table.columns if c.startswith("prob_"))
    return found or EMOTIONS


def recall_table(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for e, emotion in enumerate(class_names(tables)):
        row = {
            "emotion": emotion,
            "n": int((tables[reference_of(tables)]["true_label"] == e).sum()),
        }
        for name, table in tables.items():
            of_class = table[table["true_label"] == e]
            row[name] = (
                float((of_class["pred_label"] == e).mean()) if len(of_class) else float("nan")
            )
        rows.append(row)
    return pd.DataFrame(rows)


def mcnemar_rows(
    tables: dict[str, pd.DataFrame], pairs: list[tuple[str, str]], exact_below: int
) -> pd.DataFrame:
    """One row per (pair, emotion); Holm correction across the emotions of each pair."""
    rows = []
    for a, b in pairs:
        block = []
        for e, emotion in enumerate(class_names(tables)):
            mask = (tables[a]["true_label"] == e).to_numpy()
            correct_a = (tables[a]["pred_label"] == e).to_numpy()[mask]
            correct_b = (tables[b]["pred_label"] == e).to_numpy()[mask]
            if mask.sum() == 0:
                block.append(
                    {
                        "model_a": a,
                        "model_b": b,
                        "emotion": emotion,
                        "n": 0,
                        "n01": 0,
                        "n10": 0,
                        "statistic": float("nan"),
                        "method": "none",
                        "pvalue": float("nan"),
                    }
                )
                continue
            r = mcnemar(correct_a, correct_b, exact_below=exact_below)
            block.append(
                {
                    "model_a": a,
                    "model_b": b,
                    "emotion": emotion,
                    "n": int(mask.sum()),
                    "n01": r.n01,
                    "n10": r.n10,
                    "statistic": r.statistic,
                    "method": r.method,
                    "pvalue": r.pvalue,
                }
            )
        adjusted = holm([row["pvalue"] for row in block])
        for row, p in zip(block, adjusted):
            row["pvalue_holm"] = float(p)
        rows.extend(block)
    return pd.DataFrame(rows)


def plot_recalls(recalls: pd.DataFrame, path: Path, words: TaskWords = PAPER_WORDS) -> None:
    """The study's Figure 3: recall per source class for each FreezeB model (base model as a
    marker), titled in the study's words."""
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.13
    x = np.arange(len(recalls))
    levels = models_of(recalls.columns)[1:]
    width = 0.78 / len(levels)
    for j, name in enumerate(levels):
        ax.bar(
            x + (j - (len(levels) - 1) / 2) * width,
            recalls[name],
            width,
            label=f"FreezeB{name[1:]}",
        )
    ax.scatter(
        x,
        recalls["base"],
        marker="_",
        s=400,
        color="black",
        label=f"base {words.source} model",
        zorder=3,
    )
    ax.set_xticks(x, recalls["emotion"])
    ax.set_ylabel("recall (retrained output layers)")
    ax.set_ylim(0, 1)
    ax.legend(ncol=4, fontsize=8)
    ax.set_title(f"{capitalised(words.source)} recall after {words.target} transfer (forgetting)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def forgetting_tables(tables: dict[str, pd.DataFrame], exact_below: int) -> dict[str, pd.DataFrame]:
    """The three tables of the stage, by artifact name: recalls, McNemar vs FreezeB5, all pairs."""
    models, ref = models_of(tables), reference_of(tables)
    return {
        artifacts.RECALLS_CSV: recall_table(tables),
        artifacts.MCNEMAR_VS_B5_CSV: mcnemar_rows(
            tables, [(m, ref) for m in models[1:-1]], exact_below
        ),
        artifacts.MCNEMAR_PAIRWISE_CSV: mcnemar_rows(
            tables, list(itertools.combinations(models, 2)), exact_below
        ),
    }


def forgetting_metrics(
    recalls: pd.DataFrame, vs_b5: pd.DataFrame, alpha: float
) -> dict[str, float]:
    """Recalls and McNemar p-values as flat MLflow metrics; NaN (an emotion without test samples)
    left out."""
    metrics: dict[str, float] = {}
    models, ref = models_of(recalls.columns), reference_of(recalls.columns)
    for row in recalls.itertuples():
        for name in models:
            metrics[artifacts.recall_metric(row.emotion, name)] = getattr(row, name)
    for row in vs_b5.itertuples():
        metrics[artifacts.mcnemar_metric(row.emotion, row.model_a, holm=False, ref=ref)] = (
            row.pvalue
        )
        metrics[artifacts.mcnemar_metric(row.emotion, row.model_a, holm=True, ref=ref)] = (
            row.pvalue_holm
        )
    metrics["n_significant_vs_b5"] = int((vs_b5["pvalue_holm"] < alpha).sum())
    return {k: float(v) for k, v in metrics.items() if not pd.isna(v)}


def seed_forgetting(
    recalls: dict[int, pd.DataFrame], vs_b5: dict[int, pd.DataFrame]
) -> pd.DataFrame:
    """Across seeds, per emotion and FreezeBk (k < 5): the recall differences Bk - B5 of each seed,
    their mean with a t interval, and the seeds' McNemar p-values combined by signed Stouffer
    (sign = direction of that seed's difference), Holm-corrected across the emotions of each k.
    `recalls[s]` / `vs_b5[s]` are the recall_table / McNemar-vs-B5 rows of seed s."""
    seeds = list(recalls)
    rows = []
    models = models_of(recalls[seeds[0]].columns)
    ref = models[-1]
    for name in models[1:-1]:
        block, per_seed = [], []
        for emotion in recalls[seeds[0]]["emotion"]:
            diffs = [
                float(_recall(recalls[s], emotion, name) - _recall(recalls[s], emotion, ref))
                for s in seeds
            ]
            pvalues = [_pvalue(vs_b5[s], emotion, name) for s in seeds]
            ci = seed_interval(diffs)
            block.append(
                {
                    "emotion": emotion,
                    "model": name,
                    "reference": ref,
                    "n_seeds": ci.n,
                    "diffs": " ".join(f"{d:+.4f}" for d in diffs),
                    "diff_mean": ci.mean,
                    "diff_low": ci.low,
                    "diff_high": ci.high,
                    "p_combined": stouffer(pvalues, diffs),
                }
            )
            per_seed.append(diffs)
        for row, p in zip(block, holm([row["p_combined"] for row in block])):
            row["p_combined_holm"] = float(p)
        _add_excess(block, np.asarray(per_seed, dtype=float))
        rows.extend(block)
    return pd.DataFrame(rows)


def _add_excess(block: list[dict], per_seed: np.ndarray) -> None:
    """Each emotion's per-seed difference (`per_seed`: emotions x seeds, in block order) minus the
    other emotions' mean difference in that seed (`stats.others_mean`), with a t interval over
    seeds."""
    for row, values in zip(block, per_seed - others_mean(per_seed)):
        ci = seed_interval(values)
        row.update(
            {
                "excess_diffs": " ".join(f"{d:+.4f}" for d in values),
                "excess_mean": ci.mean,
                "excess_low": ci.low,
                "excess_high": ci.high,
            }
        )


def _recall(table: pd.DataFrame, emotion: str, model: str) -> float:
    return float(table.loc[table["emotion"] == emotion, model].iloc[0])


def _pvalue(table: pd.DataFrame, emotion: str, model: str) -> float:
    return float(
        table.loc[(table["emotion"] == emotion) & (table["model_a"] == model), "pvalue"].iloc[0]
    )


def seed_metrics(across: pd.DataFrame, alpha: float) -> dict[str, float]:
    """forgetting_seeds.csv as flat metrics; NaN (one seed: no interval) left out by the caller."""
    metrics: dict[str, float] = {}
    for row in across.itertuples():
        for part in ("mean", "low", "high"):
            metrics[artifacts.seed_diff_metric(row.emotion, row.model, part, row.reference)] = (
                getattr(row, f"diff_{part}")
            )
            metrics[artifacts.seed_excess_metric(row.emotion, row.model, part, row.reference)] = (
                getattr(row, f"excess_{part}")
            )
        ref = row.reference
        metrics[artifacts.seed_p_metric(row.emotion, row.model, holm=False, ref=ref)] = (
            row.p_combined
        )
        metrics[artifacts.seed_p_metric(row.emotion, row.model, holm=True, ref=ref)] = (
            row.p_combined_holm
        )
    metrics["n_seeds"] = int(across["n_seeds"].max()) if len(across) else 0
    metrics["n_significant_across_seeds"] = int((across["p_combined_holm"] < alpha).sum())
    return metrics


def seed_findings(
    by_seed: dict[int, dict[str, pd.DataFrame]],
    predictions: dict[int, dict[str, pd.DataFrame]],
    mixed_freeze: tuple[int, ...],
    alpha: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The findings with no verdict (analysis/findings.py): the logit-scale excess of every
    FreezeBk the study trained below the fully frozen level (b5 for VGG16, b13 for the paper
    ViT) with its MDE, and the mixed logistic model of each k in `mixed_freeze` that it
    trained, each against that fully frozen model, over the source task's own classes."""
    first = next(iter(by_seed.values()))[artifacts.RECALLS_CSV]
    reference = reference_of(first.columns)
    trained = [m for m in models_of(first.columns) if m not in ("base", reference)]
    classes = class_names(next(iter(predictions.values())))
    logit = logit_excess(
        {s: t[artifacts.RECALLS_CSV] for s, t in by_seed.items()},
        classes,
        trained,
        alpha=alpha,
        reference=reference,
    )
    fits = []
    for k in (k for k in mixed_freeze if f"b{k}" in trained):
        started = time.monotonic()
        frame = per_image_frame(predictions, f"b{k}", classes, reference)
        fit = mixed_logistic(frame, classes)
        fits.append(fit.assign(model=f"b{k}", seconds=time.monotonic() - started))
        log.info(
            "forgetting: mixed logistic model of FreezeB%d in %.1f s",
            k,
            fits[-1]["seconds"].iloc[0],
        )
    mixed = pd.concat(fits, ignore_index=True) if fits else pd.DataFrame(columns=MIXED_COLUMNS)
    return logit, mixed


LOGIT_COLUMNS = (
    "emotion",
    "model",
    "logit_excess_mean",
    "logit_excess_low",
    "logit_excess_high",
    "logit_excess_mde",
)
MIXED_COLUMNS = ("emotion", "coef", "sd", "z", "p", "n_rows", "n_seeds", "n_images", "model")


def findings_metrics(logit: pd.DataFrame, mixed: pd.DataFrame) -> dict[str, float]:
    """logit_excess.csv and mixed_logistic.csv as flat metrics; NaN (one seed: no interval, no
    MDE) left out."""
    metrics: dict[str, float] = {}
    for row in logit.itertuples():
        for part in ("mean", "low", "high"):
            metrics[artifacts.seed_logit_excess_metric(row.emotion, row.model, part)] = getattr(
                row, f"logit_excess_{part}"
            )
        metrics[artifacts.logit_mde_metric(row.emotion, row.model)] = row.logit_excess_mde
    for row in mixed.itertuples():
        metrics[artifacts.mixed_p_metric(row.emotion, row.model)] = row.p
        metrics[artifacts.mixed_coef_metric(row.emotion, row.model)] = row.coef
    return {k: float(v) for k, v in metrics.items() if not pd.isna(v)}


def run_forgetting(
    params: Params, *, progress: bool = True, reuse: bool = False
) -> dict[str, float]:
    cfg, seeds = params.forgetting, params.study.seeds
    connection.configure(params.tracking)
    per_seed = {
        s: model_versions(s, seeds, params.freeze_levels, params.model.backbone) for s in seeds
    }
    versions = per_seed[seeds[0]]
    words = task_words(params)
    key = fingerprint(
        "forgetting",
        flat(cfg),
        (words.source, words.target),  # Figure 3's title
        {n: (v.run_id, v.version) for n, v in versions.items()},
        *(
            [{s: {n: v.run_id for n, v in vs.items()} for s, vs in per_seed.items()}]
            if len(seeds) > 1
            else []
        ),
    )
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, "forgetting")
        write_metrics_json("forgetting", metrics, params.study.metrics_path)
        return metrics
    tags = {
        "auforget.key": key,
        **{f"auforget.upstream_run.{n}": v.run_id for n, v in versions.items()},
    }
    with (
        stage_runs.stage_run(
            "forgetting",
            {
                **flat(cfg, "forgetting."),
                "study.seeds": ",".join(map(str, seeds)),
                "retrain.heads": retrain_heads(versions),
            },
            tags=tags,
        ),
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp) / "out"
        out.mkdir()
        predictions = {
            s: load_predictions(vs, Path(tmp) / f"downloads-{s}") for s, vs in per_seed.items()
        }
        by_seed = {s: forgetting_tables(p, cfg.exact_below) for s, p in predictions.items()}
        tables = by_seed[seeds[0]]
        recalls, vs_b5 = tables[artifacts.RECALLS_CSV], tables[artifacts.MCNEMAR_VS_B5_CSV]
        across = seed_forgetting(
            {s: t[artifacts.RECALLS_CSV] for s, t in by_seed.items()},
            {s: t[artifacts.MCNEMAR_VS_B5_CSV] for s, t in by_seed.items()},
        )
        metrics = forgetting_metrics(recalls, vs_b5, cfg.alpha)
        metrics.update(
            {k: float(v) for k, v in seed_metrics(across, cfg.alpha).items() if not pd.isna(v)}
        )
        logit, mixed = seed_findings(by_seed, predictions, cfg.mixed_freeze, cfg.alpha)
        metrics.update(findings_metrics(logit, mixed))
        for name, frame in {
            **tables,
            artifacts.FORGETTING_SEEDS_CSV: across,
            artifacts.LOGIT_EXCESS_CSV: logit,
            artifacts.MIXED_LOGISTIC_CSV: mixed,
        }.items():
            frame.to_csv(out / name, index=False)
        plot_recalls(recalls, out / artifacts.RECALLS_PNG, words)
        shutil.copyfile(
            out / artifacts.RECALLS_PNG,
            plot_file("forgetting", artifacts.RECALLS_PNG, params.study.plots_path),
        )  # dvc plots
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out))
        log.info(
            "forgetting: %d of %d emotion x model comparisons against FreezeB5 significant after "
            "Holm (alpha %s); %d across %d seed(s)",
            int(metrics["n_significant_vs_b5"]),
            len(vs_b5),
            cfg.alpha,
            int(metrics["n_significant_across_seeds"]),
            len(seeds),
        )
    write_metrics_json("forgetting", metrics, params.study.metrics_path)
    return metrics
