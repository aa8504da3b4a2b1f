#!/usr/bin/env bash
# The exclude-classes experiment: three arms of five seeds (30-34) in one store, each a full
# `auforget main` (the store shares only the synthetic data and splits between arms; every
# training step differs by its emotion classes). Then pain_f1.py's paired tables.
#   bash experiments/2026-12-06-exclude-classes/run.sh [WORKDIR] [section.key=VALUE ...]
# Extra VALUEs go to every arm, e.g. a tiny smoke run:
#   bash experiments/2026-12-06-exclude-classes/run.sh /tmp/excl-tiny synth.scale=tiny \
#     model.profile=small 'study.seeds=[30, 31]'
# Expected cost at demo scale (not measured): three five-seed studies, about 3 x 5 x 16 min on a
# 2-core AMD EPYC at the 2026-12-06 emotion epoch times.
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
extra=("${@:2}")
study all-8 store "${extra[@]}"
study no-surprise-contempt store 'emotion.exclude_classes=[surprise, contempt]' "${extra[@]}"
study no-happy-fear store 'emotion.exclude_classes=[happy, fear]' "${extra[@]}"
"$py" "$here/pain_f1.py" "$out" | tee "$out/pain_f1.txt"
