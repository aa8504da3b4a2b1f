# Sourced by experiments/*/run.sh; not run on its own.
#
# Sets: here (the experiment's folder), root (the repository), bin (the venv's bin/: the
# repository's .venv unless AUFORGET_BIN_DIR names another), py, work (WORKDIR: the run script's
# first argument, default /tmp/auforget-<experiment>), out (work/out: one folder per run).
#
#   study RUN STORE [section.key=VALUE ...]
#
# writes the study's params (the repository's params.yaml, then the experiment's params.yaml, then
# the VALUEs; experiments/merge_params.py checks them with auforget's loader) to
# work/STORE/params.yaml and out/RUN/params.yaml, runs
#   auforget --quiet --params params.yaml main
# in work/STORE (its data, MLflow store and metrics/; runs that share a STORE reuse the steps
# they have in common, as the recorded runs did), and copies that study's metrics/*.json, its log
# (main.log) and its wall time in seconds (time.txt) to out/RUN/. Afterwards work/STORE holds the
# params.yaml and metrics/ of its latest study, which the analysis scripts that read a study
# folder expect. `store_params RUN PATH [VALUE ...]` is its first half (the params written, the
# metrics folder emptied) for run scripts that run single steps instead of `main`.

set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${AUFORGET_BIN_DIR:-$root/.venv/bin}
py=$bin/python
work=${1:-${TMPDIR:-/tmp}/auforget-$(basename "$here")}
mkdir -p "$work/out"
work=$(cd "$work" && pwd)
out=$work/out

# RUN STORE [section.key=VALUE ...]: write the run's params to out/RUN and STORE (a path) and
# empty STORE's metrics folder; sets `metrics` (that folder, relative to STORE) for the caller.
# study below and run scripts that run single steps instead of `main` start a run with it.
store_params() {
  local run=$1 store=$2
  shift 2
  mkdir -p "$store" "$out/$run"
  "$py" "$root/experiments/merge_params.py" "$root/params.yaml" "$here/params.yaml" "$@" \
    > "$out/$run/params.yaml"
  cp "$out/$run/params.yaml" "$store/params.yaml"
  metrics=$(cd "$store" && "$py" -c 'from auforget.core.config import load_params
print(load_params("params.yaml").study.metrics_dir)')
  rm -rf "${store:?}/$metrics"  # a study's metrics folder holds only its own seeds' files
}

study() {
  local run=$1 store=$work/$2
  shift 2
  local metrics
  store_params "$run" "$store" "$@"
  local start=$SECONDS
  echo "$run: auforget main in $store (log: $out/$run/main.log)"
  (cd "$store" && "$bin/auforget" --quiet --params params.yaml main) > "$out/$run/main.log" 2>&1
  echo "wall_s $((SECONDS - start))" > "$out/$run/time.txt"
  cp "$store/$metrics"/*.json "$out/$run/"
}
