"""Time and peak memory of prepare, feature cache, retrain and probes, from tiny to large scale.

Each step runs in a fresh child process (so its peak resident memory, ru_maxrss, is its own)
on the synthetic data of each scale (`synth.scale` tiny / demo / large: 112 / 2,400 / 30,000
AffectNet training images). The size behaviour to read: time should grow linearly with the
images, and peak memory should stay flat -- nothing the size of the dataset is held in memory
(the feature cache is on disk, labels aside). Small profile (64 px, 1/8 width): the paper's
widths would take hours here, and the memory question is the same one.

    python bench/bench_growth.py [--scales tiny demo large] [--workdir DIR] [--smoke]

Steps:
  prepare   read the raw AffectNet/UNBC/CK+ layouts, draw the splits, decode every split image
  features  block-5 features of the AffectNet train split into the disk cache (1 augmented view)
  retrain   2 epochs of the retrain head on that cache (the cached route that once held it in RAM)
  probes    CK+ conv features and 50 seeds x 2 folds of the AU14 probe, two models
  head      2 epochs of the retrain head on a disk store of random block-5 features with as many
            rows as the scale's AffectNet train split ("paper": 273,269), no images needed: the
            memory of the cached route up to the paper's row count, in minutes
  retrain-images  2 epochs of the retrain head on freshly flipped images (the blocks run each epoch)
  retrain-exact   the exact two-view cache (one decode, two forward passes) + the same 2 epochs
  jpeg      one epoch of the emotion recipe's batches through the per-image JPEG path
  store     the decode-once image store built, then one epoch of the same batches from it, with
            the flip batched in torch (data.image_store)
Side by side, retrain-images against retrain-exact and jpeg against store give the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS = (
    "prepare",
    "features",
    "retrain",
    "probes",
    "head",
    "retrain-images",
    "retrain-exact",
    "jpeg",
    "store",
)
HEAD_ROWS = {"tiny": 112, "demo": 2_280, "large": 28_500, "paper": 273_269}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def step(name: str, scale: str, workdir: Path) -> dict:
    """Run one step in this process; returns rows, seconds and peak RSS (MB)."""
    sys.path.insert(0, str(HERE))
    import numpy as np
    import torch
    from common import scratch_study

    try:
        from auforget.data.task_data import load_task_data
    except ImportError:  # before the recipes refactor
        from auforget.workflow.fitting import load_task_data
    from auforget.core.config import EMOTIONS
    from auforget.nn.backbones import build_vgg16, freeze_blocks, get_profile
    from auforget.nn.features import extract_features
    from auforget.nn.losses import FocalLoss
    from auforget.nn.training import FitSettings, fit, make_loader

    torch.set_num_threads(1)
    if name == "head":
        return head_step(scale, workdir)
    params = scratch_study(workdir / scale, scale=scale)  # data and splits exist already (see main)
    size = get_profile("small").image_size
    torch.manual_seed(0)
    model = freeze_blocks(build_vgg16("small", len(EMOTIONS)), 5)
    cpu = torch.device("cpu")
    start = time.perf_counter()
    if name == "prepare":
        from auforget.stages.prepare import run_prepare

        run_prepare(params, progress=False)
        rows = sum(1 for _ in open("data/splits/affectnet/train.csv")) - 1
    elif name in ("features", "retrain"):
        data = load_task_data(
            "affectnet",
            params.data.splits_dir,
            params.data.affectnet_root,
            EMOTIONS,
            "emotion",
            size,
        )
        rows = len(data.splits["train"])
        if (
            name == "retrain"
        ):  # the cache is made outside the timed part (the features step times it)
            train = extract_features(
                model,
                data.dataset("train", augment=True),
                batch_size=64,
                device=cpu,
                views=1,
                progress=False,
                folder=Path("cache/features"),
            )
            val = extract_features(
                model,
                data.dataset("val"),
                batch_size=64,
                device=cpu,
                progress=False,
                folder=Path("cache/features"),
            )
            start = time.perf_counter()
            settings = FitSettings(
                epochs=2, lr=0.01, momentum=0.9, weight_decay=5e-4, patience=5, seed=0
            )
            fit(
                model.head,
                make_loader(train, 64, shuffle=True, seed=0),
                make_loader(val, 64, shuffle=False, seed=0),
                FocalLoss(5.0),
                settings,
                class_names=EMOTIONS,
                checkpoint_dir=workdir / scale / "ckpt",
                progress=False,
            )
        else:
            import shutil

            shutil.rmtree("cache/features", ignore_errors=True)
            extract_features(
                model,
                data.dataset("train", augment=True),
                batch_size=64,
                device=cpu,
                views=1,
                progress=False,
                folder=Path("cache/features"),
            )
    elif name in ("retrain-images", "retrain-exact", "jpeg", "store"):
        import shutil

        from auforget.workflow.fitting import cached_sets

        store = name == "store"
        data = load_task_data(
            "affectnet",
            params.data.splits_dir,
            params.data.affectnet_root,
            EMOTIONS,
            "emotion",
            size,
            image_store=store,
        )
        rows = len(data.splits["train"])
        shutil.rmtree("cache", ignore_errors=True)
        settings = FitSettings(
            epochs=2, lr=0.01, momentum=0.9, weight_decay=5e-4, patience=5, seed=0
        )
        if name in ("jpeg", "store"):  # one epoch of augmented batches, no model
            for _ in make_loader(data.dataset("train", augment=True), 64, shuffle=True, seed=0):
                pass
        else:
            if name == "retrain-exact":
                train, val = cached_sets(
                    model, data, batch_size=64, views="exact", seed=0, device=cpu, progress=False
                )
                net = model.head
            else:
                train, val = data.dataset("train", augment=True), data.dataset("val")
                net = model
            fit(
                net,
                make_loader(train, 64, shuffle=True, seed=0),
                make_loader(val, 64, shuffle=False, seed=0),
                FocalLoss(5.0),
                settings,
                class_names=EMOTIONS,
                checkpoint_dir=workdir / scale / f"ckpt-{name}",
                progress=False,
            )
    else:  # probes
        import pandas as pd

        from auforget.analysis.linear_probes import au_labels, compare_probes
        from auforget.data.images import ManifestImages, preset

        peaks = pd.read_csv(
            "data/splits/ckplus/peak.csv",
            dtype={"sample_id": str, "aus": str},
            keep_default_na=False,
        )
        rows = len(peaks)
        images = ManifestImages(peaks, params.data.ckplus_root, preset("eval", size))
        with torch.no_grad():
            feats = np.concatenate(
                [
                    model.features(x).flatten(1).numpy()
                    for x, _ in make_loader(images, 64, shuffle=False, seed=0)
                ]
            ).astype(np.float64)
        compare_probes(feats, feats[:, ::-1].copy(), au_labels(peaks["aus"], 14), seeds=50, folds=2)
    return {
        "step": name,
        "scale": scale,
        "rows": rows,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def head_step(scale: str, workdir: Path) -> dict:
    """The retrain head on a disk store of HEAD_ROWS[scale] random feature rows (small profile)."""
    import numpy as np
    import torch

    from auforget.core.config import EMOTIONS
    from auforget.nn.backbones import build_vgg16
    from auforget.nn.features import STORE_DTYPE, FeatureStore
    from auforget.nn.losses import FocalLoss
    from auforget.nn.training import FitSettings, fit, make_loader

    torch.manual_seed(0)
    model = build_vgg16("small", len(EMOTIONS))
    shape = (model.profile.widths[-1], model.profile.feature_side, model.profile.feature_side)
    folder = workdir / "head" / scale
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    stores = []
    for name, rows in (("train", HEAD_ROWS[scale]), ("val", 1000)):
        with open(folder / f"{name}.bin", "wb") as out:
            for start in range(0, rows, 10_000):
                n = min(10_000, rows - start)
                out.write(np.maximum(rng.normal(size=(n, *shape)), 0).astype(STORE_DTYPE).tobytes())
        stores.append(FeatureStore(folder / f"{name}.bin", shape, rng.integers(0, 8, rows)))
    start = time.perf_counter()
    settings = FitSettings(epochs=2, lr=0.01, momentum=0.9, weight_decay=5e-4, patience=5, seed=0)
    fit(
        model.head,
        make_loader(stores[0], 64, shuffle=True, seed=0),
        make_loader(stores[1], 64, shuffle=False, seed=0),
        FocalLoss(5.0),
        settings,
        class_names=EMOTIONS,
        checkpoint_dir=folder / "ckpt",
        progress=False,
    )
    return {
        "step": "head",
        "scale": scale,
        "rows": HEAD_ROWS[scale],
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", nargs="+", default=["tiny", "demo", "large"])
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--workdir", type=Path, default=Path("bench/results/growth"))
    ap.add_argument("--smoke", action="store_true", help="tiny scale only")
    ap.add_argument("--child", nargs=2, metavar=("STEP", "SCALE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    workdir = args.workdir.resolve()
    if args.child:
        print(json.dumps(step(args.child[0], args.child[1], workdir)))
        return
    scales = ["tiny"] if args.smoke else args.scales
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = []
    if args.steps == ["head"]:  # no images needed: skip the synthetic data
        for scale in scales:
            out = subprocess.run(
                [sys.executable, __file__, "--workdir", str(workdir), "--child", "head", scale],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
        scales = []
    for scale in scales:
        # Data first (not timed): the synthetic generator's own cost is not the pipeline's.
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(HERE)!r}); import common; "
                f"common.scratch_study(__import__('pathlib').Path({str(workdir / scale)!r}), "
                f"{scale!r})",
            ],
            check=True,
            env=env,
        )
        for name in args.steps:
            out = subprocess.run(
                [sys.executable, __file__, "--workdir", str(workdir), "--child", name, scale],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    print(
        f"\n{'step':9} {'scale':6} {'rows':>7} {'seconds':>9} {'us/row':>8} {'peak RSS MB':>12} "
        f"{'RSS vs smallest':>16}"
    )
    for name in args.steps:
        mine = [r for r in results if r["step"] == name]
        for r in mine:
            per_row = 1e6 * r["seconds"] / max(r["rows"], 1)
            ratio = r["peak_rss_mb"] / mine[0]["peak_rss_mb"]
            print(
                f"{name:9} {r['scale']:6} {r['rows']:7d} {r['seconds']:9.2f} {per_row:8.0f} "
                f"{r['peak_rss_mb']:12.1f} "
                f"{ratio:15.2f}x"
            )


if __name__ == "__main__":
    main()
