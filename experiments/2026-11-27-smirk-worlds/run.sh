#!/usr/bin/env bash
# Reruns what of the smirk-world experiment parameters can express, with today's code: the world
# as drawn (`base`) and the gentler transfer (`lr0.001`), seeds 5-7 on the 64 px `small` profile
# with one retrained head (params.yaml), each cold in its own store as on 2026-11-27 (about 11 min
# each on a 2-core AMD EPYC); then the worlds' table, the confusion shift of `base`, and the
# untrained-blocks floor of `base`. The worlds `none`, `nopain` and `painsmirk` need code that no
# parameter expresses (variant.diff.txt) and are not rerun. With WORKDIR of
# ../2026-11-26-demo-200-test/run.sh as SEEDS_0_4_RUN (its out/five-seeds), the eight-seed view of
# the world as drawn is printed too.
#   bash experiments/2026-11-27-smirk-worlds/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study base base
study lr0.001 lr0.001 transfer.lr=0.001
earlier=()
if [[ -n ${SEEDS_0_4_RUN:-} ]]; then earlier=(--seeds-0-4 "$SEEDS_0_4_RUN/out/five-seeds"); fi
"$py" "$here/worlds.py" "$out" "${earlier[@]}" | tee "$out/worlds.txt"
"$py" "$here/confusion.py" "$work/base" | tee "$out/confusion.txt"
"$py" "$root/bench/bench_untrained_features.py" "$work/base" --seeds 5 6 7 \
  | tee "$out/untrained-features-base.txt"
