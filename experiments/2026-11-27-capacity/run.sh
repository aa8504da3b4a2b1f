#!/usr/bin/env bash
# Reruns the networks of the capacity experiment that parameters can express, with today's code:
# the 64 px `small` profile and `px96` (today the `small96` profile) on seeds 5-7, and `px96` on
# the confirmation seeds 8-10, one retrained head (params.yaml), each cold in its own store as on
# 2026-11-27 (about 11, 21 and 21 min on a 2-core AMD EPYC); then capacity.py's tables. `wide2`
# needs code that no parameter expresses (variant.diff.txt) and is not rerun.
#   bash experiments/2026-11-27-capacity/run.sh [WORKDIR]
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
study small small model.profile=small
study px96 px96
study px96-seeds-8-10 px96-seeds-8-10 'study.seeds=[8, 9, 10]'
"$py" "$here/capacity.py" "$out" | tee "$out/capacity.txt"
