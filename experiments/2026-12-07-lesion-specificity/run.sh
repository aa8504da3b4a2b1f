#!/usr/bin/env bash
# The lesion-specificity experiment (PLAN.md): the demo study (seed 0, params.yaml as committed
# with this folder), then the manipulation figures of eight lesion constructions on its FreezeB5,
# read on selection pairs. The study took 30.3 minutes on a 2-core AMD EPYC (2026-12-07, shared).
#   bash experiments/2026-12-07-lesion-specificity/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0 store
(cd "$work/store" && "$py" "$here/specificity.py" "$out/specificity.csv") | tee "$out/specificity.txt"
