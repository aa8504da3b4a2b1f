#!/usr/bin/env bash
# Reruns the transfer-rate experiment with today's code (params.yaml: fresh seeds 20-22): three
# transfer rates in one store (0.01 cold, then 0.003 and 0.001 reusing the emotion models), then
# the confirmation seeds 23-25 at 0.001 (cold in a second store) and 0.01 in that store, as on
# 2026-11-27: about 23 + 11 + 12 + 23 + 10 min on a 2-core AMD EPYC. Then rates.py's tables.
#   bash experiments/2026-11-27-transfer-lr/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study lr0.01 seeds-20-22
study lr0.003 seeds-20-22 transfer.lr=0.003
study lr0.001 seeds-20-22 transfer.lr=0.001
study seeds-23-25-chosen seeds-23-25 transfer.lr=0.001 'study.seeds=[23, 24, 25]'
study seeds-23-25-lr0.01 seeds-23-25 'study.seeds=[23, 24, 25]'
"$py" "$here/rates.py" "$out" | tee "$out/rates.txt"
