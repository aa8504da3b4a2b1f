#!/usr/bin/env bash
# The GPU figures docs/measured-cost.md quotes, in one go (about 6 minutes on one H200, 4 of them
# throughput; torch.compile adds one to two), written to OUTDIR.
#   bash bench/gpu.sh [OUTDIR]      run from the repository root, with a CUDA build of torch
# Training throughput of full VGG16 at 224 px (our loop, the textbook loop, the compiled step
# with a fused optimiser, the card with no loader, the loader-bound retrain) with each route's
# model-FLOP utilisation, at the preset's batch of 32 and at 128; one loader worker's decode +
# augment rate for each decoder on the host's CPU; the retrain head on images, on one cached view
# and on the exact two-view cache, side by side.
# Rehearse it on a CPU first: PYTHON=.venv/bin/python SMOKE=--smoke bash bench/gpu.sh /tmp/gpu
set -uo pipefail
out=${1:-bench/results}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/host.txt"
echo "cpus: $(nproc)  torch: $($py -c 'import torch; print(torch.__version__)')" | tee -a "$out/host.txt"
smoke=${SMOKE:-}
$py bench/bench_throughput.py --profile paper --batch-size 32 --seconds 15 $smoke \
  --out "$out/throughput_paper_b32.json" 2>&1 | tee "$out/throughput_b32.log"
$py bench/bench_throughput.py --profile paper --batch-size 128 --seconds 8 $smoke \
  --routes gpu-fp32,gpu-ours,gpu-compiled,ours \
  --out "$out/throughput_paper_b128.json" 2>&1 | tee "$out/throughput_b128.log"
$py bench/bench_loader.py --images 200 --rounds 2 $smoke 2>&1 | tee "$out/loader.log"
$py bench/bench_cached_head.py --scale demo --epochs 6 $smoke 2>&1 | tee "$out/cached_head.log"
