"""`prepare`: read the three raw roots and write the study's split manifests.

Outputs data/splits/{affectnet,unbc,ckplus}/*.csv (DVC-tracked), metrics/prepare.json (per-split
class counts and skip counts: DVC metrics) and metrics/prepare_skipped.txt (what was skipped,
with the first examples of each reason).
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from auforget.core.config import Params
from auforget.data.affectnet import read_affectnet
from auforget.data.ckplus import read_ckplus
from auforget.data.manifest import Skips
from auforget.data.splits import (
    class_counts,
    split_affectnet,
    split_ckplus,
    split_task,
    split_unbc,
)
from auforget.data.study_names import CONCEPTS_DIR, REGIONS_FILE, StudyNames, write_names
from auforget.data.task_manifests import (
    read_concept_manifest,
    read_regions_manifest,
    read_task_manifest,
)
from auforget.data.unbc import read_unbc

log = logging.getLogger(__name__)


def run_prepare(params: Params, *, progress: bool = True) -> dict[str, float]:
    if params.data.kind == "manifest":
        return prepare_manifests(params, progress=progress)
    cfg, data = params.prepare, params.data
    affectnet = read_affectnet(data.affectnet_root, progress=progress)
    unbc = read_unbc(data.unbc_root, progress=progress)
    ckplus = read_ckplus(data.ckplus_root, progress=progress)
    affectnet_splits, affectnet_split_skips = split_affectnet(affectnet.manifest, cfg)
    affectnet.skipped.merge(affectnet_split_skips)
    outputs = {
        "affectnet": affectnet_splits,
        "unbc": split_unbc(unbc.manifest, cfg),
        "ckplus": split_ckplus(ckplus.manifest, cfg),
    }
    if cfg.verify_images:
        for name, result, root in (
            ("affectnet", affectnet, data.affectnet_root),
            ("unbc", unbc, data.unbc_root),
            ("ckplus", ckplus, data.ckplus_root),
        ):
            outputs[name] = drop_unreadable(
                outputs[name], Path(root), result.skipped, progress=progress, desc=name
            )
    splits_dir = Path(data.splits_dir)
    metrics: dict[str, float] = {}
    for name, splits in outputs.items():
        _write_splits(splits, splits_dir / name)
        metrics.update({f"{name}_{k}": v for k, v in class_counts(splits).items()})
    report = []
    for name, result in (("affectnet", affectnet), ("unbc", unbc), ("ckplus", ckplus)):
        metrics.update(result.skipped.as_metrics(f"{name}_"))
        metrics[f"{name}_read"] = len(result.manifest)
        report.append(
            f"{name} ({result.layout} layout, {len(result.manifest)} images read): "
            f"{result.skipped.summary()}"
        )
        if result.skipped.total:
            log.warning("prepare: %s", report[-1])
    _write_prepare_metrics(params.study.metrics_path, metrics, report)
    log.info("prepare: wrote splits to %s", splits_dir)
    return metrics


def prepare_manifests(params: Params, *, progress: bool = True) -> dict[str, float]:
    """data.kind manifest: the source and target task manifests split (task_manifests.py,
    splits.split_task), each concept set and the regions copied, and the names of the classes,
    concepts and regions written to names.json. Metrics as for native data, per task."""
    cfg, data = params.prepare, params.data
    source = read_task_manifest(data.source, "source", data.source_classes)
    target = read_task_manifest(data.target, "target", data.target_classes)
    if data.target_focus and data.target_focus not in target.classes:
        raise ValueError(
            f"data.target_focus: {data.target_focus!r} is not one of the target classes "
            f"{list(target.classes)}"
        )
    outputs = {
        "source": split_task(source.result.manifest, source.classes, cfg, "source"),
        "target": split_task(target.result.manifest, target.classes, cfg, "target"),
    }
    results = {"source": (source.result, source.root), "target": (target.result, target.root)}
    concepts: dict[str, pd.DataFrame] = {}
    roots: dict[str, str] = {}
    for path in data.concepts:
        concept_set, names = read_concept_manifest(path)
        results[f"concepts:{Path(path).stem}"] = (concept_set.result, concept_set.root)
        for name in names:
            if name in concepts:
                raise ValueError(f"{path}: concept {name!r} is already named by another set")
            frame = concept_set.result.manifest.copy()
            frame["label"] = frame[name]
            concepts[name], roots[name] = frame, str(concept_set.root)
    if concepts:
        outputs[CONCEPTS_DIR] = concepts
    if cfg.verify_images:
        for name in ("source", "target"):
            result, root = results[name]
            outputs[name] = drop_unreadable(
                outputs[name], root, result.skipped, progress=progress, desc=name
            )
    splits_dir = Path(data.splits_dir)
    metrics: dict[str, float] = {}
    for name, splits in outputs.items():
        _write_splits(splits, splits_dir / name)
        if name != CONCEPTS_DIR:
            classes = (source if name == "source" else target).classes
            metrics.update({f"{name}_{k}": v for k, v in class_counts(splits, classes).items()})
    regions = ""
    if data.regions:
        regions = str(splits_dir / REGIONS_FILE)
        _write_csv(read_regions_manifest(data.regions), Path(regions))
    names = StudyNames(
        "manifest",
        "source",
        "target",
        str(source.root),
        str(target.root),
        source.classes,
        target.classes,
        data.target_focus or "macro",
        tuple(concepts),
        roots,
        regions,
    )
    names.check_source_classes("saliency.emotions", params.saliency.emotions)
    names.check_source_classes("promote.emotions", params.promote.emotions)
    write_names(splits_dir, names)
    report = []
    for name, (result, _) in results.items():
        key = name.replace(":", "_")
        metrics.update(result.skipped.as_metrics(f"{key}_"))
        metrics[f"{key}_read"] = len(result.manifest)
        report.append(f"{name} ({len(result.manifest)} images read): {result.skipped.summary()}")
        if result.skipped.total:
            log.warning("prepare: %s", report[-1])
    _write_prepare_metrics(params.study.metrics_path, metrics, report)
    log.info("prepare: wrote the manifests' splits to %s", splits_dir)
    return metrics


def drop_unreadable(
    splits: dict[str, pd.DataFrame], root: Path, skipped: Skips, *, progress: bool, desc: str
) -> dict[str, pd.DataFrame]:
    """Decode every image the splits use and drop (and count) those that fail.

    The readers only read image headers, which a truncated JPEG passes; finding it here costs
    one full decode per image instead of a crash hours into training.
    """
    paths = sorted({p for frame in splits.values() for p in frame["path"]})

    def problem(rel: str) -> str | None:
        try:
            with Image.open(root / rel) as img:
                img.load()
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for broken files
            return f"{root / rel}: {exc}"
        return None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        found = list(
            tqdm(
                pool.map(problem, paths),
                total=len(paths),
                desc=f"verify {desc} images",
                disable=not progress,
                leave=False,
            )
        )
    bad = set()
    for rel, message in zip(paths, found):
        if message:
            bad.add(rel)
            skipped.add("unreadable_image", message)
    if bad:
        log.warning(
            "prepare: %s: %d images fail to decode and were left out of the splits", desc, len(bad)
        )
    return {
        split: frame[~frame["path"].isin(bad)].reset_index(drop=True)
        for split, frame in splits.items()
    }


def _write_splits(splits: dict[str, pd.DataFrame], folder: Path) -> None:
    """Each split as <folder>/<split>.csv; a CSV of a split that no longer exists is removed, so
    the folder DVC versions holds exactly this run's splits."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.csv"):
        if stale.stem not in splits:
            stale.unlink()
    for split, frame in splits.items():
        _write_csv(frame, folder / f"{split}.csv")


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Byte-stable CSV: fixed float format and line endings, so DVC hashes only change with
    content."""
    frame.to_csv(path, index=False, lineterminator="\n", float_format="%.6g")


def _write_prepare_metrics(folder: Path, metrics: dict[str, float], report: list[str]) -> None:
    """<study.metrics_dir>/prepare.json (the class counts, DVC metrics) and prepare_skipped.txt
    (what was skipped, why), the same for the native and the manifest route."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "prepare.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    (folder / "prepare_skipped.txt").write_text("\n".join(report) + "\n")
