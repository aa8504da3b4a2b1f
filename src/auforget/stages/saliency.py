"""`saliency -P k=i`: LRP maps of FreezeB5 and FreezeBi, their difference, and an AU ranking.

The study's qualitative step: on test images of chosen emotions (default surprise and contempt)
that FreezeB5's retrained model classifies correctly and FreezeBk's does not, draw the LRP
relevance of both models for the true class, normalised to [0, 1], and the difference
B5 - Bk (positive part, renormalised to [0, 1]): where FreezeB5 still finds evidence that
FreezeBk's conv blocks lost during the pain transfer.

Beyond the study, the difference maps are also read automatically: with each image's 68 face
landmarks, `regions.rank_aus` measures how much of the positive difference falls in each
action unit's facial region against the same region shape moved elsewhere on the face, giving
a ranked, repeatable list of AU candidates with effect sizes (Holm-corrected across regions).

Logged under `saliency/`: per emotion `<emotion>_grid.png` (input | B5 | Bk | B5 - Bk),
`<emotion>_maps.npz` (sample_ids, b5, bk, diff, landmarks in the map frame, NaN where the
manifest has none) and `<emotion>_au_ranking.csv`; `au_ranking.csv` over all selected images
(emotion "all"); `notes.txt`. Metrics `saliency_n_<emotion>`, `saliency_qualifying_<emotion>`,
`saliency_no_landmarks_<emotion>`, `au_effect_<region>_<emotion>` (also for "all"); tags
`auforget.top_region_<emotion>`; `auforget.attribution` and the metric
`saliency_integrated_gradients` say whether the maps are LRP or (a backbone without a proven
LRP rule: ViT) Integrated Gradients.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from auforget.analysis import regions
from auforget.analysis.metrics import write_metrics_json
from auforget.analysis.region_sets import load_region_set
from auforget.analysis.stats import holm
from auforget.core import artifacts
from auforget.core.config import EMOTIONS, Params, flat
from auforget.core.identity import fingerprint
from auforget.core.profiles import get_profile
from auforget.data.images import ManifestImages, load_face, preset
from auforget.data.manifest import image_size as header_size
from auforget.data.manifest import parse_landmarks
from auforget.data.study_names import study_names
from auforget.data.task_data import TaskData, load_task_data
from auforget.nn import lrp
from auforget.nn.training import make_loader, pick_device
from auforget.tracking import connection, registry, stage_runs
from auforget.tracking.model_export import log_splits

log = logging.getLogger(__name__)

REFERENCE = 5  # FreezeB5: every conv block frozen during the pain transfer, so nothing forgotten
# (another backbone: its stage count, Params.n_stages; the names keep "b5" for the reference)
BATCH = 16  # images per relevance pass
ATTRIBUTION_TAG = "auforget.attribution"  # the method's sentence (lrp.method_note)
IG_METRIC = "saliency_integrated_gradients"  # 1: the maps are Integrated Gradients, not LRP
RANKED_BY = {
    "beyond_b5": "the difference's share of a region beyond FreezeB5's own share of it",
    "difference": "the difference's share of a region",
}
RANKING_COLUMNS = (
    "emotion",
    "region",
    "aus",
    "mass_share",
    "null_share",
    "effect_size",
    "p_value",
    "p_holm",
    "n_images",
    "area_share",
    "reference_share",
)


@dataclass
class EmotionMaps:
    """The selected images of one emotion and their maps (N may be 0)."""

    emotion: str
    qualifying: int  # test images with B5 right and Bk wrong, before max_images
    sample_ids: list[str]
    faces: np.ndarray  # (N, S, S, 3) in [0, 1], the crops a human looks at
    b5: np.ndarray  # (N, S, S) normalised relevance of FreezeB5, true class
    bk: np.ndarray  # (N, S, S) the same for FreezeBk
    diff: np.ndarray  # (N, S, S) lrp.difference(b5, bk)
    landmarks: np.ndarray  # (N, 68, 2) in the map frame, NaN where the manifest has none

    @property
    def has_landmarks(self) -> np.ndarray:
        return ~np.isnan(self.landmarks).any(axis=(1, 2))


def _check_module(model, name: str):
    """LRP needs the network's own layers: a model loaded from MLflow's pt2 (torch.export) format is
    a flat graph without Conv2d/Linear modules, on which no LRP rule would attach."""
    if not any(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()):
        raise ValueError(
            f"{name} loads as {type(model).__name__} without Conv2d/Linear layers (MLflow's pt2 / "
            f"torch.export format?); LRP needs the torch module itself: log retrain models with "
            f"mlflow.pytorch.log_model(..., serialization_format='pickle') and retrain"
        )
    return model


def _hint(i: int) -> str:
    return (
        f"run `auforget retrain --freeze {i}` (or `mlflow run . -e retrain -P freeze={i} "
        "--env-manager local`) first"
    )


def load_predictions(version, folder: Path, test: pd.DataFrame, label: str) -> pd.DataFrame:
    """A retrain run's predictions.csv indexed by sample_id, checked against the test manifest."""
    path = stage_runs.run_artifact(version.run_id, artifacts.PREDICTIONS, folder / label)
    table = pd.read_csv(path, dtype={"sample_id": str}).set_index("sample_id")
    missing = [c for c in ("true_label", "pred_label") if c not in table.columns]
    if missing:
        raise ValueError(
            f"predictions.csv of {label} (run {version.run_id}) lacks column(s) {missing}"
        )
    ids = test["sample_id"].astype(str)
    absent = ids[~ids.isin(table.index)]
    if len(absent):
        raise ValueError(
            f"predictions.csv of {label} (run {version.run_id}) lacks {len(absent)} of the "
            f"{len(ids)} test samples (e.g. {absent.iloc[0]!r}): the splits changed since that "
            f"retrain run; {_hint(int(label[1:]))}"
        )
    truth = table.loc[ids, "true_label"].to_numpy()
    if not (truth == test["label"].to_numpy()).all():
        raise ValueError(
            f"predictions.csv of {label} (run {version.run_id}) gives other true labels than the "
            f"test manifest; {_hint(int(label[1:]))}"
        )
    return table


def select(
    test: pd.DataFrame,
    pred_b5: pd.DataFrame,
    pred_bk: pd.DataFrame,
    emotion: str,
    max_images: int,
    seed: int,
    classes: tuple[str, ...] = EMOTIONS,
) -> tuple[pd.DataFrame, int]:
    """Test rows of `emotion` that FreezeB5 got right and FreezeBk wrong: (chosen rows, how many
    qualified).

    Up to max_images (0 = all) are drawn without replacement by a generator seeded with
    (seed, class index) from the qualifying rows sorted by sample_id, so the choice depends
    neither on manifest order nor on which other emotions are analysed; the chosen rows are
    returned sorted by sample_id.
    """
    label = classes.index(emotion)
    rows = test[test["label"] == label].copy()
    rows["sample_id"] = rows["sample_id"].astype(str)
    ids = rows["sample_id"]
    b5_right = pred_b5.loc[ids, "pred_label"].to_numpy() == label
    bk_wrong = pred_bk.loc[ids, "pred_label"].to_numpy() != label
    rows = rows[b5_right & bk_wrong].sort_values("sample_id", kind="stable").reset_index(drop=True)
    qualifying = len(rows)
    if max_images and qualifying > max_images:
        rng = np.random.default_rng([seed, label])
        chosen = np.sort(rng.choice(qualifying, size=max_images, replace=False))
        rows = rows.iloc[chosen].reset_index(drop=True)
    return rows, qualifying


def visible_box(root: Path, row) -> tuple[int, int, int, int]:
    """The face box as `crop_box` actually cuts it: rounded and clipped to the image, so
    landmarks land where the face is in the (resized) crop even when the box overhangs."""
    x, y, w, h = (int(round(float(row[c]))) for c in "xywh")
    size = header_size(root / str(row["path"]))
    if size is None:
        return x, y, w, h
    width, height = size
    left, top = max(0, x), max(0, y)
    right, bottom = min(width, x + w), min(height, y + h)
    return left, top, max(1, right - left), max(1, bottom - top)


def map_landmarks(root: Path, row, size: int) -> np.ndarray | None:
    """Row's landmarks in the frame of a size x size map of its face crop; None without 68
    points."""
    points = parse_landmarks(row["landmarks"])
    if points.shape != (regions.N_LANDMARKS, 2):
        return None
    return regions.landmarks_to_map(points, visible_box(root, row), size)


def compute_maps(
    rows: pd.DataFrame,
    emotion: str,
    qualifying: int,
    data: TaskData,
    b5_model,
    bk_model,
    device: torch.device,
    bar,
    difference: str = "normalise_first",
    region_set=None,
    composite: str = lrp.DEFAULT_COMPOSITE,
) -> EmotionMaps:
    """Relevance of both models for the true class on the chosen rows, normalised, and their
    difference: of the normalised maps ("normalise_first") or of the raw relevance, normalised
    afterwards ("raw_then_normalise", the paper's; with the one-hot start both maps carry one unit
    of relevance, so the raw difference compares amounts of evidence, not only where each map
    peaks)."""
    size = data.image_size
    n = len(rows)
    dataset = ManifestImages(rows, data.root, preset("eval", size))
    b5, bk, raw_diff, faces, landmarks = (
        [],
        [],
        [],
        [],
        np.full((n, regions.N_LANDMARKS, 2), np.nan),
    )
    batches = iter(make_loader(dataset, BATCH, shuffle=False, seed=0, device=device))
    for start in range(0, n, BATCH):
        idx = range(start, min(start + BATCH, n))
        images, target = next(batches)
        images = images.to(device)
        # one-hot start: Bk got these images wrong, so its true-class logit is often negative
        r5 = lrp.relevance(b5_model, images, target, composite, start="onehot")
        rk = lrp.relevance(bk_model, images, target, composite, start="onehot")
        b5.append(lrp.normalise(r5).cpu().numpy())
        bk.append(lrp.normalise(rk).cpu().numpy())
        raw_diff.append(lrp.normalise(r5 - rk).cpu().numpy())
        for i in idx:
            row = rows.iloc[i]
            faces.append(np.asarray(load_face(data.root, row, size), dtype=np.float32) / 255.0)
            lm = map_landmarks(data.root, row, size)
            if lm is None and region_set is not None and not region_set.needs_landmarks:
                # template boxes need no landmarks: the template face stands in for them
                lm = regions.landmarks_to_map(regions.template_face(), (0, 0, 1, 1), size)
            if lm is not None:
                landmarks[i] = lm
        bar.update(len(idx))
    empty = np.zeros((0, size, size), dtype=np.float32)
    b5_maps = np.concatenate(b5).astype(np.float32) if b5 else empty
    bk_maps = np.concatenate(bk).astype(np.float32) if bk else empty
    return EmotionMaps(
        emotion,
        qualifying,
        rows["sample_id"].astype(str).tolist(),
        np.stack(faces) if faces else np.zeros((0, size, size, 3), dtype=np.float32),
        b5_maps,
        bk_maps,
        _difference(difference, b5_maps, bk_maps, raw_diff, empty),
        landmarks,
    )


def _difference(
    how: str, b5_maps: np.ndarray, bk_maps: np.ndarray, raw_diff: list, empty: np.ndarray
) -> np.ndarray:
    if how == "raw_then_normalise":
        return np.concatenate(raw_diff).astype(np.float32) if raw_diff else empty
    return lrp.difference(b5_maps, bk_maps).astype(np.float32)


def ranking(
    diff: np.ndarray,
    landmarks: np.ndarray,
    label: str,
    seed: int,
    b5: np.ndarray | None = None,
    region_set=None,
) -> pd.DataFrame:
    """`regions.rank_aus` with an emotion column and Holm-corrected p across the regions; with
    FreezeB5's maps (saliency.ranking: beyond_b5) a region ranks by the difference's share there
    beyond B5's own share, so places every map lights up (pupils, nostrils) do not win by
    default."""
    table = regions.rank_aus(diff, list(landmarks), reference=b5, seed=seed, region_set=region_set)
    table.insert(0, "emotion", label)
    table["p_holm"] = holm(table["p_value"].to_numpy())
    return table[list(RANKING_COLUMNS)]


def write_emotion(
    maps: EmotionMaps,
    out: Path,
    k: int,
    seed: int,
    notes: list[str],
    beyond_b5: bool = True,
    region_set=None,
) -> pd.DataFrame | None:
    """Grid, raw arrays and AU ranking of one emotion into `out`; a line in `notes`. Returns the
    ranking."""
    emotion, n, n_lm = maps.emotion, len(maps.sample_ids), int(maps.has_landmarks.sum())
    if n == 0:
        notes.append(
            f"{emotion}: no test image that FreezeB5 got right and FreezeB{k} got wrong; no maps "
            "or ranking."
        )
        return None
    skipped = f"; {n - n_lm} without 68 landmarks, left out of the ranking" if n_lm < n else ""
    notes.append(f"{emotion}: {n} of {maps.qualifying} qualifying images selected{skipped}.")
    lrp.overlay_grid(
        maps.faces,
        [("FreezeB5", maps.b5), (f"FreezeB{k}", maps.bk), (f"B5 - B{k}", maps.diff)],
        out / f"{emotion}{artifacts.GRID_SUFFIX}",
        row_titles=maps.sample_ids,
        suptitle=f"{emotion}: FreezeB5 right, FreezeB{k} wrong",
    )
    np.savez_compressed(
        out / f"{emotion}{artifacts.MAPS_SUFFIX}",
        sample_ids=np.asarray(maps.sample_ids),
        b5=maps.b5,
        bk=maps.bk,
        diff=maps.diff,
        landmarks=maps.landmarks,
    )
    if n_lm == 0:
        notes.append(f"{emotion}: no image with landmarks; no AU ranking.")
        return None
    keep = maps.has_landmarks
    table = ranking(
        maps.diff[keep],
        maps.landmarks[keep],
        emotion,
        seed,
        maps.b5[keep] if beyond_b5 else None,
        region_set,
    )
    table.to_csv(out / f"{emotion}{artifacts.EMOTION_RANKING_SUFFIX}", index=False)
    return table


def _top_region(table: pd.DataFrame) -> str | None:
    best = table.dropna(subset=["effect_size"])
    if best.empty:
        return None
    row = best.iloc[0]
    aus = str(row["aus"])
    if aus.replace(",", "").isdigit():  # the built-in regions: action unit numbers
        return f"{row['region']} (AU {aus})"
    return f"{row['region']} ({aus})" if aus else str(row["region"])


def pooled_ranking(
    results: list[EmotionMaps], seed: int, beyond_b5: bool = True, region_set=None
) -> pd.DataFrame | None:
    """The AU ranking over every selected image with landmarks (emotion "all"); None without any."""
    with_lm = [m for m in results if m.has_landmarks.any()]
    if not with_lm:
        return None
    diff = np.concatenate([m.diff[m.has_landmarks] for m in with_lm])
    landmarks = np.concatenate([m.landmarks[m.has_landmarks] for m in with_lm])
    b5 = np.concatenate([m.b5[m.has_landmarks] for m in with_lm]) if beyond_b5 else None
    return ranking(diff, landmarks, "all", seed, b5, region_set)


def saliency_metrics(
    results: list[EmotionMaps], tables: list[pd.DataFrame], effect: str = "au_effect"
) -> dict[str, float]:
    """Image counts per emotion and each ranked region's effect size per emotion (and "all"):
    `<effect>_<region>_<emotion>`, au_effect for the AU regions, region_effect for a regions
    manifest's."""
    metrics: dict[str, float] = {}
    for maps in results:
        n = len(maps.sample_ids)
        metrics[f"saliency_n_{maps.emotion}"] = n
        metrics[f"saliency_qualifying_{maps.emotion}"] = maps.qualifying
        metrics[f"saliency_no_landmarks_{maps.emotion}"] = n - int(maps.has_landmarks.sum())
    for table in tables:
        label = table["emotion"].iloc[0]
        for row in table.itertuples():
            if not pd.isna(row.effect_size):
                metrics[f"{effect}_{row.region}_{label}"] = float(row.effect_size)
    return {k: float(v) for k, v in metrics.items()}


def _load_models(
    params: Params, k: int, device: torch.device, sx: str = ""
) -> tuple[nn.Module, nn.Module]:
    """The retrained FreezeB5 and FreezeBk models (of the seed `sx` names), on `device`, in eval
    mode."""
    models = []
    name = registry.model_name(registry.RETRAIN_MODEL, params.model.backbone)
    for i in (params.n_stages, k):
        alias = registry.freeze_alias(i) + sx
        model, _ = registry.load_model(
            name,
            alias,
            hint=_hint(i),
            profile=params.model.profile,
            backbone=params.model.backbone,
        )
        models.append(_check_module(model, f"{name}@{alias}").to(device).eval())
    return models[0], models[1]


def all_maps(
    chosen: dict[str, tuple[pd.DataFrame, int]],
    data: TaskData,
    b5_model: nn.Module,
    bk_model: nn.Module,
    device: torch.device,
    *,
    desc: str,
    progress: bool,
    difference: str = "normalise_first",
    region_set=None,
    composite: str = lrp.DEFAULT_COMPOSITE,
) -> list[EmotionMaps]:
    """`compute_maps` for every emotion's chosen rows, under one progress bar."""
    total = sum(len(rows) for rows, _ in chosen.values())
    with tqdm(total=total, desc=desc, unit="image", leave=False, disable=not progress) as bar:
        return [
            compute_maps(
                rows,
                emotion,
                qualifying,
                data,
                b5_model,
                bk_model,
                device,
                bar,
                difference,
                region_set,
                composite,
            )
            for emotion, (rows, qualifying) in chosen.items()
        ]


def write_rankings(
    results: list[EmotionMaps],
    out: Path,
    k: int,
    seed: int,
    notes: list[str],
    beyond_b5: bool = True,
    region_set=None,
) -> list[pd.DataFrame]:
    """Each emotion's grid, maps and ranking, then the pooled au_ranking.csv; returns the
    rankings."""
    tables = [
        t
        for maps in results
        if (t := write_emotion(maps, out, k, seed, notes, beyond_b5, region_set)) is not None
    ]
    if (pooled := pooled_ranking(results, seed, beyond_b5, region_set)) is not None:
        tables.append(pooled)
        combined = pd.concat(tables, ignore_index=True)
    else:
        notes.append(
            f"no selected image with landmarks: {Path(artifacts.AU_RANKING_CSV).name} is empty."
        )
        combined = pd.DataFrame(columns=list(RANKING_COLUMNS))
    combined.to_csv(out / Path(artifacts.AU_RANKING_CSV).name, index=False)
    return tables


# Over 50 lines as the stage's wiring (reuse, run, logging, files); the computing is in compute_maps
# and pooled_ranking.
def run_saliency(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    """LRP and difference maps (FreezeB5 vs FreezeB<k>) with a ranked table of AU regions; returns
    the metrics."""
    cfg = params.saliency
    ref = params.n_stages  # every stage frozen: 5 for VGG16
    if cfg.k == ref:
        raise ValueError(
            f"saliency.k must be 0..{ref - 1}: FreezeB{cfg.k} would be compared with "
            f"FreezeB{ref}, itself"
        )
    if cfg.max_images < 0:
        raise ValueError(f"saliency.max_images must be 0 (all) or positive, got {cfg.max_images}")
    size = get_profile(params.model.profile, params.model.backbone).image_size
    names = study_names(params)
    names.check_source_classes("saliency.emotions", cfg.emotions)
    region_set = load_region_set(names.regions)
    data = load_task_data(
        names.source_dir,
        params.data.splits_dir,
        names.source_root,
        names.source_classes,
        "emotion",
        size,
    )
    connection.configure(params.tracking)
    # the retrained models of retrain.seed (main runs one saliency step per seed of study.seeds)
    sx = registry.seed_suffix(params.retrain.seed, params.study.seeds)
    ref_alias, k_alias = registry.freeze_alias(ref) + sx, registry.freeze_alias(cfg.k) + sx
    retrain = registry.model_name(registry.RETRAIN_MODEL, params.model.backbone)
    v5 = registry.resolve_alias(retrain, ref_alias, hint=_hint(ref))
    vk = registry.resolve_alias(retrain, k_alias, hint=_hint(cfg.k))
    key = fingerprint(
        "saliency",
        flat(cfg),
        flat(params.model),
        data.files_digest(),
        v5.run_id,
        v5.version,
        vk.run_id,
        vk.version,
        *([Path(names.regions).read_text()] if names.regions else []),
    )
    name = f"saliency-b{cfg.k}{sx}"
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, name)
        write_metrics_json(f"saliency{sx}", metrics, params.study.metrics_path)
        return metrics

    test = data.splits["test"].reset_index(drop=True)
    run_params = {
        **flat(cfg, "saliency."),
        **flat(params.model, "model."),
        "retrain_b5_version": v5.version,
        f"retrain_b{cfg.k}_version": vk.version,
        "data.n_test": len(test),
    }
    tags = {
        "auforget.key": key,
        "freeze_blocks": str(cfg.k),
        "seed": str(params.retrain.seed),
        "auforget.upstream_run.b5": v5.run_id,
        f"auforget.upstream_run.b{cfg.k}": vk.run_id,
    }
    label_k = f"FreezeB{cfg.k}"
    with stage_runs.stage_run(name, run_params, tags=tags), tempfile.TemporaryDirectory() as tmp:
        log_splits(names.source_dir, {"test": data.splits["test"]}, params.data.splits_dir)
        out = Path(tmp) / "out" / artifacts.SALIENCY_DIR
        out.mkdir(parents=True)
        pred_b5 = load_predictions(v5, Path(tmp) / "downloads", test, "b5")
        pred_bk = load_predictions(vk, Path(tmp) / "downloads", test, f"b{cfg.k}")
        chosen = {
            e: select(test, pred_b5, pred_bk, e, cfg.max_images, cfg.seed, data.class_names)
            for e in cfg.emotions
        }
        device = pick_device()
        b5_model, bk_model = _load_models(params, cfg.k, device, sx)
        results = all_maps(
            chosen,
            data,
            b5_model,
            bk_model,
            device,
            desc=name,
            progress=progress,
            difference=cfg.difference,
            region_set=region_set,
            composite=cfg.composite,
        )
        notes = [
            f"FreezeB5 (run {v5.run_id}, version {v5.version}) vs {label_k} (run {vk.run_id}, "
            f"version {vk.version}): test images FreezeB5 classifies correctly and {label_k} does "
            "not; LRP for the true class, maps normalised to [0, 1], difference = positive part "
            f"of B5 - B{cfg.k} ({cfg.difference}), normalised; AU regions ranked by "
            f"{RANKED_BY[cfg.ranking]}."
        ]
        # a backbone without a proven LRP rule (ViT) is explained with Integrated Gradients:
        # said in the notes, a tag and a metric, never silently (lrp.method)
        attribution = lrp.method_note(b5_model, cfg.composite)
        notes.append(f"attribution: {attribution}")
        mlflow.set_tag(ATTRIBUTION_TAG, attribution)
        tables = write_rankings(
            results,
            out,
            cfg.k,
            cfg.seed,
            notes,
            beyond_b5=cfg.ranking == "beyond_b5",
            region_set=region_set,
        )
        for table in tables:
            if (top := _top_region(table)) is not None:
                mlflow.set_tag(f"auforget.top_region_{table['emotion'].iloc[0]}", top)
                log.info("saliency: %s: top AU region %s", table["emotion"].iloc[0], top)
        (out / Path(artifacts.SALIENCY_NOTES).name).write_text("\n".join(notes) + "\n")
        metrics = saliency_metrics(
            results, tables, "au_effect" if region_set is None else "region_effect"
        )
        metrics[IG_METRIC] = float(lrp.method(b5_model) == lrp.INTEGRATED_GRADIENTS)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(out.parent))
    write_metrics_json(f"saliency{sx}", metrics, params.study.metrics_path)
    return metrics
