#!/usr/bin/env bash
# Reruns the head-noise experiment with today's code: the demo's seed 0 with one retrained head
# (params.yaml) and heads.py's ten heads on its FreezeB0 and FreezeB5; the same seed with ten
# heads (today's default) and ensembles.py's five disjoint ensembles; and fresh seeds 17-19 with
# ten heads. One store, in that order: about 8 + 1 + 8 + 1 + 22 min on a 2-core AMD EPYC.
#   bash experiments/2026-11-27-head-noise/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study demo-seed0-one-head store
(cd "$work/store" && "$py" "$here/heads.py" 10) | tee "$out/heads.txt"
study demo-seed0 store retrain.heads=10
(cd "$work/store" && "$py" "$here/ensembles.py" 5) | tee "$out/ensembles.txt"
study seeds-17-19 store retrain.heads=10 'study.seeds=[17, 18, 19]'
"$py" - "$out/seeds-17-19/planted.json" <<'PY'
import json, sys
planted = json.load(open(sys.argv[1]))
print({k: v for k, v in planted.items() if k.startswith("seeds_")})
PY
