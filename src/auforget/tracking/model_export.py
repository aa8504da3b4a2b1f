"""A trained VGG16Blocks as an MLflow model that loads, predicts and serves anywhere.

Why the model carries a copy of the package: the model is pickled (the pt2 graph format drops the
named `blocks` that freezing, head replacement and LRP need), and a pickle names its class,
`auforget.nn.backbones.VGG16Blocks`. The copy under the model's `code/` lets an environment with
only the model's requirements (torch, cloudpickle, mlflow-skinny, numpy, pandas) load and serve it.
Where `auforget` is already imported -- every study process -- Python keeps the installed package
(`sys.modules` wins over the path MLflow prepends), so the study gets its own class back.

Each logged model is named for what it is (`emotion-base`, `pain-freezeb2`, `retrain-freezeb2`),
carries its class names, input size and normalisation as MLmodel metadata, and has the run's
test metrics linked to it (with the test split as their dataset), so MLflow's Models tab lists
and compares them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models import infer_signature

from auforget.core.config import EMOTIONS, PAIN_CLASSES
from auforget.data.images import IMAGENET_MEAN, IMAGENET_STD
from auforget.nn.backbones import VGG16Blocks

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]  # src/auforget: the whole package, not tracking/
# What a clean environment needs to unpickle and serve the model (see module docstring).
REQUIREMENTS = ("torch", "cloudpickle", "mlflow-skinny", "numpy", "pandas")


def model_name(stage: str) -> str:
    """The logged model's name for a stage run: emotion -> emotion-base, transfer-b2 ->
    pain-freezeb2, retrain-b2 -> retrain-freezeb2 (other names pass through)."""
    if stage == "emotion":
        return "emotion-base"
    if m := re.fullmatch(r"(transfer|retrain)-b(\d+)", stage):
        return f"{'pain' if m[1] == 'transfer' else 'retrain'}-freezeb{m[2]}"
    return stage


def default_class_names(n_classes: int) -> tuple[str, ...]:
    """The study's two label sets, told apart by the head's size."""
    known = {len(EMOTIONS): EMOTIONS, len(PAIN_CLASSES): PAIN_CLASSES}
    if n_classes not in known:
        raise ValueError(
            f"a model with {n_classes} outputs is neither the emotion ({len(EMOTIONS)}) nor the "
            f"pain ({len(PAIN_CLASSES)}) model; pass class_names"
        )
    return known[n_classes]


def model_metadata(model: VGG16Blocks, class_names: tuple[str, ...]) -> dict[str, Any]:
    """What a caller needs to feed the model and read its output, without the auforget package."""
    size = model.profile.image_size
    return {
        "class_names": list(class_names),
        "input": {
            "shape": [-1, 3, size, size],
            "dtype": "float32",
            "layout": "NCHW, RGB",
            "image_size": size,
        },
        "normalisation": {
            "scale": "pixels / 255",
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
            "formula": "(pixel / 255 - mean) / std per channel, after resizing the face crop",
        },
        "output": "logits, one per class in class_names order (softmax gives probabilities)",
        "frozen_blocks": int(model.frozen_blocks),
        "image_size": size,
        **_backbone_metadata(model),
    }


def _backbone_metadata(model: VGG16Blocks) -> dict[str, Any]:
    """`backbone` and `stages` for a backbone other than VGG16 (VGG16's metadata stays as it
    was)."""
    backbone = getattr(model.profile, "backbone", "vgg16")
    return {} if backbone == "vgg16" else {"backbone": backbone, "stages": len(model.blocks)}


def _requirements_for(model: VGG16Blocks) -> list[str]:
    """pip_requirements, plus torchvision where the model is built of torchvision's classes
    (ResNet's Bottleneck, ViT's encoder layers: unpickling it imports them)."""
    pins = pip_requirements()
    if getattr(model.profile, "backbone", "vgg16") != "vgg16":
        pins.append(f"torchvision=={importlib.metadata.version('torchvision').split('+')[0]}")
    return pins


def pip_requirements() -> list[str]:
    """The installed versions of REQUIREMENTS, pinned (local build tags like +cu130 dropped)."""
    return [f"{name}=={importlib.metadata.version(name).split('+')[0]}" for name in REQUIREMENTS]


def _package_copy(dst: Path) -> Path:
    """The package's files (sources and package data, no bytecode or caches) under dst/auforget,
    for code_paths."""
    target = dst / "auforget"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo"))
    return target


def log_splits(
    task: str, splits: Mapping[str, pd.DataFrame], splits_dir: str | Path
) -> dict[str, Any]:
    """Log a task's split manifests as MLflow datasets on the active run (context = split name);
    returns split -> mlflow Dataset."""
    with warnings.catch_warnings():  # MLflow registers its local-file source twice and says so
        warnings.simplefilter("ignore", UserWarning)
        datasets = {
            split: mlflow.data.from_pandas(
                frame,
                name=f"{task}-{split}",
                source=str((Path(splits_dir) / task / f"{split}.csv").resolve()),
                targets="label" if "label" in frame else None,
            )
            for split, frame in splits.items()
        }
    mlflow.log_inputs(
        datasets=list(datasets.values()), contexts=list(datasets), tags_list=[None] * len(datasets)
    )
    return datasets


def log_model(
    model: VGG16Blocks,
    *,
    name: str | None = None,
    class_names: tuple[str, ...] | None = None,
    datasets: Mapping[str, Any] | None = None,
):
    """Log the model to the active run and link the run's test metrics to it; returns ModelInfo.

    `name` defaults to model_name(the run's name); `datasets` (split -> mlflow Dataset, from
    log_splits) gives the linked test metrics their dataset.
    """
    import mlflow.pytorch

    run = mlflow.active_run()
    assert run is not None, "log_model needs an active MLflow run"
    run = mlflow.get_run(run.info.run_id)
    name = name or model_name(run.info.run_name or "model")
    class_names = tuple(class_names or default_class_names(model.n_classes))
    model = model.cpu().eval()
    size = model.profile.image_size
    example = np.zeros((1, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        info = mlflow.pytorch.log_model(
            model,
            name=name,
            signature=infer_signature(example, output),
            input_example=example,
            pip_requirements=_requirements_for(model),
            code_paths=[str(_package_copy(Path(tmp)))],
            metadata=model_metadata(model, class_names),
            params=dict(run.data.params),
            serialization_format="pickle",
        )
    # MLflow links the run's step-0 metrics (the test metrics; epochs log from step 1) to the
    # model as it is logged; logging the test metrics once more names the test split they were
    # measured on, so the Models tab can show them per dataset.
    test = {k: v for k, v in run.data.metrics.items() if k.startswith("test_")}
    if test and datasets and "test" in datasets:
        mlflow.log_metrics(test, model_id=info.model_id, dataset=datasets["test"])
    log.info("logged model %s (%s classes: %s)", name, len(class_names), ", ".join(class_names))
    return info
