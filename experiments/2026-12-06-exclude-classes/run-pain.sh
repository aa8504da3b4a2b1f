#!/usr/bin/env bash
# The addendum's run (README.md, "Addendum"): per arm and seed only the steps the outcome reads,
# `auforget emotion`, then `auforget transfer` for FreezeB5 and FreezeB0, instead of a whole
# `auforget main` per arm; then pain_f1.py's paired tables.
#   bash experiments/2026-12-06-exclude-classes/run-pain.sh WORKDIR [ALL8_STUDY] [section.key=VALUE ...]
# ALL8_STUDY: a finished study folder of the 8-class base with the same params and seeds (its
# params.yaml and metrics/), whose emotion and transfer metrics are the all-8 arm; "-" or absent:
# train the all-8 arm here too. Its data/ is copied into each arm's store (the synthetic data
# does not depend on the emotion classes; each store builds its own image store, whose key names
# the folder). Extra VALUEs go to every arm, e.g.
# a tiny smoke run:
#   bash experiments/2026-12-06-exclude-classes/run-pain.sh /tmp/excl-tiny - synth.scale=tiny \
#     model.profile=small 'study.seeds=[0]' emotion.epochs=2 transfer.epochs=1
source "$(dirname "${BASH_SOURCE[0]}")/../study.sh"
all8=${2:--}
extra=("${@:3}")

# ARM STORE [VALUE ...]: emotion, FreezeB5 and FreezeB0 for each of study.seeds, in STORE
pain_arm() {
  local run=$1 store=$work/$2
  shift 2
  local seeds metrics start=$SECONDS
  store_params "$run" "$store" "$@"
  seeds=$(cd "$store" && "$py" -c 'from auforget.core.config import load_params
print(*load_params("params.yaml").study.seeds)')
  if [[ "$all8" != "-" && ! -d "$store/data" ]]; then
    cp -r "$all8/data" "$store/data"
  fi
  echo "$run: emotion and transfers b5, b0 for seeds $seeds in $store (log: $out/$run/pain.log)"
  (
    cd "$store"
    af() { "$bin/auforget" --quiet --params params.yaml "$@"; }
    [[ -d data/splits ]] || { af synth && af prepare; }
    for s in $seeds; do
      af emotion --seed "$s"
      af transfer --freeze 5 --seed "$s"
      af transfer --freeze 0 --seed "$s"
    done
  ) > "$out/$run/pain.log" 2>&1
  echo "wall_s $((SECONDS - start))" > "$out/$run/time.txt"
  cp "$store/$metrics"/{emotion,transfer}*.json "$out/$run/"
}

if [[ "$all8" == "-" ]]; then
  pain_arm all-8 all-8 "${extra[@]}"
else
  mkdir -p "$out/all-8"
  cp "$all8/params.yaml" "$out/all-8/params.yaml"
  cp "$all8"/metrics/{emotion,transfer-b5,transfer-b0}*.json "$out/all-8/"
fi
pain_arm no-surprise-contempt no-surprise-contempt 'emotion.exclude_classes=[surprise, contempt]' "${extra[@]}"
pain_arm no-happy-fear no-happy-fear 'emotion.exclude_classes=[happy, fear]' "${extra[@]}"
"$py" "$here/pain_f1.py" "$out" | tee "$out/pain_f1.txt"
