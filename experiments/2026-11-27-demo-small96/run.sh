#!/usr/bin/env bash
# Times the README's first command on the small96 demo again, as on 2026-11-27: a fresh clone of
# this repository's HEAD, a fresh venv, `pip install -e .`, then `auforget main` with params.yaml
# as it was then (this folder's params.yaml: one retrained head); wall time around the whole.
# Needs the network for pip. About 9-10 min on a 2-core AMD EPYC. Then the README's tables from
# its metrics.
#   bash experiments/2026-11-27-demo-small96/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
clone=$work/clone
rm -rf "$clone"
git clone --quiet "$root" "$clone"
"$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" \
  > "$clone/params.yaml"
mkdir -p "$out/single-seed"
start=$SECONDS
(cd "$clone" && python3 -m venv .venv && .venv/bin/pip install --quiet -e . \
  && .venv/bin/auforget main) > "$out/single-seed/first-command.log" 2>&1
echo "wall_s $((SECONDS - start))" | tee "$out/single-seed/time.txt"
cp "$clone"/metrics/*.json "$out/single-seed/"
"$py" "$root/experiments/2026-11-26-demo-200-test/tables.py" "$out/single-seed"
