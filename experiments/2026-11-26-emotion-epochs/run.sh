#!/usr/bin/env bash
# Reruns the shorter-recipe sweep for the demo's emotion model with today's
# bench/bench_emotion_recipe.py (cross entropy, one cycle, the `small` profile from scratch at
# 64 px, demo AffectNet), seeds 0 and 1, one run after another: under a minute per run on one GPU,
# many minutes per run on a 2-core CPU. Logs go to WORKDIR/out/, named as in measured/.
#   bash experiments/2026-11-26-emotion-epochs/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
bench=$root/bench/bench_emotion_recipe.py
"$py" "$bench" --write-data "$work/affectnet"
# epochs batch lr: the eight recipes of measured/summary.txt
for recipe in "10 32 0.02" "12 64 0.02" "15 32 0.01" "15 32 0.02" "15 64 0.02" "20 32 0.01" \
  "20 64 0.02" "30 32 0.01"; do
  read -r epochs batch lr <<< "$recipe"
  for seed in 0 1; do
    log=emo_e${epochs}_b${batch}_lr${lr}_s${seed}
    echo "$log"
    "$py" "$bench" --data "$work/affectnet" --loss ce --epochs "$epochs" --batch-size "$batch" \
      --lr "$lr" --seed "$seed" > "$out/$log.log"
  done
done
for log in "$out"/emo_e*.log; do echo "$(basename "$log") $(tail -n 1 "$log")"; done
