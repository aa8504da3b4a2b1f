#!/usr/bin/env bash
# Reruns the demo with 200 test images per class on the 64 px `small` profile (params.yaml), seed
# 0 and then seeds 0-4 in the same store (seed 0 reused), as on 2026-11-26, and prints the tables:
# about 4 + 12 min on the 2-core machine of that evening. The AU regions were redrawn on
# 2026-11-27, so the region rows will differ from the recorded ones (README, "Rerunning").
#   bash experiments/2026-11-26-demo-200-test/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study single-seed store
study five-seeds store 'study.seeds=[0, 1, 2, 3, 4]'
"$py" "$here/tables.py" "$out/single-seed"
"$py" "$here/tables.py" "$out/five-seeds" --seeds
