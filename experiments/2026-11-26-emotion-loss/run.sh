#!/usr/bin/env bash
# Reruns the loss x schedule comparison for the demo's emotion model with today's
# bench/bench_emotion_recipe.py (the `small` profile from scratch at 64 px on the demo AffectNet,
# seed 0), one run after another: seconds to a minute per run on one GPU, many minutes per run on a
# 2-core CPU. Logs go to WORKDIR/out/emo_<loss>_<epochs>_<gamma>.log, named as in measured/.
#   bash experiments/2026-11-26-emotion-loss/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
bench=$root/bench/bench_emotion_recipe.py
"$py" "$bench" --write-data "$work/affectnet"
recipe() {  # recipe LOG [flags]: one run of the bench on the data written above
  local log=$1
  shift
  echo "$log: bench_emotion_recipe.py $*"
  "$py" "$bench" --data "$work/affectnet" --seed 0 "$@" > "$out/$log.log"
}
for epochs in 30 60 90; do recipe "emo_ce_${epochs}_0" --loss ce --epochs "$epochs"; done
for gamma in 2 5; do
  for epochs in 30 60; do
    recipe "emo_focal_${epochs}_${gamma}" --loss focal --gamma "$gamma" --epochs "$epochs"
  done
done
recipe emo_ce_30_0_constant --loss ce --schedule constant --epochs 30
tail -n 1 "$out"/emo_*.log
