"""The synthetic world's planted truth, and what a study measured against it, as findings.

No published forgetting study knows the right answer; the synthetic world does. Each emotion is
drawn with known action units (`synthetic.EMOTION_AUS`) and pain data use known ones (PSPI AUs,
plus AUs drawn regardless of pain), so the study's three readings have expected outcomes:

- recalls: an emotion none of whose core AUs is a PSPI AU is expected to be forgotten by a
  model whose blocks were fine-tuned for pain (FreezeBk below FreezeB5); an emotion with a PSPI
  AU among its strongest core AUs is expected to be kept (a control, not significantly worse;
  sad counts by a three-way tie of AU1, AU4 and AU15). An emotion between the two (happy: AU6
  is in PSPI, but AU12 is drawn stronger and is not; fear: AU5 outweighs its AU4 and AU7) has no
  expectation: pain training keeps part of what tells it apart;
- difference maps: a forgotten emotion's top AU region lies among the regions of its own AUs
  outside PSPI;
- probes: an AU outside PSPI is expected to be less linearly decodable from FreezeBk's last
  block than from FreezeB5's, unless the world leaves the answer open (UNSETTLED_PROBES: AU5).

Beside each forgotten emotion's recall a row with no verdict (EXCESS_CHECK) shows how much more it
dropped than the other emotions did.

None of these is a verdict. The world fixes which AUs pain training can use, not what SGD does
with them: fine-tuning can cost every emotion some recall, and "not found" cannot be told apart
from "too small for the study to resolve". So each row shows its statistic (positive = the
planted direction) and no row is counted as recovered or kept; the instruments earn trust from
lesions whose answer is known by construction instead.

`compare` reads what the stages found (the forgetting metrics, the saliency AU ranking, the
probe metrics) and returns one row per expectation with its statistic; `planted_metrics` and
`write_planted` turn that into `metrics/planted.json`. Everything here is pure: no MLflow.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from auforget.analysis.metrics import METRICS_DIR, write_metrics_json
from auforget.analysis.regions import AU_REGIONS
from auforget.analysis.stats import others_mean, seed_interval, stouffer
from auforget.core import artifacts
from auforget.core.config import EMOTIONS
from auforget.data.manifest import parse_aus
from auforget.data.synthetic import (
    EMOTION_AUS,
    OPTIONAL_AUS,
    PAIN_NUISANCE_AUS,
    PSPI_AUS,
    UNBC_OTHER_AUS,
)

log = logging.getLogger(__name__)

PLANTED_JSON = "planted"  # metrics/planted.json
SEEDS_PREFIX = "seeds_"  # its across-seed numbers (compare_seeds)
COLUMNS = ("check", "subject", "expected", "found", "statistic", "value", "p", "recovered")

# Probed AUs whose expectation this world does not settle; their rows are shown, not counted. AU5
# was first expected less decodable (it is absent from the pain data) and was not, in any of 3
# seeds (F1 drop -0.046 [-0.148, +0.057]); a world that drew widened eyes in pain and no-pain
# frames alike made it -0.079 in one seed (experiments/2026-11-26-au5-nuisance-world/).
UNSETTLED_PROBES: dict[int, str] = {
    5: "absent from the pain data, but the probe's crop (mouth cropped away) keeps the brows and "
    "eyes, where PSPI's AU4, AU6, AU7 and AU43 act, and AU7 and AU43 move the same upper-lid "
    "points AU5 raises: pain training has reasons to keep what AU5 is read from",
}

# Shown beside each forgotten emotion's recall, with no verdict: its drop minus the other seven
# emotions' mean drop. Full fine-tuning costs every emotion recall (over thirteen seeds sad +0.078,
# anger +0.052 and disgust +0.051 against contempt's +0.071; experiments/2026-11-27-regions/
# pooled.py), so whether the planted forgetting is *specific* shows here; judging it is a rule the
# team has not chosen (README, experiments/2026-11-27-transfer-lr/).
EXCESS_CHECK = "recall beyond the others"
_SALIENCY_EFFECT = (
    "au_effect_"  # the saliency stage's au_effect_<region>_<emotion> (not yet in artifacts)
)
_STEMS = {
    "recall": "recall",
    "recall (control)": "recall",
    "top region": "region",
    "probe": "probe",
    "probe (no expectation)": "probe",
    EXCESS_CHECK: "excess",
}


def pain_use(au: int) -> str:
    """How the pain data use an AU: 'pspi' (pain training rewards it), 'nuisance' (drawn in pain and
    no-pain frames alike, a reason to ignore it), 'other' (drawn in pain data, not in PSPI) or
    'absent'."""
    if au in PSPI_AUS:
        return "pspi"
    if au in PAIN_NUISANCE_AUS:
        return "nuisance"
    return "other" if au in UNBC_OTHER_AUS else "absent"


def core_aus(emotion: str) -> tuple[int, ...]:
    """The AUs an emotion is always drawn with (prototype minus its optional members)."""
    code = EMOTIONS.index(emotion)
    return tuple(sorted(set(EMOTION_AUS[code]) - OPTIONAL_AUS.get(code, frozenset())))


def expected_forgotten(emotion: str) -> bool | None:
    """True when no core AU is a PSPI AU; False when a PSPI AU is among its strongest core AUs (pain
    training rewards what mainly tells it apart); None for neutral and for mixed emotions.

    Why the strongest AU, not any shared AU: the base model leans on an emotion's most intense AU,
    and PSPI scores max(AU6, AU7), so sharing a weaker AU keeps too little. The first demos judged
    happy (AU6 3, AU12 4) a control and found it forgotten in every seed (2026-11-26), so this
    rule was written after seeing that result; docs/synthetic-world.md says so.
    """
    code = EMOTIONS.index(emotion)
    aus = core_aus(emotion)
    if not aus:
        return None
    if not any(pain_use(au) == "pspi" for au in aus):
        return True
    top = max(EMOTION_AUS[code][au] for au in aus)
    return (
        False
        if any(pain_use(au) == "pspi" and EMOTION_AUS[code][au] == top for au in aus)
        else None
    )


def expected_regions(emotion: str) -> tuple[str, ...]:
    """The AU regions (regions.AU_REGIONS) of the emotion's AUs that PSPI does not use."""
    free = {au for au in EMOTION_AUS[EMOTIONS.index(emotion)] if pain_use(au) != "pspi"}
    return tuple(region for region, aus in AU_REGIONS.items() if free & set(aus))


def planted_truth() -> pd.DataFrame:
    """One row per emotion: its AUs with their pain use, and what the study should find."""
    rows = []
    for emotion in EMOTIONS:
        code = EMOTIONS.index(emotion)
        aus = EMOTION_AUS[code]
        optional = OPTIONAL_AUS.get(code, frozenset())
        forgotten = expected_forgotten(emotion)
        rows.append(
            {
                "emotion": emotion,
                "aus": ", ".join(
                    f"AU{au}{'?' if au in optional else ''} ({pain_use(au)})" for au in sorted(aus)
                )
                or "none",
                "expected": {True: "forgotten", False: "kept"}.get(
                    forgotten,
                    "no expectation"
                    if not core_aus(emotion)
                    else "mixed: strongest AU outside PSPI",
                ),
                "regions": ", ".join(expected_regions(emotion)) if forgotten else "",
            }
        )
    return pd.DataFrame(rows)


def pain_association(frames: pd.DataFrame) -> pd.DataFrame:
    """How the pain training frames use each AU, measured: the share of pain and of no-pain frames
    that show it, and its phi coefficient with the pain label.

    Why measured as well as declared: `pain_use` names what the generator means (PSPI, nuisance,
    other), but what pain training can exploit is the association in the frames it sees. AU26 is
    'other' by declaration, yet the world draws more jaw drops in pain grimaces than in talk
    (phi about +0.2), a reason to keep it. PSPI AUs score high by construction (pain is PSPI > 0).
    frames: the UNBC train split (`label` 1 = pain, 0 = no pain; `aus` as written by
    `manifest.format_aus`). One row per AU drawn there or in an emotion.
    """
    if "label" not in frames or "aus" not in frames:
        raise ValueError(
            "pain_association needs the UNBC split's 'label' and 'aus' columns, got "
            f"{list(frames.columns)}"
        )
    labels = pd.to_numeric(frames["label"], errors="coerce")
    if len(frames) == 0 or not labels.isin([0, 1]).all():
        bad = frames["label"][~labels.isin([0, 1])].head(3).tolist()
        raise ValueError(
            f"pain_association needs labels 0 (no pain) or 1 (pain) in at least one frame; "
            f"got {len(frames)} frames{f', e.g. labels {bad}' if bad else ''}"
        )
    shown = [set(parse_aus(text)) for text in frames["aus"]]
    pain = labels.to_numpy() == 1
    aus = sorted(set().union(*shown) | {au for table in EMOTION_AUS.values() for au in table})
    rows = []
    for au in aus:
        has = np.array([au in s for s in shown])
        phi = (
            float(np.corrcoef(has, pain)[0, 1])
            if has.std() > 0 and pain.std() > 0
            else float("nan")
        )
        rows.append(
            {
                "AU": au,
                "declared": pain_use(au),
                "pain frames": float(has[pain].mean()) if pain.any() else float("nan"),
                "no-pain frames": float(has[~pain].mean()) if (~pain).any() else float("nan"),
                "phi with pain": phi,
            }
        )
    return pd.DataFrame(rows)


def read_association(splits_dir: str | Path) -> pd.DataFrame | None:
    """`pain_association` of the UNBC train split prepare wrote under `splits_dir`; None without
    one. A split that cannot be read raises ValueError naming the file."""
    path = Path(splits_dir) / "unbc" / "train.csv"
    if not path.exists():
        return None
    try:
        return pain_association(pd.read_csv(path, keep_default_na=False))
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{path}: cannot measure the AUs' association with pain: {exc}") from exc


def association_or_none(splits_dir: str | Path, step: str) -> pd.DataFrame | None:
    """`read_association` for the steps that show it beside their results (main's planted.json,
    the report): a split it cannot read leaves the table out with a warning, not the step failed."""
    try:
        return read_association(splits_dir)
    except ValueError as exc:
        log.warning("%s: no measured AU-pain association: %s", step, exc)
        return None


def association_metrics(association: pd.DataFrame) -> dict[str, float]:
    """metrics/planted.json's `pain_phi_au<N>`: each AU's measured association with pain."""
    return {
        f"pain_phi_au{int(au)}": float(phi)
        for au, phi in zip(association["AU"], association["phi with pain"])
        if np.isfinite(phi)
    }


def rankings_from_metrics(saliency_metrics: Mapping[str, float]) -> pd.DataFrame:
    """The saliency stage's `au_effect_<region>_<emotion>` metrics as a ranking table (no
    p-values)."""
    rows = []
    for name, value in saliency_metrics.items():
        if not name.startswith(_SALIENCY_EFFECT):
            continue
        rest = name[len(_SALIENCY_EFFECT) :]
        region = next((r for r in AU_REGIONS if rest.startswith(r + "_")), None)
        if region is not None:
            rows.append(
                {
                    "emotion": rest[len(region) + 1 :],
                    "region": region,
                    "effect_size": float(value),
                    "p_holm": float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["emotion", "region", "effect_size", "p_holm"])


def _recall_check(
    emotion: str,
    forgotten: bool,
    k: int,
    drop: float,
    p: float,
    alpha: float,
    found: str,
    statistic: str,
) -> dict:
    """A forgotten emotion is recovered when its recall drops; a control when it does not drop
    significantly."""
    return {
        "check": "recall" if forgotten else "recall (control)",
        "subject": emotion,
        "expected": (
            f"FreezeB{k} recall below FreezeB5"
            if forgotten
            else f"FreezeB{k} not significantly below FreezeB5"
        ),
        "found": found,
        "statistic": statistic,
        "value": drop,
        "p": p,
        # a finding, not a verdict: what SGD forgets is training dynamics, not the world's design
        "recovered": None,
    }


def _recall_rows(forgetting: Mapping[str, float], k: int, alpha: float) -> list[dict]:
    rows = []
    for emotion in EMOTIONS:
        forgotten = expected_forgotten(emotion)
        b5 = forgetting.get(artifacts.recall_metric(emotion, "b5"))
        bk = forgetting.get(artifacts.recall_metric(emotion, f"b{k}"))
        if forgotten is None or b5 is None or bk is None:
            continue
        p = float(
            forgetting.get(artifacts.mcnemar_metric(emotion, f"b{k}", holm=True), float("nan"))
        )
        rows.append(
            _recall_check(
                emotion,
                forgotten,
                k,
                float(b5) - float(bk),
                p,
                alpha,
                f"B5 {float(b5):.2f}, B{k} {float(bk):.2f}",
                "recall B5 - Bk",
            )
        )
    return rows


def _excess_row(emotion: str, k: int, value: float, found: str, statistic: str) -> dict:
    return {
        "check": EXCESS_CHECK,
        "subject": emotion,
        "expected": f"none judged (the planted truth would put it above 0): FreezeB{k}'s drop "
        "minus the other emotions' mean drop",
        "found": found,
        "statistic": statistic,
        "value": value,
        "p": float("nan"),
        "recovered": None,
    }


def _excess_rows(forgetting: Mapping[str, float], k: int) -> list[dict]:
    """One seed: each forgotten emotion's recall drop B5 - Bk minus the other emotions' mean
    drop."""
    drops = {}
    for emotion in EMOTIONS:
        b5 = forgetting.get(artifacts.recall_metric(emotion, "b5"))
        bk = forgetting.get(artifacts.recall_metric(emotion, f"b{k}"))
        if b5 is None or bk is None:
            return []
        drops[emotion] = float(b5) - float(bk)
    others = dict(zip(drops, others_mean(list(drops.values()))))
    rows = []
    for emotion in (e for e in EMOTIONS if expected_forgotten(e)):
        rows.append(
            _excess_row(
                emotion,
                k,
                drops[emotion] - others[emotion],
                f"drop {drops[emotion]:+.3f}, the others' mean {others[emotion]:+.3f}",
                "drop minus the other emotions' mean drop",
            )
        )
    return rows


def _seed_excess_rows(forgetting: Mapping[str, float], k: int) -> list[dict]:
    """Across seeds, from the forgetting run's seed_excess_* (on its Bk - B5 scale, so negated
    here)."""
    rows = []
    for emotion in (e for e in EMOTIONS if expected_forgotten(e)):
        mean = forgetting.get(artifacts.seed_excess_metric(emotion, f"b{k}", "mean"))
        if mean is None:
            continue
        low = forgetting.get(artifacts.seed_excess_metric(emotion, f"b{k}", "low"), float("nan"))
        high = forgetting.get(artifacts.seed_excess_metric(emotion, f"b{k}", "high"), float("nan"))
        interval = (
            f"[{-high:+.3f}, {-low:+.3f}]" if np.isfinite(low) and np.isfinite(high) else "n/a"
        )
        rows.append(
            _excess_row(
                emotion,
                k,
                -float(mean),
                f"mean {-float(mean):+.3f}, 95% interval {interval}",
                "mean over seeds of the drop minus the other emotions' mean drop",
            )
        )
    return rows


def _ranked(rankings: pd.DataFrame, emotion: str) -> pd.DataFrame:
    """One emotion's regions with an effect size, best first."""
    table = rankings[rankings["emotion"] == emotion].dropna(subset=["effect_size"])
    return table.sort_values("effect_size", ascending=False, kind="stable")


def _region_rows(rankings: pd.DataFrame) -> list[dict]:
    rows = []
    for emotion in EMOTIONS:
        want = expected_regions(emotion) if expected_forgotten(emotion) else ()
        table = _ranked(rankings, emotion)
        if not want or table.empty:
            continue
        top = table.iloc[0]
        rows.append(
            {
                "check": "top region",
                "subject": emotion,
                "expected": " or ".join(want),
                "found": ", ".join(table["region"].head(3)),
                "statistic": f"effect size of {top['region']}",
                "value": float(top["effect_size"]),
                "p": float(top.get("p_holm", float("nan"))),
                "recovered": None,  # a finding (see _recall_check)
            }
        )
    return rows


def _probe_check(au: int, k: int, drop: float, p: float, found: str, statistic: str) -> dict:
    """An AU outside PSPI is recovered when FreezeB`k` encodes it less than FreezeB5; a PSPI AU when
    it does not; an unsettled AU (UNSETTLED_PROBES) is shown with no verdict (recovered None)."""
    row = {
        "check": "probe",
        "subject": f"AU{au}",
        "found": found,
        "statistic": statistic,
        "value": drop,
        "p": p,
    }
    if au in UNSETTLED_PROBES:
        return row | {
            "check": "probe (no expectation)",
            "expected": f"none: {UNSETTLED_PROBES[au]}",
            "recovered": None,
        }
    less = pain_use(au) != "pspi"
    return row | {
        "expected": f"{'less' if less else 'not less'} encoded by FreezeB{k} than FreezeB5",
        "recovered": None,  # a finding (see _recall_check)
    }


def _probe_rows(probes: Mapping[int, Mapping[str, float]], k: int) -> list[dict]:
    rows = []
    for au, m in sorted(probes.items()):
        b5, bk = m.get(artifacts.probe_f1_mean("b5")), m.get(artifacts.probe_f1_mean(f"b{k}"))
        if b5 is None or bk is None:
            continue
        rows.append(
            _probe_check(
                au,
                k,
                float(b5) - float(bk),
                float(m.get(artifacts.PROBE_P_CORRECTED, float("nan"))),
                f"F1 B5 {float(b5):.3f}, B{k} {float(bk):.3f} "
                f"(corrected t {m.get(artifacts.PROBE_T_CORRECTED, float('nan')):.2f})",
                "F1 B5 - Bk",
            )
        )
    return rows


def compare(
    forgetting: Mapping[str, float],
    rankings: pd.DataFrame | None,
    probes: Mapping[int, Mapping[str, float]],
    *,
    k: int = 0,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, str]:
    """What the study should find against what it found, FreezeB`k` vs FreezeB5.

    forgetting: the forgetting stage's metrics (`recall_<emotion>_<model>`,
    `mcnemar_p_holm_<emotion>_b<k>_vs_b5`); rankings: the saliency stage's AU ranking table
    (columns emotion, region, effect_size, p_holm; or `rankings_from_metrics`), None when there is
    none; probes: AU -> that AU's probes-stage metrics (`probe_f1_mean_b5`, `probe_f1_mean_b<k>`,
    `probe_t_corrected`, `probe_p_corrected`). Returns one row per expectation (COLUMNS; `value`
    is the statistic, positive = the planted direction for forgetting and probes) and a paragraph
    for the report. Missing inputs give fewer rows, never an error.
    """
    rows = _recall_rows(forgetting, k, alpha) + _excess_rows(forgetting, k)
    if rankings is not None and len(rankings):
        rows += _region_rows(rankings)
    rows += _probe_rows(probes, k)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    return table, summary_text(table, k)


def _seed_recall_rows(forgetting: Mapping[str, float], k: int, alpha: float) -> list[dict]:
    rows = []
    model = f"b{k}"
    for emotion in EMOTIONS:
        forgotten = expected_forgotten(emotion)
        mean = forgetting.get(artifacts.seed_diff_metric(emotion, model, "mean"))
        if forgotten is None or mean is None:
            continue
        low = forgetting.get(artifacts.seed_diff_metric(emotion, model, "low"), float("nan"))
        high = forgetting.get(artifacts.seed_diff_metric(emotion, model, "high"), float("nan"))
        p = float(forgetting.get(artifacts.seed_p_metric(emotion, model, holm=True), float("nan")))
        drop = -float(mean)  # forgetting_seeds.csv holds Bk - B5
        interval = (
            f"[{-high:+.2f}, {-low:+.2f}]" if np.isfinite(low) and np.isfinite(high) else "n/a"
        )
        rows.append(
            _recall_check(
                emotion,
                forgotten,
                k,
                drop,
                p,
                alpha,
                f"mean drop {drop:+.3f}, 95% interval {interval}",
                "mean recall B5 - Bk over seeds; p: signed Stouffer of the seeds' McNemar, Holm",
            )
        )
    return rows


def _seed_region_rows(saliency: Mapping[int, Mapping[str, float]]) -> list[dict]:
    rankings = {seed: rankings_from_metrics(saliency[seed]) for seed in sorted(saliency)}
    rows = []
    for emotion in EMOTIONS:
        want = expected_regions(emotion) if expected_forgotten(emotion) else ()
        firsts = [
            table["region"].iloc[0]
            for table in (_ranked(r, emotion) for r in rankings.values())
            if len(table)
        ]
        if not want or not firsts:
            continue
        share = sum(region in want for region in firsts) / len(firsts)
        counts = pd.Series(firsts).value_counts(sort=True)
        rows.append(
            {
                "check": "top region",
                "subject": emotion,
                "expected": " or ".join(want),
                "found": ", ".join(f"{region} {n}/{len(firsts)}" for region, n in counts.items()),
                "statistic": "share of seeds whose top region is expected",
                "value": share,
                "p": float("nan"),
                "recovered": None,  # a finding (see _recall_check)
            }
        )
    return rows


def _seed_probe_rows(probes: Mapping[int, Mapping[int, Mapping[str, float]]], k: int) -> list[dict]:
    rows = []
    b5_name, bk_name = artifacts.probe_f1_mean("b5"), artifacts.probe_f1_mean(f"b{k}")
    for au in sorted(probes):
        by_seed = [m for _, m in sorted(probes[au].items()) if b5_name in m and bk_name in m]
        if not by_seed:
            continue
        diffs = [float(m[b5_name]) - float(m[bk_name]) for m in by_seed]
        p = stouffer(
            [float(m.get(artifacts.PROBE_P_CORRECTED, float("nan"))) for m in by_seed], diffs
        )
        ci = seed_interval(diffs)
        interval = f"[{ci.low:+.3f}, {ci.high:+.3f}]" if ci.available else "n/a"
        rows.append(
            _probe_check(
                au,
                k,
                ci.mean,
                p,
                f"mean F1 drop {ci.mean:+.3f}, 95% interval {interval} ({len(diffs)} seeds)",
                "mean F1 B5 - Bk over seeds; p: signed Stouffer of the seeds' corrected t-tests",
            )
        )
    return rows


def compare_seeds(
    forgetting: Mapping[str, float],
    saliency: Mapping[int, Mapping[str, float]],
    probes: Mapping[int, Mapping[int, Mapping[str, float]]],
    *,
    k: int = 0,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, str]:
    """`compare` across training seeds: is the planted truth a property of the recipe, not of one
    network?

    forgetting: the forgetting stage's metrics with its across-seed `seed_diff_*` / `seed_p_*`
    (present when study.seeds has several seeds); saliency: seed -> that seed's saliency metrics
    (FreezeB`k` vs FreezeB5); probes: AU -> seed -> that seed's probes metrics. A forgotten
    emotion's recall must drop on average over seeds (the p combines each seed's McNemar test by
    signed Stouffer, so seeds that disagree cancel); a region must rank first in most seeds; a
    probe's F1 must drop on average (p: the seeds' corrected t-tests combined the same way).
    Same columns as `compare`; `value` is positive in the planted direction.
    """
    rows = (
        _seed_recall_rows(forgetting, k, alpha)
        + _seed_excess_rows(forgetting, k)
        + _seed_region_rows(saliency)
        + _seed_probe_rows(probes, k)
    )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    n = max([len(saliency)] + [len(by_seed) for by_seed in probes.values()] + [0])
    return table, f"Across {n} training seeds. " + summary_text(table, k)


def summary_text(table: pd.DataFrame, k: int) -> str:
    """The world's design in words and how to read the rows: findings, no counts."""
    forgotten = [e for e in EMOTIONS if expected_forgotten(e)]
    kept = [e for e in EMOTIONS if expected_forgotten(e) is False]
    mixed = [e for e in EMOTIONS if expected_forgotten(e) is None and core_aus(e)]
    lines = [
        f"Planted truth: pain data are drawn with the PSPI AUs {', '.join(map(str, PSPI_AUS))}; "
        f"AU{', AU'.join(map(str, PAIN_NUISANCE_AUS))} is drawn in pain and no-pain frames alike "
        "(a one-sided smirk placed without regard to pain), so pain training has a reason to "
        f"stop responding to it. By the world's design, emotions with no PSPI AU "
        f"({', '.join(forgotten)}) would be forgotten by FreezeB{k} relative to FreezeB5, their "
        "difference maps would point at their own AUs, and probed AUs outside PSPI would be less "
        f"decodable from FreezeB{k}"
        + "".join(f" (AU{au} excepted: {why})" for au, why in UNSETTLED_PROBES.items())
        + f". Emotions with a PSPI AU among their strongest AUs ({', '.join(kept)}) would be "
        f"kept; {' and '.join(mixed)} mix a PSPI AU with a stronger one outside PSPI and carry no "
        "expectation.",
        "What the study measured against each expectation is a finding with no verdict: the "
        "world fixes which AUs pain training can use, not what SGD does with them, so no row is "
        "counted as recovered or kept (the instruments are checked against lesions made by "
        "construction instead).",
    ]
    return " ".join(lines)


def planted_metrics(table: pd.DataFrame, prefix: str = "") -> dict[str, float]:
    """Flat numbers for metrics/planted.json: each row's statistic and p (`compare_seeds`'s table
    with prefix "seeds_"); no counts of recovered rows, since no row is a verdict."""
    out: dict[str, float] = {}
    for r in table.itertuples():
        stem = f"{_STEMS[r.check]}_{r.subject}".lower()
        out[f"{stem}_value"] = float(r.value)
        if r.recovered is not None:
            out[f"{stem}_recovered"] = float(bool(r.recovered))
        if not math.isnan(r.p):
            out[f"{stem}_p"] = float(r.p)
    return {prefix + k: v for k, v in out.items() if not (isinstance(v, float) and np.isnan(v))}


def write_planted(
    table: pd.DataFrame,
    folder: Path = METRICS_DIR,
    seeds: pd.DataFrame | None = None,
    association: pd.DataFrame | None = None,
) -> Path:
    """<folder>/planted.json (the study's study.metrics_dir) from `compare`'s table, plus
    `compare_seeds`'s as seeds_* and `pain_association`'s as pain_phi_au* when given."""
    numbers = planted_metrics(table)
    if seeds is not None:
        numbers.update(planted_metrics(seeds, SEEDS_PREFIX))
    if association is not None:
        numbers.update(association_metrics(association))
    return write_metrics_json(PLANTED_JSON, numbers, folder)
