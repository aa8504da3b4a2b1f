import importlib.util

import pytest

from auforget.data.ckplus import read_ckplus
from auforget.data.manifest import (
    BASE_COLUMNS,
    DatasetLayoutError,
    box_from_landmarks,
    parse_aus,
    parse_landmarks,
)

COLUMNS = list(BASE_COLUMNS) + ["subject", "sequence", "frame", "aus", "emotion"]


def write_sequence(
    tree,
    subject,
    sequence,
    n_frames=3,
    aus=((9, 4.0),),
    emotion=None,
    size=(40, 30),
    peak_points=68,
    skip=(),
    seed=0,
):
    """A sequence: every frame an image and 68 landmarks; FACS (and Emotion) on the last frame."""
    seq = f"{subject}/{sequence}"
    for frame in range(1, n_frames + 1):
        stem = f"{subject}_{sequence}_{frame:08d}"
        if "image" not in skip:
            tree.image(f"cohn-kanade-images/{seq}/{stem}.png", size=size, fmt="PNG")
        n = peak_points if frame == n_frames else 68
        if not (frame == n_frames and "landmarks" in skip):
            tree.text(
                f"Landmarks/{seq}/{stem}_landmarks.txt",
                tree.points_text(tree.face_points(n, *size, seed=seed + frame)),
            )
    peak = f"{seq}/{subject}_{sequence}_{n_frames:08d}"
    if "facs" not in skip:
        tree.text(f"FACS/{peak}_facs.txt", "".join(tree.matlab(au, i) for au, i in aus))
    if emotion is not None:
        tree.text(f"Emotion/{peak}_emotion.txt", tree.matlab(emotion))
    return peak


def good_tree(tree):
    write_sequence(tree, "S005", "001", n_frames=3, aus=[(9, 4.0), (17, 0.0), (1, 2.0)], emotion=3)
    write_sequence(tree, "S005", "002", n_frames=2, aus=[(14, 1.0)], seed=5)  # no Emotion: -1
    write_sequence(
        tree, "S010", "001", n_frames=4, aus=[(5, 3.0), (26, 0.0)], emotion=7, size=(64, 48), seed=9
    )
    tree.text("Emotion/S005/002/.DS_Store", "junk")  # an "empty" folder
    tree.text("cohn-kanade-images/S005/001/.DS_Store", "junk")
    tree.text(".DS_Store", "junk")
    return tree.root


def test_reads_one_peak_frame_per_sequence(tree):
    result = read_ckplus(good_tree(tree))
    m = result.manifest
    assert result.layout == "ckplus"
    assert list(m.columns) == COLUMNS
    assert len(m) == 3 and result.skipped.total == 0
    assert list(m.path) == [
        "cohn-kanade-images/S005/001/S005_001_00000003.png",
        "cohn-kanade-images/S005/002/S005_002_00000002.png",
        "cohn-kanade-images/S010/001/S010_001_00000004.png",
    ]
    assert list(m.subject) == ["S005", "S005", "S010"]
    assert list(m.sequence) == ["001", "002", "001"]
    assert list(m.frame) == [3, 2, 4]
    assert list(m.emotion) == [3, -1, 7] and list(m.label) == [3, -1, 7]
    assert list(m.aus) == ["1:2;9:4;17:0", "14:1", "5:3;26:0"]
    assert parse_aus(m.aus[0]) == {1: 2.0, 9: 4.0, 17: 0.0}  # intensity 0: present, not graded
    for i, size in [(0, (40, 30)), (2, (64, 48))]:
        points = parse_landmarks(m.landmarks[i])
        assert points.shape == (68, 2)
        assert tuple(m.loc[i, ["x", "y", "w", "h"]]) == box_from_landmarks(points, *size)


def test_every_bad_sequence_is_counted_with_its_file(tree):
    good_tree(tree)
    write_sequence(tree, "S011", "001", skip=("facs",))  # missing_facs
    write_sequence(tree, "S011", "002", skip=("landmarks",))  # missing_landmarks
    write_sequence(tree, "S011", "003", peak_points=67)  # bad_landmark_count
    peak = write_sequence(tree, "S011", "004", emotion=2)
    tree.text(f"Emotion/{peak}_emotion.txt", "")  # empty_label_file
    peak5 = write_sequence(tree, "S011", "005")
    tree.text(f"cohn-kanade-images/{peak5}.png", "not a png")  # unreadable_image
    peak6 = write_sequence(tree, "S011", "006")
    tree.text(f"FACS/{peak6}_facs.txt", "   9.0000000e+00   x\n")  # malformed_label_file
    write_sequence(tree, "S099", "001", skip=("image",))  # FACS without images
    result = read_ckplus(tree.root)
    assert len(result.manifest) == 3
    assert dict(result.skipped.counts) == {
        "missing_facs": 1,
        "missing_landmarks": 1,
        "bad_landmark_count": 1,
        "empty_label_file": 1,
        "unreadable_image": 1,
        "malformed_label_file": 1,
        "missing_image": 1,
    }
    ex = {reason: examples[0] for reason, examples in result.skipped.examples.items()}
    assert "cohn-kanade-images/S011/001/" in ex["missing_facs"]
    assert "Landmarks/S011/002/S011_002_00000003_landmarks.txt" in ex["missing_landmarks"]
    assert "S011_003_00000003_landmarks.txt: 67 points" in ex["bad_landmark_count"]
    assert ex["empty_label_file"] == f"Emotion/{peak}_emotion.txt"
    assert ex["unreadable_image"] == f"cohn-kanade-images/{peak5}.png"
    assert f"FACS/{peak6}_facs.txt: line 1" in ex["malformed_label_file"]
    assert "FACS/S099/001/" in ex["missing_image"]


def test_bad_emotion_code_is_counted(tree):
    peak = write_sequence(tree, "S005", "001", emotion=3)
    tree.text(f"Emotion/{peak}_emotion.txt", tree.matlab(9))
    result = read_ckplus(tree.root)
    assert len(result.manifest) == 0 and list(result.manifest.columns) == COLUMNS
    assert "expected one emotion code 0-7" in result.skipped.examples["malformed_label_file"][0]


def test_no_layout_names_the_folders_expected(tree):
    tree.image("cohn-kanade-images/S005/001/S005_001_00000001.png")
    with pytest.raises(DatasetLayoutError) as err:
        read_ckplus(tree.root)
    message = str(err.value)
    for expected in (str(tree.root), "Landmarks/", "FACS/", "_facs.txt", "Missing:"):
        assert expected in message


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_ckplus(tmp_path / "nowhere")


# --- round trip against the synthetic generator ---------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("auforget.data.synthetic") is None,
    reason="auforget.data.synthetic is not written yet",
)
def test_round_trip_with_synthetic(tmp_path):
    from auforget.data.synthetic import write_ckplus

    truth = write_ckplus(
        tmp_path / "ckplus", n_subjects=3, sequences_per_subject=2, frames_per_sequence=4, seed=0
    )
    result = read_ckplus(tmp_path / "ckplus", progress=True)
    got = result.manifest.set_index("path")
    expected = truth.set_index("path")
    assert sorted(got.index) == sorted(expected.index), result.skipped.summary()
    got = got.loc[expected.index]
    for column in ("subject", "sequence", "aus", "emotion"):
        assert list(got[column]) == list(expected[column]), column
    assert list(got.label) == list(expected.emotion)
