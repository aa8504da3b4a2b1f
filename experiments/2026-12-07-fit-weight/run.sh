#!/usr/bin/env bash
# The fit-weight experiment (PLAN.md): inward-unlearn's script with 64 and 128 fit people and
# heavier erased-AU weights, read on 48 selection people, on the inward world's demo emotion model
# (WORKDIR/inward: reused where its metrics/emotion.json exists, made there otherwise).
#   bash experiments/2026-12-07-fit-weight/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
script=$root/experiments/2026-12-07-inward-unlearn/inward.py
mkdir -p "$work/inward"
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" > "$work/inward/params.yaml"
cd "$work/inward"
if [ ! -f metrics/emotion.json ]; then
  for step in synth prepare emotion; do "$bin/auforget" --quiet --params params.yaml "$step"; done
fi
"$py" "$script" "$out/fit64w.csv" --fit-people 64 --selection-people 48 --arms 4:0.4,4:0.5 | tee "$out/fit64w.txt"
"$py" "$script" "$out/fit128.csv" --fit-people 128 --selection-people 48 --arms 4:0.3,4:0.4 | tee "$out/fit128.txt"
