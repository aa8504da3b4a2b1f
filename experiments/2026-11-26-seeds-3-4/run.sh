#!/usr/bin/env bash
# Reruns the held-out seeds 3 and 4 with today's code and the settings of 2026-11-26 that
# parameters still express (params.yaml): one `auforget main`, about 20 min on a 2-core CPU. It
# does not reproduce the recorded numbers: 60 test images per class then, 200 now, and the AU
# regions were redrawn on 2026-11-27 (README, "Rerunning").
#   bash experiments/2026-11-26-seeds-3-4/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study seeds-3-4 store
"$py" - "$out/seeds-3-4/planted.json" <<'PY'
import json, sys
planted = json.load(open(sys.argv[1]))
print({k: v for k, v in planted.items() if k.startswith("seeds_")})
PY
