#!/usr/bin/env bash
# The unlearned-lesion experiment (PLAN.md): the demo study (seed 0), then the manipulation figures
# of the four arms of the AU14 lesion made by retraining one block, read on selection pairs.
#   bash experiments/2026-12-07-unlearned-lesion/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0 store
(cd "$work/store" && "$py" "$here/unlearned.py" "$out/unlearned.csv") | tee "$out/unlearned.txt"
