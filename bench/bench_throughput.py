"""Training images/s: our loop against a plain reference loop, same model and data.

Ours (`auforget.train.train_one_epoch` with `make_loader`): on a GPU, channels-last memory
format, bf16 autocast and decoding worker processes; on a CPU it is the same plain loop. The
reference is the textbook loop: fp32, contiguous NCHW, images decoded in the main process.
Both run side by side in one process on identical batches; the ratio is what to read.

    python bench/bench_throughput.py [--profile paper] [--batches 30] [--batch-size 64] [--smoke]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from auforget.tasks import load_task_data
from auforget.config import EMOTIONS
from auforget.losses import FocalLoss
from auforget.models import build_vgg16, get_profile
from auforget.train import FitSettings, make_loader, make_optimizer, pick_device, train_one_epoch

from common import scratch_study


class Limited:
    """First n batches of a loader (so both loops see the same amount of work)."""

    def __init__(self, loader, n):
        self.loader, self.n = loader, n

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= self.n:
                break
            yield batch

    def __len__(self):
        return self.n


def reference_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="small", choices=("small", "paper"))
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workdir", default="")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.batches, args.batch_size = 3, 16
    work = Path(args.workdir or tempfile.mkdtemp(prefix="auforget-bench-"))
    params = scratch_study(work, "tiny" if args.smoke else "demo")
    device = pick_device()
    size = get_profile(args.profile).image_size
    data = load_task_data("affectnet", params.data.splits_dir, params.data.affectnet_root, EMOTIONS, "emotion", size)
    dataset = data.dataset("train", augment=True)
    n_batches = min(args.batches, len(dataset) // args.batch_size)
    settings = FitSettings(1, 0.01, 0.9, 0.0, 1, 0)
    loss_fn = FocalLoss(5.0)
    results = {}
    for route in ("reference", "ours", "reference", "ours"):  # twice each, the first round warms up
        torch.manual_seed(0)
        model = build_vgg16(args.profile, 8).to(device)
        if route == "ours" and device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer(model, settings)
        if route == "ours":
            loader = Limited(make_loader(dataset, args.batch_size, shuffle=True, seed=0, device=device), n_batches)
            seconds = timed(lambda: train_one_epoch(model, loader, loss_fn, optimizer, device, progress=False), device)
        else:
            loader = Limited(DataLoader(dataset, batch_size=args.batch_size, shuffle=True), n_batches)
            seconds = timed(lambda: reference_epoch(model, loader, loss_fn, optimizer, device), device)
        results[route] = n_batches * args.batch_size / seconds
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}; profile {args.profile} ({size} px); {n_batches} batches of {args.batch_size}")
    print(f"reference loop: {results['reference']:8.1f} images/s")
    print(f"our loop:       {results['ours']:8.1f} images/s  ({results['ours'] / results['reference']:.2f}x)")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"throughput_{device.type}_{args.profile}.json").write_text(json.dumps({"device": name, **results}, indent=2))


if __name__ == "__main__":
    main()
