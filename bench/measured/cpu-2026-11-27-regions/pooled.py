"""FreezeB0 against FreezeB5 over every small96 seed run so far (0, 5-16), from the saved metrics.

Per emotion: the recall drop B5 - B0 of each seed's retrained models, its mean, 95 % t interval
and one-sample t-test over seeds (training randomness only: the per-seed McNemar p-values of
seeds other than a study's first are not in metrics/, so no combined test here). The same for the
AU14 and AU5 probes' F1. Run from bench/measured: python cpu-2026-11-27-regions/pooled.py
"""
import glob
import json

import numpy as np
from scipy import stats

EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
FOLDERS = ["cpu-2026-11-27-demo-small96/single-seed", "cpu-2026-11-27-capacity/px96",
           "cpu-2026-11-27-capacity/px96-seeds-8-10", "cpu-2026-11-27-regions/seeds-11-13",
           "cpu-2026-11-27-regions/seeds-14-16"]


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
print(f"| B5 - B0 over {len(drops['contempt'])} seeds | mean | 95 % t interval | seeds > 0 | t-test p |")
print("|---|---|---|---|---|")
for name, values in drops.items():
    v = np.asarray(values)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    p = stats.ttest_1samp(v, 0.0).pvalue
    print(f"| {name} | {v.mean():+.3f} | [{v.mean() - half:+.3f}, {v.mean() + half:+.3f}] | {int((v > 0).sum())}/{len(v)} | {p:.2g} |")
# Added 2026-11-27 evening (after the transfer-lr runs): each planted emotion's drop beyond the other
# seven emotions' mean drop in the same seed, as `forgetting` now logs it (beyond_*).
for name in ("surprise", "contempt"):
    per_seed = np.array([drops[e] for e in EMOTIONS])
    i = EMOTIONS.index(name)
    v = per_seed[i] - (per_seed.sum(axis=0) - per_seed[i]) / (len(EMOTIONS) - 1)
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    p = stats.ttest_1samp(v, 0.0).pvalue
    print(f"| {name} beyond the other seven | {v.mean():+.3f} | [{v.mean() - half:+.3f}, {v.mean() + half:+.3f}] | {int((v > 0).sum())}/{len(v)} | {p:.2g} |")
