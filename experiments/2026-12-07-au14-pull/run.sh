#!/usr/bin/env bash
# The au14-pull experiment (PLAN.md): the inward world's demo, synth to the emotion model (about 10
# minutes on a 2-core AMD EPYC, 2026-12-07), then the manipulation figures of three lesion
# constructions in it and in the demo's own (outward) world, read side by side.
#   bash experiments/2026-12-07-au14-pull/run.sh WORKDIR OUTWARD_STUDY
# OUTWARD_STUDY: a folder holding a finished demo study of params.yaml (its MLflow store).
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
outward=$(cd "$2" && pwd)
mkdir -p "$work/inward"
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" > "$work/inward/params.yaml"
cd "$work/inward"
for step in synth prepare emotion; do "$bin/auforget" --quiet --params params.yaml "$step"; done
cp metrics/emotion.json "$out/emotion-inward.json"
cp "$outward/metrics/emotion.json" "$out/emotion-outward.json"
for world in inward outward; do
  dir=$work/inward; [ "$world" = outward ] && dir=$outward
  (cd "$dir" && "$py" "$here/pull.py" "$out/pull-$world.csv") | tee "$out/pull-$world.txt"
done
