"""Decode once + batched augmentation against decoding every face, images/s per recipe.

Three routes through `make_loader` on the same JPEGs, for each recipe (eval, emotion, pain) at
each input size, interleaved over `--rounds` in one process so that other work on the machine
hits them alike (read the ratios):

  jpeg   today's per-image route as a loader worker runs it: decode, crop, resize, then the
         preset on the PIL face, every epoch (data.image_store: false on a GPU host)
  kept   the same route in the main process, where ManifestImages keeps the resized faces after
         the first epoch and redoes only the random steps (data.image_store: false on a CPU)
  store  the decode-once uint8 store (data.image_store: true): rows copied out of a memory map,
         the preset applied to each batch in torch (here on the CPU)

plus the one-off time to build each store. The JPEG routes decode in one thread (the main
process, as on a CPU); the batched presets use torch's threads.

    python bench/bench_image_store.py [--images 256] [--side 512] [--sizes 96 224]
        [--batch-size 64] [--rounds 3] [--decoder pil] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_loader import write_jpegs

from auforget.data.batch_augment import batch_preset
from auforget.data.image_store import open_store
from auforget.data.images import DECODERS, ManifestImages, preset
from auforget.nn.training import make_loader

RECIPES = ("eval", "emotion", "pain")
ROUTES = ("jpeg", "kept", "store")


def epoch_rate(dataset, batch_size: int) -> float:
    """Images/s of one shuffled pass through make_loader (CPU device)."""
    loader = make_loader(dataset, batch_size, shuffle=True, seed=0, device=torch.device("cpu"))
    start = time.perf_counter()
    for images, _ in loader:
        assert images.dtype == torch.float32
    return len(dataset) / (time.perf_counter() - start)


def route(name: str, manifest, root: Path, recipe: str, size: int, decoder: str, cache: Path):
    if name == "store":
        return open_store(
            manifest,
            root,
            batch_preset(recipe, size),
            decoder=decoder,
            folder=cache,
            progress=False,
        )
    dataset = ManifestImages(manifest, root, preset(recipe, size), decoder=decoder)
    if name == "jpeg":
        dataset._cached = False  # decode every face every epoch, as a loader worker does
    else:
        epoch_rate(dataset, 64)  # the first epoch decodes and keeps the resized faces
    return dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--side", type=int, default=512, help="side of the JPEGs, in pixels")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 224])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--decoder", default="pil", choices=DECODERS)
    ap.add_argument("--smoke", action="store_true", help="a few images, one round, 32 px")
    args = ap.parse_args()
    if args.smoke:
        args.images, args.side, args.sizes, args.rounds = 12, 96, [32], 1
    with tempfile.TemporaryDirectory() as tmp:
        root, cache = Path(tmp) / "jpegs", Path(tmp) / "cache"
        root.mkdir()
        manifest = write_jpegs(root, args.images, args.side)
        build, rates = {}, {}
        for size in args.sizes:
            start = time.perf_counter()
            open_store(
                manifest,
                root,
                batch_preset("eval", size),
                decoder=args.decoder,
                folder=cache,
                progress=False,
            )
            build[size] = time.perf_counter() - start
            for _ in range(args.rounds):
                for recipe in RECIPES:
                    for name in ROUTES:
                        dataset = route(name, manifest, root, recipe, size, args.decoder, cache)
                        rate = epoch_rate(dataset, args.batch_size)
                        rates.setdefault((size, recipe, name), []).append(rate)
    best = {key: max(values) for key, values in rates.items()}
    print(
        f"{args.images} JPEGs of {args.side} px, decoder {args.decoder}, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}, best of {args.rounds} rounds; images/s"
    )
    for size in args.sizes:
        jpeg_epoch = args.images / best[(size, "eval", "jpeg")]
        print(
            f"build {size} px: {build[size]:.2f} s for {args.images} faces "
            f"({args.images / build[size]:.0f}/s; one eval epoch of the jpeg route takes "
            f"{jpeg_epoch:.2f} s)"
        )
        print(f"{'size':>5} {'recipe':8} " + " ".join(f"{r:>8}" for r in ROUTES))
        for recipe in RECIPES:
            print(
                f"{size:5d} {recipe:8} "
                + " ".join(f"{best[(size, recipe, r)]:8.0f}" for r in ROUTES)
            )
    for size in args.sizes:
        for recipe in RECIPES:
            store = best[(size, recipe, "store")]
            print(
                f"ratio {size} px {recipe}: store {store / best[(size, recipe, 'jpeg')]:.2f}x "
                f"jpeg, {store / best[(size, recipe, 'kept')]:.2f}x kept"
            )
    summary = {
        "images_per_s": {f"{s}/{recipe}/{r}": v for (s, recipe, r), v in best.items()},
        "build_s": build,
        "images": args.images,
        "side": args.side,
        "decoder": args.decoder,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
