"""Reader manifests -> the study's train / val / test splits.

Pure functions of (manifest, PrepareConfig): the same manifest and `cfg.seed` always give the
same rows, whatever order the reader listed them in (rows are sorted before any drawing).

- AffectNet: test is the official validation set; train/val are drawn from training.csv,
  stratified by class (the study: 273,269 train / 14,382 val after dropping classes 8-10,
  i.e. a 5 % validation share).
- UNBC: test is every frame of the publishable subjects; a balanced pool of non-consecutive
  frames from the other subjects is split into train/val (the study: 500 pain + 500 no pain
  from 21 subjects, 900 train / 100 val).
- CK+: the peak frames, whole and with the mouth cut away (the AU5 probe).
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
import pandas as pd

from auforget.core.config import PrepareConfig
from auforget.data.manifest import MAX_EXAMPLES, Skips

log = logging.getLogger(__name__)

PAIN, NO_PAIN = 1, 0
ALL_SUBJECTS = "*"  # the queue key of the random draw's pooled queues
AFFECTNET_SOURCE_SPLITS = ("training", "validation")


# ----------------------------------------------------------------------------- AffectNet


# About 55 lines with a docstring that states the study's split rules; the body is short.
def split_affectnet(
    manifest: pd.DataFrame, cfg: PrepareConfig
) -> tuple[dict[str, pd.DataFrame], Skips]:
    """AffectNet manifest -> ({"train", "val", "test"}, what was left out).

    - Only `cfg.affectnet_classes` are kept; every other row (the study drops 8 None,
      9 Uncertain, 10 Non-Face) is counted under `class_not_kept`.
    - test = the rows with `source_split == "validation"` (the study's 500 per class).
    - train/val come from `source_split == "training"`, drawn per class: val gets
      round(n_c * cfg.affectnet_val_fraction) rows of class c, at least 1 when the class has
      2 or more rows and the fraction is positive, and never all of them. With the study's 5 %
      this reproduces its 273,269 / 14,382 split sizes (to within rounding per class).
    - `cfg.affectnet_max_train_per_class` (0 = no cap) trims train only, after val is drawn;
      trimmed rows are counted under `over_train_cap`.

    Every output frame is sorted by sample_id with a fresh index.
    """
    _require_columns(manifest, ("sample_id", "label", "source_split"), "AffectNet manifest")
    unknown = sorted(set(manifest["source_split"].astype(str)) - set(AFFECTNET_SOURCE_SPLITS))
    if unknown:
        raise ValueError(
            f"AffectNet manifest: source_split values {unknown} are not one of "
            f"{list(AFFECTNET_SOURCE_SPLITS)}"
        )
    rows = manifest.sort_values("sample_id", kind="stable").reset_index(drop=True)
    skips = Skips()
    keep = rows["label"].isin(cfg.affectnet_classes)
    _count_skips(
        skips, "class_not_kept", rows[~keep], lambda r: f"{r.sample_id} (expression {r.label})"
    )
    rows = rows[keep]

    rng = np.random.default_rng(cfg.seed)
    training = rows[rows["source_split"] == "training"]
    test = rows[rows["source_split"] == "validation"]
    train_idx, val_idx = [], []
    for c in sorted(set(cfg.affectnet_classes)):
        idx = training.index[training["label"] == c].to_numpy()
        if len(idx) == 0:
            log.warning("AffectNet: class %d has no training rows", c)
            continue
        if not (test["label"] == c).any():
            log.warning("AffectNet: class %d has no validation (test) rows", c)
        idx = rng.permutation(idx)
        n_val = _val_count(len(idx), cfg.affectnet_val_fraction)
        val_idx.extend(idx[:n_val])
        train_c = idx[n_val:]
        cap = cfg.affectnet_max_train_per_class
        if cap > 0 and len(train_c) > cap:
            _count_skips(
                skips,
                "over_train_cap",
                rows.loc[np.sort(train_c[cap:])],
                lambda r: f"{r.sample_id} (class {r.label})",
            )
            train_c = train_c[:cap]
        train_idx.extend(train_c)

    splits = {
        "train": rows.loc[np.sort(np.asarray(train_idx, dtype=int))].reset_index(drop=True),
        "val": rows.loc[np.sort(np.asarray(val_idx, dtype=int))].reset_index(drop=True),
        "test": test.reset_index(drop=True),
    }
    log.info("AffectNet split: %s; %s", _sizes(splits), skips.summary().splitlines()[0])
    return splits, skips


def _val_count(n: int, fraction: float) -> int:
    """Validation rows for a class of n: round(n * fraction), at least 1 (n >= 2), at most n - 1."""
    if fraction <= 0 or n < 2:
        return 0
    return int(min(n - 1, max(1, round(n * fraction))))


# ----------------------------------------------------------------------------- UNBC


# Over 50 lines mostly through the docstring stating the paper's UNBC split rules; the pool draws
# live in _draw_pool.
def split_unbc(manifest: pd.DataFrame, cfg: PrepareConfig) -> dict[str, pd.DataFrame]:
    """UNBC manifest -> {"train", "val", "test"}.

    test: every frame of `cfg.unbc_test_subjects` (the four subjects whose images may be
    published). A configured test subject absent from the manifest is a ValueError.

    The pool (train + val) comes from the other subjects: `cfg.unbc_pool_per_class` pain
    (label 1) and as many no-pain (label 0) frames, with no two consecutive frames of a
    sequence anywhere in the pool (whatever their classes), and at least one pain and one
    no-pain frame from every subject that has both (subjects lacking a class are named in a
    warning). The study: 500 + 500 frames from 21 subjects, split 900 train / 100 val.

    How the pool is drawn (`cfg.seed` drives every choice):
      1. each sequence gets a random parity, and each subject's frames of each class are
         queued in random order, frames of the sequence's parity first. Frames of one parity
         are never adjacent, so the pool reaches about half of each run of frames before any
         frame has to be passed over;
      2. pain first (the scarce class: 8,369 of 48,398 frames), then no-pain: every subject
         (in one random order) takes its first free frame of the class ("free" = neither it
         nor a neighbouring frame of its sequence is taken yet), then the class is filled
         to `cfg.unbc_pool_per_class`:
         - `cfg.unbc_pool_draw` "balanced": round-robin over the subjects, one free frame per
           subject per round, so the pool spreads evenly over subjects;
         - "random" (the paper: frames "randomly selected" under its two constraints): free
           frames drawn uniformly from all subjects' frames of the class together, so a
           subject's share follows how many frames it has.
    If the data cannot supply the pool, the ValueError says how many pain / no-pain frames
    this procedure can draw and what to lower `prepare.unbc_pool_per_class` to.

    val: `cfg.unbc_val_size` pool frames, apportioned to (class, subject) in proportion to
    the pool (largest remainder), so val is 50/50 and spread over subjects; train is the rest.
    Every output frame is sorted by subject, sequence, frame with a fresh index.
    """
    _require_columns(
        manifest, ("sample_id", "subject", "sequence", "frame", "label"), "UNBC manifest"
    )
    per_class, val_size = cfg.unbc_pool_per_class, cfg.unbc_val_size
    if per_class < 1:
        raise ValueError(f"prepare.unbc_pool_per_class must be at least 1, got {per_class}")
    if not 0 <= val_size < 2 * per_class:
        raise ValueError(
            f"prepare.unbc_val_size ({val_size}) must be in [0, {2 * per_class}) "
            f"(the pool holds 2 x prepare.unbc_pool_per_class = {2 * per_class} frames)"
        )
    bad = sorted(set(manifest["label"]) - {PAIN, NO_PAIN})
    if bad:
        raise ValueError(f"UNBC manifest: labels {bad} are not 0 (no pain) or 1 (pain)")
    subjects = set(manifest["subject"])
    missing = [s for s in cfg.unbc_test_subjects if s not in subjects]
    if missing:
        raise ValueError(
            f"prepare.unbc_test_subjects: {missing} not in the UNBC manifest, "
            f"which has subjects {sorted(subjects)}"
        )

    frames = manifest.sort_values(["subject", "sequence", "frame"], kind="stable").reset_index(
        drop=True
    )
    is_test = frames["subject"].isin(cfg.unbc_test_subjects)
    others = frames[~is_test].reset_index(drop=True)
    rng = np.random.default_rng(cfg.seed)
    pool = others.loc[_draw_pool(others, per_class, rng, cfg.unbc_pool_draw)]
    val_idx = _stratified_val(pool, val_size, rng)
    splits = {
        "train": pool.drop(index=val_idx).sort_index().reset_index(drop=True),
        "val": pool.loc[np.sort(val_idx)].reset_index(drop=True),
        "test": frames[is_test].reset_index(drop=True),
    }
    log.info("UNBC split: %s (pool from %d subjects)", _sizes(splits), pool["subject"].nunique())
    return splits


def _draw_pool(
    frames: pd.DataFrame, per_class: int, rng: np.random.Generator, draw: str = "balanced"
) -> list[int]:
    """Index labels of the pool (see split_unbc); raises ValueError if it cannot be filled."""
    queues, order, ranks = _frame_queues(frames, rng)
    if draw == "random":
        # One queue per class over all subjects, in the same (parity tier, random key) order.
        queues = {**queues, **_pooled_queues(queues, ranks)}
    keys = list(zip(frames["subject"], frames["sequence"], frames["frame"].astype(int)))
    chosen, counts, firsts, lacking = _fill(queues, order, keys, per_class)
    if lacking:
        log.warning("UNBC pool: these subjects give no frame of one class: %s", ", ".join(lacking))
    floor = max(firsts.values())
    if per_class < floor:
        raise ValueError(
            f"prepare.unbc_pool_per_class ({per_class}) is below the {floor} subjects outside the "
            f"test set that each give one pain and one no-pain frame; raise it to at least {floor}"
        )
    if counts[PAIN] == counts[NO_PAIN] == per_class:
        return chosen

    def drawable(n: int) -> bool:
        _, got, _, _ = _fill(queues, order, keys, n)
        return got[PAIN] == got[NO_PAIN] == n

    # The largest target this draw can meet, by bisection: fewer pain frames leave more
    # no-pain frames free, so feasibility falls off as the target grows.
    lo, hi = floor - 1, per_class - 1  # lo: drawable (or floor - 1, nothing is)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if drawable(mid) else (lo, mid - 1)
    _, avail, _, _ = _fill(queues, order, keys, None)
    advice = (
        f"lower prepare.unbc_pool_per_class to at most {lo}"
        if lo >= floor
        else f"no target from {floor} (one frame of each class per subject) up can be drawn"
    )
    raise ValueError(
        f"UNBC pool: prepare.unbc_pool_per_class = {per_class} needs {per_class} pain and "
        f"{per_class} no-pain frames, no two consecutive in a sequence, from the {len(order)} "
        f"subjects outside the test set; the data give at most {avail[PAIN]} such pain frames "
        f"(and {avail[NO_PAIN]} no-pain frames beside all of them): {advice}"
    )


def _frame_queues(
    frames: pd.DataFrame, rng: np.random.Generator
) -> tuple[dict[tuple, list[int]], list, pd.DataFrame]:
    """{(subject, label): index labels in draw order}, the subjects in random order, and each
    frame's (_tier, _key) draw rank."""
    seq_keys = list(zip(frames["subject"], frames["sequence"]))
    sequences = sorted(set(seq_keys))
    parity = dict(zip(sequences, rng.integers(0, 2, len(sequences))))
    off_parity = np.array(
        [int(f) % 2 != parity[k] for k, f in zip(seq_keys, frames["frame"])], dtype=int
    )
    ordered = frames.assign(_tier=off_parity, _key=rng.random(len(frames)))
    ordered = ordered.sort_values(["subject", "label", "_tier", "_key"], kind="stable")
    queues = {
        key: list(group.index) for key, group in ordered.groupby(["subject", "label"], sort=True)
    }
    subjects = sorted(set(frames["subject"]))
    order = [subjects[i] for i in rng.permutation(len(subjects))]
    return queues, order, ordered[["_tier", "_key"]]


def _pooled_queues(queues: dict[tuple, list[int]], keys: pd.DataFrame) -> dict[tuple, list[int]]:
    """{(ALL_SUBJECTS, label): every subject's frames of the class, parity tier first, then random
    key}."""
    pooled = {}
    for label in (PAIN, NO_PAIN):
        idx = [i for (subject, lab), q in queues.items() if lab == label for i in q]
        pooled[(ALL_SUBJECTS, label)] = list(
            keys.loc[idx].sort_values(["_tier", "_key"], kind="stable").index
        )
    return pooled


def _fill(
    queues: dict[tuple, list[int]], order: list, keys: list[tuple], per_class: int | None
) -> tuple[list[int], dict[int, int], dict[int, int], list[str]]:
    """Step 2 of split_unbc's draw; per_class None takes every free frame.

    Returns the chosen index labels, frames taken per class, frames taken per class in the
    one-per-subject round, and the subjects that could not give a frame of a class.
    """
    pending = {key: deque(q) for key, q in queues.items()}  # the caller's queues stay intact
    taken: set[tuple] = set()
    chosen: list[int] = []
    counts = {PAIN: 0, NO_PAIN: 0}

    def take_next(subject, label) -> bool:
        queue = pending.get((subject, label))
        while queue:
            i = queue.popleft()
            s, q, f = keys[i]
            # `taken` only grows, so a frame passed over here could never be taken later.
            if (s, q, f - 1) not in taken and (s, q, f) not in taken and (s, q, f + 1) not in taken:
                taken.add((s, q, f))
                chosen.append(i)
                counts[label] += 1
                return True
        return False

    def wanted(label) -> bool:
        return per_class is None or counts[label] < per_class

    firsts, lacking = {}, []
    for label in (PAIN, NO_PAIN):
        for subject in order:
            if not take_next(subject, label):
                lacking.append(f"{subject} (no {'pain' if label == PAIN else 'no-pain'} frame)")
        firsts[label] = counts[label]
        if (ALL_SUBJECTS, label) in pending:
            while wanted(label) and take_next(ALL_SUBJECTS, label):
                pass
            continue
        active = list(order)
        while active and wanted(label):
            active = [s for s in active if wanted(label) and take_next(s, label)]
    return chosen, counts, firsts, lacking


def _stratified_val(pool: pd.DataFrame, val_size: int, rng: np.random.Generator) -> np.ndarray:
    """val_size index labels of pool, apportioned to (label, subject) cells by their size."""
    cells = pool.groupby(["label", "subject"], sort=True).groups
    per_label = _apportion(
        val_size,
        {lab: int((pool["label"] == lab).sum()) for lab in sorted(set(pool["label"]))},
        rng,
    )
    chosen = []
    for lab, n_lab in per_label.items():
        sizes = {key: len(idx) for key, idx in cells.items() if key[0] == lab}
        for key, n in _apportion(n_lab, sizes, rng).items():
            chosen.extend(rng.permutation(np.asarray(cells[key]))[:n])
    return np.asarray(chosen, dtype=int)


def _apportion(total: int, sizes: dict, rng: np.random.Generator) -> dict:
    """Split `total` over keys in proportion to sizes (largest remainder, random tie-break)."""
    keys = list(sizes)
    if not keys or total == 0:
        return {k: 0 for k in keys}
    weight = np.array([sizes[k] for k in keys], dtype=float)
    exact = total * weight / weight.sum()
    base = np.floor(exact).astype(int)
    remainder = exact - base
    extra = total - int(base.sum())
    winners = np.lexsort((rng.random(len(keys)), -remainder))[:extra]
    base[winners] += 1
    assert (base <= weight).all() and base.sum() == total
    return dict(zip(keys, base.tolist()))


# ----------------------------------------------------------------------------- CK+


def split_ckplus(manifest: pd.DataFrame, cfg: PrepareConfig) -> dict[str, pd.DataFrame]:
    """CK+ peak-frame manifest -> {"peak", "peak_mouthless"}.

    peak: the rows as they are. peak_mouthless: the same rows with the bottom
    `cfg.ckplus_mouth_crop_fraction` of each face box cut away (h shrinks by
    round(h * fraction), never below 1 pixel; x, y, w unchanged). The AU5 (upper lid raiser)
    probe uses it because AU5 co-occurs with AU26 (jaw drop): without the mouth a probe
    cannot find AU5 through the open jaw.
    """
    _require_columns(manifest, ("sample_id", "label", "x", "y", "w", "h"), "CK+ manifest")
    peak = manifest.reset_index(drop=True).copy()
    mouthless = peak.copy()
    h = peak["h"].astype(int).to_numpy()
    cut = np.rint(h * cfg.ckplus_mouth_crop_fraction).astype(int)
    mouthless["h"] = np.maximum(1, h - cut)
    return {"peak": peak, "peak_mouthless": mouthless}


# ----------------------------------------------------------------------------- helpers


def class_counts(splits: dict[str, pd.DataFrame], names: tuple[str, ...] = ()) -> dict[str, int]:
    """Flat counts for DVC metrics: `{split}_n` and `{split}_class_{label}` for every split
    (`{split}_class_{name}` where the task's class `names` are given: manifest data).

    Every split lists every label that occurs in any split (zeros included) so the metric
    keys do not change between runs; CK+'s label -1 (no emotion given) is `class_none`.
    """
    labels = sorted({int(v) for df in splits.values() for v in df["label"]})
    out: dict[str, int] = {}
    for name, df in splits.items():
        out[f"{name}_n"] = len(df)
        values = df["label"].astype(int)
        for c in labels:
            key = names[c] if names and 0 <= c < len(names) else c if c >= 0 else "none"
            out[f"{name}_class_{key}"] = int((values == c).sum())
    return out


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; it has {list(df.columns)}")


def _count_skips(skips: Skips, reason: str, rows: pd.DataFrame, describe) -> None:
    """Count every row under `reason`, describing only the first few (the rest are counted)."""
    for r in rows.head(MAX_EXAMPLES).itertuples(index=False):
        skips.add(reason, describe(r))
    if len(rows) > MAX_EXAMPLES:
        skips.counts[reason] += len(rows) - MAX_EXAMPLES


def _sizes(splits: dict[str, pd.DataFrame]) -> str:
    return ", ".join(f"{name} {len(df)}" for name, df in splits.items())


# ----------------------------------------------------------------------------- manifests


def split_task(
    manifest: pd.DataFrame, classes: tuple[str, ...], cfg: PrepareConfig, what: str
) -> dict[str, pd.DataFrame]:
    """A task manifest (task_manifests.read_task_manifest) -> {"train", "val", "test"}.

    With a `split` column the rows go where it says. Otherwise test and then val are drawn,
    stratified by class and seeded by `cfg.seed`: `cfg.manifest_test_fraction` of the rows for
    test and `cfg.manifest_val_fraction` for val, as whole subjects (subject-disjoint splits)
    when every row names its subject, as single rows otherwise; where a class has fewer subjects
    (or rows) than 1 / fraction, the share grows so that each split can hold one of them. The
    draw is one fold of scikit-learn's StratifiedGroupKFold over rows sorted by sample_id, so it
    does not depend on the manifest's row order. A split left without a row of some class is a
    ManifestError.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from auforget.data.task_manifests import ManifestError

    rows = manifest.sort_values("sample_id", kind="stable").reset_index(drop=True)
    if "split" in rows.columns and (rows["split"].astype(str) != "").all():
        assign = rows["split"].astype(str).to_numpy()
    else:
        subjects = rows["subject"].astype(str) if "subject" in rows.columns else None
        by_subject = subjects is not None and bool((subjects != "").all())
        groups = subjects.to_numpy() if by_subject else rows["sample_id"].to_numpy()
        assign = np.full(len(rows), "train", dtype=object)

        def draw(index: np.ndarray, fraction: float, seed: int) -> np.ndarray:
            # one fold per 1/fraction, but no more folds than the rarest class has groups, so
            # that every fold can hold each class (a larger share than asked where groups are few)
            labels_here = rows["label"].to_numpy()[index]
            per_class = [len(set(groups[index][labels_here == c])) for c in set(labels_here)]
            if min(per_class) < 2:
                return index[:0]
            n_splits = min(min(per_class), max(2, int(round(1 / fraction))))
            folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            labels = rows["label"].to_numpy()[index]
            _, chosen = next(folds.split(index, labels, groups[index]))
            return index[chosen]

        everything = np.arange(len(rows))
        test = draw(everything, cfg.manifest_test_fraction, cfg.seed)
        assign[test] = "test"
        rest = everything[assign == "train"]
        share = cfg.manifest_val_fraction / max(1e-9, 1 - cfg.manifest_test_fraction)
        assign[draw(rest, min(0.5, share), cfg.seed + 1)] = "val"
    splits = {s: rows[assign == s].reset_index(drop=True) for s in ("train", "val", "test")}
    for split, frame in splits.items():
        present = set(frame["label"].astype(int))
        for code, name in enumerate(classes):
            if code not in present:
                total = rows[rows["label"] == code]
                who = (
                    f" from {total['subject'].nunique()} subject(s)"
                    if "subject" in rows.columns and (total["subject"] != "").all()
                    else ""
                )
                raise ManifestError(
                    f"{what} manifest: the {split} split has no image of class {name!r} "
                    f"({len(total)} image(s) of it in all{who}); add images or subjects of it, "
                    "or give a split column"
                )
    log.info("%s split: %s", what, _sizes(splits))
    return splits
