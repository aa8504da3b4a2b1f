"""The names of what the stages write to MLflow and read back: artifact paths, metric keys, tags.

A producer writes with these names and every consumer (the analysis stages, the report, the
tests) reads with them, so renaming a file here renames it everywhere; a name spelled by hand
on one side would instead drift silently into a "not available" section of the report. Paths
are relative to the run's artifact root. Registry names and aliases live in `tracking/registry.py`.
"""

from __future__ import annotations

# ---- emotion / transfer / retrain (written by fitting.train_and_record and
# metrics.write_confusion)
PREDICTIONS = (
    "predictions.csv"  # sample_id, true_label, pred_label, true_name, pred_name, prob_<class>
)
TEST_METRICS = "test_metrics.json"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
TEST_PREFIX = "test_"


def test_metric(measure: str, cls: str | None = None) -> str:
    """`test_<measure>_<class>` (measure precision / recall / f1, class a class name or "macro"),
    or `test_<measure>` without a class (accuracy)."""
    return f"{TEST_PREFIX}{measure}" + (f"_{cls}" if cls is not None else "")


# ---- forgetting
RECALLS_CSV = "recalls.csv"  # emotion, n, base, b0..b5
RECALLS_PNG = "recalls.png"  # the study's Figure 3
MCNEMAR_VS_B5_CSV = "mcnemar_vs_b5.csv"
MCNEMAR_PAIRWISE_CSV = "mcnemar_pairwise.csv"


def recall_metric(emotion: str, model: str) -> str:
    return f"recall_{emotion}_{model}"


def mcnemar_metric(emotion: str, model: str, *, holm: bool, ref: str = "b5") -> str:
    """`ref`: the fully frozen model compared with (b5 for VGG16, ResNet-50 and the small ViTs;
    b<n> for a backbone of n stages)."""
    return f"mcnemar_p_{'holm_' if holm else ''}{emotion}_{model}_vs_{ref}"


# Across the seeds of study.seeds (one row per emotion and FreezeBk, k < 5): mean recall
# difference Bk - B5 over seeds with its t interval, and the seeds' McNemar tests combined.
# Columns: emotion, model, n_seeds, diffs, diff_mean, diff_low, diff_high, p_combined,
# p_combined_holm, excess_diffs, excess_mean, excess_low, excess_high.
FORGETTING_SEEDS_CSV = "forgetting_seeds.csv"


def seed_diff_metric(emotion: str, model: str, part: str, ref: str = "b5") -> str:
    """seed_diff_<part>_<emotion>_<model>_vs_b5, part mean | low | high."""
    return f"seed_diff_{part}_{emotion}_{model}_vs_{ref}"


def seed_excess_metric(emotion: str, model: str, part: str, ref: str = "b5") -> str:
    """seed_excess_<part>_<emotion>_<model>_vs_b5: the recall difference minus the other emotions'
    mean."""
    return f"seed_excess_{part}_{emotion}_{model}_vs_{ref}"


def seed_p_metric(emotion: str, model: str, *, holm: bool, ref: str = "b5") -> str:
    return f"seed_p_{'holm_' if holm else ''}{emotion}_{model}_vs_{ref}"


# Findings with no verdict (analysis/findings.py), FreezeBk against FreezeB5.
# logit_excess.csv: emotion, model, n_seeds, logit_diff_mean, logit_excess_diffs,
# logit_excess_mean, logit_excess_low, logit_excess_high, logit_excess_sd, logit_excess_mde.
LOGIT_EXCESS_CSV = "logit_excess.csv"
# mixed_logistic.csv: emotion, coef, sd, z, p, n_rows, n_seeds, n_images, model, seconds.
MIXED_LOGISTIC_CSV = "mixed_logistic.csv"


def seed_logit_excess_metric(emotion: str, model: str, part: str) -> str:
    """seed_logit_excess_<part>_<emotion>_<model>_vs_b5, part mean | low | high: the logit-scale
    recall change Bk - B5 minus the other emotions' mean change, over seeds."""
    return f"seed_logit_excess_{part}_{emotion}_{model}_vs_b5"


def logit_mde_metric(emotion: str, model: str) -> str:
    """logit_excess_mde_<emotion>_<model>_vs_b5: the excess a t-test over the study's seeds
    detects with 80 % power (absent with one seed)."""
    return f"logit_excess_mde_{emotion}_{model}_vs_b5"


def mixed_p_metric(emotion: str, model: str) -> str:
    """mixed_p_<emotion>_<model>: the mixed logistic model's p of the emotion's Bk effect."""
    return f"mixed_p_{emotion}_{model}"


def mixed_coef_metric(emotion: str, model: str) -> str:
    """mixed_coef_<emotion>_<model>: that effect on the logit scale (Bk - B5)."""
    return f"mixed_coef_{emotion}_{model}"


# ---- saliency (one run per k, stage name saliency-b<k>)
SALIENCY_DIR = "saliency"
SALIENCY_NOTES = f"{SALIENCY_DIR}/notes.txt"
AU_RANKING_CSV = f"{SALIENCY_DIR}/au_ranking.csv"
GRID_SUFFIX = "_grid.png"  # saliency/<emotion>_grid.png
MAPS_SUFFIX = "_maps.npz"  # saliency/<emotion>_maps.npz
EMOTION_RANKING_SUFFIX = "_au_ranking.csv"


def saliency_file(emotion: str, suffix: str) -> str:
    """saliency/<emotion><suffix>, e.g. saliency_file("surprise", GRID_SUFFIX)."""
    return f"{SALIENCY_DIR}/{emotion}{suffix}"


# ---- probes (one run per k and AU, stage name probes-b<k>-au<au>)
PROBES_DIR = "probes"
PROBE_F1_CSV = f"{PROBES_DIR}/probe_f1.csv"
PROBE_BASELINE_CSV = f"{PROBES_DIR}/probe_baseline_f1.csv"
PROBE_F1_PNG = f"{PROBES_DIR}/probe_f1.png"
PROBE_CONCLUSION = f"{PROBES_DIR}/conclusion.txt"
PROBE_T, PROBE_P = "probe_t", "probe_p"
PROBE_T_CORRECTED, PROBE_P_CORRECTED = "probe_t_corrected", "probe_p_corrected"
VARIANT_TAG = "auforget.variant"  # peak or peak_mouthless: which CK+ faces the probe saw
CONCLUSION_TAG = "auforget.conclusion"


def probe_f1_mean(model: str) -> str:
    """probe_f1_mean_<model>, model b5 or b<k>."""
    return f"probe_f1_mean_{model}"


def probe_baseline(model: str) -> str:
    return f"probe_baseline_f1_{model}"


# The AU survey (one run per k and seed, stage name probes-survey-b<k>): every AU of
# probes.survey_aus on features extracted once per model. survey.csv's columns:
# au, variant, n_images, n_positive, f1_b5, f1_bk, drop, drop_low, drop_high, t_corrected,
# p_corrected, p_holm, note
PROBE_SURVEY_CSV = f"{PROBES_DIR}/survey.csv"


def survey_metric(part: str, au: int) -> str:
    """survey_<part>_au<au>, part drop (F1 B5 - Bk) | p (corrected resampled t, Holm across
    AUs)."""
    return f"survey_{part}_au{au}"


# ---- cka (block-by-block similarity of the base emotion model and each pain model)
CKA_CSV = "cka.csv"  # k (0..5, or "floor": two seeds' base models), block (1..5), cka
CKA_PNG = "cka.png"  # heatmap of k x block
CKA_FROZEN_OK = "cka_frozen_ok"  # 1 when every block FreezeBk froze reads CKA 1.0, else 0


def cka_metric(k: int, block: int) -> str:
    """cka_b<k>_block<block>: debiased linear CKA of block <block> (1..5) between the base
    emotion model and pain model FreezeB<k>."""
    return f"cka_b{k}_block{block}"


RESET_CSV = "reset.csv"  # block, emotion, n, recall, recall_b0, gain, pvalue, pvalue_holm
RESET_PNG = "reset.png"  # heatmap of block given back x emotion: recall gained over FreezeB0


def reset_metric(block: int, emotion: str) -> str:
    """reset_block<block>_gain_<emotion>: the emotion's recall of FreezeB0 given back the base
    model's block <block>, minus FreezeB0's, both with output layers retrained alike."""
    return f"reset_block{block}_gain_{emotion}"


def cka_floor_metric(block: int) -> str:
    """cka_floor_block<block>: the same between two seeds' base models (the noise floor)."""
    return f"cka_floor_block{block}"


# ---- promote
TRADEOFF_CSV = "tradeoff.csv"
TRADEOFF_PNG = "tradeoff.png"  # the study's Figure 6
RULE_TXT = "rule.txt"
CHAMPION_TAG = "auforget.champion"  # on the promote run: FreezeB<i> it chose
CHAMPION_RULE_TAG = "champion_rule"  # on the champion model version, with champion_<number> tags
CHAMPION_TAG_PREFIX = "champion_"
# tradeoff.csv's rows for every seed, with a seed column and its own choice
TRADEOFF_SEEDS_CSV = "tradeoff_seeds.csv"
# share of seeds whose own choice is the seed-averaged champion (metric and tag)
SEED_STABILITY = "champion_seed_stability"


# ---- compare
COMPARE_HTML = "compare.html"  # <compare.out>/compare.html, also logged to the compare run
COMPARE_CSV = "compare.csv"  # every backbone's FreezeB rows, scored by promote's rule
ACROSS_ALIAS = "champion-across-backbones"  # on the champion's auforget-pain[-<backbone>] version
# ---- controls (one run per seed, stage name controls; metrics/controls.json)
CONTROLS_DIR = "controls"
CONTROLS_MANIPULATION_CSV = f"{CONTROLS_DIR}/manipulation.csv"  # au, b5, lesion, negative
CONTROLS_RECALL_CSV = f"{CONTROLS_DIR}/recall.csv"  # per control and emotion: drop, p, p_holm
CONTROLS_PROBES_CSV = f"{CONTROLS_DIR}/probes.csv"  # control, au, f1_drop, p_corrected
CONTROLS_RANKING_CSV = f"{CONTROLS_DIR}/ranking.csv"  # the target emotion's region ranking
CONTROLS_NOTES = f"{CONTROLS_DIR}/notes.txt"
