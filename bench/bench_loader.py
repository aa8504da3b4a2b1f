"""Decode + augment throughput at 224 px, images/s per worker process, for each JPEG decoder.

A GPU host feeding VGG16 at ~3,000 images/s from 16 cores needs about 200 images/s from each
loader worker. This measures one worker (one process, one torch thread, as a DataLoader worker
runs) on AffectNet-like JPEGs: a face box covering most of an image of `--side` pixels (the
AffectNet originals are mostly 300-1,000 px). Every decoder runs on the same files in the same
process, interleaved over `--rounds`, so contention from other work on the machine hits them
alike; read the ratios.

    python bench/bench_loader.py [--images 200] [--side 512] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from auforget.data.images import DECODERS, ManifestImages, preset, resolve_decoder

SIZE = 224
PER_WORKER_TARGET = 200  # images/s: 3,000 images/s over 16 workers, with headroom


def write_jpegs(folder: Path, n: int, side: int, seed: int = 0) -> pd.DataFrame:
    """n photo-like JPEGs (smooth shading plus noise, quality 90) and a manifest with face boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    rows = []
    for i in range(n):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        base = np.stack(
            [np.sin(a * 6 * xx + b), np.cos(b * 5 * yy + c), np.sin(c * 4 * (xx + yy))], -1
        )
        pixels = np.clip(127 + 90 * base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
        margin = int(side * rng.uniform(0.03, 0.12))
        rows.append(
            dict(
                sample_id=str(i),
                path=f"{i}.jpg",
                label=i % 8,
                x=margin,
                y=margin,
                w=side - 2 * margin,
                h=side - 2 * margin,
            )
        )
    return pd.DataFrame(rows)


def rate(dataset: ManifestImages) -> float:
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--side", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--smoke", action="store_true", help="a few images, one round: checks the script runs"
    )
    args = ap.parse_args()
    if args.smoke:
        args.images, args.rounds = 8, 1
    torch.set_num_threads(1)  # as in a DataLoader worker
    decoders = [d for d in DECODERS if resolve_decoder(d) == d]
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_jpegs(Path(tmp), args.images, args.side)
        results: dict[str, dict[str, list[float]]] = {}
        for _ in range(args.rounds):
            for recipe in ("eval", "emotion", "pain"):
                for decoder in decoders:
                    ds = ManifestImages(manifest, tmp, preset(recipe, SIZE), decoder=decoder)
                    results.setdefault(recipe, {}).setdefault(decoder, []).append(rate(ds))
    print(
        f"decode + augment to {SIZE} px, one process, one thread; "
        f"{args.images} JPEGs of {args.side} px, "
        f"best of {args.rounds} rounds"
    )
    print(
        f"{'recipe':8} "
        + " ".join(f"{d:>12}" for d in decoders)
        + "   vs pil   (target per worker: "
        f"{PER_WORKER_TARGET}/s)"
    )
    summary = {}
    for recipe, by_decoder in results.items():
        best = {d: max(v) for d, v in by_decoder.items()}
        summary[recipe] = best
        ratios = " ".join(f"{d}={best[d] / best['pil']:.2f}x" for d in decoders if d != "pil")
        print(f"{recipe:8} " + " ".join(f"{best[d]:12.0f}" for d in decoders) + f"   {ratios}")
    print(json.dumps({"images_per_s": summary, "side": args.side, "images": args.images}))


if __name__ == "__main__":
    main()
