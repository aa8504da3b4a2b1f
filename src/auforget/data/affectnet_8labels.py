"""AffectNet layout B, the "8 labels" release: one .npy file per label and image.

    {train_set,val_set}/images/<id>.jpg + annotations/<id>_{exp,val,aro,lnd}.npy

The box is the whole image; landmarks come from _lnd.npy where there is one. Skip reasons:
missing_label_file (no _exp.npy), empty_label_file, malformed_label_file, unknown_expression,
bad_landmark_count, unreadable_image, missing_image (an _exp.npy without an image).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from auforget.data.affectnet_rows import (
    N_LANDMARK_VALUES,
    append_row,
    expression_code,
    new_columns,
)
from auforget.data.manifest import (
    DatasetLayoutError,
    Skips,
    format_landmarks,
    image_size,
    walk_files,
)

EIGHT_LABEL_SPLITS = (("train_set", "training"), ("val_set", "validation"))
EXPECTED = (
    "train_set/ and/or val_set/, each with images/<id>.jpg and "
    "annotations/<id>_exp.npy, _val.npy, _aro.npy, _lnd.npy"
)


def _npy_text(path: Path) -> str | None:
    """The single value of a 0-d .npy (a string, as AffectNet writes it) as text; None if the
    file is absent. ValueError for an empty, corrupt or non-scalar file."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError) as err:
        if path.stat().st_size == 0:
            raise ValueError("empty file") from None
        raise ValueError(f"not a readable .npy ({err})") from None
    if array.size != 1:
        raise ValueError(f"expected one value, got shape {array.shape}")
    value = array.reshape(()).item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _npy_landmarks(path: Path) -> np.ndarray | None:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"not a readable .npy ({err})") from None
    return np.asarray(array, dtype=float).reshape(-1)  # string arrays parse here too


def read_8labels(root: Path, progress: bool) -> tuple[dict[str, list], Skips]:
    """The manifest columns of every labelled image under train_set/ and val_set/, and the
    images skipped."""
    skips = Skips()
    cols = new_columns()
    for folder, split in EIGHT_LABEL_SPLITS:
        if not (root / folder).is_dir():
            continue
        images, annotations = root / folder / "images", root / folder / "annotations"
        missing = [d.name + "/" for d in (images, annotations) if not d.is_dir()]
        if missing:
            raise DatasetLayoutError(
                f"{root / folder} lacks {' and '.join(missing)}; the 8labels layout "
                f"expects {EXPECTED}"
            )
        files = walk_files(images)
        stems = {os.path.splitext(f)[0] for f in files}
        for name in walk_files(annotations):
            stem, _, kind = name.rpartition("_")
            if kind == "exp.npy" and stem not in stems:
                skips.add(
                    "missing_image",
                    f"{folder}/annotations/{name}: no image {stem}.* in {folder}/images/",
                )
        for rel in tqdm(files, desc=f"AffectNet {folder}", unit="img", disable=not progress):
            stem = os.path.splitext(rel)[0]
            ann = annotations / stem
            where = f"{folder}/annotations/{stem}"
            try:
                exp_text = _npy_text(Path(f"{ann}_exp.npy"))
                if exp_text is None:
                    skips.add("missing_label_file", f"{where}_exp.npy (for {folder}/images/{rel})")
                    continue
                if not exp_text.strip():
                    raise ValueError("empty file")
                expression = expression_code(float(exp_text))
                val, aro = (_npy_text(Path(f"{ann}_{k}.npy")) for k in ("val", "aro"))
                valence, arousal = (math.nan if t is None else float(t) for t in (val, aro))
                points = _npy_landmarks(Path(f"{ann}_lnd.npy"))
            except ValueError as err:
                reason = "empty_label_file" if "empty file" in str(err) else "malformed_label_file"
                skips.add(reason, f"{where}_*.npy: {err}")
                continue
            if expression is None:
                skips.add("unknown_expression", f"{where}_exp.npy: {exp_text!r} is not 0-10")
                continue
            if points is not None and points.size != N_LANDMARK_VALUES:
                skips.add(
                    "bad_landmark_count",
                    f"{where}_lnd.npy: {points.size} values, expected {N_LANDMARK_VALUES}",
                )
                continue
            size = image_size(images / rel)
            if size is None:
                skips.add("unreadable_image", f"{folder}/images/{rel}")
                continue
            landmarks = "" if points is None else format_landmarks(points.reshape(-1, 2))
            append_row(
                cols,
                f"{folder}/images/{rel}",
                expression,
                (0, 0, *size),
                landmarks,
                split,
                valence,
                arousal,
            )
    return cols, skips
