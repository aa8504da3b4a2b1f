#!/usr/bin/env bash
# Reruns the demo's seed 0 with the settings of 2026-11-26 that parameters still express
# (params.yaml; the AU ranking beyond FreezeB5 is today's default) and prints the two AU rankings
# from the saliency run's metrics. About 5 min on a 2-core CPU. It does not reproduce the
# recorded numbers: 60 test images per class then, 200 now, and the AU regions were redrawn on
# 2026-11-27 (README, "Rerunning").
#   bash experiments/2026-11-26-demo-beyond-b5/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study seed-0 store
"$py" - "$out/seed-0/saliency.json" "$out/seed-0/planted.json" <<'PY'
import json, sys
saliency, planted = (json.load(open(path)) for path in sys.argv[1:])
for emotion in ("surprise", "contempt"):
    effects = {k.split("_", 2)[2].rsplit("_", 1)[0]: v for k, v in saliency.items()
               if k.startswith("au_effect_") and k.endswith(f"_{emotion}")}
    print(emotion, sorted(effects.items(), key=lambda kv: -kv[1])[:3])
print(planted)
PY
