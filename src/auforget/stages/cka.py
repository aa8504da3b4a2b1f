"""`cka`: how much each conv block changed when the emotion model was fine-tuned for pain.

Debiased linear CKA (analysis/cka.py) between the base emotion model and each pain model
FreezeBk (k in the study's freeze levels, the first seed of study.seeds), block by block (each
stage of the backbone; VGG16's blocks 1..5, each block's output), on the emotion test split: a
finding with no verdict, read beside the forgetting stage's recalls (a block that changed much
and an emotion that lost much are a lead, not a proof).
The pain model's blocks are those the retrain reads, unchanged.

A built-in check: FreezeBk froze blocks 1..k, so their CKA must read 1.0 (within
`cka.FROZEN_TOLERANCE`); `cka_frozen_ok` is 1 when every such block does and 0 otherwise, and
the run is tagged with the offending (k, block) pairs. With two or more seeds, the CKA between
the first two seeds' base models (`cka_floor_block<j>`) is the noise floor: how different two
trainings of the same recipe already are, block by block.

A block reset (cka.reset) asks which block's change costs which emotion: FreezeB0 is given back
the base model's block j, one block at a time, and each copy's output layers are retrained on
emotions by the retrain stage's recipe and seed, as is FreezeB0 itself with nothing given back.
Every arm shares the recipe and seed, so a gain in an emotion's recall is the block's alone
(up to the heads' training noise, which the `controls` step's FreezeB5' pairs measure); McNemar
against FreezeB0, Holm across every block and emotion. A finding, with no verdict. The reset reads
the first seed's models and the whole test split (cka.max_images caps the CKA only).

Writes cka.csv (k, block, cka; k "floor" for the two base models) and cka.png (heatmap of
k x block); with the reset, reset.csv (block, emotion, n, recall, recall_b0, gain, McNemar p)
and reset.png (heatmap of block x emotion gain); metrics `cka_b<k>_block<j>`,
`cka_floor_block<j>`, `cka_frozen_ok`, `reset_block<j>_gain_<emotion>`.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from auforget.analysis.cka import MinibatchCKA, frozen_problems  # noqa: E402
from auforget.analysis.metrics import write_metrics_json  # noqa: E402
from auforget.analysis.stats import holm  # noqa: E402
from auforget.core import artifacts  # noqa: E402
from auforget.core.config import Params, flat  # noqa: E402
from auforget.core.identity import fingerprint  # noqa: E402
from auforget.core.profiles import get_profile  # noqa: E402
from auforget.data.study_names import study_names, task_words  # noqa: E402
from auforget.data.task_data import load_task_data  # noqa: E402
from auforget.nn.training import make_loader, pick_device  # noqa: E402
from auforget.stages import forgetting  # noqa: E402
from auforget.tracking import connection, registry, stage_runs  # noqa: E402
from auforget.workflow import fitting  # noqa: E402
from auforget.workflow.recipes import Recipe, retrain_recipe  # noqa: E402

log = logging.getLogger(__name__)

FLOOR = "floor"


def _block_outputs(model, x: torch.Tensor) -> list[np.ndarray]:
    """Each block's output for batch x, flattened per image, in float64."""
    out = []
    for block in model.blocks:
        x = block(x)
        out.append(x.flatten(1).double().numpy())
    return out


@torch.no_grad()
def block_cka(
    reference, others: dict[str, object], loader, *, progress: bool = False
) -> dict[tuple[str, int], float]:
    """CKA of every block (stage, 1-based, of any backbone) between `reference` and each model
    of `others` over the loader's batches: {(name, block): cka}."""
    reference.eval()
    for model in others.values():
        model.eval()
    n_blocks = len(reference.blocks)
    acc = {(name, j): MinibatchCKA() for name in others for j in range(1, n_blocks + 1)}
    for x, _ in tqdm(loader, desc="cka", leave=False, disable=not progress):
        ref = _block_outputs(reference, x)
        for name, model in others.items():
            for j, feats in enumerate(_block_outputs(model, x), start=1):
                acc[(name, j)].update(ref[j - 1], feats)
    return {key: a.value() for key, a in acc.items()}


def cka_table(values: dict[tuple[str, int], float]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"k": name, "block": j, "cka": v} for (name, j), v in sorted(values.items())]
    )


def plot_cka(table: pd.DataFrame, path: Path, source: str = "emotion") -> None:
    """Heatmap: one row per FreezeBk (and the two seeds' base models), one column per block."""
    names = set(table["k"])
    rows = sorted((r for r in names if r != FLOOR), key=int) + ([FLOOR] if FLOOR in names else [])
    blocks = sorted(set(table["block"]))
    grid = np.array(
        [
            [table[(table["k"] == r) & (table["block"] == j)]["cka"].iloc[0] for j in blocks]
            for r in rows
        ]
    )
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(blocks) + 2), 0.5 * len(rows) + 1.5))
    im = ax.imshow(grid, vmin=min(0.0, float(np.nanmin(grid))), vmax=1.0, cmap="viridis")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.3f}", ha="center", va="center", fontsize=8, color="w")
    ax.set_xticks(range(len(blocks)), [f"block {j}" for j in blocks])
    ax.set_yticks(
        range(len(rows)),
        [f"FreezeB{r}" if r != FLOOR else "base seed A vs B" for r in rows],
    )
    fig.colorbar(im, ax=ax, label="debiased linear CKA with the base model")
    ax.set_title(f"How much each block changed ({source} test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def cka_metrics(values: dict[tuple[str, int], float]) -> dict[str, float]:
    metrics = {}
    for (name, j), v in values.items():
        metric = (
            artifacts.cka_floor_metric(j) if name == FLOOR else artifacts.cka_metric(int(name), j)
        )
        metrics[metric] = v
    problems = frozen_problems({(int(n), j): v for (n, j), v in values.items() if n != FLOOR})
    metrics[artifacts.CKA_FROZEN_OK] = float(not problems)
    return {k: float(v) for k, v in metrics.items() if np.isfinite(v)}


def given_back(pain, base, block: int):
    """A copy of `pain` whose block `block` (1-based) is the base model's."""
    model = copy.deepcopy(pain)
    model.blocks[block - 1] = copy.deepcopy(base.blocks[block - 1])
    return model


def block_reset(
    pain, base, recipe: Recipe, seed: int, exact_below: int, *, progress: bool = False
) -> pd.DataFrame:
    """FreezeB0 (`pain`) with each block of `base` given back in turn (blocks numbered from 1),
    output layers retrained by `recipe` under `seed` like FreezeB0's own: one row per (block,
    class) with the recall on the whole test split, FreezeB0's, the gain and McNemar against
    FreezeB0, Holm-corrected across the whole table (every block and class)."""
    device = pick_device()
    tables = {}
    for j in range(len(pain.blocks) + 1):  # 0: nothing given back, FreezeB0 as retrained
        blocks = given_back(pain, base, j) if j else pain
        model = fitting.retrained_output_layers(
            blocks, recipe, seed, device=device, progress=progress, desc=f"cka reset block {j}"
        )
        tables["b0" if j == 0 else f"reset{j}"] = fitting.test_predictions(
            model, recipe.data, recipe.batch_size, device
        )
    recalls = forgetting.recall_table(tables)
    recalls = recalls[recalls["n"] > 0]  # a class left out of the data has no test image
    names = [n for n in tables if n != "b0"]
    tests = forgetting.mcnemar_rows(tables, [(n, "b0") for n in names], exact_below)
    rows = []
    for name in names:
        for _, r in recalls.iterrows():
            test = tests[(tests["model_a"] == name) & (tests["emotion"] == r["emotion"])].iloc[0]
            rows.append(
                {
                    "block": int(name[len("reset") :]),
                    "emotion": r["emotion"],
                    "n": int(r["n"]),
                    "recall": r[name],
                    "recall_b0": r["b0"],
                    "gain": r[name] - r["b0"],
                    "pvalue": test["pvalue"],
                }
            )
    table = pd.DataFrame(rows)
    # one family: every block given back x every class (the table is read as a whole)
    table["pvalue_holm"] = holm(table["pvalue"].tolist())
    return table


def plot_reset(table: pd.DataFrame, path: Path, source: str = "emotion") -> None:
    """Heatmap of the recall gained: one row per block given back, one column per class."""
    blocks = sorted(set(table["block"]))
    classes = list(dict.fromkeys(table["emotion"]))
    grid = table.pivot(index="block", columns="emotion", values="gain").loc[blocks, classes]
    values = grid.to_numpy(dtype=float)
    bound = max(0.05, float(np.nanmax(np.abs(values))))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(classes) + 2), 0.5 * len(blocks) + 1.8))
    im = ax.imshow(values, vmin=-bound, vmax=bound, cmap="RdBu")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{values[i, j]:+.3f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(blocks)), [f"block {j} given back" for j in blocks])
    fig.colorbar(im, ax=ax, label="recall gained over FreezeB0")
    ax.set_title(f"FreezeB0 with one base block given back ({source} test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def reset_metrics(table: pd.DataFrame) -> dict[str, float]:
    return {
        artifacts.reset_metric(int(r["block"]), r["emotion"]): float(r["gain"])
        for _, r in table.iterrows()
        if np.isfinite(r["gain"])
    }


def run_cka(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg, seeds = params.cka, params.study.seeds
    backbone = params.model.backbone
    size = get_profile(params.model.profile, backbone).image_size
    names = study_names(params)  # the source task: AffectNet natively, the source manifest
    data = load_task_data(
        names.source_dir,
        params.data.splits_dir,
        names.source_root,
        names.source_classes,
        "emotion",
        size,
        image_store=params.data.image_store,
    )
    connection.configure(params.tracking)

    # name -> (registered model, alias, what to run when it is missing)
    emotion_model = registry.model_name(registry.EMOTION_MODEL, backbone)
    targets = {
        "base": (emotion_model, registry.BASE_ALIAS, "auforget emotion"),
        **{
            str(k): (
                registry.model_name(registry.PAIN_MODEL, backbone),
                registry.freeze_alias(k),
                f"auforget transfer --freeze {k}",
            )
            for k in params.freeze_levels
        },
    }
    if len(seeds) > 1:
        alias = registry.BASE_ALIAS + registry.seed_suffix(seeds[1], seeds)
        targets[FLOOR] = (emotion_model, alias, f"auforget emotion --seed {seeds[1]}")
    versions = {
        n: registry.resolve_alias(model, alias, hint=f"run `{command}` first")
        for n, (model, alias, command) in targets.items()
    }
    source = task_words(params).source  # the figure's title names the source task
    reset = cfg.reset and "0" in targets
    if cfg.reset and not reset:
        log.info("cka: no block reset, the study trains no FreezeB0")
    # the reset's retrains read the first seed's FreezeB0 as the retrain stage does
    recipe = (
        retrain_recipe(params.with_overrides("retrain", freeze=0, seed=seeds[0])) if reset else None
    )
    key = fingerprint(
        "cka",
        flat(cfg),
        source,
        flat(params.model),
        data.files_digest(),
        {n: (v.run_id, v.version) for n, v in versions.items()},
        (recipe.identity, params.forgetting.exact_below) if recipe else None,
    )
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, "cka")
        write_metrics_json("cka", metrics, params.study.metrics_path)
        return metrics
    models = {
        n: registry.load_model(
            model, alias, hint="", profile=params.model.profile, backbone=backbone
        )[0]
        for n, (model, alias, _) in targets.items()
    }
    test = data.dataset("test")
    if cfg.max_images and cfg.max_images < len(test):
        test = torch.utils.data.Subset(test, range(cfg.max_images))
    loader = make_loader(test, cfg.batch_size, shuffle=False, seed=0)
    tags = {
        "auforget.key": key,
        **{f"auforget.upstream_run.{n}": v.run_id for n, v in versions.items()},
    }
    with (
        stage_runs.stage_run("cka", flat(cfg, "cka."), tags=tags),
        tempfile.TemporaryDirectory() as tmp,
    ):
        base = models.pop("base")
        values = block_cka(base, models, loader, progress=progress)
        metrics = cka_metrics(values)
        problems = frozen_problems({(int(n), j): v for (n, j), v in values.items() if n != FLOOR})
        if problems:
            text = ", ".join(f"FreezeB{k} block {j}" for k, j in problems)
            log.warning("cka: frozen blocks whose CKA is not 1.0: %s", text)
            mlflow.set_tag("auforget.cka_frozen_problems", text)
        table = cka_table(values)
        table.to_csv(Path(tmp) / artifacts.CKA_CSV, index=False)
        plot_cka(table, Path(tmp) / artifacts.CKA_PNG, source)
        if recipe is not None:
            log.info("cka: FreezeB0 given back each base block in turn, output layers retrained")
            reset_rows = block_reset(
                models["0"],
                base,
                recipe,
                seeds[0],
                params.forgetting.exact_below,
                progress=progress,
            )
            reset_rows.to_csv(Path(tmp) / artifacts.RESET_CSV, index=False)
            plot_reset(reset_rows, Path(tmp) / artifacts.RESET_PNG, source)
            metrics.update(reset_metrics(reset_rows))
        mlflow.log_metrics(metrics)
        mlflow.log_param("cka.n_images", len(test))
        mlflow.log_artifacts(tmp)
        log.info(
            "cka: FreezeB0 block 5 %.3f; frozen blocks %s",
            metrics.get(artifacts.cka_metric(0, 5), float("nan")),
            "all 1.0" if not problems else "NOT all 1.0",
        )
    write_metrics_json("cka", metrics, params.study.metrics_path)
    return metrics
