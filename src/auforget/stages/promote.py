"""`promote`: choose the best pain/emotion trade-off and alias it `auforget-pain@champion`.

The study's Figure 6 puts each FreezeB model's pain recall against the recalls of the
emotions it forgets most (surprise and contempt by default, `promote.emotions`). The rule
(params.yaml `promote`):

  1. candidates = the Pareto-optimal models over (pain recall, recall of each chosen emotion)
     whose pain recall is at least `min_pain_recall`;
  2. score = pain_weight * pain recall + (1 - pain_weight) * mean chosen-emotion recall;
  3. the highest score wins; ties go to higher pain recall, then to fewer frozen blocks.

Pain recall comes from the transfer run (test_recall_pain) and the emotion recalls from the
retrain run of the same FreezeB model (test_recall_<emotion>). The champion version is tagged
with the rule and the numbers that decided it. Running promote again on the same runs
changes nothing in the registry.

With several seeds (study.seeds) the rule runs on the seed-averaged recalls (each seed's transfer
and retrain runs, aliases `freezeb<i>-seed<s>`), the champion is the first seed's pain model of
the chosen FreezeB (the plain alias `freezeb<i>`), and `champion_seed_stability` (metric and tag)
says how often the rule, run on one seed's numbers alone, chose the same FreezeB.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from auforget.analysis.metrics import PLOTS_DIR, plot_file, write_metrics_json  # noqa: E402
from auforget.core import artifacts
from auforget.core.config import FREEZE_LEVELS, Params, PromoteConfig, flat  # noqa: E402

# noqa: E402
from auforget.core.identity import fingerprint  # noqa: E402
from auforget.data.study_names import PAPER_WORDS, study_names, task_words
from auforget.tracking import connection, registry, stage_runs

log = logging.getLogger(__name__)


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Boolean mask of rows not dominated by any other row (all objectives maximised)."""
    points = np.asarray(points, dtype=float)
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        others = np.delete(points, i, axis=0)
        keep[i] = not np.any(np.all(others >= p, axis=1) & np.any(others > p, axis=1))
    return keep


def tradeoff_rows(
    cfg: PromoteConfig,
    suffix: str = "",
    levels: tuple[int, ...] = FREEZE_LEVELS,
    backbone: str = "vgg16",
    focus: str = "pain",
) -> pd.DataFrame:
    """One row per FreezeB model from the registry: pain recall (transfer run), the chosen emotions'
    recalls (retrain run of the same FreezeB model), and which versions and runs they come from.
    `suffix` picks a seed's models (registry.seed_suffix; "" = the first seed's); `levels` and
    `backbone` the study's freeze levels and registered names (Params.freeze_levels); `focus` is
    the target class whose recall is traded (study_names: pain natively, data.target_focus or the
    macro recall on manifest data); the column keeps its name, pain_recall."""
    client = MlflowClient()
    rows = []
    for i in levels:
        pain = registry.resolve_alias(
            registry.model_name(registry.PAIN_MODEL, backbone),
            registry.freeze_alias(i) + suffix,
            hint=f"run `auforget transfer --freeze {i}` (or `auforget main`) first",
        )
        retrain = registry.resolve_alias(
            registry.model_name(registry.RETRAIN_MODEL, backbone),
            registry.freeze_alias(i) + suffix,
            hint=f"run `auforget retrain --freeze {i}` (or `auforget main`) first",
        )
        pain_metrics = client.get_run(pain.run_id).data.metrics
        emotion_metrics = client.get_run(retrain.run_id).data.metrics
        row = {
            "model": f"FreezeB{i}",
            "freeze": i,
            "pain_version": str(pain.version),
            "pain_run": pain.run_id,
            "retrain_run": retrain.run_id,
            "pain_recall": pain_metrics[artifacts.test_metric("recall", focus)],
            "pain_f1_macro": pain_metrics.get(artifacts.test_metric("f1", "macro"), float("nan")),
        }
        for emotion in cfg.emotions:
            row[f"recall_{emotion}"] = emotion_metrics[artifacts.test_metric("recall", emotion)]
        rows.append(row)
    return pd.DataFrame(rows)


def score_models(rows: pd.DataFrame, cfg: PromoteConfig) -> pd.DataFrame:
    """The rule's columns added to `rows` (model, freeze, pain_recall, recall_<emotion>):
    pareto, emotion_recall_mean, score, eligible."""
    table = rows.copy()
    objectives = ["pain_recall"] + [f"recall_{e}" for e in cfg.emotions]
    table["pareto"] = pareto_front(table[objectives].to_numpy())
    table["emotion_recall_mean"] = table[[f"recall_{e}" for e in cfg.emotions]].mean(axis=1)
    table["score"] = (
        cfg.pain_weight * table["pain_recall"]
        + (1 - cfg.pain_weight) * table["emotion_recall_mean"]
    )
    table["eligible"] = table["pareto"] & (table["pain_recall"] >= cfg.min_pain_recall)
    return table


def choose(table: pd.DataFrame) -> pd.Series:
    eligible = table[table["eligible"]]
    if eligible.empty:
        raise ValueError(
            f"no FreezeB model is Pareto-optimal with pain recall >= the configured minimum "
            f"(best pain recall {table['pain_recall'].max():.3f}); lower promote.min_pain_recall"
        )
    ranked = eligible.sort_values(
        ["score", "pain_recall", "freeze"], ascending=[False, False, True]
    )
    return ranked.iloc[0]


def seed_average(per_seed: dict[int, pd.DataFrame]) -> pd.DataFrame:
    """The rows of several seeds averaged per FreezeB model; versions and runs stay the first seed's
    (the champion alias goes to that seed's model)."""
    first = next(iter(per_seed.values()))
    numbers = [
        c for c in first.columns if c.startswith("recall_") or c in ("pain_recall", "pain_f1_macro")
    ]
    mean = pd.concat(per_seed.values()).groupby("freeze", sort=True)[numbers].mean()
    table = first.set_index("freeze").copy()
    table[numbers] = mean.loc[table.index, numbers]
    return table.reset_index()[first.columns]


def seed_choices(per_seed: dict[int, pd.DataFrame], cfg: PromoteConfig) -> dict[int, int]:
    """The FreezeB the rule chooses from each seed's numbers alone (-1 where none is eligible)."""
    choices = {}
    for seed, rows in per_seed.items():
        try:
            choices[seed] = int(choose(score_models(rows, cfg))["freeze"])
        except ValueError:
            choices[seed] = -1
    return choices


def stability(choices: dict[int, int], champion_freeze: int) -> float:
    """Share of seeds whose own choice is the seed-averaged champion (1.0 with one seed)."""
    return sum(c == champion_freeze for c in choices.values()) / len(choices)


def plot_tradeoff(
    table: pd.DataFrame,
    cfg: PromoteConfig,
    champion: pd.Series,
    path: Path,
    target: str = "pain",
    pair: str = PAPER_WORDS.pair,
) -> None:
    """Figure 6: pain (`target`, the traded target class) recall against each chosen emotion's
    recall, Pareto models ringed; `pair` names the two tasks in the title (TaskWords)."""
    fig, axes = plt.subplots(
        1, len(cfg.emotions), figsize=(4.5 * len(cfg.emotions), 4), squeeze=False
    )
    for ax, emotion in zip(axes[0], cfg.emotions):
        x, y = table[f"recall_{emotion}"], table["pain_recall"]
        ax.scatter(x, y, color="tab:blue", zorder=2)
        front = table[table["pareto"]]
        ax.scatter(
            front[f"recall_{emotion}"],
            front["pain_recall"],
            s=180,
            facecolors="none",
            edgecolors="tab:orange",
            linewidths=2,
            label="Pareto-optimal",
            zorder=3,
        )
        ax.scatter(
            [champion[f"recall_{emotion}"]],
            [champion["pain_recall"]],
            marker="*",
            s=300,
            color="tab:red",
            label="champion",
            zorder=4,
        )
        for _, row in table.iterrows():
            ax.annotate(
                row["model"],
                (row[f"recall_{emotion}"], row["pain_recall"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
        ax.set_xlabel(f"{emotion} recall (retrained)")
        ax.set_ylabel(f"{target} recall")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"{pair} trade-off of the FreezeB models")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def rule_text(cfg: PromoteConfig, target: str = "pain") -> str:
    """The rule in words; `target` names the target class whose recall is traded (the data's)."""
    return (
        f"Pareto-optimal over {target} recall and recall of {', '.join(cfg.emotions)}, {target} "
        f"recall >= {cfg.min_pain_recall}; max {cfg.pain_weight} * {target} recall + "
        f"{1 - cfg.pain_weight:g} * mean {'emotion' if target == 'pain' else 'source-class'} "
        "recall"
    )


def champion_tags(
    table: pd.DataFrame, champion: pd.Series, cfg: PromoteConfig, target: str = "pain"
) -> dict[str, str]:
    """The champion version's tags: the rule and the numbers that chose it."""
    prefix = artifacts.CHAMPION_TAG_PREFIX
    return {
        artifacts.CHAMPION_RULE_TAG: rule_text(cfg, target),
        f"{prefix}score": f"{champion['score']:.4f}",
        f"{prefix}{target}_recall": f"{champion['pain_recall']:.4f}",
        **{f"{prefix}recall_{e}": f"{champion[f'recall_{e}']:.4f}" for e in cfg.emotions},
        f"{prefix}pareto_models": ",".join(table.loc[table["pareto"], "model"]),
    }


def champion_metrics(
    champion: pd.Series, cfg: PromoteConfig, target: str = "pain"
) -> dict[str, float]:
    """champion_freeze, champion_score, champion_<target>_recall (champion_pain_recall on the
    paper's data) and champion_recall_<emotion>."""
    return {
        "champion_freeze": float(champion["freeze"]),
        "champion_score": float(champion["score"]),
        f"champion_{target}_recall": float(champion["pain_recall"]),
        **{f"champion_recall_{e}": float(champion[f"recall_{e}"]) for e in cfg.emotions},
    }


def log_promote_run(
    table: pd.DataFrame,
    champion: pd.Series,
    cfg: PromoteConfig,
    key: str,
    metrics: dict[str, float],
    seed_table: pd.DataFrame | None = None,
    target: str = "pain",
    plots: Path = PLOTS_DIR,
    pair: str = PAPER_WORDS.pair,
) -> None:
    """A `promote` run with the trade-off table (seed-averaged; each seed's rows in
    tradeoff_seeds.csv), Figure 6, the rule and the champion's numbers."""
    with (
        stage_runs.stage_run("promote", flat(cfg, "promote."), tags={"auforget.key": key}),
        tempfile.TemporaryDirectory() as tmp,
    ):
        out = Path(tmp)
        table.to_csv(out / artifacts.TRADEOFF_CSV, index=False)
        if seed_table is not None:
            seed_table.to_csv(out / artifacts.TRADEOFF_SEEDS_CSV, index=False)
        plot_tradeoff(table, cfg, champion, out / artifacts.TRADEOFF_PNG, target, pair)
        shutil.copyfile(
            out / artifacts.TRADEOFF_PNG, plot_file("promote", artifacts.TRADEOFF_PNG, plots)
        )  # dvc plots
        (out / artifacts.RULE_TXT).write_text(
            f"{rule_text(cfg, target)}\nchampion: {champion['model']} (auforget-pain version "
            f"{champion['pain_version']})\n"
        )
        mlflow.log_artifacts(str(out))
        mlflow.log_metrics(metrics)
        mlflow.set_tag(artifacts.CHAMPION_TAG, champion["model"])


def run_promote(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg, seeds = params.promote, params.study.seeds
    connection.configure(params.tracking)
    levels, backbone = params.freeze_levels, params.model.backbone
    names = study_names(params)
    names.check_source_classes("promote.emotions", cfg.emotions)
    per_seed = {
        s: tradeoff_rows(cfg, registry.seed_suffix(s, seeds), levels, backbone, names.target_focus)
        for s in seeds
    }
    table = score_models(seed_average(per_seed), cfg)
    champion = choose(table)
    choices = seed_choices(per_seed, cfg)
    share = stability(choices, int(champion["freeze"]))
    runs = [rows[["pain_run", "retrain_run"]].values.tolist() for rows in per_seed.values()]
    words = task_words(params)
    key = fingerprint("promote", flat(cfg), words.pair, *(runs if len(seeds) > 1 else runs[:1]))
    target = names.target_focus
    metrics = {
        **champion_metrics(champion, cfg, target),
        artifacts.SEED_STABILITY: share,
        "n_seeds": float(len(seeds)),
    }
    if reuse and (done := stage_runs.find_finished_run(key)):
        stage_runs.reused(done, "promote")
    else:
        seed_table = pd.concat(
            [
                rows.assign(seed=s, seed_choice=f"FreezeB{choices[s]}")
                for s, rows in per_seed.items()
            ]
        )
        log_promote_run(
            table,
            champion,
            cfg,
            key,
            metrics,
            seed_table,
            target,
            params.study.plots_path,
            words.pair,
        )
    stable = (
        f"{sum(c == int(champion['freeze']) for c in choices.values())}/{len(seeds)} seeds "
        f"({', '.join(f'seed {s}: FreezeB{c}' for s, c in choices.items())})"
    )
    _set_champion(
        str(champion["pain_version"]),
        {**champion_tags(table, champion, cfg, target), artifacts.SEED_STABILITY: stable},
        registry.model_name(registry.PAIN_MODEL, backbone),
    )
    log.info(
        "promote: %s (auforget-pain version %s) is the champion: %s; chosen by %s",
        champion["model"],
        champion["pain_version"],
        rule_text(cfg, target),
        stable,
    )
    write_metrics_json("promote", metrics, params.study.metrics_path)
    return metrics


def _set_champion(version: str, tags: dict[str, str], name: str = registry.PAIN_MODEL) -> None:
    """Move the alias and write the tags only where they differ, so a rerun changes nothing;
    `name` the registered pain model (registry.model_name of the backbone)."""
    client = MlflowClient()
    for previous in client.search_model_versions(f"name='{name}'"):
        if str(previous.version) != version:  # the champion_* tags belong to the champion only
            for k in [k for k in previous.tags if k.startswith(artifacts.CHAMPION_TAG_PREFIX)]:
                client.delete_model_version_tag(name, previous.version, k)
    current = client.get_model_version(name, version)
    for k, v in tags.items():
        if current.tags.get(k) != v:
            client.set_model_version_tag(name, version, k, v)
    try:
        holder = client.get_model_version_by_alias(name, registry.CHAMPION_ALIAS).version
    except Exception:  # no champion yet
        holder = None
    if str(holder) != version:
        client.set_registered_model_alias(name, registry.CHAMPION_ALIAS, version)
