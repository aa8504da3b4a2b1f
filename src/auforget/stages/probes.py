"""`probes -P k=0 -P au=14`: does FreezeBk's last conv block still encode an action unit?

CK+ peak frames (for AUs in `probes.mouthless_aus`, e.g. AU5, the faces with the mouth cropped
away, because AU5 co-occurs with AU26 jaw drop and a probe could otherwise read the mouth),
features from the last conv block of pain models FreezeB5 and FreezeBk (FreezeB5's blocks are
the emotion model's), a linear SVM per model on the same folds, 2-fold stratified CV x
`probes.seeds` seeds, and a paired t-test between the two models' per-seed mean F1 -- plus the
corrected resampled t-test and a shuffled-label baseline, because repeated CV on the same
images overstates significance.

Metrics: probe_f1_mean_b5, probe_f1_mean_b<k>, probe_t, probe_p, probe_t_corrected,
probe_p_corrected, probe_baseline_f1_b5 / _b<k>; artifacts: the per-seed F1s (CSV), a
histogram, and the conclusion text.
"""

from __future__ import annotations

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

from auforget.analysis.linear_probes import ProbeComparison, au_labels, compare_probes  # noqa: E402
from auforget.analysis.metrics import write_metrics_json  # noqa: E402
from auforget.core import artifacts
from auforget.core.config import Params, ProbesConfig, flat  # noqa: E402

# noqa: E402
from auforget.core.identity import fingerprint, manifest_digest  # noqa: E402
from auforget.core.profiles import get_profile  # noqa: E402
from auforget.data.images import ManifestImages, preset  # noqa: E402
from auforget.data.study_names import CONCEPTS_DIR, concept_name, study_names  # noqa: E402
from auforget.nn.backbones import VGG16Blocks  # noqa: E402
from auforget.nn.training import make_loader, pick_device  # noqa: E402
from auforget.tracking import connection, registry, stage_runs
from auforget.tracking.model_export import log_splits  # noqa: E402

log = logging.getLogger(__name__)


def concept_manifest(params: Params) -> tuple[pd.DataFrame, np.ndarray, str, str, str]:
    """(the probed images, concept present 0/1, variant, image root, concept name): the
    CK+ peak frames natively (aus column; mouthless faces for probes.mouthless_aus), the concept
    set's rows with data.kind manifest."""
    concept = concept_name(params)
    if params.data.kind == "native":
        manifest, variant = ckplus_manifest(params, params.probes.au)
        labels = au_labels(manifest["aus"], params.probes.au)
        return manifest, labels, variant, params.data.ckplus_root, concept
    names = study_names(params)
    if concept not in names.concepts:
        raise ValueError(
            f"probes.concept: {concept!r} is not one of the concept manifests' concepts "
            f"{list(names.concepts)}"
        )
    path = Path(params.data.splits_dir) / CONCEPTS_DIR / f"{concept}.csv"
    manifest = pd.read_csv(path, dtype={"sample_id": str}, keep_default_na=False)
    labels = manifest["label"].to_numpy().astype(int)
    return manifest, labels, "concept", names.concept_roots[concept], concept


def ckplus_manifest(params: Params, au: int) -> tuple[pd.DataFrame, str]:
    variant = "peak_mouthless" if au in params.probes.mouthless_aus else "peak"
    path = Path(params.data.splits_dir) / "ckplus" / f"{variant}.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"split manifest {path} is missing: run `auforget prepare` (or `dvc repro prepare`) "
            "first"
        )
    return pd.read_csv(path, dtype={"sample_id": str, "aus": str}, keep_default_na=False), variant


@torch.no_grad()
def conv_features(
    model: VGG16Blocks, images: ManifestImages, *, progress: bool, desc: str
) -> np.ndarray:
    """Flattened last-conv-block outputs, one row per image, in manifest order."""
    device = pick_device()
    model.eval().to(device)
    rows = [
        model.features(x.to(device)).flatten(1).float().cpu().numpy()
        for x, _ in tqdm(
            make_loader(images, 64, shuffle=False, seed=0, device=device),
            desc=desc,
            leave=False,
            disable=not progress,
        )
    ]
    model.cpu()
    return np.concatenate(rows).astype(np.float64)


def probe_metrics(summary: dict[str, float], k: int) -> dict[str, float]:
    """The comparison's summary under the metric names of the README (FreezeB5 vs FreezeB<k>)."""
    bk = f"b{k}"
    return {
        artifacts.probe_f1_mean("b5"): summary["f1_b5_mean"],
        artifacts.probe_f1_mean(bk): summary["f1_bk_mean"],
        "probe_f1_std_b5": summary["f1_b5_std"],
        f"probe_f1_std_{bk}": summary["f1_bk_std"],
        artifacts.PROBE_T: summary["t"],
        artifacts.PROBE_P: summary["p"],
        artifacts.PROBE_T_CORRECTED: summary["t_corrected"],
        artifacts.PROBE_P_CORRECTED: summary["p_corrected"],
        artifacts.probe_baseline("b5"): summary["baseline_f1_b5_mean"],
        artifacts.probe_baseline(bk): summary["baseline_f1_bk_mean"],
        "probe_above_baseline_b5": summary["above_baseline_b5"],
        f"probe_above_baseline_{bk}": summary["above_baseline_bk"],
        "probe_n_images": summary["n_images"],
        "probe_n_positive": summary["n_positive"],
    }


def plot_probe_f1(result: ProbeComparison, k: int, xlabel: str, path: Path) -> None:
    """Histogram of the per-seed F1 of both probes and of the shuffled-label baseline."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    ax.hist(result.f1_b5, bins=bins, alpha=0.6, label="FreezeB5")
    ax.hist(result.f1_bk, bins=bins, alpha=0.6, label=f"FreezeB{k}")
    ax.hist(
        np.concatenate([result.baseline_f1_b5, result.baseline_f1_bk]),
        bins=bins,
        alpha=0.4,
        color="grey",
        label="shuffled labels",
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_probe_files(
    result: ProbeComparison, cfg: ProbesConfig, variant: str, out: Path, display: str = ""
) -> str:
    """Per-seed F1s, baseline F1s, the conclusion and the histogram into `out`; returns the
    conclusion. `display` names the concept (AU<probes.au> by default)."""
    display = display or f"AU{cfg.au}"
    bk = f"b{cfg.k}"
    pd.DataFrame(
        {"seed": np.arange(cfg.seeds) + cfg.seed, "f1_b5": result.f1_b5, f"f1_{bk}": result.f1_bk}
    ).to_csv(out / Path(artifacts.PROBE_F1_CSV).name, index=False)
    pd.DataFrame({"f1_b5": result.baseline_f1_b5, f"f1_{bk}": result.baseline_f1_bk}).to_csv(
        out / Path(artifacts.PROBE_BASELINE_CSV).name, index=False
    )
    conclusion = result.conclusion()
    (out / Path(artifacts.PROBE_CONCLUSION).name).write_text(conclusion + "\n")
    plot_probe_f1(
        result,
        cfg.k,
        f"mean F1 over {cfg.folds} folds ({display}, {variant})",
        out / Path(artifacts.PROBE_F1_PNG).name,
    )
    return conclusion


def run_probes(params: Params, *, progress: bool = True, reuse: bool = False) -> dict[str, float]:
    cfg = params.probes
    if cfg.k == 5:
        raise ValueError(
            "probes.k must be 0..4: FreezeB5 is the reference every other model is compared with"
        )
    manifest, labels, variant, root, concept = concept_manifest(params)
    display = f"AU{cfg.au}" if params.data.kind == "native" else concept
    connection.configure(params.tracking)
    # the reference keeps the name b5: every stage frozen (params.n_stages, 5 for VGG16)
    names = {"b5": params.n_stages, f"b{cfg.k}": cfg.k}
    # the pain models of transfer.seed (main runs one probes step per seed of study.seeds)
    sx = registry.seed_suffix(params.transfer.seed, params.study.seeds)
    versions = {
        name: registry.resolve_alias(
            registry.model_name(registry.PAIN_MODEL, params.model.backbone),
            registry.freeze_alias(i) + sx,
            hint=f"run `auforget transfer --freeze {i}` first",
        )
        for name, i in names.items()
    }
    key = fingerprint(
        "probes",
        flat(cfg),
        flat(params.model),
        manifest_digest(manifest),
        variant,
        {n: (v.run_id, v.version) for n, v in versions.items()},
    )
    name = f"probes-b{cfg.k}-{concept}{sx}"
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, name)
        write_metrics_json(f"probes-{concept}{sx}", metrics, params.study.metrics_path)
        return metrics
    images = ManifestImages(
        manifest,
        root,
        preset("eval", get_profile(params.model.profile, params.model.backbone).image_size),
    )
    features = {}
    for model_name in names:
        model, _ = registry.load_model(
            registry.model_name(registry.PAIN_MODEL, params.model.backbone),
            registry.freeze_alias(names[model_name]) + sx,
            hint="",
            profile=params.model.profile,
            backbone=params.model.backbone,
        )
        features[model_name] = conv_features(
            model, images, progress=progress, desc=f"{name} features {model_name}"
        )
    bk = f"b{cfg.k}"
    tags = {
        "auforget.key": key,
        artifacts.VARIANT_TAG: variant,
        "seed": str(params.transfer.seed),
        **{f"auforget.upstream_run.{n}": v.run_id for n, v in versions.items()},
    }
    run_params = {
        **flat(cfg, "probes."),
        "variant": variant,
        "n_images": len(labels),
        "n_positive": int(labels.sum()),
    }
    with stage_runs.stage_run(name, run_params, tags=tags), tempfile.TemporaryDirectory() as tmp:
        log_splits(
            "ckplus" if params.data.kind == "native" else CONCEPTS_DIR,
            {variant: manifest},
            params.data.splits_dir,
        )
        result = compare_probes(
            features["b5"],
            features[bk],
            labels,
            seeds=cfg.seeds,
            folds=cfg.folds,
            C=cfg.C,
            seed=cfg.seed,
            concept=display,
            names=("B5", f"B{cfg.k}"),
            progress=progress,
        )
        metrics = probe_metrics(result.summary(), cfg.k)
        mlflow.log_metrics(metrics)
        conclusion = write_probe_files(result, cfg, variant, Path(tmp), display)
        mlflow.log_artifacts(tmp, artifact_path=artifacts.PROBES_DIR)
        mlflow.set_tag(artifacts.CONCLUSION_TAG, conclusion[:5000])
        log.info("%s: %s", name, conclusion)
    write_metrics_json(f"probes-{concept}{sx}", metrics, params.study.metrics_path)
    return metrics


# ---- the AU survey: every drawn AU, features extracted once per model and crop


def _crop(cfg: ProbesConfig, au: int) -> str:
    return "peak_mouthless" if au in cfg.mouthless_aus else "peak"


def survey_rows(
    features: dict[str, dict[str, np.ndarray]],
    manifests: dict[str, pd.DataFrame],
    cfg: ProbesConfig,
) -> pd.DataFrame:
    """One row per AU of cfg.survey_aus: FreezeB5 vs FreezeB<k> probes on the shared features of
    its crop (`features[variant][model]`, `manifests[variant]`), cfg.survey_seeds CV seeds; the
    F1 drop B5 - Bk with a t interval over CV seeds, the corrected resampled t-test, and Holm
    across the AUs. An AU with too few positives or negatives is a row with a note and no
    numbers."""
    from auforget.analysis.stats import holm, seed_interval

    bk = f"b{cfg.k}"
    rows = []
    for au in cfg.survey_aus:
        variant = _crop(cfg, au)
        labels = au_labels(manifests[variant]["aus"], au)
        row = {
            "au": au,
            "variant": variant,
            "n_images": int(labels.size),
            "n_positive": int(labels.sum()),
        }
        if min(labels.sum(), labels.size - labels.sum()) < cfg.folds:
            rows.append(row | {"note": f"too few images with and without AU{au} for the probe"})
            continue
        result = compare_probes(
            features[variant]["b5"],
            features[variant][bk],
            labels,
            seeds=cfg.survey_seeds,
            folds=cfg.folds,
            C=cfg.C,
            seed=cfg.seed,
            baseline_seeds=2,
            concept=f"AU{au}",
        )
        ci = seed_interval(result.f1_b5 - result.f1_bk)
        rows.append(
            row
            | {
                "f1_b5": float(result.f1_b5.mean()),
                "f1_bk": float(result.f1_bk.mean()),
                "drop": ci.mean,
                "drop_low": ci.low,
                "drop_high": ci.high,
                "t_corrected": float(result.t_corrected),
                "p_corrected": float(result.p_corrected),
                "note": "",
            }
        )
    table = pd.DataFrame(rows)
    for column in ("drop", "p_corrected"):
        if column not in table:
            table[column] = np.nan
    table["p_holm"] = holm(table["p_corrected"].to_numpy(dtype=float))
    return table


def run_au_survey(
    params: Params, *, progress: bool = True, reuse: bool = False
) -> dict[str, float]:
    """`probes-survey-b<k>`: every AU of probes.survey_aus, FreezeB5 vs FreezeB<k>.

    Why a survey beside the two headline probes: whether a lost AU is specific rests on more than
    one comparison only when every drawn AU is probed. Each model's features are extracted once
    per crop and every AU's probe is fitted on them, with probes.survey_seeds CV seeds (the
    headline probes keep probes.seeds). A finding, no verdict."""
    cfg = params.probes
    if not cfg.survey_aus:
        return {}
    if cfg.k == 5:
        raise ValueError("probes.k must be 0..4: FreezeB5 is the reference")
    variants = sorted({_crop(cfg, au) for au in cfg.survey_aus})
    # ckplus_manifest picks the crop of an AU: the first AU of each crop stands for it
    manifests = {
        v: ckplus_manifest(params, next(au for au in cfg.survey_aus if _crop(cfg, au) == v))[0]
        for v in variants
    }
    connection.configure(params.tracking)
    names = {"b5": 5, f"b{cfg.k}": cfg.k}
    sx = registry.seed_suffix(params.transfer.seed, params.study.seeds)
    versions = {
        name: registry.resolve_alias(
            registry.PAIN_MODEL,
            registry.freeze_alias(i) + sx,
            hint=f"run `auforget transfer --freeze {i}` first",
        )
        for name, i in names.items()
    }
    key = fingerprint(
        "probes",
        "au-survey",
        flat(cfg),
        flat(params.model),
        {v: manifest_digest(m) for v, m in manifests.items()},
        {n: (v.run_id, v.version) for n, v in versions.items()},
    )
    name = f"probes-survey-b{cfg.k}{sx}"
    if reuse and (done := stage_runs.find_finished_run(key)):
        metrics = stage_runs.reused(done, name)
        write_metrics_json(f"probes-survey{sx}", metrics, params.study.metrics_path)
        return metrics
    size = get_profile(params.model.profile).image_size
    features: dict[str, dict[str, np.ndarray]] = {v: {} for v in variants}
    for model_name, i in names.items():
        model, _ = registry.load_model(
            registry.PAIN_MODEL,
            registry.freeze_alias(i) + sx,
            hint="",
            profile=params.model.profile,
        )
        for v in variants:
            images = ManifestImages(manifests[v], params.data.ckplus_root, preset("eval", size))
            features[v][model_name] = conv_features(
                model, images, progress=progress, desc=f"{name} features {model_name} {v}"
            )
    tags = {
        "auforget.key": key,
        "seed": str(params.transfer.seed),
        **{f"auforget.upstream_run.{n}": v.run_id for n, v in versions.items()},
    }
    with (
        stage_runs.stage_run(name, flat(cfg, "probes."), tags=tags),
        tempfile.TemporaryDirectory() as tmp,
    ):
        table = survey_rows(features, manifests, cfg)
        table.to_csv(Path(tmp) / Path(artifacts.PROBE_SURVEY_CSV).name, index=False)
        metrics = {}
        for row in table.itertuples():
            metrics[artifacts.survey_metric("drop", row.au)] = row.drop
            metrics[artifacts.survey_metric("p", row.au)] = row.p_holm
        metrics = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(tmp, artifact_path=artifacts.PROBES_DIR)
        log.info(
            "%s: %d AUs probed (%d left out: too few images)",
            name,
            int(table["drop"].notna().sum()),
            int(table["drop"].isna().sum()),
        )
    write_metrics_json(f"probes-survey{sx}", metrics, params.study.metrics_path)
    return metrics
