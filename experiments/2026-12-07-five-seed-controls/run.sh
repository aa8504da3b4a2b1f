#!/usr/bin/env bash
# The five-seed controls experiment (PLAN.md): the demo with study.seeds 0-4, then one row per
# seed of its instrument checks (the controls step on each seed's FreezeB5). WORKDIR/demo holds
# the study (a demo trained there on seed 0 is reused).
#   bash experiments/2026-12-07-five-seed-controls/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study five demo
# main checks the first seed's FreezeB5 only; the same step on every other seed's:
"$py" "$here/per_seed_controls.py" "$work/demo" 2>&1 | tee "$out/five/per_seed_controls.log"
"$py" "$here/summarise.py" "$work/demo" | tee "$out/five/summary.txt"
