#!/usr/bin/env bash
# The heavier-erase experiment (PLAN.md), on kept-constraints' five-seed demo study (WORKDIR/demo;
# made by ../2026-12-07-five-seed-controls/run.sh if absent). With "confirm": seeds 0-4's check people.
#   bash experiments/2026-12-07-heavier-erase/run.sh WORKDIR [confirm]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
kept=$root/experiments/2026-12-07-kept-constraints/kept.py
[ -f "$work/demo/metrics/emotion-seed4.json" ] || bash "$root/experiments/2026-12-07-five-seed-controls/run.sh" "$work"
cd "$work/demo"
mkdir -p "$out/heavier"
"$py" "$kept" "$out/heavier/selection.csv" --seeds 0 --read selection --people 48 \
  --arms 0.8:0:1200 | tee "$out/heavier/selection.txt"
if [ "${2:-}" = confirm ]; then
  "$py" "$kept" "$out/heavier/confirm.csv" --seeds 0,1,2,3,4 --read check --people 64 \
    --arms 0.8:0:1200 | tee "$out/heavier/confirm.txt"
fi
