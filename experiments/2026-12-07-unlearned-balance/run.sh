#!/usr/bin/env bash
# The unlearned-balance experiment (PLAN.md): the demo study (seed 0), then the manipulation figures
# of the four arms of the balanced unlearned AU14 lesion, read on selection pairs.
#   bash experiments/2026-12-07-unlearned-balance/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0 store
(cd "$work/store" && "$py" "$here/balance.py" "$out/balance.csv") | tee "$out/balance.txt"
