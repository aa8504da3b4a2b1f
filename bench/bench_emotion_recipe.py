"""Why does the demo's emotion model learn the planted expressions poorly? Loss x LR schedule.

Issue 12 asks the small profile to reach 80 % macro recall on the demo split. This trains the
small profile's network (models.PROFILES["small"], from scratch, 64 px, SGD lr 0.01, momentum 0.9,
weight decay 5e-4, batch 32, horizontal flips) on the demo-scale synthetic AffectNet under one
loss and one learning-rate schedule, and prints train and validation macro recall every 5 epochs.
It holds every face crop in memory (the study's reader and face crop, no loader workers or
augmentation beyond flips), so that only the loss and schedule differ between runs.

Measured here (2-core CPU, one thread per run, three runs side by side, seed 0, 30 epochs,
validation = the 480 demo validation images):

    loss                    schedule   train macro recall   validation macro recall
    cross entropy           onecycle   0.92                 0.75
    focal gamma 5 (Cui w.)  onecycle   0.84                 0.68
    cross entropy           constant   0.53                 0.38

On one H200 (`--loss L --gamma G --epochs E`, seven runs at once, seed 0, one-cycle; logs in
bench/measured/h200-2026-11-26/emo_*.log), validation macro recall at the last epoch:

    loss                    30 epochs   60 epochs   90 epochs
    cross entropy           0.84        0.83        0.85
    focal gamma 2           0.76        0.86
    focal gamma 5           0.64        0.76

Fewer epochs, to shorten the demo (cross entropy, one cycle, `--epochs E --batch-size B --lr L`,
seeds 0 and 1, sixteen runs at once on the H200; bench/measured/h200-2026-11-26-emotion-epochs/):

    epochs  batch  lr     validation macro recall (seed 0, seed 1)
    30      32     0.01   0.83, 0.83
    20      32     0.01   0.69, 0.73
    20      64     0.02   0.63, 0.78
    15      32     0.01   0.50, 0.50
    15      64     0.02   0.51, 0.64
    15      32     0.02   0.44, 0.34
    12      64     0.02   0.32, 0.46
    10      32     0.02   0.32, 0.35

So the planted expressions need about 30 epochs of 2,280 images; a shorter demo has to come from
cheaper epochs, not fewer.

So the demo's emotion step uses cross entropy (gamma 0) with one cycle over 30 epochs: the only
setting that reaches issue 12's 80 % inside the demo's 30 epochs. The same seed gives 0.75 on
this CPU and 0.84 on the GPU: one run's figure moves by about 0.1 with the platform (and the
image order), so read the ranking, not the second decimal.

An earlier version of this script that visited the images in the release CSV's order gave 0.80,
0.61 and 0.39: the image order alone moves a figure by up to 0.07, the ranking stays. Since then
the demo's emotion step uses the one-cycle schedule (params.yaml `emotion.lr_schedule`,
`train.lr_factor`, which follows OneCycleLR's defaults except that momentum stays fixed).

    .venv/bin/python bench/bench_emotion_recipe.py [--data DIR] [--loss ce|focal] [--gamma 5]
                                                   [--schedule onecycle|constant] [--epochs 30] [--threads 2]
    .venv/bin/python bench/bench_emotion_recipe.py --write-data DIR    # the demo AffectNet, once
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from auforget.config import EMOTIONS
from auforget.datasets.affectnet import read_affectnet
from auforget.datasets.images import load_face
from auforget.datasets.synthetic import SCALES, write_affectnet
from auforget.losses import FocalLoss, class_balanced_weights
from auforget.metrics import classification_metrics
from auforget.models import build_vgg16, get_profile

N_CLASSES = len(EMOTIONS)


def load_split(root: Path, split: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All faces of one release split in memory, so the runs differ only in loss and schedule."""
    manifest = read_affectnet(root).manifest
    rows = manifest[(manifest["source_split"] == split) & (manifest["expression"] < N_CLASSES)]
    faces = np.stack([np.asarray(load_face(root, row, size)) for row in rows.itertuples()])
    x = torch.tensor(faces).permute(0, 3, 1, 2).float() / 255
    return (x - 0.5) / 0.25, torch.tensor(rows["expression"].to_numpy())


def macro_recall(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 256]).argmax(1) for i in range(0, len(x), 256)])
    return classification_metrics(y.cpu().numpy(), pred.cpu().numpy(), EMOTIONS)["recall_macro"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="an AffectNet-layout folder (default: write the demo scale to a temp dir)")
    ap.add_argument("--loss", choices=("ce", "focal"), default="ce")
    ap.add_argument("--gamma", type=float, default=5.0, help="focal loss gamma (the study's: 5)")
    ap.add_argument("--write-data", type=Path, help="only write the demo AffectNet to this folder, then stop")
    ap.add_argument("--schedule", choices=("onecycle", "constant"), default="onecycle")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (one cycle's peak)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.write_data:
        write_affectnet(args.write_data, layout="csv", seed=0, progress=False, **SCALES["demo"]["affectnet"])
        return
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    profile = get_profile("small")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp) / "affectnet"
            write_affectnet(root, layout="csv", seed=0, progress=False, **SCALES["demo"]["affectnet"])
        x_train, y_train = load_split(root, "training", profile.image_size)
        x_val, y_val = load_split(root, "validation", profile.image_size)
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))
    model = build_vgg16(profile, N_CLASSES).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    bs = args.batch_size
    steps_per_epoch = (len(x_train) + bs - 1) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    counts = torch.bincount(y_train, minlength=N_CLASSES).tolist()
    focal = FocalLoss(gamma=args.gamma, weight=class_balanced_weights(counts, 0.99998)).to(device)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train)).to(device)
        for i in range(0, len(x_train), bs):
            idx = order[i:i + bs]
            x = x_train[idx]
            flip = torch.rand(len(x)).to(device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            out = model(x)
            loss = F.cross_entropy(out, y_train[idx]) if args.loss == "ce" else focal(out, y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if args.schedule == "onecycle":
                sched.step()
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  {time.time() - start:6.0f} s  train {macro_recall(model, x_train, y_train):.3f}"
                  f"  validation {macro_recall(model, x_val, y_val):.3f}", flush=True)


if __name__ == "__main__":
    main()
