#!/usr/bin/env bash
# The flat-readout experiment (PLAN.md), on the five-seed demo study of
# ../2026-12-07-five-seed-controls (WORKDIR/demo; made by that experiment's run.sh if absent):
# the four selection arms on seed 0, the diagnostic read after them, and the addendum's arms at
# blocks 3 and 2. No arm qualified, so by PLAN.md's rule its steps 2 and 3 (the confirmation on
# seeds 0-4's check people and the `controls` step) did not run and are not here.
#   bash experiments/2026-12-07-flat-readout/run.sh WORKDIR [STEP]   # STEP: select | diagnose | select-earlier (all by default)
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
[ -f "$work/demo/metrics/emotion-seed4.json" ] || bash "$root/experiments/2026-12-07-five-seed-controls/run.sh" "$work"
cd "$work/demo"
mkdir -p "$out/flat"
step=${2:-all}
kept=$root/experiments/2026-12-07-kept-constraints/kept.py
flat="lesion=projection block=4 eraser=flat energy=0.9"
if [[ $step == all || $step == select ]]; then
  "$py" "$kept" "$out/flat/selection.csv" --seeds 0 --read selection --people 48 \
    --arms "$flat protect=region shared_energy=0.5,$flat protect=drawn shared_energy=0.5,$flat protect=region shared_energy=0,$flat protect=drawn shared_energy=0" \
    | tee "$out/flat/selection.txt"
fi
# after the selection (README.md): why the arms do not carry to new people (STEP diagnose or all)
if [[ $step == all || $step == diagnose ]]; then
  "$py" "$here/diagnose.py" "$out/flat/diagnose.csv" --seed 0 --fit 64,256
fi
# addendum: the flat eraser at blocks 3 and 2
if [[ $step == all || $step == select-earlier ]]; then
  arms=""
  for block in 3 2; do
    f="lesion=projection block=$block eraser=flat energy=0.9"
    arms+="$f protect=drawn shared_energy=0.5,$f protect=drawn shared_energy=0,$f protect=region shared_energy=0.5,"
  done
  "$py" "$kept" "$out/flat/selection-earlier.csv" --seeds 0 --read selection --people 48 \
    --arms "${arms%,}" | tee "$out/flat/selection-earlier.txt"
fi
