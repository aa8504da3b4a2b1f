#!/usr/bin/env bash
# Reruns the three-seed demo's design with today's code: one `auforget main` with study.seeds
# [0, 1, 2] and the settings of 2026-11-26 that parameters still express (params.yaml). About
# 30 min on a 2-core CPU. It does not reproduce the recorded numbers: the demo then drew 60
# AffectNet test images per class (200 since 2026-11-26 evening; no parameter sets it) and the AU
# regions were redrawn on 2026-11-27 (README, "Rerunning").
#   bash experiments/2026-11-26-three-seed-demo/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study seeds-0-2 store
"$py" - "$out/seeds-0-2/planted.json" <<'PY'
import json, sys
planted = json.load(open(sys.argv[1]))
print({k: v for k, v in planted.items() if k.startswith("seeds_")})
PY
