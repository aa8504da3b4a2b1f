#!/usr/bin/env bash
# The kept-constraints experiment (PLAN.md): on the five-seed demo study of
# ../2026-12-07-five-seed-controls (WORKDIR/demo; made by that experiment's run.sh if absent):
# the selection arms on seed 0 (the two first, then the addendum's), the chosen arm on seeds 1-4's
# check people, and the `controls` step itself on seed 0 with the chosen arm's settings.
#   bash experiments/2026-12-07-kept-constraints/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
[ -f "$work/demo/metrics/emotion-seed4.json" ] || bash "$root/experiments/2026-12-07-five-seed-controls/run.sh" "$work"
cd "$work/demo"
mkdir -p "$out/kept"
"$py" "$here/kept.py" "$out/kept/selection.csv" --seeds 0 --read selection --people 48 \
  --arms 0.4:0:300,1:0.1:300 | tee "$out/kept/selection.txt"
"$py" "$here/kept.py" "$out/kept/selection2.csv" --seeds 0 --read selection --people 48 \
  --arms 1:0.2:300,1:0.3:300,0.4:0:1200,0.4:0:300:0.003 | tee "$out/kept/selection2.txt"
"$py" "$here/kept.py" "$out/kept/confirm.csv" --seeds 1,2,3,4 --read check --people 64 \
  --arms 0.4:0:1200 | tee "$out/kept/confirm.txt"
sed 's/^  steps: 300$/  steps: 1200/' params.yaml > params-steps1200.yaml
"$bin/auforget" --quiet --params params-steps1200.yaml controls 2>&1 | tee "$out/kept/controls-seed0.log"
cp metrics/controls.json "$out/kept/controls-seed0.json"
# second addendum: seed 1's controls step with 1,200 steps (its instruments on a valid lesion)
"$py" -c 'from auforget.core.config import load_params
from auforget.stages.controls import run_controls
from auforget.stages.main import seed_params
run_controls(seed_params(load_params("params-steps1200.yaml"), 1), progress=False)' 2>&1 | tee "$out/kept/controls-seed1.log"
cp metrics/controls-seed1.json "$out/kept/controls-seed1.json"
