"""Training images/s of VGG16: our loop against a plain reference loop; does the loader keep up?

Routes, each timed for `--seconds` after `--warmup` batches, in one process on the same model,
batch size and photo-like JPEGs (512 px, face box 76-94 % of the side, as bench_loader.py):

  gpu-fp32        one batch kept on the device, fp32 NCHW: the card's rate for the textbook loop
  gpu-ours        one batch kept on the device, our step (bf16 autocast, channels-last,
                  deterministic cuDNN as `pick_device` sets it): the card's rate for our loop
  gpu-ours-fast   as gpu-ours with cuDNN autotuning instead of deterministic kernels: what
                  determinism costs
  gpu-compiled    as gpu-ours with the model under torch.compile (inductor, default mode) and a
                  fused SGD: the step toward the card's limit, still with deterministic cuDNN
  gpu-channels-last  as gpu-ours with the model and the batch channels-last on any device: on a
                  GPU the same as gpu-ours; on a CPU, where our loop trains NCHW, what the layout
                  alone would buy the demo's epochs (a lever not taken: it changes every trained
                  network's numbers)
  reference       the textbook loop: fp32, images decoded in the main process
  ours            `train_one_epoch` fed by `make_loader` (all cores but one decoding into
                  pinned memory), epochs re-started as in `fit`
  ours-frozen5    as ours with every conv block frozen (the forgetting re-training without the
                  feature cache): bound by the loader, not the card
  loader          `make_loader`'s batches copied to the device, no model: the loader's own rate

On a GPU each route also reports the mean GPU utilisation sampled every 0.1 s (NVML) and its
model-FLOP utilisation: images/s x the training step's FLOPs per image (cost_model.step_flops,
2 FLOPs per multiply-add, forward + both backward passes) / `--peak-tflops`. The loader keeps up
when `ours` reaches `gpu-ours`. On a CPU every route runs the same plain code but gpu-compiled,
which compiles there too (a rehearsal of the GPU run).

    python bench/bench_throughput.py [--profile small96|paper] [--batch-size 32] [--seconds 15]
        [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch
from bench_loader import write_jpegs
from cost_model import step_flops
from torch.utils.data import DataLoader

from auforget.data.images import ManifestImages, preset, resolve_decoder
from auforget.nn.backbones import build_vgg16, freeze_blocks, get_profile
from auforget.nn.losses import FocalLoss
from auforget.nn.training import (
    FitSettings,
    make_loader,
    make_optimizer,
    pick_device,
    train_one_epoch,
)

ROUTES = (
    "gpu-fp32",
    "gpu-ours",
    "gpu-ours-fast",
    "gpu-compiled",
    "gpu-channels-last",
    "reference",
    "ours",
    "ours-frozen5",
    "loader",
)


class TimedBatches:
    """Cycles a loader (each pass a new epoch, as `fit` does) for `seconds` after `warmup`
    batches."""

    def __init__(self, loader, seconds: float, warmup: int, device: torch.device):
        self.loader, self.seconds, self.warmup, self.device = loader, seconds, warmup, device
        self.start = self.images = None

    def __iter__(self):
        done = 0
        while True:
            for images, labels in self.loader:
                if done == self.warmup:
                    _sync(self.device)
                    self.start, self.images = time.perf_counter(), 0
                elif self.start is not None and time.perf_counter() - self.start >= self.seconds:
                    return
                if self.start is not None:
                    self.images += len(labels)
                done += 1
                yield images, labels


class Repeat:
    """The same device-resident batch over and over: the card's rate with no loader at all."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __iter__(self):
        while True:
            yield self.images, self.labels


class Utilisation:
    """Mean GPU utilisation (NVML, %) over a window, sampled every 0.1 s by a thread."""

    def __init__(self, device: torch.device):
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = None
        if device.type == "cuda":
            try:
                torch.cuda.utilization()
            except Exception as exc:  # no NVML bindings: report None rather than fail the bench
                print(f"GPU utilisation not sampled: {exc}")
                return
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _run(self):
        while not self.stop.wait(0.1):
            self.samples.append((time.perf_counter(), torch.cuda.utilization()))

    def mean(self, start: float, end: float) -> float | None:
        window = [u for t, u in self.samples if start <= t <= end]
        return sum(window) / len(window) if window else None

    def close(self):
        self.stop.set()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_loop(model, batches, loss_fn, optimizer, device):
    model.train()
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def write_photos(folder: Path, n: int, side: int) -> pd.DataFrame:
    """bench_loader's JPEGs, written by one process per core in chunks."""
    chunk = max(1, n // (os.cpu_count() or 1))
    starts = list(range(0, n, chunk))
    with ProcessPoolExecutor() as pool:
        parts = list(pool.map(_write_chunk, [(folder, s, min(chunk, n - s), side) for s in starts]))
    return pd.concat(parts, ignore_index=True)


def _write_chunk(job) -> pd.DataFrame:
    folder, start, n, side = job
    sub = folder / f"c{start}"
    sub.mkdir()
    rows = write_jpegs(sub, n, side, seed=start)
    rows["path"] = [f"c{start}/{p}" for p in rows["path"]]
    rows["sample_id"] = [f"{start}-{i}" for i in rows["sample_id"]]
    return rows


def run_route(route: str, args, dataset, device, utilisation: Utilisation) -> dict:
    cudnn = torch.backends.cudnn
    cudnn.deterministic, cudnn.benchmark = (
        (False, True) if route == "gpu-ours-fast" else (True, False)
    )
    if route in ("gpu-fp32", "reference"):
        cudnn.deterministic, cudnn.benchmark = False, False  # the textbook loop sets nothing
    torch.manual_seed(0)
    ours = route not in ("gpu-fp32", "reference")
    model = build_vgg16(args.profile, 8)
    if route == "ours-frozen5":
        freeze_blocks(model, 5)
    model = model.to(device)
    if ours and device.type == "cuda" or route == "gpu-channels-last":
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, FitSettings(1, 0.01, 0.9, 0.0, 1, 0))
    if route == "gpu-compiled":
        fused = {"fused": True} if device.type == "cuda" else {}
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, **fused)
        model = torch.compile(model)
    loss_fn = FocalLoss(5.0)
    if route.startswith("gpu-"):
        images, labels = next(iter(DataLoader(dataset, batch_size=args.batch_size)))
        if route == "gpu-channels-last":
            images = images.contiguous(memory_format=torch.channels_last)
        source = Repeat(images.to(device), labels.to(device))
    elif route == "reference":
        source = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True)
    else:
        source = make_loader(dataset, args.batch_size, shuffle=True, seed=0, device=device)
    batches = TimedBatches(source, args.seconds, args.warmup, device)
    if route == "loader":
        for images, labels in batches:
            images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    elif ours:
        train_one_epoch(model, batches, loss_fn, optimizer, device, progress=False)
    else:
        reference_loop(model, batches, loss_fn, optimizer, device)
    _sync(device)
    end = time.perf_counter()
    seconds = end - batches.start
    return {
        "images_per_s": batches.images / seconds,
        "seconds": seconds,
        "images": batches.images,
        "gpu_util_pct": utilisation.mean(batches.start, end),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="small", choices=("small", "small96", "paper"))
    parser.add_argument("--batch-size", type=int, default=32, help="params-paper.yaml's is 32")
    parser.add_argument("--seconds", type=float, default=15.0, help="timed window per route")
    parser.add_argument("--warmup", type=int, default=5, help="batches before the window opens")
    parser.add_argument("--images", type=int, default=1024, help="JPEGs written (cycled as epochs)")
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--decoder", default="simplejpeg", help="params-paper.yaml's decoder")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100/H200 SXM: 989)"
    )
    parser.add_argument("--out", default="", help="JSON results file (default bench/results/...)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    args = parser.parse_args()
    if args.smoke:
        args.batch_size, args.seconds, args.warmup, args.images, args.side = 8, 0.5, 1, 32, 160
    routes = [r for r in args.routes.split(",") if r]
    unknown = sorted(set(routes) - set(ROUTES))
    if unknown:
        parser.error(f"unknown routes {unknown}; valid routes are {list(ROUTES)}")
    device = pick_device()
    size = get_profile(args.profile).image_size
    decoder = resolve_decoder(args.decoder)
    utilisation = Utilisation(device)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_photos(Path(tmp), args.images, args.side)
        dataset = ManifestImages(manifest, tmp, preset("emotion", size), decoder=decoder)
        for route in routes:
            results[route] = run_route(route, args, dataset, device, utilisation)
            r = results[route]
            util = "" if r["gpu_util_pct"] is None else f", GPU {r['gpu_util_pct']:.0f} %"
            if device.type == "cuda" and route != "loader" and args.profile == "paper":
                r["mfu"] = r["images_per_s"] * step_flops(0, True) / (args.peak_tflops * 1e12)
                util += f", MFU {r['mfu']:.1%} of {args.peak_tflops:.0f} TFLOPS"
            print(
                f"{route:14} {r['images_per_s']:8.1f} images/s "
                f"({r['images']} images in {r['seconds']:.1f} s{util})",
                flush=True,
            )
    utilisation.close()
    name = (
        torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    workers = make_loader(dataset, 1, shuffle=False, seed=0, device=device).num_workers
    summary = {
        "device": name,
        "profile": args.profile,
        "image_size": size,
        "batch_size": args.batch_size,
        "decoder": decoder,
        "loader_workers": workers,
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "routes": results,
    }
    if "ours" in results and "reference" in results:
        ratio = results["ours"]["images_per_s"] / results["reference"]["images_per_s"]
        print(f"ours / reference: {ratio:.2f}x")
    if "ours" in results and "gpu-ours" in results:
        share = results["ours"]["images_per_s"] / results["gpu-ours"]["images_per_s"]
        print(
            f"loader keeps up: ours reaches {share:.0%}"
            f" of the card's rate with no loader ({workers} workers)"
        )
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).resolve().parent
        / "results"
        / f"throughput_{device.type}_{args.profile}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
