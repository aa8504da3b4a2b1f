"""FreezeB0 against FreezeB5 over every small96 seed with one retrained head (0, 5-16), from the
studies' metrics.

    python experiments/2026-11-27-regions/pooled.py METRICS_DIR [METRICS_DIR ...]

Each METRICS_DIR is one study's metrics/*.json (run.sh writes seed-0, seeds-5-7, seeds-8-10,
seeds-11-13 and seeds-14-16). Per emotion: the recall drop B5 - B0 of each seed's retrained
models, its mean, 95 % t interval and one-sample t-test over seeds (training randomness only: the
per-seed McNemar p-values of seeds other than a study's first are not in metrics/, so no combined
test in this table). The same for the AU14 and AU5 probes' F1.
"""

import glob
import json
import sys

import numpy as np
from scipy import stats

EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
FOLDERS = sys.argv[1:]


def load(path):
    with open(path) as f:
        return json.load(f)


drops = {e: [] for e in EMOTIONS} | {"AU14 probe": [], "AU5 probe": []}
for folder in FOLDERS:
    for b0_path in sorted(glob.glob(f"{folder}/retrain-b0*.json")):
        suffix = b0_path.split("retrain-b0")[1]
        b0, b5 = load(b0_path), load(f"{folder}/retrain-b5{suffix}")
        for e in EMOTIONS:
            drops[e].append(b5[f"test_recall_{e}"] - b0[f"test_recall_{e}"])
        for au in (14, 5):
            probe = load(f"{folder}/probes-au{au}{suffix}")
            drops[f"AU{au} probe"].append(probe["probe_f1_mean_b5"] - probe["probe_f1_mean_b0"])


def row(name: str, values) -> str:
    """One table row: mean, 95 % t interval, seeds above zero, one-sample t-test p."""
    v = np.asarray(values)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    p = stats.ttest_1samp(v, 0.0).pvalue
    interval = f"[{v.mean() - half:+.3f}, {v.mean() + half:+.3f}]"
    return f"| {name} | {v.mean():+.3f} | {interval} | {int((v > 0).sum())}/{len(v)} | {p:.2g} |"


n_seeds = len(drops["contempt"])
print(f"| B5 - B0 over {n_seeds} seeds | mean | 95 % t interval | seeds > 0 | t-test p |")
print("|---|---|---|---|---|")
for name, values in drops.items():
    print(row(name, values))
# Added 2026-11-27 evening (after the transfer-lr runs): each planted emotion's drop beyond the
# other seven emotions' mean drop in the same seed, as `forgetting` logs it (excess_*).
for name in ("surprise", "contempt"):
    per_seed = np.array([drops[e] for e in EMOTIONS])
    i = EMOTIONS.index(name)
    v = per_seed[i] - (per_seed.sum(axis=0) - per_seed[i]) / (len(EMOTIONS) - 1)
    print(row(f"{name} beyond the other seven", v))
