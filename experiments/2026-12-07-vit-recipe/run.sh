#!/usr/bin/env bash
# The ViT emotion-recipe experiment (PLAN.md): the emotion step alone of the ViT preset with
# AdamW (arm B; arm C with lr 0.0003 when B falls short of the plan's rule), in a project that
# already holds the demo's synthetic data and splits (PROJECT, default the repository), so the
# world is not written again. Arm A is the emotion step of the ViT preset's own study
# (`auforget --params examples/backbones/vit_b_16.yaml main`). Arms B and C took 412 s and 245 s
# on a 2-core AMD EPYC (2026-12-07, shared with another study).
#   bash experiments/2026-12-07-vit-recipe/run.sh [WORKDIR] [PROJECT] [ARM...]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
project=$(cd "${2:-$root}" && pwd)
shift $(( $# < 2 ? $# : 2 ))
arms=("${@:-B}")
for arm in "${arms[@]}"; do
  extra=()
  [ "$arm" = C ] && extra=(emotion.lr=0.0003)
  mkdir -p "$out/$arm"
  # its own store and metrics folder in the project: the preset's registered aliases stay put
  "$py" "$root/experiments/merge_params.py" "$root/examples/backbones/vit_b_16.yaml" \
    "$here/params.yaml" "tracking.db=mlflow-vit-recipe-$arm.db" \
    "tracking.artifacts=mlartifacts-vit-recipe-$arm" "study.metrics_dir=metrics/vit-recipe-$arm" \
    "study.plots_dir=plots/vit-recipe-$arm" \
    "${extra[@]}" > "$out/$arm/params.yaml"
  start=$SECONDS
  (cd "$project" && "$bin/auforget" --params "$out/$arm/params.yaml" emotion) \
    > "$out/$arm/emotion.log" 2>&1
  echo "wall_s $((SECONDS - start))" > "$out/$arm/time.txt"
  cp "$project/metrics/vit-recipe-$arm/emotion.json" "$out/$arm/"
  echo "$arm: $(grep -o '"test_recall_macro": [0-9.]*' "$out/$arm/emotion.json")"
done
