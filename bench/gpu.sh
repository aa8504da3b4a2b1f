#!/usr/bin/env bash
# The GPU figures the README quotes, in one go (about 4 minutes on one H200), written to OUTDIR.
#   bash bench/gpu.sh [OUTDIR]      run from the repository root, with a CUDA build of torch
# Training throughput of full VGG16 at 224 px (our loop, the textbook loop, the card with no
# loader, the loader-bound retrain), at the preset's batch of 32 and at 128, then one loader
# worker's decode + augment rate for each decoder on this host's CPU.
set -uo pipefail
out=${1:-bench/results}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD/bench${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/host.txt"
echo "cpus: $(nproc)  torch: $($py -c 'import torch; print(torch.__version__)')" | tee -a "$out/host.txt"
$py bench/bench_throughput.py --profile paper --batch-size 32 --seconds 15 \
  --out "$out/throughput_paper_b32.json" 2>&1 | tee "$out/throughput_b32.log"
$py bench/bench_throughput.py --profile paper --batch-size 128 --seconds 8 --routes gpu-fp32,gpu-ours,ours \
  --out "$out/throughput_paper_b128.json" 2>&1 | tee "$out/throughput_b128.log"
$py bench/bench_loader.py --images 200 --rounds 2 2>&1 | tee "$out/loader.log"
