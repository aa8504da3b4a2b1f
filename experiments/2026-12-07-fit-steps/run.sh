#!/usr/bin/env bash
# The fit-steps experiment (PLAN.md), on kept-constraints' five-seed demo study (WORKDIR/demo;
# made by ../2026-12-07-five-seed-controls/run.sh if absent).
#   bash experiments/2026-12-07-fit-steps/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
[ -f "$work/demo/metrics/emotion-seed4.json" ] || bash "$root/experiments/2026-12-07-five-seed-controls/run.sh" "$work"
cd "$work/demo"
mkdir -p "$out/fit-steps"
"$py" "$root/experiments/2026-12-07-kept-constraints/kept.py" "$out/fit-steps/selection.csv" \
  --seeds 0 --read selection --people 48 --arms 0.4:0:3000 | tee "$out/fit-steps/selection.txt"
# addendum: erase_weight 0.8 at 3,000 steps
"$py" "$root/experiments/2026-12-07-kept-constraints/kept.py" "$out/fit-steps/selection-w08.csv" \
  --seeds 0 --read selection --people 48 --arms 0.8:0:3000 | tee "$out/fit-steps/selection-w08.txt"
