#!/usr/bin/env bash
# The fit-people experiment (PLAN.md): inward-unlearn's script with 64 and 24 fit people, read on
# 48 selection people, on the inward world's demo emotion model (WORKDIR/inward; made there if
# missing, the same folder inward-unlearn uses).
#   bash experiments/2026-12-07-fit-people/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
script=$root/experiments/2026-12-07-inward-unlearn/inward.py
mkdir -p "$work/inward"
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" > "$work/inward/params.yaml"
cd "$work/inward"
for step in synth prepare emotion; do "$bin/auforget" --quiet --params params.yaml "$step"; done
"$py" "$script" "$out/fit64.csv" --fit-people 64 --selection-people 48 --arms 4:0.3,4:0.2 | tee "$out/fit64.txt"
"$py" "$script" "$out/fit24.csv" --fit-people 24 --selection-people 48 --arms 4:0.2 | tee "$out/fit24.txt"
