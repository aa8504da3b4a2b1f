"""Task data: the split manifests a training task reads, and how they become tensors.

`load_task_data` is the one reader of data/splits/<dataset>/{train,val,test}.csv (with the
clear "run prepare first" error); `emotion_task` and `pain_task` say which dataset, classes,
augmentation preset and image size each of the study's two tasks uses. With
`data.image_store: true` a split is read from its decode-once image store (image_store.py) and
augmented per batch on the device (batch_augment.py) instead of face by face in the loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from auforget.core.config import Params
from auforget.core.identity import manifest_digest
from auforget.core.profiles import get_profile
from auforget.data.batch_augment import batch_preset
from auforget.data.image_store import StoreImages, open_store
from auforget.data.images import ManifestImages, preset
from auforget.data.study_names import study_names

SPLITS = ("train", "val", "test")


@dataclass
class TaskData:
    """The three split manifests of one dataset and how to turn them into tensors."""

    name: str
    root: Path
    splits: dict[str, pd.DataFrame]
    class_names: tuple[str, ...]
    train_preset: str
    image_size: int
    decoder: str = "pil"
    image_store: bool = False
    # labels dropped from every split (emotion.exclude_classes): still output units, not classes
    # the macro metrics average over
    excluded: tuple[int, ...] = ()
    # split -> its store's folder, once opened: the key stats every file of the split, which
    # takes seconds at AffectNet's size, and a step asks for a split's dataset several times
    # (each recipe, the feature cache's views); one look per split and TaskData is enough.
    _stores: dict[str, Path] = field(default_factory=dict, repr=False, compare=False)

    def dataset(self, split: str, augment: bool = False) -> ManifestImages | StoreImages:
        """The split's (face, label) pairs with the training recipe (`augment`) or the eval one:
        faces decoded and transformed one by one, or with `image_store` the split's store
        (built on first use) with the recipe's batch preset, which make_loader applies."""
        name = self.train_preset if augment else "eval"
        if self.image_store:
            transform = batch_preset(name, self.image_size)
            if split in self._stores:
                return StoreImages(self._stores[split], transform, self.splits[split])
            store = open_store(
                self.splits[split],
                self.root,
                transform,
                decoder=self.decoder,
                desc=f"{self.name} {split} image store",
            )
            self._stores[split] = store.folder
            return store
        transform = preset(name, self.image_size)
        return ManifestImages(self.splits[split], self.root, transform, decoder=self.decoder)

    def files_digest(self) -> str:
        """Content hash of the split manifests: part of a run's identity for resume and reuse
        (with the JPEG decoder when it is not Pillow: the decoders' pixels differ slightly; and
        "-store" for the image-store route, whose batched augmentation draws other numbers)."""
        digest = manifest_digest(*(self.splits[split] for split in SPLITS))
        if self.decoder != "pil":
            digest = f"{digest}-{self.decoder}"
        return f"{digest}-store" if self.image_store else digest

    def split_sizes(self) -> dict[str, int]:
        """`data.n_<split>` run parameters."""
        return {f"data.n_{split}": len(frame) for split, frame in self.splits.items()}


def load_task_data(
    name: str,
    splits_dir: str | Path,
    root: str | Path,
    class_names: tuple[str, ...],
    train_preset: str,
    image_size: int,
    max_train: int = 0,
    seed: int = 0,
    decoder: str = "pil",
    image_store: bool = False,
    exclude_labels: tuple[int, ...] = (),
) -> TaskData:
    """Read data/splits/<name>/{train,val,test}.csv with a clear message when prepare has not
    run; `image_store` makes the task's datasets read decode-once image stores;
    `exclude_labels` drops the rows of those labels from every split (before `max_train`)."""
    splits = {}
    for split in SPLITS:
        path = Path(splits_dir) / name / f"{split}.csv"
        if not path.exists():
            raise FileNotFoundError(
                f"split manifest {path} is missing: run `auforget prepare` "
                f"(or `dvc repro prepare`) first"
            )
        frame = pd.read_csv(
            path, dtype={"sample_id": str, "path": str, "landmarks": str}, keep_default_na=False
        )
        if frame.empty:
            raise ValueError(f"split manifest {path} has no rows")
        bad = sorted(set(frame["label"]) - set(range(len(class_names))))
        if bad:
            raise ValueError(
                f"{path}: labels {bad} are outside 0..{len(class_names) - 1} "
                f"({', '.join(class_names)})"
            )
        if exclude_labels:
            frame = frame[~frame["label"].isin(exclude_labels)].reset_index(drop=True)
            if frame.empty:
                raise ValueError(
                    f"split manifest {path} has no rows left once labels {list(exclude_labels)} "
                    "are excluded"
                )
        splits[split] = frame
    if max_train and len(splits["train"]) > max_train:
        splits["train"] = splits["train"].sample(n=max_train, random_state=seed).sort_index()
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset root {root} for {name} does not exist (params.yaml data.*_root)"
        )
    return TaskData(
        name,
        root,
        splits,
        class_names,
        train_preset,
        image_size,
        decoder,
        image_store,
        excluded=tuple(exclude_labels),
    )


def emotion_task(params: Params, *, max_train: int = 0, seed: int = 0) -> TaskData:
    """The source task: AffectNet's eight emotions natively, the source manifest's classes with
    data.kind manifest; flips (the emotion and retrain stages); `max_train` > 0 keeps that many
    training images, drawn with `seed`. The classes of `emotion.exclude_classes` are dropped from
    every split; the output layer keeps its units, and an excluded class, never a target, gets
    no test images and so no recall downstream."""
    names = study_names(params)
    return load_task_data(
        names.source_dir,
        params.data.splits_dir,
        names.source_root,
        names.source_classes,
        "emotion",
        get_profile(params.model.profile, params.model.backbone).image_size,
        max_train=max_train,
        seed=seed,
        decoder=params.data.decoder,
        image_store=params.data.image_store,
        exclude_labels=params.emotion.exclude_labels,
    )


def pain_task(params: Params) -> TaskData:
    """The target task: UNBC-McMaster's pain vs no pain natively, the target manifest's classes
    with data.kind manifest; the pain augmentations (the transfer stage)."""
    names = study_names(params)
    return load_task_data(
        names.target_dir,
        params.data.splits_dir,
        names.target_root,
        names.target_classes,
        "pain",
        get_profile(params.model.profile, params.model.backbone).image_size,
        decoder=params.data.decoder,
        image_store=params.data.image_store,
    )
