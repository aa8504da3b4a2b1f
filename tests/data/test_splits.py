import logging
import re

import numpy as np
import pandas as pd
import pytest

from auforget.core.config import PrepareConfig
from auforget.data.splits import class_counts, split_affectnet, split_ckplus, split_unbc

TEST_SUBJECTS = ("095-tv095", "047-jl047")
POOL_SUBJECTS = ("042-ll042", "043-jh043", "048-aa048", "049-bm049", "052-dr052", "059-fn059")


def base_row(sample_id, path, label, w=100, h=100):
    return dict(sample_id=sample_id, path=path, label=label, x=10, y=20, w=w, h=h, landmarks="")


# ----------------------------------------------------------------------------- UNBC


def unbc_manifest(subjects=TEST_SUBJECTS + POOL_SUBJECTS, n_frames=60, seed=0):
    """Two sequences per subject; pain in runs of varying length, adjacent to no-pain frames."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in subjects:
        code = subject.split("-")[1]
        for t in (1, 2):
            sequence = f"{code}t{t}aaaff"
            start = int(rng.integers(5, 25))
            stop = start + int(rng.integers(8, 25))
            for frame in range(1, n_frames + 1):
                pspi = float(rng.integers(1, 6)) if start <= frame < stop else 0.0
                row = base_row(
                    f"{sequence}{frame:03d}",
                    f"Images/{subject}/{sequence}/{sequence}{frame:03d}.png",
                    int(pspi > 0),
                )
                row.update(subject=subject, sequence=sequence, frame=frame, pspi=pspi, aus="")
                rows.append(row)
    return pd.DataFrame(rows)


def unbc_cfg(**kw):
    base = dict(unbc_test_subjects=TEST_SUBJECTS, unbc_pool_per_class=30, unbc_val_size=10)
    return PrepareConfig(**{**base, **kw})


def consecutive_pairs(df):
    pairs = 0
    for _, group in df.groupby(["subject", "sequence"]):
        frames = np.sort(group["frame"].to_numpy())
        pairs += int((np.diff(frames) <= 1).sum())
    return pairs


@pytest.fixture
def unbc():
    return unbc_manifest()


def test_unbc_test_set_is_every_frame_of_the_test_subjects(unbc):
    splits = split_unbc(unbc, unbc_cfg())
    assert set(splits["test"]["subject"]) == set(TEST_SUBJECTS)
    assert len(splits["test"]) == unbc["subject"].isin(TEST_SUBJECTS).sum()
    pool = pd.concat([splits["train"], splits["val"]])
    assert not set(pool["subject"]) & set(TEST_SUBJECTS)


def test_unbc_pool_is_balanced_and_has_no_consecutive_frames(unbc):
    cfg = unbc_cfg()
    splits = split_unbc(unbc, cfg)
    pool = pd.concat([splits["train"], splits["val"]])
    assert pool["label"].value_counts().to_dict() == {0: 30, 1: 30}
    assert pool["sample_id"].is_unique
    # The data put pain runs right next to no-pain frames, so this checks across classes too.
    assert consecutive_pairs(pool) == 0


def test_unbc_every_pool_subject_gives_one_of_each_class(unbc):
    pool = pd.concat(split_unbc(unbc, unbc_cfg(unbc_pool_per_class=6, unbc_val_size=4)).values())
    pool = pool[~pool["subject"].isin(TEST_SUBJECTS)]
    per_subject = pool.groupby("subject")["label"].agg(["min", "max"])
    assert set(per_subject.index) == set(POOL_SUBJECTS)
    assert (per_subject["min"] == 0).all() and (per_subject["max"] == 1).all()


@pytest.mark.parametrize("draw", ["balanced", "random"])
def test_unbc_both_draws_keep_the_papers_constraints(draw):
    big = POOL_SUBJECTS[0]
    manifest = pd.concat(
        [
            unbc_manifest(TEST_SUBJECTS + POOL_SUBJECTS[1:]),
            unbc_manifest((big,), n_frames=400, seed=1),
        ]
    )
    pool = pd.concat(
        [split_unbc(manifest, unbc_cfg(unbc_pool_draw=draw))[s] for s in ("train", "val")]
    )
    assert pool["label"].value_counts().to_dict() == {0: 30, 1: 30}
    assert consecutive_pairs(pool) == 0
    per_subject = pool.groupby("subject")["label"].agg(["min", "max"])
    assert set(per_subject.index) == set(POOL_SUBJECTS)
    assert (per_subject["min"] == 0).all() and (per_subject["max"] == 1).all()


def test_unbc_random_draw_follows_the_frames_and_balanced_spreads_over_subjects():
    # One subject has 400-frame sequences, the others 60: it holds about 55 % of the no-pain
    # frames. The random draw should give it about that share of the 30 no-pain frames (each
    # subject's guaranteed first frame aside); the balanced draw gives it about one sixth.
    big = POOL_SUBJECTS[0]
    manifest = pd.concat(
        [
            unbc_manifest(TEST_SUBJECTS + POOL_SUBJECTS[1:]),
            unbc_manifest((big,), n_frames=400, seed=1),
        ]
    )
    share = {}
    for draw in ("balanced", "random"):
        pool = pd.concat(
            [
                split_unbc(manifest, unbc_cfg(unbc_pool_draw=draw, seed=s))[n]
                for s in range(5)
                for n in ("train", "val")
            ]
        )
        no_pain = pool[pool["label"] == 0]
        share[draw] = float((no_pain["subject"] == big).mean())
    assert share["balanced"] < 0.25 < 0.4 < share["random"]


def test_unbc_val_size_and_stratification(unbc):
    splits = split_unbc(unbc, unbc_cfg(unbc_val_size=12))
    assert len(splits["val"]) == 12
    assert splits["val"]["label"].value_counts().to_dict() == {0: 6, 1: 6}
    assert len(splits["train"]) == 60 - 12
    assert not set(splits["train"]["sample_id"]) & set(splits["val"]["sample_id"])
    assert splits["val"]["subject"].nunique() >= 4  # spread, not one subject's frames


def test_unbc_is_deterministic_by_seed(unbc):
    a = split_unbc(unbc, unbc_cfg(seed=3))
    shuffled = unbc.sample(frac=1.0, random_state=1)  # the reader's row order does not matter
    b = split_unbc(shuffled, unbc_cfg(seed=3))
    c = split_unbc(unbc, unbc_cfg(seed=4))
    for name in ("train", "val", "test"):
        assert a[name]["sample_id"].tolist() == b[name]["sample_id"].tolist()
    assert set(a["train"]["sample_id"]) != set(c["train"]["sample_id"])


def test_unbc_missing_test_subject_is_named(unbc):
    with pytest.raises(ValueError, match="123-jh123"):
        split_unbc(unbc, unbc_cfg(unbc_test_subjects=("095-tv095", "123-jh123")))


def test_unbc_impossible_pool_says_what_is_available_and_the_limit_works():
    # Per subject: sequence "a" has pain on every third frame (each pain frame isolated, so
    # all 3 x 7 = 21 can be drawn), sequence "b" is 10 no-pain frames.
    rows = []
    for subject in TEST_SUBJECTS + POOL_SUBJECTS[:3]:
        for sequence, n in (("a", 21), ("b", 10)):
            for frame in range(1, n + 1):
                label = int(sequence == "a" and frame % 3 == 0)
                row = base_row(
                    f"{subject}{sequence}{frame}", f"{subject}/{sequence}/{frame}.png", label
                )
                row.update(subject=subject, sequence=f"{subject}{sequence}", frame=frame)
                rows.append(row)
    manifest = pd.DataFrame(rows)
    with pytest.raises(ValueError, match="unbc_pool_per_class") as err:
        split_unbc(manifest, unbc_cfg(unbc_pool_per_class=40, unbc_val_size=4))
    message = str(err.value)
    assert "at most 21 such pain frames" in message
    limit = int(re.search(r"unbc_pool_per_class to at most (\d+)", message).group(1))
    assert 15 <= limit <= 21  # sequence b alone gives 5 no-pain frames per subject
    splits = split_unbc(manifest, unbc_cfg(unbc_pool_per_class=limit, unbc_val_size=4))
    pool = pd.concat([splits["train"], splits["val"]])
    assert pool["label"].value_counts().to_dict() == {0: limit, 1: limit}
    assert consecutive_pairs(pool) == 0
    with pytest.raises(ValueError, match="unbc_pool_per_class"):
        split_unbc(manifest, unbc_cfg(unbc_pool_per_class=limit + 1, unbc_val_size=4))


def test_unbc_subject_without_pain_is_warned_about(unbc, caplog):
    no_pain = unbc["subject"] == POOL_SUBJECTS[0]
    unbc.loc[no_pain, "label"] = 0
    with caplog.at_level(logging.WARNING, logger="auforget.data.splits"):
        splits = split_unbc(unbc, unbc_cfg())
    assert POOL_SUBJECTS[0] in caplog.text and "pain" in caplog.text
    assert pd.concat([splits["train"], splits["val"]])["label"].sum() == 30


def test_unbc_pool_smaller_than_subject_count_is_an_error(unbc):
    with pytest.raises(ValueError, match="at least 6"):
        split_unbc(unbc, unbc_cfg(unbc_pool_per_class=3, unbc_val_size=2))


# ----------------------------------------------------------------------------- AffectNet


def affectnet_manifest():
    rows = []
    sizes = {c: 40 + 10 * c for c in range(11)}
    sizes[7] = 2  # a class with two training rows still gets one val row
    for split, per_class in (("training", sizes), ("validation", {c: 5 for c in range(11)})):
        for c, n in per_class.items():
            for i in range(n):
                sid = f"{split[0]}{c:02d}{i:03d}"
                row = base_row(sid, f"Manually_Annotated_Images/{c}/{sid}.jpg", c)
                row.update(source_split=split, expression=c, valence=0.1, arousal=0.2)
                rows.append(row)
    return pd.DataFrame(rows), sizes


def test_affectnet_test_is_the_official_validation_set_without_dropped_classes():
    manifest, _ = affectnet_manifest()
    splits, skips = split_affectnet(manifest, PrepareConfig(affectnet_val_fraction=0.1))
    expected = manifest[(manifest["source_split"] == "validation") & (manifest["label"] <= 7)]
    assert sorted(splits["test"]["sample_id"]) == sorted(expected["sample_id"])
    assert (
        skips.counts["class_not_kept"] == (manifest["label"] >= 8).sum() == (40 * 3 + 10 * 27 + 15)
    )
    for df in splits.values():
        assert df["label"].between(0, 7).all()


def test_affectnet_train_val_are_stratified_by_class():
    manifest, sizes = affectnet_manifest()
    splits, _ = split_affectnet(manifest, PrepareConfig(affectnet_val_fraction=0.1))
    val = splits["val"]["label"].value_counts()
    train = splits["train"]["label"].value_counts()
    for c in range(7):
        assert abs(val[c] - 0.1 * sizes[c]) <= 1
        assert val[c] + train[c] == sizes[c]
    assert val[7] == 1 and train[7] == 1
    assert not set(splits["train"]["sample_id"]) & set(splits["val"]["sample_id"])
    assert (splits["val"]["source_split"] == "training").all()


def test_affectnet_keeps_only_configured_classes():
    manifest, sizes = affectnet_manifest()
    splits, skips = split_affectnet(manifest, PrepareConfig(affectnet_classes=(0, 1)))
    assert set(pd.concat(splits.values())["label"]) == {0, 1}
    assert skips.counts["class_not_kept"] == len(manifest) - sizes[0] - sizes[1] - 10


def test_affectnet_train_cap_is_counted_and_leaves_val_alone():
    manifest, sizes = affectnet_manifest()
    cfg = PrepareConfig(affectnet_val_fraction=0.1, affectnet_max_train_per_class=50)
    splits, skips = split_affectnet(manifest, cfg)
    uncapped, _ = split_affectnet(manifest, PrepareConfig(affectnet_val_fraction=0.1))
    train = splits["train"]["label"].value_counts()
    assert train.max() == 50
    assert skips.counts["over_train_cap"] == len(uncapped["train"]) - len(splits["train"]) > 0
    assert splits["val"]["sample_id"].tolist() == uncapped["val"]["sample_id"].tolist()


def test_affectnet_is_deterministic_by_seed():
    manifest, _ = affectnet_manifest()
    a, _ = split_affectnet(manifest, PrepareConfig(seed=1))
    b, _ = split_affectnet(manifest.iloc[::-1], PrepareConfig(seed=1))
    c, _ = split_affectnet(manifest, PrepareConfig(seed=2))
    assert a["val"]["sample_id"].tolist() == b["val"]["sample_id"].tolist()
    assert a["val"]["sample_id"].tolist() != c["val"]["sample_id"].tolist()


def test_affectnet_unknown_source_split_is_an_error():
    manifest, _ = affectnet_manifest()
    manifest.loc[0, "source_split"] = "train"
    with pytest.raises(ValueError, match="'train'"):
        split_affectnet(manifest, PrepareConfig())


# ----------------------------------------------------------------------------- CK+ and counts


def test_ckplus_mouthless_box_is_shorter_by_the_fraction():
    manifest = pd.DataFrame(
        [base_row(f"S{i:03d}_001", f"S{i:03d}.png", i % 3 - 1, h=100 + i) for i in range(5)]
    )
    splits = split_ckplus(manifest, PrepareConfig(ckplus_mouth_crop_fraction=0.4))
    pd.testing.assert_frame_equal(splits["peak"], manifest)
    cut = splits["peak_mouthless"]
    assert (cut["h"] == manifest["h"] - np.rint(manifest["h"] * 0.4).astype(int)).all()
    assert cut["h"].iloc[0] == 60
    assert (cut[["x", "y", "w"]] == manifest[["x", "y", "w"]]).all().all()
    assert manifest["h"].iloc[0] == 100  # the input is left alone


def test_class_counts_is_flat_and_lists_every_label_in_every_split():
    splits = {
        "train": pd.DataFrame({"label": [0, 0, 1]}),
        "val": pd.DataFrame({"label": [1]}),
        "peak": pd.DataFrame({"label": [-1]}),
    }
    assert class_counts(splits) == {
        "train_n": 3,
        "train_class_none": 0,
        "train_class_0": 2,
        "train_class_1": 1,
        "val_n": 1,
        "val_class_none": 0,
        "val_class_0": 0,
        "val_class_1": 1,
        "peak_n": 1,
        "peak_class_none": 1,
        "peak_class_0": 0,
        "peak_class_1": 0,
    }
