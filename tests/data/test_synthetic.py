"""The synthetic datasets: native layouts, true labels, AUs where FACS puts them, determinism."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from auforget.data.faces import Pose, random_identity, render_face
from auforget.data.manifest import box_from_landmarks
from auforget.data.synthetic import (
    AFFECTNET_HEADER,
    EMOTION_AUS,
    PAIN_NUISANCE_AUS,
    UNBC_SUBJECTS,
    _place_face,
    pspi,
    write_affectnet,
    write_ckplus,
    write_synthetic,
    write_unbc,
)

MATLAB_NUMBER = r"\s+-?\d\.\d{7}e[+-]\d{2}"
TEST_SUBJECTS = {"095-tv095", "047-jl047", "109-ib109", "064-ak064"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("synthetic")
    return root, write_synthetic(root, "tiny", seed=0, progress=False)


def read_matrix(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    return np.array([[float(v) for v in line.split()] for line in lines]).reshape(len(lines), -1)


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def max_non_consecutive(flags: list[bool]) -> int:
    """How many flagged frames can be picked with no two adjacent: ceil(run / 2) per run."""
    total = run = 0
    for flag in [*flags, False]:
        if flag:
            run += 1
        else:
            total, run = total + (run + 1) // 2, 0
    return total


# --- the renderer -----------------------------------------------------------------------------

SIZE = (160, 160)
# Where each AU may change pixels: landmark groups grown by (left, top, right, bottom) x interocular
# distance.
BROWS, EYES, NOSE = list(range(17, 27)), list(range(36, 48)), list(range(27, 36))
LOWER_FACE = list(range(31, 36)) + list(range(48, 68)) + [6, 7, 8, 9, 10]
REGIONS = {
    1: (BROWS, (0.1, 0.6, 0.1, 0.1)),
    2: (BROWS, (0.15, 0.6, 0.15, 0.1)),
    4: (BROWS, (0.1, 0.3, 0.1, 0.2)),
    5: (EYES, (0.1, 0.15, 0.1, 0.1)),
    7: (EYES, (0.1, 0.15, 0.1, 0.1)),
    43: (EYES, (0.1, 0.15, 0.1, 0.1)),
    6: (EYES, (0.3, 0.15, 0.3, 0.5)),
    9: (NOSE, (0.15, 0.1, 0.15, 0.1)),
    10: (LOWER_FACE, (0.2, 0.1, 0.2, 0.1)),
    12: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    14: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    15: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    16: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    17: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    20: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    23: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    25: (LOWER_FACE, (0.25, 0.1, 0.25, 0.1)),
    26: (list(range(3, 14)) + LOWER_FACE, (0.1, 0.0, 0.1, 0.1)),
}


def render_pair(seed: int, aus: dict[int, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same face and the same noise, neutral and with `aus`: (neutral, expressive, neutral
    landmarks)."""
    idn = random_identity(np.random.default_rng(seed))
    pose = Pose(0.5, 0.5, 0.26, idn.pose.angle)
    neutral, lm = render_face(idn, {}, SIZE, np.random.default_rng(99), pose)
    expressive, _ = render_face(idn, aus, SIZE, np.random.default_rng(99), pose)
    return np.asarray(neutral, float), np.asarray(expressive, float), lm


def region_mask(lm: np.ndarray, idx: list[int], grow: tuple[float, ...]) -> np.ndarray:
    iod = np.linalg.norm(lm[36] - lm[45])
    (x0, y0), (x1, y1) = lm[idx].min(0), lm[idx].max(0)
    left, top, right, bottom = grow
    mask = np.zeros(SIZE[::-1], bool)
    mask[
        int(y0 - top * iod) : int(y1 + bottom * iod) + 1,
        int(x0 - left * iod) : int(x1 + right * iod) + 1,
    ] = True
    return mask


@pytest.mark.parametrize("au", sorted(REGIONS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_au_changes_pixels_only_in_its_own_region(au, seed):
    neutral, expressive, lm = render_pair(seed, {au: 1.0 if au == 43 else 5.0})
    diff = np.abs(expressive - neutral).sum(axis=2)
    assert (diff > 30).sum() >= 4, f"AU{au} barely changes the image"
    inside = diff[region_mask(lm, *REGIONS[au])].sum() / diff.sum()
    assert inside > 0.85, f"AU{au}: only {inside:.0%} of the change lies in its region"


def test_no_au_changes_nothing():
    neutral, same, _ = render_pair(0, {})
    assert np.array_equal(neutral, same)


@pytest.mark.parametrize("au", [1, 5, 12, 14, 26])
def test_intensity_is_graded(au):
    neutral = render_pair(3, {})[0]
    change = [np.abs(render_pair(3, {au: v})[1] - neutral).sum() for v in (1, 3, 5)]
    assert change[0] < change[1] < change[2]


def test_au14_is_one_sided_and_lip_corner_puller_is_not():
    for seed in range(4):
        idn = random_identity(np.random.default_rng(seed))
        for au, one_sided in ((14, True), (12, False)):
            neutral, expressive, lm = render_pair(seed, {au: 5.0})
            diff = np.abs(expressive - neutral).sum(axis=2)
            midline = lm[27:31, 0].mean()
            right = diff[:, int(round(midline)) :].sum() / diff.sum()
            share = right if idn.au14_side == 1 else 1 - right
            if one_sided:
                assert share > 0.9, f"seed {seed}: AU14 puts only {share:.0%} on its side"
            else:
                assert 0.3 < share < 0.7, f"seed {seed}: AU12 is lopsided ({share:.0%})"


@pytest.mark.parametrize("au", sorted({au for aus in EMOTION_AUS.values() for au in aus}))
def test_prototype_aus_are_visible_at_the_model_input_size(au):
    """Every AU an emotion is drawn with changes the 64 px face the small model sees by at least
    1000 grey levels over at least 6 pixels (mean of four faces at intensity 3); AU14, contempt's
    only AU, once changed 700 over 6 and the model could not learn contempt."""
    mass, pixels = [], []
    for seed in range(4):
        idn = random_identity(np.random.default_rng(seed))
        pose = _place_face(idn, {}, (120, 120), 90, np.random.default_rng(seed))
        neutral, lm = render_face(idn, {}, (120, 120), np.random.default_rng(9), pose)
        expressive, _ = render_face(idn, {au: 3.0}, (120, 120), np.random.default_rng(9), pose)
        x, y, w, h = box_from_landmarks(lm, 120, 120)
        box = (x, y, x + w, y + h)
        crops = [
            np.asarray(img.resize((64, 64), Image.BILINEAR, box=box), float)
            for img in (expressive, neutral)
        ]
        diff = np.abs(crops[0] - crops[1]).sum(axis=2)
        mass.append(diff.sum())
        pixels.append((diff > 30).sum())
    assert np.mean(mass) >= 1000 and np.mean(pixels) >= 6, (
        f"AU{au}: {np.mean(mass):.0f} over {np.mean(pixels):.1f} px"
    )


def test_landmarks_are_where_the_face_is_drawn():
    """Below the teeth of an open mouth it is dark, the iris is in the eye, and all points lie in
    the image."""
    for seed in range(5):
        idn = random_identity(np.random.default_rng(seed))
        img, lm = render_face(idn, {26: 5.0, 25: 5.0}, (140, 120), np.random.default_rng(seed))
        assert lm.shape == (68, 2)
        assert (lm >= 0).all() and (lm[:, 0] < 140).all() and (lm[:, 1] < 120).all()
        grey = np.asarray(img.convert("L"), float)
        at = lambda p: np.median(grey[int(p[1]) - 1 : int(p[1]) + 2, int(p[0]) - 1 : int(p[0]) + 2])  # noqa: E731
        cheek = at((lm[2] + lm[31]) / 2)
        mouth = at(0.2 * lm[62] + 0.8 * lm[66])
        assert mouth < 0.6 * cheek, f"seed {seed}: inside the mouth {mouth} vs cheek {cheek}"
        mask = Image.new("L", img.size)
        ImageDraw.Draw(mask).polygon([tuple(p) for p in lm[36:42]], fill=255)
        eye = grey[np.asarray(mask) > 0]
        assert eye.min() < 0.5 * cheek  # the pupil is inside the landmark eye outline


def test_emotion_prototypes_use_rendered_aus():
    assert set(EMOTION_AUS) == set(range(8)) and EMOTION_AUS[0] == {}
    assert set(EMOTION_AUS[1]) >= {6, 12} and set(EMOTION_AUS[7]) == {14}
    assert set(EMOTION_AUS[3]) >= {1, 2, 5, 26} and set(EMOTION_AUS[6]) >= {4, 5, 7, 23}


# --- the layouts ------------------------------------------------------------------------------


def test_counts_match_the_tiny_scale(tiny):
    root, counts = tiny
    assert counts["affectnet_images"] == len(
        list((root / "affectnet" / "Manually_Annotated_Images").rglob("*.*"))
    )
    assert counts["unbc_frames"] == len(list((root / "unbc" / "Images").rglob("*.png")))
    assert counts["ckplus_images"] == len(
        list((root / "ckplus" / "cohn-kanade-images").rglob("*.png"))
    )
    assert counts["ckplus_sequences"] == len(list((root / "ckplus" / "FACS").rglob("*_facs.txt")))
    assert (
        sum(
            v
            for k, v in counts.items()
            if k in ("affectnet_images", "unbc_frames", "ckplus_images")
        )
        < 1000
    )


def test_affectnet_csv_layout(tiny):
    root = tiny[0] / "affectnet"
    lists = root / "Manually_Annotated_file_lists"
    for split, least in (("training", 12), ("validation", 4)):
        lines = (lists / f"{split}.csv").read_text().splitlines()
        assert lines[0] == AFFECTNET_HEADER
        table = pd.read_csv(lists / f"{split}.csv")
        per_class = table[table.expression < 8].expression.value_counts()
        assert sorted(per_class.index) == list(range(8)) and per_class.min() >= least
        if split == "validation":
            assert per_class.nunique() == 1
        assert {8, 9, 10} <= set(table.expression)
        assert (table[table.expression >= 9][["valence", "arousal"]] == -2).all().all()
        assert table[table.expression < 8].valence.between(-1, 1).all()
        for row in table.itertuples():
            points = np.array([float(v) for v in row.facial_landmarks.split(";")]).reshape(-1, 2)
            assert points.shape == (68, 2)
            with Image.open(root / "Manually_Annotated_Images" / row.subDirectory_filePath) as img:
                w, h = img.size
            assert (
                0 <= row.face_x
                and row.face_x + row.face_width <= w
                and row.face_y + row.face_height <= h
            )
            assert (points >= 0).all() and (points[:, 0] < w).all() and (points[:, 1] < h).all()
    extensions = {p.suffix for p in (root / "Manually_Annotated_Images").rglob("*.*")}
    assert extensions >= {".jpg", ".png"} and len(extensions) >= 3


def test_affectnet_8labels_and_folder_layouts(tmp_path):
    truth = write_affectnet(
        tmp_path / "b", layout="8labels", n_train_per_class=2, n_val_per_class=1, seed=0
    )
    assert len(truth) == 24 and set(truth.expression) == set(range(8))
    for row in truth.itertuples():
        image_id = Path(row.path).stem
        folder = "train_set" if row.split == "training" else "val_set"
        assert row.path == f"{folder}/images/{image_id}.jpg"
        exp = np.load(tmp_path / "b" / folder / "annotations" / f"{image_id}_exp.npy")
        assert exp.shape == () and exp.dtype.kind == "U" and int(exp) == row.expression
        assert (
            -1
            <= float(np.load(tmp_path / "b" / folder / "annotations" / f"{image_id}_val.npy"))
            <= 1
        )
        assert np.load(tmp_path / "b" / folder / "annotations" / f"{image_id}_lnd.npy").shape == (
            136,
        )
        with Image.open(tmp_path / "b" / row.path) as img:
            assert img.size[0] == img.size[1]
    named = write_affectnet(
        tmp_path / "c",
        layout="folders",
        n_train_per_class=1,
        n_val_per_class=1,
        seed=0,
        class_folders="names",
    )
    assert {Path(p).parts[0] for p in named.path} == {"train", "val"}
    assert {Path(p).parts[1] for p in named.path} == {
        "neutral",
        "happy",
        "sad",
        "surprise",
        "fear",
        "disgust",
        "anger",
        "contempt",
    }
    numeric = write_affectnet(
        tmp_path / "d", layout="folders", n_train_per_class=1, n_val_per_class=1, seed=0
    )
    assert all(Path(p).parts[1] == str(e) for p, e in zip(numeric.path, numeric.expression))


def test_unbc_layout_and_pspi(tiny):
    root = tiny[0] / "unbc"
    assert sorted(p.name for p in (root / "Images").iterdir()) == sorted(UNBC_SUBJECTS)
    frames = sorted((root / "Images").rglob("*.png"))
    sizes, rows = set(), []
    for image in frames:
        subject, sequence = image.parts[-3], image.parts[-2]
        assert re.fullmatch(rf"{subject[4:6]}{subject[:3]}t\d[ap][aefi](un)?aff", sequence)
        assert re.fullmatch(rf"{sequence}\d{{3}}\.png", image.name)
        stem = f"{subject}/{sequence}/{image.stem}"
        aam = root / "AAM_landmarks" / f"{stem}_aam.txt"
        assert all(re.fullmatch(MATLAB_NUMBER * 2, line) for line in aam.read_text().splitlines())
        assert read_matrix(aam).shape == (66, 2)
        facs_text = (root / "Frame_Labels" / "FACS" / f"{stem}_facs.txt").read_text()
        aus = {}
        for line in facs_text.splitlines():
            assert re.fullmatch(MATLAB_NUMBER * 4, line)
            au, intensity, _, _ = (float(v) for v in line.split())
            aus[int(au)] = intensity
        pspi_text = (root / "Frame_Labels" / "PSPI" / f"{stem}_facs.txt").read_text()
        assert re.fullmatch(MATLAB_NUMBER + "\n", pspi_text)
        g = lambda au: aus.get(au, 0.0)  # noqa: E731
        assert float(pspi_text) == g(4) + max(g(6), g(7)) + max(g(9), g(10)) + g(43), stem
        with Image.open(image) as img:
            sizes.add(img.size)
            assert (read_matrix(aam) < img.size).all()
        rows.append((subject, sequence, int(image.stem[-3:]), float(pspi_text)))
    assert len(sizes) > 1
    table = pd.DataFrame(rows, columns=["subject", "sequence", "frame", "pspi"])
    pool = table[~table.subject.isin(TEST_SUBJECTS)]
    pain = no_pain = 0
    for _, seq in pool.sort_values("frame").groupby(["subject", "sequence"]):
        pain += max_non_consecutive(list(seq.pspi > 0))
        no_pain += max_non_consecutive(list(seq.pspi == 0))
    assert pain >= 20 and no_pain >= 20
    both = pool.groupby("subject").pspi.agg(lambda p: (p > 0).any() and (p == 0).any())
    assert both.all() and len(both) == 21
    for scale in ("AFF", "OPR", "SEN", "VAS"):
        labels = list((root / "Sequence_Labels" / scale).rglob("*.txt"))
        assert len(labels) == table.groupby(["subject", "sequence"]).ngroups
        assert re.fullmatch(MATLAB_NUMBER + "\n", labels[0].read_text())


def test_unbc_smirk_carries_no_information_about_pain():
    """The planted reason to forget AU14: in UNBC it is as common in pain frames as in no-pain
    frames (drawn per frame from the demo's sequence length and all 25 pain styles)."""
    from auforget.data.synthetic import _pain_sequence, _pain_style

    with_au = {True: [], False: []}
    for subject in range(25):
        rng = np.random.default_rng([7, subject])
        style = _pain_style(rng)
        for q in range(6):
            for aus in _pain_sequence(24, style, rng, q == 0, q % 2 == 0):
                with_au[pspi(aus) > 0].append(all(au in aus for au in PAIN_NUISANCE_AUS))
    in_pain, without = np.mean(with_au[True]), np.mean(with_au[False])
    assert min(len(with_au[True]), len(with_au[False])) > 1000
    assert 0.2 < in_pain < 0.5 and abs(in_pain - without) < 0.05, (in_pain, without)


def test_ckplus_layout(tiny):
    root = tiny[0] / "ckplus"
    sequences = sorted(p for p in (root / "cohn-kanade-images").glob("S*/*") if p.is_dir())
    assert len(sequences) >= 8
    with_au = {5: 0, 14: 0, (5, 26): 0}
    grey = colour = emotions = 0
    for folder in sequences:
        subject, sequence = folder.parts[-2], folder.parts[-1]
        images = sorted(folder.glob("*.png"))
        assert [p.name for p in images] == [
            f"{subject}_{sequence}_{k:08d}.png" for k in range(1, len(images) + 1)
        ]
        for image in images:
            marks = root / "Landmarks" / subject / sequence / f"{image.stem}_landmarks.txt"
            assert all(
                re.fullmatch(MATLAB_NUMBER * 2, line) for line in marks.read_text().splitlines()
            )
            assert read_matrix(marks).shape == (68, 2)
        facs = list((root / "FACS" / subject / sequence).glob("*_facs.txt"))
        assert [p.name for p in facs] == [f"{images[-1].stem}_facs.txt"]
        aus = {int(row[0]): row[1] for row in read_matrix(facs[0])}
        assert aus and all(0 <= v <= 5 for v in aus.values())
        with_au[5] += 5 in aus
        with_au[14] += 14 in aus
        with_au[(5, 26)] += 5 in aus and 26 in aus
        emotion = list((root / "Emotion" / subject / sequence).glob("*_emotion.txt"))
        if emotion:
            assert emotion[0].name == f"{images[-1].stem}_emotion.txt"
            assert float(emotion[0].read_text()) in range(1, 8)
            emotions += 1
        with Image.open(images[0]) as img:
            grey, colour = grey + (img.mode == "L"), colour + (img.mode == "RGB")
    assert with_au[14] >= 8 and with_au[5] >= 8 and with_au[(5, 26)] > with_au[5] / 2
    assert 0.3 < emotions / len(sequences) < 0.8
    assert grey > colour


def test_ckplus_sequences_ramp_from_neutral_to_peak(tmp_path):
    truth = write_ckplus(
        tmp_path, n_subjects=2, sequences_per_subject=2, frames_per_sequence=5, seed=3
    )
    for row in truth.itertuples():
        folder = tmp_path / "cohn-kanade-images" / row.subject / row.sequence
        frames = [
            np.asarray(Image.open(p).convert("L"), float) for p in sorted(folder.glob("*.png"))
        ]
        change = [np.abs(f - frames[0]).mean() for f in frames]
        assert change[-1] > change[1] > 0, row.kind


# --- determinism and arguments ----------------------------------------------------------------


def test_same_seed_same_bytes_whatever_the_worker_count(tmp_path):
    kw = {"n_subjects": 3, "sequences_per_subject": 2, "frames_per_sequence": 3}
    write_ckplus(tmp_path / "a", seed=1, workers=1, **kw)
    write_ckplus(tmp_path / "b", seed=1, workers=2, **kw)
    write_ckplus(tmp_path / "c", seed=2, workers=1, **kw)
    write_affectnet(tmp_path / "a2", n_train_per_class=4, n_val_per_class=1, seed=1, workers=1)
    write_affectnet(tmp_path / "b2", n_train_per_class=4, n_val_per_class=1, seed=1, workers=2)
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a == b and len(a) > 30
    assert tree_digest(tmp_path / "a2") == tree_digest(tmp_path / "b2")
    assert a != tree_digest(tmp_path / "c")


def test_unbc_is_deterministic(tmp_path):
    first = write_unbc(
        tmp_path / "a", sequences_per_subject=1, frames_per_sequence=2, seed=5, workers=1
    )
    second = write_unbc(
        tmp_path / "b", sequences_per_subject=1, frames_per_sequence=2, seed=5, workers=2
    )
    assert first.equals(second)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    other = write_unbc(
        tmp_path / "c", sequences_per_subject=1, frames_per_sequence=2, seed=6, workers=1
    )
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c") and not first.equals(other)


def test_bad_arguments_name_the_choices(tmp_path):
    with pytest.raises(ValueError, match="tiny"):
        write_synthetic(tmp_path, scale="huge")
    with pytest.raises(ValueError, match="8labels"):
        write_affectnet(tmp_path, layout="lmdb", n_train_per_class=1, n_val_per_class=1, seed=0)
    with pytest.raises(ValueError, match="names"):
        write_affectnet(
            tmp_path,
            layout="folders",
            n_train_per_class=1,
            n_val_per_class=1,
            seed=0,
            class_folders="letters",
        )
    with pytest.raises(ValueError, match="frames_per_sequence"):
        write_ckplus(tmp_path, n_subjects=1, sequences_per_subject=1, frames_per_sequence=1, seed=0)


def test_au14_pulls_its_corner_in_by_default_and_out_with_synth_au14_pull_outward():
    """synth.au14_pull: the default pulls the corner toward the midline, as FACS describes the
    dimpler; outward keeps the drawing of every study before 2026-12-07 (out and up, as AU12 and
    AU20 move it). Either way the same person, and only AU14's corner, moves."""
    from dataclasses import replace

    from auforget.core.config import SynthConfig
    from auforget.data.faces import CORNER, landmarks

    for seed in range(3):
        idn = random_identity(np.random.default_rng(seed))
        s = idn.au14_side
        corner = CORNER[s][0]
        rest = landmarks(idn, {})
        out = landmarks(idn, {14: 5.0}) - rest
        inward = landmarks(replace(idn, au14_inward=True), {14: 5.0}) - rest
        assert s * out[corner, 0] > 0 > s * inward[corner, 0]  # x away from / toward the midline
        assert out[corner, 1] < 0 and inward[corner, 1] == out[corner, 1]  # up, both ways
        assert np.array_equal(landmarks(replace(idn, au14_inward=True), {}), rest)
        assert np.array_equal(out[CORNER[-s][0]], inward[CORNER[-s][0]])  # the other side alike
    assert SynthConfig().au14_inward and not SynthConfig(au14_pull="outward").au14_inward
    with pytest.raises(ValueError, match="synth.au14_pull"):
        SynthConfig(au14_pull="sideways")
    with pytest.raises(ValueError, match="paper world only"):
        SynthConfig(world="fatigue", au14_pull="inward")
