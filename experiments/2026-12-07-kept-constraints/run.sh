#!/usr/bin/env bash
# The kept-constraints experiment (PLAN.md): on the five-seed demo study of
# ../2026-12-07-five-seed-controls (WORKDIR/demo: made there by that experiment's run.sh if absent),
# the selection arms on seed 0, then the chosen arm on seeds 1-4's check people.
#   bash experiments/2026-12-07-kept-constraints/run.sh WORKDIR [CHOSEN_ARM]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
[ -f "$work/demo/metrics/emotion-seed4.json" ] || bash "$root/experiments/2026-12-07-five-seed-controls/run.sh" "$work"
cd "$work/demo"
mkdir -p "$out/kept"
"$py" "$here/kept.py" "$out/kept/selection.csv" --seeds 0 --read selection --people 48 \
  --arms 0.4:0:300,1:0.1:300,1:0.2:300,1:0.3:300,0.4:0:1200,0.4:0:300:0.003 | tee "$out/kept/selection.txt"
if [ -n "${2:-}" ]; then
  "$py" "$here/kept.py" "$out/kept/confirm.csv" --seeds 1,2,3,4 --read check --people 64 \
    --arms "$2" | tee "$out/kept/confirm.txt"
fi
