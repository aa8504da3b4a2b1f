import importlib.util

import numpy as np
import pytest

from auforget.data.manifest import (
    BASE_COLUMNS,
    DatasetLayoutError,
    box_from_landmarks,
    parse_aus,
    parse_landmarks,
)
from auforget.data.unbc import read_unbc

COLUMNS = list(BASE_COLUMNS) + ["subject", "sequence", "frame", "pspi", "aus"]
S1, Q1 = "042-ll042", "ll042t1aaaff"
S2, Q2 = "043-jh043", "jh043t1aaaff"


def write_frame(
    tree, subject, sequence, frame, pspi=0.0, aus=(), size=(40, 30), n_points=66, skip=(), seed=0
):
    """One frame in all four trees; `skip` names the files to leave out."""
    stem = f"{sequence}{frame:03d}"
    rel = f"{subject}/{sequence}/{stem}"
    if "image" not in skip:
        tree.image(f"Images/{rel}.png", size=size, fmt="PNG")
    if "aam" not in skip:
        tree.text(
            f"AAM_landmarks/{rel}_aam.txt",
            tree.points_text(tree.face_points(n_points, *size, seed=seed)),
        )
    if "facs" not in skip:
        tree.text(
            f"Frame_Labels/FACS/{rel}_facs.txt", "".join(tree.matlab(au, i, 0, 0) for au, i in aus)
        )
    if "pspi" not in skip:
        tree.text(f"Frame_Labels/PSPI/{rel}_facs.txt", tree.matlab(pspi))
    return rel


def good_tree(tree):
    write_frame(tree, S1, Q1, 1)
    write_frame(tree, S1, Q1, 2, pspi=2.0, aus=[(4, 2.0), (43, 1.0)], seed=1)
    write_frame(tree, S1, Q1, 3, pspi=5.0, aus=[(6, 3.0), (4, 1.0)], seed=2)
    write_frame(tree, S2, Q2, 1, size=(50, 44), seed=3)
    write_frame(tree, S2, Q2, 2, pspi=1.0, aus=[(10, 1.0)], size=(50, 44), seed=4)
    tree.text("Images/.DS_Store", "junk")
    tree.text(f"Images/{S1}/{Q1}/Thumbs.db", "junk")
    tree.text("Sequence_Labels/VAS/042-ll042/ll042t1aaaff.txt", tree.matlab(3))
    return tree.root


def test_reads_frames_labels_and_landmarks(tree):
    result = read_unbc(good_tree(tree))
    m = result.manifest
    assert result.layout == "unbc"
    assert list(m.columns) == COLUMNS
    assert len(m) == 5 and result.skipped.total == 0
    assert list(m.subject) == [S1, S1, S1, S2, S2]
    assert list(m.sequence) == [Q1, Q1, Q1, Q2, Q2]
    assert list(m.frame) == [1, 2, 3, 1, 2]
    assert list(m.pspi) == [0.0, 2.0, 5.0, 0.0, 1.0]
    assert list(m.label) == [0, 1, 1, 0, 1]
    assert list(m.aus) == ["", "4:2;43:1", "4:1;6:3", "", "10:1"]
    assert parse_aus(m.aus[2]) == {4: 1.0, 6: 3.0}
    assert m.path[0] == f"Images/{S1}/{Q1}/{Q1}001.png"
    assert m.sample_id.is_unique
    for i, size in [(0, (40, 30)), (4, (50, 44))]:
        points = parse_landmarks(m.landmarks[i])
        assert points.shape == (66, 2)
        assert tuple(m.loc[i, ["x", "y", "w", "h"]]) == box_from_landmarks(points, *size)


def test_numbers_parse_by_whitespace_not_width(tree):
    rel = write_frame(tree, S1, Q1, 1)
    tree.text(f"Frame_Labels/PSPI/{rel}_facs.txt", "   2.0000000e+00\n\n")
    tree.text(
        f"Frame_Labels/FACS/{rel}_facs.txt", "4 2.5 0 0\n  1.2000000e+01   3.0000000e+00   0   0\n"
    )
    m = read_unbc(tree.root).manifest
    assert m.pspi[0] == 2.0 and m.label[0] == 1 and m.aus[0] == "4:2.5;12:3"


def test_every_bad_frame_is_counted_with_its_file(tree):
    good_tree(tree)
    write_frame(tree, S1, Q1, 4, skip=("pspi",))  # missing_pspi
    write_frame(tree, S1, Q1, 5, skip=("aam",))  # missing_landmarks
    write_frame(tree, S1, Q1, 6, n_points=65)  # bad_landmark_count
    write_frame(tree, S1, Q1, 7, skip=("facs",))  # missing_facs
    r8 = write_frame(tree, S1, Q1, 8)
    tree.text(f"Images/{r8}.png", "not a png")  # unreadable_image
    r9 = write_frame(tree, S1, Q1, 9)
    tree.text(f"Frame_Labels/PSPI/{r9}_facs.txt", "")  # empty_label_file
    r10 = write_frame(tree, S1, Q1, 10)
    tree.text(f"Frame_Labels/PSPI/{r10}_facs.txt", "two\n")  # malformed_label_file
    write_frame(tree, S2, Q2, 3, skip=("image",))  # label files, no image: missing_image
    result = read_unbc(tree.root)
    assert len(result.manifest) == 5
    assert dict(result.skipped.counts) == {
        "missing_pspi": 1,
        "missing_landmarks": 1,
        "bad_landmark_count": 1,
        "missing_facs": 1,
        "unreadable_image": 1,
        "empty_label_file": 1,
        "malformed_label_file": 1,
        "missing_image": 1,
    }
    ex = {reason: examples[0] for reason, examples in result.skipped.examples.items()}
    assert f"Frame_Labels/PSPI/{S1}/{Q1}/{Q1}004_facs.txt" in ex["missing_pspi"]
    assert f"AAM_landmarks/{S1}/{Q1}/{Q1}005_aam.txt" in ex["missing_landmarks"]
    assert f"{Q1}006_aam.txt: 65 points" in ex["bad_landmark_count"]
    assert f"Frame_Labels/FACS/{S1}/{Q1}/{Q1}007_facs.txt" in ex["missing_facs"]
    assert ex["unreadable_image"] == f"Images/{r8}.png"
    assert ex["empty_label_file"] == f"Frame_Labels/PSPI/{r9}_facs.txt"
    assert f"Frame_Labels/PSPI/{r10}_facs.txt: line 1" in ex["malformed_label_file"]
    assert f"{Q2}003" in ex["missing_image"]


def test_no_layout_names_the_folders_expected(tree):
    tree.image("Images/a/b/c.png")
    with pytest.raises(DatasetLayoutError) as err:
        read_unbc(tree.root)
    message = str(err.value)
    for expected in (str(tree.root), "AAM_landmarks/", "Frame_Labels/PSPI/", "Missing:"):
        assert expected in message


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_unbc(tmp_path / "nowhere")


# --- round trip against the synthetic generator ---------------------------------------------


@pytest.mark.skipif(
    importlib.util.find_spec("auforget.data.synthetic") is None,
    reason="auforget.data.synthetic is not written yet",
)
def test_round_trip_with_synthetic(tmp_path):
    from auforget.data.synthetic import write_unbc

    truth = write_unbc(tmp_path / "unbc", sequences_per_subject=1, frames_per_sequence=4, seed=0)
    result = read_unbc(tmp_path / "unbc", progress=True)
    got = result.manifest.set_index("path")
    expected = truth.set_index("path")
    assert sorted(got.index) == sorted(expected.index), result.skipped.summary()
    got = got.loc[expected.index]
    for column in ("subject", "sequence", "frame", "aus"):
        assert list(got[column]) == list(expected[column]), column
    assert np.allclose(got.pspi, expected.pspi)
    assert list(got.label) == [int(p > 0) for p in expected.pspi]
