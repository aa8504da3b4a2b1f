"""What fine-tuning forgets, as findings with intervals and no verdict.

Why these and not a pass/fail: what SGD does to a network's features is a property of training
dynamics, not of the synthetic world's design, so nothing here has an answer known by construction.
Three readings of the retrained models' per-image predictions, all FreezeBk against FreezeB5:

- `logit_excess`: each emotion's recall change on the logit scale, minus the other emotions'
  mean change, seed by seed, with a t interval over seeds. The logit scale was declared before
  any analysis: a recall near 1 cannot drop by as much as one near 0.5, so on the recall scale an
  emotion recognised well looks forgotten less for the same change in evidence. Recalls become
  logits with a half-count continuity correction, logit((c + 0.5) / (n + 1)), so a recall of 0 or
  1 stays finite.
- `mde`: the smallest mean that a two-sided one-sample t-test over S seeds detects with
  probability `power` at level `alpha`, MDE = (t_{1-alpha/2, S-1} + t_{power, S-1}) * sd / sqrt(S),
  sd the per-seed SD. Undefined (NaN) with one seed: one network says nothing about training
  noise.
- `mixed_logistic`: a per-image mixed logistic model of correctness across seeds,
  correct ~ model x emotion + (1|seed) + (1|image), fitted as statsmodels'
  `BinomialBayesMixedGLM` (the only mixed logistic model in statsmodels). The fixed effects are
  written as one intercept and one Bk-vs-B5 effect per emotion (`0 + C(emotion) +
  C(emotion):bk`, the same model as model x emotion with another coding), so each emotion's
  coefficient is its own logit change and its p-value needs no contrast. The fit is `fit_vb`
  (mean-field variational Bayes, L-BFGS-B), from whose posterior z = mean / sd and a two-sided
  normal p. `fit_map` was tried and not kept: the joint mode over random effects and their
  log-SDs runs off to a zero variance (a degenerate mode of that posterior), and its estimates
  with it, on simulated data with 200 images per emotion. Mean-field SDs can run a little small,
  so a p near alpha is weak evidence. Cost: about 8-14 s per FreezeBk at the demo's 1,600 test
  images and one seed on a 2-core AMD EPYC (2026-12-06), which is why `forgetting.mixed_freeze`
  names the k fitted. With one seed the `(1|seed)` term is dropped (one level has no variance to
  estimate).

Pure numpy / pandas / statsmodels: no MLflow, no torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from auforget.analysis.stats import others_mean, seed_interval

POWER = 0.80


def logit_recall(correct: float, n: float) -> float:
    """logit((correct + 0.5) / (n + 1)): a recall on the logit scale, finite at 0 and 1."""
    if n <= 0:
        return float("nan")
    p = (correct + 0.5) / (n + 1.0)
    return float(np.log(p / (1.0 - p)))


def mde(sd: float, n: int, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable mean of a two-sided one-sample t-test over n seeds:
    (t_{1-alpha/2, n-1} + t_{power, n-1}) * sd / sqrt(n); NaN for n < 2 or a NaN sd."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    df = n - 1
    return float((sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)) * sd / np.sqrt(n))


@dataclass(frozen=True)
class LogitRow:
    emotion: str
    model: str
    n_seeds: int
    diff_mean: float  # logit(Bk) - logit(B5), mean over seeds
    excess: tuple[float, ...]  # per seed: the emotion's logit change minus the others' mean
    excess_mean: float
    excess_low: float
    excess_high: float
    excess_sd: float
    mde: float


def logit_excess(
    counts: Mapping[int, pd.DataFrame],
    emotions: Sequence[str],
    models: Sequence[str],
    *,
    alpha: float = 0.05,
    power: float = POWER,
    reference: str = "b5",
) -> pd.DataFrame:
    """Per emotion and model (each against `reference`, the fully frozen model: b5 for VGG16):
    the logit-scale change Bk - B5 and its excess beyond the other emotions, with a t interval
    over seeds and the MDE at this many seeds.

    counts[s]: one row per emotion of seed s with columns emotion, n, and `<model>` holding that
    model's recall (the forgetting stage's recalls.csv); correct counts are recall * n.
    Columns: emotion, model, n_seeds, logit_diff_mean, logit_excess_diffs, logit_excess_mean,
    logit_excess_low, logit_excess_high, logit_excess_sd, logit_excess_mde.
    """
    seeds = list(counts)
    rows = []
    for model in models:
        diffs = np.full((len(emotions), len(seeds)), np.nan)
        for j, s in enumerate(seeds):
            table = counts[s].set_index("emotion")
            for i, emotion in enumerate(emotions):
                if emotion not in table.index:
                    continue
                n = float(table.at[emotion, "n"])
                if not n > 0 or table.loc[emotion, [model, reference]].isna().any():
                    continue  # an emotion without test images has no recall
                diffs[i, j] = logit_recall(
                    round(float(table.at[emotion, model]) * n), n
                ) - logit_recall(round(float(table.at[emotion, reference]) * n), n)
        excess = diffs - others_mean(diffs)
        for i, emotion in enumerate(emotions):
            values = excess[i][~np.isnan(excess[i])]
            ci = seed_interval(values, 1 - alpha)
            sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
            rows.append(
                {
                    "emotion": emotion,
                    "model": model,
                    "n_seeds": ci.n,
                    "logit_diff_mean": float(np.nanmean(diffs[i]))
                    if np.isfinite(diffs[i]).any()
                    else float("nan"),
                    "logit_excess_diffs": " ".join(f"{v:+.4f}" for v in values),
                    "logit_excess_mean": ci.mean,
                    "logit_excess_low": ci.low,
                    "logit_excess_high": ci.high,
                    "logit_excess_sd": sd,
                    "logit_excess_mde": mde(sd, ci.n, alpha, power),
                }
            )
    return pd.DataFrame(rows)


def per_image_frame(
    tables: Mapping[int, Mapping[str, pd.DataFrame]],
    model: str,
    emotions: Sequence[str],
    reference: str = "b5",
) -> pd.DataFrame:
    """Long table for the mixed model: one row per seed, model (`model` or `reference`, the fully
    frozen model) and test image, with columns correct (0/1), bk (1 for `model`, 0 for the
    reference), emotion, seed, image.

    tables[s][name]: predictions.csv of model `name` in seed s (indexed by sample_id, columns
    true_label and pred_label). An image is identified by its sample_id, shared by every seed
    (all seeds test on the same split)."""
    parts = []
    for s, by_model in tables.items():
        for name, flag in ((model, 1), (reference, 0)):
            t = by_model[name]
            labels = t["true_label"].to_numpy()
            parts.append(
                pd.DataFrame(
                    {
                        "correct": (t["pred_label"].to_numpy() == labels).astype(float),
                        "bk": flag,
                        "emotion": [emotions[int(c)] for c in labels],
                        "seed": str(s),
                        "image": t.index.astype(str),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def mixed_logistic(frame: pd.DataFrame, emotions: Sequence[str]) -> pd.DataFrame:
    """Fit correct ~ 0 + C(emotion) + C(emotion):bk + (1|seed) + (1|image) and return, per
    emotion, the Bk-vs-B5 logit effect with its posterior SD, z and two-sided p.

    `frame` from `per_image_frame`. An emotion absent from `frame` gets NaN. Columns: emotion,
    coef, sd, z, p, n_rows, n_seeds, n_images.
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    present = [e for e in emotions if (frame["emotion"] == e).any()]
    data = frame[frame["emotion"].isin(present)].copy()
    data["emotion"] = pd.Categorical(data["emotion"], categories=present)
    vc = {"image": "0 + C(image)"}
    n_seeds = data["seed"].nunique()
    if n_seeds > 1:
        vc["seed"] = "0 + C(seed)"
    model = BinomialBayesMixedGLM.from_formula("correct ~ 0 + C(emotion) + C(emotion):bk", vc, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the optimiser; checked below
        result = model.fit_vb(fit_method="L-BFGS-B", rng=0)  # its random start, seeded
    names = list(model.exog_names)
    mean = np.asarray(result.fe_mean, dtype=float)
    sd = np.asarray(result.fe_sd, dtype=float)
    rows = []
    for emotion in emotions:
        name = f"C(emotion)[{emotion}]:bk"
        if emotion not in present or name not in names:
            rows.append({"emotion": emotion, "coef": np.nan, "sd": np.nan, "z": np.nan})
            continue
        i = names.index(name)
        rows.append({"emotion": emotion, "coef": mean[i], "sd": sd[i], "z": mean[i] / sd[i]})
    out = pd.DataFrame(rows)
    out["p"] = 2 * sps.norm.sf(np.abs(out["z"].to_numpy(dtype=float)))
    out["n_rows"] = len(data)
    out["n_seeds"] = n_seeds
    out["n_images"] = data["image"].nunique()
    return out
