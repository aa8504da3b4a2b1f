#!/usr/bin/env bash
# The inward-unlearn experiment (PLAN.md): the manipulation figures of four unlearned AU14 lesions
# on the inward world's demo emotion model (au14-pull's WORKDIR/inward; made there if missing).
#   bash experiments/2026-12-07-inward-unlearn/run.sh WORKDIR
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
mkdir -p "$work/inward"
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" > "$work/inward/params.yaml"
cd "$work/inward"
for step in synth prepare emotion; do "$bin/auforget" --quiet --params params.yaml "$step"; done
"$py" "$here/inward.py" "$out/inward.csv" | tee "$out/inward.txt"
