#!/usr/bin/env bash
# The paper preset's end-to-end check on a GPU host: params-paper.yaml, unchanged except for what a
# machine without the real datasets and without ImageNet weights must change, run as
#   auforget --params OUTDIR/params.yaml main
# on the `large` synthetic scale (30,000 AffectNet training images) at the paper profile's
# widths (full VGG16, 224 px). Written to OUTDIR: the derived params, the whole log, GPU memory
# and utilisation every 5 s, each MLflow run's wall time and status, and peak resident memory.
#   bash bench/paper_large.sh OUTDIR [EMOTION_EPOCHS] [TRANSFER_EPOCHS] [RETRAIN_EPOCHS]
# Epochs default to 2 / 3 / 1 and the study to one seed, so that it fits a 10-minute slot; the
# paper preset's own values (20 epochs with early stopping, three seeds) cost what the README's
# cost model says.
set -uo pipefail
out=${1:-bench/results/paper-large}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=15
$py - "$out/params.yaml" "${2:-2}" "${3:-3}" "${4:-1}" <<'EOF'
import sys, yaml
target, emotion, transfer, retrain = sys.argv[1], *map(int, sys.argv[2:])
p = yaml.safe_load(open("params-paper.yaml"))
p["data"]["synthetic"] = True            # no real datasets here
for name in ("affectnet", "unbc", "ckplus"):
    p["data"][f"{name}_root"] = f"{p['synth']['out']}/{name}"
p["synth"]["scale"] = "large"
p["model"]["from_scratch"], p["model"]["imagenet_weights"] = True, ""   # no ImageNet weights file on this host
p["study"]["seeds"] = [0]
p["emotion"]["epochs"], p["transfer"]["epochs"], p["retrain"]["epochs"] = emotion, transfer, retrain
yaml.safe_dump(p, open(target, "w"), sort_keys=False)
print(f"params: {target} (large scale, from scratch, one seed, epochs {emotion}/{transfer}/{retrain})")
EOF
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/host.txt"
echo "cpus: $(nproc)" | tee -a "$out/host.txt"
nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -l 5 > "$out/gpu.csv" &
smi=$!
start=$(date +%s)
# Peak resident memory of the whole study (the main process and every child it waited for).
$py - "$out/params.yaml" "$out/main.log" <<'EOF'
import resource, subprocess, sys, time
t = time.time()
with open(sys.argv[2], "w") as log:
    rc = subprocess.call(["auforget", "--params", sys.argv[1], "main"], stdout=log, stderr=subprocess.STDOUT)
self_, kids = (resource.getrusage(w).ru_maxrss / 1024 for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(f"main: exit {rc}, {time.time() - t:.0f} s, peak RSS of the largest process {kids:.0f} MB")
EOF
kill $smi
echo "wall: $(( $(date +%s) - start )) s" | tee -a "$out/host.txt"
tail -n 40 "$out/main.log"
# Each run's stage, status and wall time, from the tracking store main wrote.
$py - "$out/runs.csv" <<'EOF'
import sys, mlflow
mlflow.set_tracking_uri("sqlite:///mlflow.db")
runs = mlflow.search_runs(experiment_names=["auforget-paper"], output_format="pandas")
runs["wall_s"] = (runs["end_time"] - runs["start_time"]).dt.total_seconds()
cols = ["tags.mlflow.runName", "status", "wall_s"] + [c for c in runs.columns if c.startswith("metrics.test_")][:6]
runs.sort_values("start_time")[cols].to_csv(sys.argv[1], index=False)
print(runs.sort_values("start_time")[cols[:3]].to_string(index=False))
EOF
