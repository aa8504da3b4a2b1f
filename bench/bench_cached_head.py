"""Training the output layers on cached conv features vs on images, all blocks frozen.

FreezeB5 and every retrain run freeze all five conv blocks, so the blocks' outputs never change;
this compares the routes on the same data, side by side in one run: wall time (ratios) and the
test recalls each route reaches. The routes: images (fresh flips every epoch, the blocks run
every epoch), cached (`--views` augmented views drawn once) and exact (both flip views cached,
one drawn per image every epoch: retrain.augmented_views: exact, the same distribution as the
images route).

    python bench/bench_cached_head.py [--scale demo] [--epochs 6] [--views 1] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import scratch_study

from auforget.analysis.metrics import classification_metrics
from auforget.core.config import EMOTIONS
from auforget.data.task_data import load_task_data
from auforget.nn.backbones import build_vgg16, freeze_blocks, get_profile
from auforget.nn.features import extract_features
from auforget.nn.losses import FocalLoss, class_balanced_weights
from auforget.nn.training import FitSettings, fit, make_loader, predict
from auforget.workflow.fitting import cached_sets


def base_blocks(work: Path):
    """The trained emotion model's conv blocks when the work folder has a study's MLflow store
    (so the recalls mean something), else None (random blocks: only the timing is meaningful)."""
    if not (work / "mlflow.db").exists():
        return (
            None,
            "random (no mlflow.db in the work folder: "
            "run `auforget emotion` there for real features)",
        )
    import mlflow.pytorch

    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlflow.db'}")
    try:
        model = mlflow.pytorch.load_model("models:/auforget-emotion@base", map_location="cpu")
    except Exception as exc:  # no registered base model in that store
        return None, f"random ({exc.__class__.__name__}: no auforget-emotion@base)"
    return model.blocks.state_dict(), "auforget-emotion@base from the work folder's store"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="demo", choices=("tiny", "demo"))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument(
        "--views", type=int, default=1, help="augmented views per image in the cache"
    )
    parser.add_argument("--workdir", default="", help="scratch folder (default: a temporary one)")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny data, 2 epochs: checks the bench runs"
    )
    args = parser.parse_args()
    if args.smoke:
        args.scale, args.epochs = "tiny", 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="auforget-bench-"))
    params = scratch_study(work, args.scale)
    size = get_profile("small").image_size
    data = load_task_data(
        "affectnet", params.data.splits_dir, params.data.affectnet_root, EMOTIONS, "emotion", size
    )
    counts = np.bincount(data.splits["train"]["label"], minlength=8)
    loss = FocalLoss(5.0, class_balanced_weights(counts, 0.99998))
    settings = FitSettings(args.epochs, 0.01, 0.9, 5e-4, patience=args.epochs, seed=0)
    device = torch.device("cpu")
    test_loader = make_loader(data.dataset("test"), 64, shuffle=False, seed=0)
    results = {}
    blocks, origin = base_blocks(work)
    for route in ("images", "cached", "exact"):
        torch.manual_seed(0)
        model = build_vgg16("small", 8)
        if blocks is not None:
            model.blocks.load_state_dict(blocks)
        freeze_blocks(model, 5)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as ckpt:
            if route == "exact":
                train, val = cached_sets(
                    model, data, batch_size=64, views="exact", seed=0, device=device, progress=False
                )
            elif route == "cached":
                train = extract_features(
                    model,
                    data.dataset("train", augment=args.views > 0),
                    batch_size=64,
                    device=device,
                    views=args.views,
                    progress=False,
                )
                val = extract_features(
                    model, data.dataset("val"), batch_size=64, device=device, progress=False
                )
            else:  # the blocks run on freshly flipped images every epoch
                train, val = data.dataset("train", augment=True), data.dataset("val")
            fit(
                model if route == "images" else model.head,
                make_loader(train, 64, shuffle=True, seed=0),
                make_loader(val, 64, shuffle=False, seed=0),
                loss,
                settings,
                class_names=EMOTIONS,
                checkpoint_dir=Path(ckpt),
                progress=False,
                device=device,
            )
        seconds = time.perf_counter() - start
        probs, _, labels = predict(model, test_loader, device, progress=False)
        m = classification_metrics(labels, probs.argmax(1), EMOTIONS, prefix="")
        results[route] = {
            "seconds": round(seconds, 2),
            "recall_macro": round(m["recall_macro"], 4),
            **{f"recall_{e}": round(m[f"recall_{e}"], 3) for e in EMOTIONS},
        }
    speedups = {r: results["images"]["seconds"] / results[r]["seconds"] for r in results}
    print(f"conv blocks: {origin}")
    print(
        f"data: {args.scale} synthetic AffectNet, {len(data.splits['train'])} train images, "
        f"{args.epochs} epochs, {args.views} cached view(s) on the cached route, "
        f"CPU threads {torch.get_num_threads()}"
    )
    print(f"{'route':8} {'seconds':>8} {'x images':>9} {'macro recall':>13}")
    for route, r in results.items():
        print(f"{route:8} {r['seconds']:8.2f} {speedups[route]:9.1f} {r['recall_macro']:13.3f}")
    print(
        f"exact two-view route: {speedups['exact']:.1f}x faster than images, macro recall "
        f"{results['exact']['recall_macro'] - results['images']['recall_macro']:+.3f} against them "
        f"(same distribution of flips; the difference is the draw of the flips and float16)"
    )
    if not args.smoke:
        out = Path(__file__).resolve().parent / "results"
        out.mkdir(exist_ok=True)
        (out / "cached_head.json").write_text(
            json.dumps({"speedups": speedups, **results}, indent=2)
        )


if __name__ == "__main__":
    main()
