#!/usr/bin/env bash
# The readout-lesion experiment (PLAN.md): the demo study (seed 0), then the manipulation figures
# of the AU14 lesion at the last block's output (0-based block 4), channel and region erasers,
# read on selection pairs (lesion-specificity's script). The study took 30.3 minutes on a 2-core AMD
# EPYC (2026-12-07, shared), each construction about 3 to 4 more.
#   bash experiments/2026-12-07-readout-lesion/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0 store
script=$root/experiments/2026-12-07-lesion-specificity/specificity.py
for eraser in channel region; do
  (cd "$work/store" && "$py" "$script" "$out/specificity-$eraser.csv" "$eraser" 4) \
    | tee "$out/specificity-$eraser.txt"
done
