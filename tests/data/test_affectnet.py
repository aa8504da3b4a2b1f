import importlib.util
import math

import numpy as np
import pytest

from auforget.data.affectnet import read_affectnet
from auforget.data.manifest import BASE_COLUMNS, DatasetLayoutError, parse_landmarks

COLUMNS = list(BASE_COLUMNS) + ["source_split", "expression", "valence", "arousal"]
HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,"
    "facial_landmarks,expression,valence,arousal\n"
)
LANDMARKS = ";".join(f"{v:.2f}" for v in np.linspace(1.0, 29.0, 136))


def csv_tree(
    tree,
    header="#" + HEADER,
    list_dir="Manually_Annotated_file_lists",
    image_dir="Manually_Annotated_Images",
):
    """A csv-layout root with one good row in each file list and one image of each fault."""
    tree.image(f"{image_dir}/1/a.jpg")
    tree.image(f"{image_dir}/1/b.png", fmt="PNG")
    tree.image(f"{image_dir}/2/c.JPG", fmt="JPEG")
    tree.image(f"{image_dir}/6/f.JPEG", fmt="JPEG")  # listed as f.jpeg
    tree.image(f"{image_dir}/3/d.jpg")
    tree.image(f"{image_dir}/3/e.jpg")
    tree.text(f"{image_dir}/4/notimg.jpg", "this is not a jpeg")
    tree.image(f"{image_dir}/5/extra.jpg")  # in no list
    tree.text(f"{image_dir}/1/.DS_Store", "junk")
    tree.text(".DS_Store", "junk")
    prefix = "" if list_dir == "." else list_dir + "/"
    tree.text(
        prefix + "training.csv",
        header
        + "".join(
            [
                f"1/a.jpg,2,3,20,20,{LANDMARKS},1,0.5,-0.25\n",  # line 2: kept
                "1/b.png,0,0,100,100,,8,-2,-2\n",  # 3: kept, box clipped to 40x30
                "3/d.jpg,NULL,NULL,20,20,,0,0,0\n",  # 4: null_box
                "3/e.jpg,1,1,-5,20,,0,0,0\n",  # 5: negative_box
                "9/missing.jpg,1,1,5,5,,0,0,0\n",  # 6: missing_image
                "4/notimg.jpg,1,1,5,5,,2,0,0\n",  # 7: unreadable_image
                "2/c.JPG,1,1,5\n",  # 8: malformed_row (fields)
                "2/c.JPG,x,1,5,5,,3,0,0\n",  # 9: malformed_row (number)
                "3/d.jpg,1,1,5,5,1;2;3,0,0,0\n",  # 10: bad_landmark_count
            ]
        ),
    )
    tree.text(
        prefix + "validation.csv",
        "".join(
            [  # no header
                "2/c.JPG,1,2,10,10,,3,0.1,0.2\n",  # line 1: kept
                "1/a.jpg,2,3,20,20,,1,0.5,-0.25\n",  # 2: duplicate_row
                "6/f.jpeg,0,0,40,30,,7,,\n",  # 3: kept, resolved to f.JPEG
            ]
        ),
    )
    return tree.root


def test_csv_layout_parses_rows_and_counts_every_fault(tree):
    result = read_affectnet(csv_tree(tree))
    m = result.manifest
    assert result.layout == "csv"
    assert list(m.columns) == COLUMNS
    assert list(m.path) == [
        "Manually_Annotated_Images/1/a.jpg",
        "Manually_Annotated_Images/1/b.png",
        "Manually_Annotated_Images/2/c.JPG",
        "Manually_Annotated_Images/6/f.JPEG",
    ]
    assert list(m.sample_id) == [p.rsplit(".", 1)[0] for p in m.path]
    assert list(m.expression) == [1, 8, 3, 7] and list(m.label) == list(m.expression)
    assert list(m.source_split) == ["training", "training", "validation", "validation"]
    a, b, c, f = (m.iloc[i] for i in range(4))
    assert (a.x, a.y, a.w, a.h) == (2, 3, 20, 20)
    assert (b.x, b.y, b.w, b.h) == (0, 0, 40, 30)  # clipped to the image
    assert (a.valence, a.arousal) == (0.5, -0.25)
    assert math.isnan(f.valence) and math.isnan(f.arousal)
    assert parse_landmarks(a.landmarks).shape == (68, 2) and b.landmarks == ""
    assert dict(result.skipped.counts) == {
        "null_box": 1,
        "negative_box": 1,
        "missing_image": 1,
        "unreadable_image": 1,
        "malformed_row": 2,
        "bad_landmark_count": 1,
        "duplicate_row": 1,
        "image_not_listed": 1,
    }
    ex = result.skipped.examples
    assert ex["null_box"][0].startswith("Manually_Annotated_file_lists/training.csv:4")
    assert ex["negative_box"][0].startswith("Manually_Annotated_file_lists/training.csv:5")
    assert "training.csv:6" in ex["missing_image"][0] and "9/missing.jpg" in ex["missing_image"][0]
    assert "4/notimg.jpg" in ex["unreadable_image"][0]
    assert [e.split(":")[1] for e in ex["malformed_row"]] == ["8", "9"]
    assert "validation.csv:2" in ex["duplicate_row"][0]
    assert ex["image_not_listed"] == ["Manually_Annotated_Images/5/extra.jpg"]


@pytest.mark.parametrize(
    "header", ["#" + HEADER, HEADER, ""], ids=["hash-header", "header", "no-header"]
)
@pytest.mark.parametrize(
    "list_dir,image_dir",
    [("Manually_Annotated_file_lists", "Manually_Annotated_Images"), (".", "Manually_Annotated")],
    ids=["lists-dir", "root"],
)
def test_csv_header_and_folder_variants(tree, header, list_dir, image_dir):
    result = read_affectnet(csv_tree(tree, header=header, list_dir=list_dir, image_dir=image_dir))
    assert result.layout == "csv"
    assert len(result.manifest) == 4
    assert result.manifest.path.str.startswith(image_dir + "/").all()
    # Without a header line every row number moves up by one.
    first_bad = "training.csv:4" if header else "training.csv:3"
    assert first_bad in result.skipped.examples["null_box"][0]


def test_csv_box_outside_image_and_unknown_expression(tree):
    tree.image("Manually_Annotated_Images/1/a.jpg")  # 40x30
    tree.image("Manually_Annotated_Images/1/b.jpg")
    tree.image("Manually_Annotated_Images/1/c.jpg")
    tree.text(
        "training.csv",
        HEADER + "1/a.jpg,45,0,10,10,,1,0,0\n1/b.jpg,0,0,10,10,,11,0,0\n"
        "1/c.jpg,0,0,10,10,,1.0,0,0\n",
    )
    result = read_affectnet(tree.root)
    assert list(result.manifest.path) == ["Manually_Annotated_Images/1/c.jpg"]
    assert dict(result.skipped.counts) == {"box_outside_image": 1, "unknown_expression": 1}
    assert result.skipped.examples["box_outside_image"][0].startswith("training.csv:2")
    assert result.skipped.examples["unknown_expression"][0].startswith("training.csv:3")


def test_csv_without_image_folder_is_a_layout_error(tree):
    tree.text("Manually_Annotated_file_lists/training.csv", HEADER)
    with pytest.raises(DatasetLayoutError, match="Manually_Annotated_Images"):
        read_affectnet(tree.root)


def test_csv_empty_file_list_is_counted(tree):
    csv_tree(tree)
    tree.text("Manually_Annotated_file_lists/validation.csv", "")
    result = read_affectnet(tree.root)
    assert result.skipped.counts["empty_file_list"] == 1
    assert result.skipped.examples["empty_file_list"] == [
        "Manually_Annotated_file_lists/validation.csv"
    ]


def test_csv_header_missing_columns_names_the_file(tree):
    tree.image("Manually_Annotated_Images/1/a.jpg")
    tree.text("training.csv", "subDirectory_filePath,face_x\n1/a.jpg,1\n")
    with pytest.raises(DatasetLayoutError, match=r"training.csv:1.*face_y"):
        read_affectnet(tree.root)


def eight_labels_tree(tree):
    lnd = np.linspace(1.0, 200.0, 136)
    tree.image("train_set/images/0.jpg", size=(224, 224))
    tree.npy("train_set/annotations/0_exp.npy", np.array("1"))
    tree.npy("train_set/annotations/0_val.npy", np.array("0.5"))
    tree.npy("train_set/annotations/0_aro.npy", np.array("-0.25"))
    tree.npy("train_set/annotations/0_lnd.npy", lnd)
    tree.image("train_set/images/1.jpg", size=(224, 224))  # no _exp: missing_label_file
    tree.image("train_set/images/2.jpg", size=(224, 224))
    tree.text("train_set/annotations/2_exp.npy", "")  # empty_label_file
    tree.image("train_set/images/3.jpg", size=(224, 224))
    tree.npy("train_set/annotations/3_exp.npy", np.array("abc"))  # malformed_label_file
    tree.image("train_set/images/4.jpg", size=(224, 224))
    tree.npy("train_set/annotations/4_exp.npy", np.array("2"))
    tree.npy("train_set/annotations/4_lnd.npy", lnd[:10])  # bad_landmark_count
    tree.npy("train_set/annotations/99_exp.npy", np.array("5"))  # no image: missing_image
    tree.text("train_set/images/.DS_Store", "junk")
    tree.image("val_set/images/10.jpg", size=(224, 224))
    tree.npy("val_set/annotations/10_exp.npy", np.array("7"))  # no val/aro/lnd: NaN, ""
    return tree.root


def test_8labels_layout(tree):
    result = read_affectnet(eight_labels_tree(tree))
    m = result.manifest
    assert result.layout == "8labels"
    assert list(m.columns) == COLUMNS
    assert list(m.path) == ["train_set/images/0.jpg", "val_set/images/10.jpg"]
    assert list(m.expression) == [1, 7] and list(m.label) == [1, 7]
    assert list(m.source_split) == ["training", "validation"]
    assert (m.iloc[0].valence, m.iloc[0].arousal) == (0.5, -0.25)
    assert math.isnan(m.iloc[1].valence) and m.iloc[1].landmarks == ""
    assert parse_landmarks(m.iloc[0].landmarks).shape == (68, 2)
    assert (m.x == 0).all() and (m.y == 0).all() and (m.w == 224).all() and (m.h == 224).all()
    assert dict(result.skipped.counts) == {
        "missing_label_file": 1,
        "empty_label_file": 1,
        "malformed_label_file": 1,
        "bad_landmark_count": 1,
        "missing_image": 1,
    }
    ex = result.skipped.examples
    assert "train_set/annotations/1_exp.npy" in ex["missing_label_file"][0]
    assert "train_set/annotations/2" in ex["empty_label_file"][0]
    assert "train_set/annotations/3" in ex["malformed_label_file"][0]
    assert "train_set/annotations/4_lnd.npy" in ex["bad_landmark_count"][0]
    assert "train_set/annotations/99_exp.npy" in ex["missing_image"][0]


def test_8labels_numeric_arrays_and_codes_out_of_range(tree):
    tree.image("val_set/images/a.jpg", size=(224, 224))
    tree.npy("val_set/annotations/a_exp.npy", np.array(4))  # a number, not a string
    tree.npy("val_set/annotations/a_val.npy", np.array(0.25))
    tree.image("val_set/images/b.jpg", size=(224, 224))
    tree.npy("val_set/annotations/b_exp.npy", np.array("12"))
    result = read_affectnet(tree.root)
    assert list(result.manifest.expression) == [4] and result.manifest.valence[0] == 0.25
    assert dict(result.skipped.counts) == {"unknown_expression": 1}
    assert "val_set/annotations/b_exp.npy" in result.skipped.examples["unknown_expression"][0]


def test_8labels_string_arrays_load_without_pickle(tree):
    path = tree.npy("x.npy", np.array("3"))
    value = np.load(path, allow_pickle=False)
    assert value.dtype.kind == "U" and int(value.item()) == 3


def folders_tree(tree):
    tree.image("train/happy/a.jpg")
    tree.image("train/0/b.jpg", size=(50, 20))
    tree.image("val/anger/c.jpg")
    tree.image("test/surprise/d.jpg")
    tree.image("train/weird/e.jpg")  # unknown_class_folder
    tree.text("train/happy/bad.jpg", "not a jpeg")  # unreadable_image
    tree.text("train/happy/.DS_Store", "junk")
    tree.text("Thumbs.db", "junk")
    tree.image("misc/x.jpg")  # unknown_split_folder
    tree.text("labels.csv", "path,label\ntrain/happy/a.jpg,happy\nval/anger/c.jpg,1\n")
    return tree.root


def test_folders_layout_folder_wins_over_labels_csv(tree):
    result = read_affectnet(folders_tree(tree))
    m = result.manifest
    assert result.layout == "folders"
    assert list(m.columns) == COLUMNS
    assert list(m.path) == [
        "test/surprise/d.jpg",
        "train/0/b.jpg",
        "train/happy/a.jpg",
        "val/anger/c.jpg",
    ]
    assert list(m.expression) == [3, 0, 1, 6]  # c.jpg stays anger although labels.csv says 1
    assert list(m.source_split) == ["validation", "training", "training", "validation"]
    b = m.iloc[1]
    assert (b.x, b.y, b.w, b.h) == (0, 0, 50, 20)
    assert (m.landmarks == "").all() and m.valence.isna().all()
    assert dict(result.skipped.counts) == {
        "unknown_class_folder": 1,
        "unreadable_image": 1,
        "unknown_split_folder": 1,
        "label_disagrees_with_folder": 1,
    }
    ex = result.skipped.examples
    assert "train/weird/e.jpg" in ex["unknown_class_folder"][0]
    assert ex["unreadable_image"] == ["train/happy/bad.jpg"]
    assert "val/anger/c.jpg" in ex["label_disagrees_with_folder"][0]
    assert "misc/" in ex["unknown_split_folder"][0]


def test_no_layout_names_what_each_layout_expects(tree):
    tree.text("readme.txt", "hello")
    with pytest.raises(DatasetLayoutError) as err:
        read_affectnet(tree.root)
    message = str(err.value)
    for expected in (
        str(tree.root),
        "csv",
        "8labels",
        "folders",
        "training.csv",
        "Manually_Annotated_Images",
        "train_set",
        "_exp.npy",
        "readme.txt",
    ):
        assert expected in message


def test_nested_root_gets_a_hint(tree):
    csv_tree(type(tree)(tree.root / "AffectNet"))
    with pytest.raises(DatasetLayoutError, match="Did you mean the subfolder"):
        read_affectnet(tree.root)


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_affectnet(tmp_path / "nowhere")


def test_progress_bar_does_not_change_the_result(tree):
    root = csv_tree(tree)
    assert read_affectnet(root, progress=True).manifest.equals(read_affectnet(root).manifest)


# --- round trip against the synthetic generator ---------------------------------------------

needs_synthetic = pytest.mark.skipif(
    importlib.util.find_spec("auforget.data.synthetic") is None,
    reason="auforget.data.synthetic is not written yet",
)


@needs_synthetic
@pytest.mark.parametrize("layout", ["csv", "8labels", "folders"])
def test_round_trip_with_synthetic(tmp_path, layout):
    from auforget.data.synthetic import write_affectnet

    truth = write_affectnet(
        tmp_path / "affectnet", layout=layout, n_train_per_class=3, n_val_per_class=2, seed=0
    )
    result = read_affectnet(tmp_path / "affectnet")
    assert result.layout == layout
    got = result.manifest.set_index("path")
    expected = truth.set_index("path")
    assert sorted(got.index) == sorted(expected.index), result.skipped.summary()
    assert (got.loc[expected.index, "expression"] == expected.expression).all()
    assert (got.loc[expected.index, "source_split"] == expected.split).all()
