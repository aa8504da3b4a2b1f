"""Training images/s of each backbone's profile beside VGG16's, in one process on one machine.

For every backbone (vgg16, resnet50, vit_b_16) at one profile (`--profile`, default the demo's
small96), two routes, each a plain training step (the study's focal loss, SGD with momentum, the
model in train mode) on one batch of random images kept in memory, so the loader is not timed:

  train     every stage trainable: the emotion step and FreezeB0's transfer
  frozen    every stage frozen, only the head trains: the retrain step without the feature cache

The backbones take turns for `--rounds` rounds of `--seconds` each, so a neighbour's load on a
shared CPU falls on all of them alike; each prints its median rate and its ratio to VGG16's.

    python bench/bench_backbones.py [--profile small96] [--batch-size 32] [--seconds 5]
                                    [--rounds 3] [--threads N] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from auforget.core.profiles import BACKBONES, get_profile
from auforget.nn.adapters import build_model
from auforget.nn.backbones import freeze_blocks
from auforget.nn.losses import FocalLoss


def rate(model, images, labels, seconds: float, warmup: int = 2) -> float:
    """Images per second of the training step over `seconds` after `warmup` steps."""
    loss_fn = FocalLoss(0.0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    model.train()
    done, start = 0, None
    while True:
        if done == warmup:
            start, counted = time.perf_counter(), 0
        loss = loss_fn(model(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += 1
        if start is not None:
            counted += len(labels)
            if time.perf_counter() - start >= seconds:
                return counted / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="small96")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--smoke", action="store_true", help="tiny run for CI: small, 1 round")
    args = parser.parse_args()
    if args.smoke:
        args.profile, args.batch_size, args.seconds, args.rounds = "small", 4, 0.2, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {}
    for backbone in BACKBONES:
        profile = get_profile(args.profile, backbone)
        model = build_model(args.profile, 8, backbone)
        size = profile.image_size
        images = torch.randn(args.batch_size, 3, size, size)
        labels = torch.randint(0, 8, (args.batch_size,))
        params = sum(p.numel() for p in model.parameters())
        models[backbone] = (model, images, labels, params, len(model.blocks))
    rates: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for route in ("train", "frozen"):
            for backbone, (model, images, labels, _, stages) in models.items():
                freeze_blocks(model, stages if route == "frozen" else 0)
                rates.setdefault((backbone, route), []).append(
                    rate(model, images, labels, args.seconds)
                )
    print(
        f"profile {args.profile}, batch {args.batch_size}, {torch.get_num_threads()} torch "
        f"threads, {args.rounds} rounds x {args.seconds:g} s, {platform.processor() or 'cpu'}"
    )
    print(f"{'backbone':10} {'route':7} {'stages':>6} {'params':>9} {'img/s':>8} {'x vgg16':>8}")
    results = []
    for (backbone, route), values in rates.items():
        median = statistics.median(values)
        vgg = statistics.median(rates[("vgg16", route)])
        _, _, _, params, stages = models[backbone]
        print(
            f"{backbone:10} {route:7} {stages:>6} {params:>9} {median:>8.1f} {median / vgg:>7.2f}x"
        )
        results.append(
            {
                "backbone": backbone,
                "route": route,
                "images_per_s": median,
                "ratio_vgg16": median / vgg,
            }
        )
    print(json.dumps({"profile": args.profile, "results": results}))


if __name__ == "__main__":
    main()
