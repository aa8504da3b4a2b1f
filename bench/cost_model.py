"""Wall-clock of the whole paper study on one GPU host, from measured CPU rates and a GPU rate.

The GPU rate is measured (`--gpu-images-per-s`, e.g. from bench_throughput.py --profile paper on
the card) or, without a GPU, derived from FLOPs: VGG16's conv and dense multiply-adds per image,
counted layer by layer below, x2 for FLOPs, x3 for a training step (forward, input gradients,
weight gradients) over the trainable part, divided into the card's peak bf16 rate times an
assumed model-FLOP utilisation. That derivation is an estimate, and the table says so.

The CPU side is measured on the machine that runs it: JPEG decode + augment per loader worker
(bench_loader.py's recipe, run on the spot unless `--decode-per-worker` is given) and prepare's
cost per image (`--prepare-us-per-image`, from bench_growth.py). A stage runs at the slower of the
GPU and the loader (`--workers` processes at the per-worker rate).

Epochs (an upper bound: early stopping ends runs sooner) and the number of seeds (each trains
emotion, six transfers and six retrains again) come from `--params` (params-paper.yaml). With
`retrain.augmented_views: exact` (the paper preset) a retrain decodes each image once, runs the
frozen blocks over it and its mirror image, and trains the head on the cached rows; otherwise it
decodes and convolves every image in every epoch.

    python bench/cost_model.py [--gpu-images-per-s N | --peak-tflops 989 --mfu 0.33] [--workers 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The study's data (Prajod et al.; AffectNet's manual annotations, UNBC-McMaster, CK+).
AFFECTNET_TRAIN, AFFECTNET_VAL, AFFECTNET_TEST = 273_269, 14_382, 4_000
UNBC_TRAIN, UNBC_VAL = 900, 100
UNBC_TEST = round(
    48_398 * 4 / 25
)  # frames of the 4 publishable subjects, at UNBC's mean per subject
UNBC_FRAMES, CKPLUS_PEAKS = 48_398, 593
SALIENCY_IMAGES = 2 * 500  # at most every test image of surprise and contempt, per Bk
SIZE, WIDTHS, CONVS, HIDDEN = 224, (64, 128, 256, 512, 512), (2, 2, 3, 3, 3), 1024


def block_macs() -> tuple[list[float], float]:
    """Multiply-adds per image of each conv block at 224 px, and of the dense head (8 classes)."""
    macs, side, c_in = [], SIZE, 3
    for width, n in zip(WIDTHS, CONVS):
        block = 0.0
        for _ in range(n):
            block += side * side * 9 * c_in * width
            c_in = width
        macs.append(block)
        side //= 2
    head = WIDTHS[-1] * side * side * HIDDEN + HIDDEN * 8
    return macs, head


def step_flops(frozen: int, train: bool) -> float:
    """FLOPs per image: forward everywhere; when training, backward (x2) over the blocks after
    `frozen`."""
    blocks, head = block_macs()
    forward = 2 * (sum(blocks) + head)
    if not train:
        return forward
    trainable = 2 * (sum(blocks[frozen:]) + head)
    return forward + 2 * trainable


@dataclass
class Stage:
    name: str
    train_images: float  # images through a training step (all epochs)
    train_frozen: int
    eval_images: float  # images through a forward pass only
    cpu_seconds: float = 0.0
    decoded: float | None = None  # images through the loader (default: train + eval images)
    head_rows: float = 0.0  # cached feature rows through a head-only training step


def study(
    epochs: dict[str, int], seeds: int, prepare_s: float, exact_retrain: bool = False
) -> list[Stage]:
    """The study's passes over images; `seeds` repeats the three training steps."""
    e, t, r, n = epochs["emotion"], epochs["transfer"], epochs["retrain"], seeds
    stages = [
        Stage("prepare (decode-check every split image, CPU)", 0, 0, 0, prepare_s),
        Stage(
            f"emotion (all blocks trained) x {n} seeds",
            n * e * AFFECTNET_TRAIN,
            0,
            n * (e * AFFECTNET_VAL + AFFECTNET_TEST),
        ),
    ]
    for k in range(6):
        stages.append(
            Stage(
                f"transfer FreezeB{k} x {n} seeds",
                n * t * UNBC_TRAIN,
                k,
                n * (t * UNBC_VAL + UNBC_TEST),
            )
        )
    for k in range(6):
        if exact_retrain:  # one decode, two forward passes (the image and its mirror), cached rows
            stages.append(
                Stage(
                    f"retrain B{k} (head, exact two-view cache) x {n} seeds",
                    0,
                    5,
                    n * (2 * AFFECTNET_TRAIN + AFFECTNET_VAL + AFFECTNET_TEST),
                    decoded=n * (AFFECTNET_TRAIN + AFFECTNET_VAL + AFFECTNET_TEST),
                    head_rows=n * r * (AFFECTNET_TRAIN + AFFECTNET_VAL),
                )
            )
        else:  # the head trains on fresh images every epoch: forward through the frozen blocks
            stages.append(
                Stage(
                    f"retrain B{k} (head, fresh augmentation) x {n} seeds",
                    n * r * AFFECTNET_TRAIN,
                    5,
                    n * (r * AFFECTNET_VAL + AFFECTNET_TEST),
                )
            )
    # LRP: a forward and a backward pass per image and model, about a training step's cost.
    stages.append(Stage("saliency (LRP, 5 x B5-vs-Bk)", 5 * 2 * SALIENCY_IMAGES, 0, 0))
    stages.append(
        Stage(
            "probes (CK+ features, 2 variants x 2 models; SVMs on CPU)", 0, 0, 2 * 2 * CKPLUS_PEAKS
        )
    )
    return stages


def measure_decode(images: int = 60) -> float:
    """Best decoder's images/s per worker for the emotion recipe at 224 px (see bench_loader.py)."""
    import torch
    from bench_loader import rate, write_jpegs

    from auforget.data.images import DECODERS, ManifestImages, preset, resolve_decoder

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_jpegs(Path(tmp), images, 512)
        return max(
            rate(ManifestImages(manifest, tmp, preset("emotion", SIZE), decoder=d))
            for d in DECODERS
            if resolve_decoder(d) == d
            for _ in range(2)
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--gpu-images-per-s",
        type=float,
        default=0.0,
        help="measured VGG16 training images/s at 224 px (all blocks trained); "
        "0 = derive from FLOPs",
    )
    ap.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense bf16 peak (H100 SXM: 989)"
    )
    ap.add_argument("--mfu", type=float, default=0.33, help="assumed model-FLOP utilisation")
    ap.add_argument(
        "--workers", type=int, default=15, help="loader processes (16-core host, one core left)"
    )
    ap.add_argument(
        "--decode-per-worker", type=float, default=0.0, help="images/s; 0 = measure on this machine"
    )
    ap.add_argument(
        "--prepare-us-per-image", type=float, default=0.0, help="from bench_growth.py; 0 = 2,000"
    )
    ap.add_argument(
        "--params", type=Path, default=Path(__file__).resolve().parents[1] / "params-paper.yaml"
    )
    args = ap.parse_args()
    from auforget.core.config import load_params

    params = load_params(args.params)
    retrain = params.emotion if params.retrain.same_as_emotion else params.retrain
    epochs = {
        "emotion": params.emotion.epochs,
        "transfer": params.transfer.epochs,
        "retrain": retrain.epochs,
    }
    seeds = len(params.study.seeds)
    decode = args.decode_per_worker or measure_decode()
    loader_rate = decode * args.workers
    prepare_s = (
        (args.prepare_us_per_image or 2_000)
        * 1e-6
        * (AFFECTNET_TRAIN + AFFECTNET_VAL + AFFECTNET_TEST + UNBC_FRAMES + 2 * CKPLUS_PEAKS)
    )
    flop_rate = args.peak_tflops * 1e12 * args.mfu
    measured = args.gpu_images_per_s > 0
    scale = args.gpu_images_per_s * step_flops(0, True) / flop_rate if measured else 1.0
    source = (
        f"measured {args.gpu_images_per_s:.0f} images/s"
        if measured
        else f"FLOP-derived: {args.peak_tflops:.0f} TFLOPS x {args.mfu} utilisation "
        "(an estimate, no GPU measured)"
    )
    gflop = step_flops(0, True) / 1e9
    print(f"GPU rate: {source}; full VGG16 training step = {gflop:.1f} GFLOP/image")
    print(
        f"loader: {decode:.0f} images/s per worker (measured now, decode + flip at {SIZE} px) "
        f"x {args.workers} "
        f"workers = {loader_rate:.0f} images/s\n"
    )
    print("| stage | images through training / forward | GPU-bound h | loader-bound h | hours |")
    print("|---|---|---|---|---|")
    total, rows = 0.0, []
    exact = params.retrain.cached_features and params.retrain.augmented_views == "exact"
    _, head_macs = block_macs()
    for s in study(epochs, seeds, prepare_s, exact_retrain=exact):
        gpu_s = (
            s.train_images * step_flops(s.train_frozen, True)
            + s.eval_images * step_flops(0, False)
            + s.head_rows * 3 * 2 * head_macs
        ) / (flop_rate * scale)
        decoded = s.train_images + s.eval_images if s.decoded is None else s.decoded
        load_s = decoded / loader_rate if "probes" not in s.name else 0.0
        hours = (max(gpu_s, load_s) + s.cpu_seconds) / 3600
        total += hours
        rows.append({"stage": s.name, "hours": hours})
        print(
            f"| {s.name} | {s.train_images:,.0f} / {s.eval_images:,.0f} | {gpu_s / 3600:.2f} | "
            f"{load_s / 3600:.2f} | "
            f"{hours:.2f} |"
        )
    print(
        f"| **whole study, one GPU: {seeds} seeds, epochs {epochs} (upper bound)** | | | | "
        f"**{total:.1f}** |"
    )
    print(
        json.dumps(
            {
                "total_hours": round(total, 2),
                "decode_per_worker": round(decode, 1),
                "gpu_images_per_s_full_training": round(flop_rate * scale / step_flops(0, True), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
