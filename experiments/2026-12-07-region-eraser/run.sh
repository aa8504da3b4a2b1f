#!/usr/bin/env bash
# The region-eraser experiment (PLAN.md): the demo study (seed 0), then the manipulation figures of
# eight region-eraser constructions on its FreezeB5, read on selection pairs (the script is
# lesion-specificity's, with controls.eraser region). The study took 30.3 minutes on a 2-core AMD
# EPYC (2026-12-07, shared), each construction about 4 more.
#   bash experiments/2026-12-07-region-eraser/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0 store
(cd "$work/store" && "$py" "$root/experiments/2026-12-07-lesion-specificity/specificity.py" \
  "$out/specificity.csv" region) | tee "$out/specificity.txt"
