#!/usr/bin/env bash
# The second-composite experiment (PLAN.md): the instrument bench on the demo's seed 0 with the
# maps drawn by epsilon_gamma_box. WORKDIR/demo holds the trained demo (made here when missing).
#   bash experiments/2026-12-07-second-composite/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
if [ ! -f "$work/demo/metrics/retrain-b5.json" ]; then
  study demo demo study.seeds=[0]
fi
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" \
  study.seeds=[0] > "$work/demo/params-gamma-box.yaml"
"$py" "$root/bench/bench_controls.py" --project "$work/demo" --params params-gamma-box.yaml \
  --only 0 --draws 5 --weights 0.1,0.2,0.4,0.8 --cross-au 26 | tee "$out/bench_gamma_box.txt"
