#!/usr/bin/env bash
# The AU5 world itself cannot be rerun: it was a code change (variant.diff.txt) that no parameter
# expresses. This script reruns only its baseline, the world as drawn with the same settings
# (params.yaml: seed 0, the `small` profile, one retrained head), about 5 min on a 2-core CPU,
# and prints the AU5 and AU14 probe numbers for comparison with the README's table.
#   bash experiments/2026-11-26-au5-nuisance-world/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
echo "The AU5 world needs code that no parameter expresses (variant.diff.txt): baseline only."
study world-as-drawn store
"$py" - "$out/world-as-drawn/planted.json" <<'PY'
import json, sys
planted = json.load(open(sys.argv[1]))
print({k: v for k, v in planted.items() if k.startswith(("probe_", "recall_surprise"))})
PY
