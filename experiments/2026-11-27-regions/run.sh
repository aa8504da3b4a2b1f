#!/usr/bin/env bash
# Reruns the regions experiment with today's code (the redrawn regions): the network-free region
# check (aupix.py, seconds), the fresh-seed studies 11-13 and 14-16, and the thirteen-seed pooled
# table, which also needs seeds 0, 5-7 and 8-10 (small96, one retrained head, params.yaml), all
# in one store: about 7 + 4 x 21 min on a 2-core AMD EPYC. The "before" rankings used the regions
# of 2026-11-27 morning, which no longer exist; rerank.py ranks the saved maps with today's.
#   bash experiments/2026-11-27-regions/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
"$py" "$here/aupix.py" | tee "$out/aupix-after.txt"
study seeds-11-13 store 'study.seeds=[11, 12, 13]'
study seeds-14-16 store 'study.seeds=[14, 15, 16]'
"$py" "$here/rerank.py" "$work/store" 11 12 13 | tee "$out/rerank-after.txt"
"$py" "$here/rerank.py" "$work/store" 14 15 16 | tee "$out/rerank-seeds-14-16.txt"
study seed-0 store
study seeds-5-7 store 'study.seeds=[5, 6, 7]'
study seeds-8-10 store 'study.seeds=[8, 9, 10]'
"$py" "$here/pooled.py" "$out"/seed-0 "$out"/seeds-5-7 "$out"/seeds-8-10 "$out"/seeds-11-13 \
  "$out"/seeds-14-16 | tee "$out/pooled.txt"
