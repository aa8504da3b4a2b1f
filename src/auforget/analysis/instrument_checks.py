"""Verdicts on the instruments, from controls whose answer is known by construction.

What fine-tuning does to a network is a finding; whether the study's instruments (the retrain
with McNemar, the LRP difference maps' region ranking, the linear probes) can see a loss at all is
not: a copy of FreezeB5 with one AU erased (nn/lesion.py) must be found, a random sham of the
same rank and variance must not. The thresholds below are the issue's, written once:

- manipulation, checked first on freshly rendered pairs without any instrument: the lesion cuts the
  last block's sensitivity to its AU by at least 50 % and changes each other drawn AU's by at most
  15 %; the sham removes the lesion's activation variance within the tolerance and cuts the AU's
  sensitivity by at most 15 %. A failed check voids that control (its instrument flags are left
  out), and is not counted against the instruments;
- recall: under the lesion, the target emotion's drop is the largest of the eight, at least 0.10,
  with Holm-corrected McNemar p < 0.05; under the sham no emotion is Holm-significant;
- maps: under the lesion, the AU's region ranks first for the target emotion over at least 10
  images; under the sham it does not (first with Holm p < 0.05 over at least 10 images);
- probe: the AU's probe F1 drops by at least 0.05 with corrected p < 0.01, and by at least 0.03
  more than the median drop of the other probed AUs; under the sham its corrected p is >= 0.05.

Everything here is pure (numbers and tables in, flags and figures out); stages/controls.py feeds
it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from auforget.core.config import EMOTIONS
from auforget.data.synthetic import EMOTION_AUS

CONTROLS_JSON = "controls"  # metrics/controls.json
LESION_CUT = 0.50
OTHER_CHANGE = 0.15
SHAM_CUT = 0.15
RECALL_DROP = 0.10
ALPHA = 0.05
MIN_MAP_IMAGES = 10
PROBE_DROP = 0.05
PROBE_ALPHA = 0.01
PROBE_MARGIN = 0.03
# over the controls step's FreezeB5' pairs, one per controls.draws (metric)
SHAM_N_SIGNIFICANT = "sham_recall_n_significant"
# how many shams the step drew, which is also how many FreezeB5' pairs it retrained: the budget's
# denominator for the report
NEGATIVE_DRAWS = "negative_draws"
SHAM_BUDGET = (1, 20)  # at most 1 Holm-significant emotion in 20 FreezeB5 vs FreezeB5' pairs
FLAGS = (
    "manipulation_pass",
    "lesion_recall_pass",
    "lesion_maps_pass",
    "lesion_probe_pass",
    "negative_recall_pass",
    "negative_maps_pass",
    "negative_probe_pass",
)


def target_emotion(au: int) -> str:
    """The emotion that draws `au` most strongly (contempt for AU14, surprise for AU26)."""
    users = {code: aus[au] for code, aus in EMOTION_AUS.items() if au in aus}
    if not users:
        raise ValueError(f"no emotion prototype draws AU{au}; the recall check needs one")
    return EMOTIONS[max(users, key=lambda code: (users[code], -code))]


def manipulation(
    au: int,
    before: Mapping[int, float],
    lesion: Mapping[int, float],
    sham: Mapping[int, float],
    variance: tuple[float, float],
    tolerance: float,
) -> dict[str, float]:
    """Figures and flags of the manipulation check: `before`, `lesion`, `sham` are per-AU
    last-block sensitivities of FreezeB5 and of the two lesioned copies; `variance` the activation
    variance (lesion, sham) removes."""
    change = {a: lesion[a] / before[a] - 1.0 for a in before}
    others = [abs(v) for a, v in change.items() if a != au]
    sham_cut = 1.0 - sham[au] / before[au]
    ratio = variance[1] / variance[0]
    out = {
        "lesion_sensitivity_cut": -change[au],
        "lesion_other_change_max": max(others) if others else 0.0,
        "negative_sensitivity_cut": sham_cut,
        "negative_variance_ratio": ratio,
        "lesion_variance_removed": variance[0],
    }
    out["lesion_manipulation_pass"] = float(
        out["lesion_sensitivity_cut"] >= LESION_CUT
        and out["lesion_other_change_max"] <= OTHER_CHANGE
    )
    out["negative_manipulation_pass"] = float(
        sham_cut <= SHAM_CUT and abs(ratio - 1.0) <= tolerance
    )
    out["manipulation_pass"] = float(
        out["lesion_manipulation_pass"] and out["negative_manipulation_pass"]
    )
    for a, v in change.items():
        out[f"lesion_sensitivity_change_au{a}"] = v
    return out


def recall_figures(recalls: pd.DataFrame, tests: pd.DataFrame, name: str) -> pd.DataFrame:
    """Per emotion: FreezeB5's recall, the control's, the drop, McNemar p and Holm p.
    `recalls` is forgetting.recall_table over {"b5", name}; `tests` its mcnemar_rows for
    (name, "b5")."""
    table = recalls[["emotion", "n", "b5", name]].rename(columns={name: "control"})
    table["drop"] = table["b5"] - table["control"]
    rows = tests.set_index("emotion")
    table["p"] = table["emotion"].map(rows["pvalue"])
    table["p_holm"] = table["emotion"].map(rows["pvalue_holm"])
    return table


def lesion_recall(table: pd.DataFrame, emotion: str) -> dict[str, float]:
    """Recall verdict under the lesion: `emotion`'s drop largest, >= RECALL_DROP, Holm p < ALPHA."""
    row = table.set_index("emotion").loc[emotion]
    largest = table.loc[table["drop"].idxmax(), "emotion"]
    return {
        "lesion_recall_drop": float(row["drop"]),
        "lesion_recall_p_holm": float(row["p_holm"]),
        "lesion_recall_largest": float(largest == emotion),
        "lesion_recall_pass": float(
            largest == emotion and row["drop"] >= RECALL_DROP and row["p_holm"] < ALPHA
        ),
    }


def significant_emotions(table: pd.DataFrame) -> list[str]:
    """The emotions of a recall_figures table that are Holm-significant at ALPHA."""
    return list(table.loc[table["p_holm"] < ALPHA, "emotion"])


def n_significant(table: pd.DataFrame) -> int:
    return len(significant_emotions(table))


def mcnemar_withdrawn(n_significant: float, pairs: int = 1) -> str:
    """Why the per-seed McNemar verdicts are withdrawn, or "" when they stand.

    FreezeB5 against FreezeB5' (the same blocks, output layers retrained under another seed) is a
    difference made of training noise alone, so each Holm-significant emotion there is a false
    positive. The budget is 1 such emotion in 20 pairs; the count can only grow with more pairs,
    so fewer pairs that already exceed it exceed it for 20 as well (and 40 pairs allow 2)."""
    per, of = SHAM_BUDGET
    allowed = per * max(1, pairs // of)  # 1 up to 20 pairs, 2 for 40, ...
    if n_significant <= allowed:
        return ""
    return (
        f"FreezeB5 against FreezeB5' (output layers retrained under another seed) gave "
        f"{n_significant:.0f} Holm-significant emotions in {pairs} pair{'s' if pairs > 1 else ''}, "
        f"more than the {per} in {of} pairs McNemar may find in training noise alone"
    )


def negative_recall(table: pd.DataFrame, prefix: str = "negative") -> dict[str, float]:
    """Recall verdict under a sham: no emotion Holm-significant."""
    n = n_significant(table)
    return {
        f"{prefix}_recall_n_significant": float(n),
        f"{prefix}_recall_min_p_holm": float(table["p_holm"].min()),
        f"{prefix}_recall_pass": float(n == 0),
    }


def _first(ranking: pd.DataFrame | None) -> tuple[str, float, int]:
    if ranking is None or ranking.dropna(subset=["effect_size"]).empty:
        return "", float("nan"), 0
    row = ranking.dropna(subset=["effect_size"]).iloc[0]
    return str(row["region"]), float(row["p_holm"]), int(row["n_images"])


def lesion_maps(ranking: pd.DataFrame | None, region: str) -> dict[str, float]:
    """Maps verdict under the lesion: `region` first, over at least MIN_MAP_IMAGES images."""
    top, p, n = _first(ranking)
    return {
        "lesion_maps_region_first": float(top == region),
        "lesion_maps_p_holm": p,
        "lesion_maps_n_images": float(n),
        "lesion_maps_pass": float(top == region and n >= MIN_MAP_IMAGES),
    }


def negative_maps(ranking: pd.DataFrame | None, region: str) -> dict[str, float]:
    """Maps verdict under the sham: `region` is not first with Holm p < ALPHA over at least
    MIN_MAP_IMAGES images (fewer qualifying images: nothing flagged)."""
    top, p, n = _first(ranking)
    flagged = top == region and p < ALPHA and n >= MIN_MAP_IMAGES
    return {
        "negative_maps_region_first": float(top == region),
        "negative_maps_n_images": float(n),
        "negative_maps_pass": float(not flagged),
    }


def lesion_probe(drops: Mapping[int, tuple[float, float]], au: int) -> dict[str, float]:
    """Probe verdict under the lesion; `drops[a]` = (F1 drop B5 - lesion, corrected p) per probed
    AU."""
    drop, p = drops[au]
    others = [d for a, (d, _) in drops.items() if a != au]
    median = float(np.median(others)) if others else 0.0
    return {
        "lesion_probe_drop": drop,
        "lesion_probe_p_corrected": p,
        "lesion_probe_others_median_drop": median,
        "lesion_probe_pass": float(
            drop >= PROBE_DROP and p < PROBE_ALPHA and drop - median >= PROBE_MARGIN
        ),
    }


def negative_probe(drop: float, p: float) -> dict[str, float]:
    """Probe verdict under the sham: corrected p >= ALPHA."""
    return {
        "negative_probe_drop": drop,
        "negative_probe_p_corrected": p,
        "negative_probe_pass": float(p >= ALPHA),
    }


def void(metrics: dict[str, float]) -> dict[str, float]:
    """Leave out the flags of a control whose manipulation failed: it says nothing about the
    instruments (`lesion_void` / `negative_void` say so)."""
    out = dict(metrics)
    for side in ("lesion", "negative"):
        failed = out.get(f"{side}_manipulation_pass", 1.0) == 0.0
        out[f"{side}_void"] = float(failed)
        if failed:
            for flag in FLAGS:
                if flag.startswith(side):
                    out.pop(flag, None)
    return out
