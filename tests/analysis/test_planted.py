"""The planted truth of the synthetic world and its comparison with hand-made study results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from auforget.analysis import planted
from auforget.core.config import EMOTIONS


def test_what_the_world_plants():
    assert planted.expected_forgotten("contempt") and planted.expected_forgotten("surprise")
    assert [e for e in EMOTIONS if planted.expected_forgotten(e)] == ["surprise", "contempt"]
    assert planted.expected_forgotten("neutral") is None
    assert planted.expected_regions("contempt") == ("mouth_corners",)
    assert set(planted.expected_regions("surprise")) == {"brows", "upper_lids", "mouth_jaw"}
    assert (
        planted.pain_use(14) == "nuisance"
        and planted.pain_use(4) == "pspi"
        and planted.pain_use(5) == "absent"
    )
    assert planted.pain_use(15) == "absent" and planted.pain_use(12) == "other"
    assert set(planted.UNSETTLED_PROBES) == {5}
    # controls: a PSPI AU among the strongest; happy (AU12 4 > AU6 3) and fear (AU5 first) are mixed
    assert [e for e in EMOTIONS if planted.expected_forgotten(e) is False] == [
        "sad",
        "disgust",
        "anger",
    ]
    truth = planted.planted_truth().set_index("emotion")
    assert (
        truth.loc["contempt", "aus"] == "AU14 (nuisance)"
        and truth.loc["anger", "expected"] == "kept"
    )
    assert truth.loc["happy", "expected"].startswith("mixed")


def hand_made_results():
    # contempt forgotten (0.8 -> 0.3, Holm p 0.001), surprise not (0.70 -> 0.75); disgust, a
    # control, significantly worse (0.9 -> 0.5, p 0.001), so it is not "kept"; anger kept
    # (0.6 -> 0.55, p 0.4); happy, mixed, has no expectation whatever it does (0.9 -> 0.2).
    forgetting = {
        "recall_contempt_b5": 0.8,
        "recall_contempt_b0": 0.3,
        "mcnemar_p_holm_contempt_b0_vs_b5": 0.001,
        "recall_surprise_b5": 0.70,
        "recall_surprise_b0": 0.75,
        "mcnemar_p_holm_surprise_b0_vs_b5": 1.0,
        "recall_disgust_b5": 0.9,
        "recall_disgust_b0": 0.5,
        "mcnemar_p_holm_disgust_b0_vs_b5": 0.001,
        "recall_happy_b5": 0.9,
        "recall_happy_b0": 0.2,
        "mcnemar_p_holm_happy_b0_vs_b5": 0.001,
        "recall_anger_b5": 0.6,
        "recall_anger_b0": 0.55,
        "mcnemar_p_holm_anger_b0_vs_b5": 0.4,
    }
    rankings = pd.DataFrame(
        {
            "emotion": ["contempt", "contempt", "surprise", "surprise", "all"],
            "region": ["brows", "mouth_corners", "nose", "brows", "chin"],
            "effect_size": [0.4, 1.2, 0.9, 0.3, 2.0],
            "p_holm": [0.5, 0.01, 0.02, 0.6, 0.01],
        }
    )
    probes = {
        14: {
            "probe_f1_mean_b5": 0.80,
            "probe_f1_mean_b0": 0.70,
            "probe_t_corrected": 3.1,
            "probe_p_corrected": 0.01,
        },
        5: {
            "probe_f1_mean_b5": 0.60,
            "probe_f1_mean_b0": 0.65,
            "probe_t_corrected": -1.0,
            "probe_p_corrected": 0.3,
        },
    }
    return forgetting, rankings, probes


def test_compare_with_hand_made_results():
    table, text = planted.compare(*hand_made_results(), k=0)
    got = {(r.check, r.subject): r for r in table.itertuples()}
    # findings, no verdicts: every row's value is signed (positive = the planted direction)
    assert table["recovered"].isna().all()
    assert got["recall", "contempt"].value == pytest.approx(0.5)
    assert got["recall", "surprise"].value == pytest.approx(-0.05)
    assert ("recall (control)", "disgust") in got and ("recall (control)", "anger") in got
    assert not any(subject == "happy" for _, subject in got)
    # contempt's best region is mouth_corners (1.2 > 0.4, rows out of order); surprise's is nose
    assert got["top region", "contempt"].p == 0.01
    assert got["top region", "contempt"].found == "mouth_corners, brows"
    assert got["top region", "surprise"].found.startswith("nose")
    assert got["probe", "AU14"].value == pytest.approx(0.1)
    # AU5 is shown with its numbers but no verdict, and counts neither way
    au5 = got["probe (no expectation)", "AU5"]
    assert (
        au5.recovered is None
        and au5.value == pytest.approx(-0.05)
        and au5.expected.startswith("none: ")
    )
    assert ("top region", "all") not in got and len(table) == 8
    assert "finding with no verdict" in text
    assert "Recovered" not in text and "kept." not in text and "Not recovered" not in text


def test_missing_results_give_fewer_rows():
    table, text = planted.compare({}, None, {})
    assert table.empty and "Recovered" not in text


def test_planted_json(tmp_path):
    table, _ = planted.compare(*hand_made_results(), k=0)
    path = planted.write_planted(table, tmp_path)
    numbers = json.loads(path.read_text())
    assert path.name == "planted.json"
    assert not any(k.endswith("_recovered") or k.endswith("_checks") for k in numbers)
    assert "probe_au5_recovered" not in numbers and numbers["probe_au5_value"] == pytest.approx(
        -0.05
    )
    assert numbers["recall_contempt_value"] == 0.5 and numbers["recall_contempt_p"] == 0.001
    assert numbers["region_contempt_value"] == 1.2
    assert all(np.isfinite(v) for v in numbers.values())


def test_pain_association_is_measured_from_the_frames(tmp_path):
    frames = pd.DataFrame({"label": [1, 1, 0, 0], "aus": ["4:2;14:2", "4:1", "14:2", ""]})
    table = planted.pain_association(frames).set_index("AU")
    assert (
        table.loc[4, "phi with pain"] == pytest.approx(1.0) and table.loc[4, "declared"] == "pspi"
    )
    assert (
        table.loc[14, "phi with pain"] == pytest.approx(0.0)
        and table.loc[14, "declared"] == "nuisance"
    )
    assert (table.loc[14, "pain frames"], table.loc[14, "no-pain frames"]) == (0.5, 0.5)
    assert table.loc[1, "pain frames"] == 0 and np.isnan(
        table.loc[1, "phi with pain"]
    )  # an emotion's AU, never drawn here
    numbers = json.loads(
        planted.write_planted(
            planted.compare(*hand_made_results(), k=0)[0], tmp_path, association=table.reset_index()
        ).read_text()
    )
    assert (
        numbers["pain_phi_au4"] == 1.0
        and numbers["pain_phi_au14"] == 0.0
        and "pain_phi_au1" not in numbers
    )
    with pytest.raises(ValueError, match="'label' and 'aus'"):
        planted.pain_association(frames.rename(columns={"aus": "au"}))
    with pytest.raises(
        ValueError, match=r"labels 0 \(no pain\) or 1 \(pain\).*e.g. labels \['yes'\]"
    ):
        planted.pain_association(frames.assign(label=[1, "yes", 0, 0]))
    broken = tmp_path / "splits" / "unbc"
    broken.mkdir(parents=True)
    (broken / "train.csv").write_text("sample_id,label\na,1\n")
    with pytest.raises(ValueError, match=r"unbc/train.csv: cannot measure .* 'label' and 'aus'"):
        planted.read_association(tmp_path / "splits")


def test_the_drawn_pain_data_use_pspi_and_ignore_the_smirk(tiny_data):
    # What the world declares, checked against what it drew: PSPI AUs go with pain, AU14 does not.
    table = planted.read_association(tiny_data.data.splits_dir).set_index("AU")
    assert (table.loc[[4, 6, 7], "phi with pain"] > 0.5).all()
    assert abs(table.loc[14, "phi with pain"]) < 0.15
    assert planted.read_association(tiny_data.data.splits_dir + "-missing") is None


def test_compare_across_seeds_needs_the_direction_in_most_seeds():
    # seed diffs are Bk - B5: contempt drops 0.2 on average (Stouffer-Holm p 0.01); surprise rises.
    forgetting = {
        "seed_diff_mean_contempt_b0_vs_b5": -0.2,
        "seed_diff_low_contempt_b0_vs_b5": -0.3,
        "seed_diff_high_contempt_b0_vs_b5": -0.1,
        "seed_p_holm_contempt_b0_vs_b5": 0.01,
        "seed_diff_mean_surprise_b0_vs_b5": 0.05,
        "seed_diff_low_surprise_b0_vs_b5": -0.1,
        "seed_diff_high_surprise_b0_vs_b5": 0.2,
        "seed_p_holm_surprise_b0_vs_b5": 0.9,
        "seed_diff_mean_disgust_b0_vs_b5": -0.3,
        "seed_diff_low_disgust_b0_vs_b5": -0.4,
        "seed_diff_high_disgust_b0_vs_b5": -0.2,
        "seed_p_holm_disgust_b0_vs_b5": 0.001,
    }
    # contempt's top region: mouth_corners in seeds 0 and 2, brows in seed 1; surprise: nose twice
    saliency = {
        0: {
            "au_effect_mouth_corners_contempt": 2.0,
            "au_effect_brows_contempt": 1.0,
            "au_effect_nose_surprise": 3.0,
            "au_effect_brows_surprise": 1.0,
        },
        1: {
            "au_effect_mouth_corners_contempt": 0.5,
            "au_effect_brows_contempt": 1.5,
            "au_effect_nose_surprise": 2.0,
            "au_effect_mouth_jaw_surprise": 1.0,
        },
        2: {"au_effect_mouth_corners_contempt": 4.0, "au_effect_lids_contempt": 1.0},
    }
    # AU14: F1 drops in every seed, each p 0.05, so the combination is stronger; AU5: the seeds
    # disagree.
    probes = {
        14: {
            s: {"probe_f1_mean_b5": 0.8, "probe_f1_mean_b0": 0.8 - d, "probe_p_corrected": 0.05}
            for s, d in ((0, 0.05), (1, 0.10), (2, 0.06))
        },
        5: {
            s: {"probe_f1_mean_b5": 0.6, "probe_f1_mean_b0": 0.6 - d, "probe_p_corrected": 0.05}
            for s, d in ((0, 0.05), (1, -0.05), (2, -0.01))
        },
    }
    table, text = planted.compare_seeds(forgetting, saliency, probes, k=0)
    got = {(r.check, r.subject): r for r in table.itertuples()}
    assert table["recovered"].isna().all()
    assert got["recall", "contempt"].value == pytest.approx(0.2)
    assert (
        "[+0.10, +0.30]" in got["recall", "contempt"].found and got["recall", "contempt"].p == 0.01
    )
    region = got["top region", "contempt"]
    assert region.value == pytest.approx(2 / 3) and region.found == "mouth_corners 2/3, brows 1/3"
    assert got["top region", "surprise"].found == "nose 2/2"
    au14, au5 = got["probe", "AU14"], got["probe (no expectation)", "AU5"]
    assert au14.value == pytest.approx(0.07) and au14.p < 0.05 / 10
    # one seed's z of +1.96 cancels one of the two others: Z = -1.96 / sqrt(3), p 0.26, not 0.05 or
    # less
    assert au5.recovered is None and au5.p == pytest.approx(0.2578, abs=1e-3)
    assert text.startswith("Across 3 training seeds.") and "Recovered" not in text
    numbers = planted.planted_metrics(table, planted.SEEDS_PREFIX)
    assert "seeds_planted_recovered" not in numbers
    assert numbers["seeds_region_contempt_value"] == pytest.approx(2 / 3)


def test_beyond_the_others_is_shown_for_forgotten_emotions_without_a_verdict():
    # Every emotion drops 0.10 (B5 0.80 -> B0 0.70) but contempt 0.45 and surprise none. Contempt's
    # drop beyond the other seven's mean: 0.45 - 0.6 / 7 = 0.364286;
    # surprise's: 0 - 1.05 / 7 = -0.15.
    drops = {e: 0.10 for e in EMOTIONS} | {"contempt": 0.45, "surprise": 0.0}
    forgetting = {f"recall_{e}_b5": 0.80 for e in EMOTIONS} | {
        f"recall_{e}_b0": 0.80 - d for e, d in drops.items()
    }
    table, _ = planted.compare(forgetting, None, {}, k=0)
    excess = table[table["check"] == planted.EXCESS_CHECK].set_index("subject")
    assert list(excess.index) == ["surprise", "contempt"] and excess["recovered"].isna().all()
    np.testing.assert_allclose(excess["value"], [-0.15, 0.364286], atol=1e-6)
    assert excess.loc["contempt", "found"] == "drop +0.450, the others' mean +0.086"
    numbers = planted.planted_metrics(table)
    assert numbers["excess_contempt_value"] == pytest.approx(0.364286, abs=1e-6)
    assert "excess_contempt_recovered" not in numbers and "planted_checks" not in numbers
    # One emotion missing: no row, rather than a mean over fewer emotions.
    assert planted.EXCESS_CHECK not in set(
        planted.compare({k: v for k, v in forgetting.items() if "fear" not in k}, None, {}, k=0)[0][
            "check"
        ]
    )
    # Across seeds, from the forgetting run's seed_excess_* (Bk - B5 minus the others): shown as a
    # drop.
    seeds = {
        "seed_excess_mean_contempt_b0_vs_b5": -0.3,
        "seed_excess_low_contempt_b0_vs_b5": -0.5,
        "seed_excess_high_contempt_b0_vs_b5": -0.1,
    }
    table, _ = planted.compare_seeds(seeds, {}, {}, k=0)
    (row,) = table.itertuples()
    assert (
        row.check == planted.EXCESS_CHECK
        and row.value == pytest.approx(0.3)
        and row.recovered is None
    )
    assert row.found == "mean +0.300, 95% interval [+0.100, +0.500]"


def test_rankings_from_saliency_metrics():
    metrics = {
        "au_effect_mouth_corners_contempt": 1.5,
        "au_effect_upper_lids_surprise": 0.7,
        "au_effect_mouth_jaw_all": 0.2,
        "saliency_n_contempt": 4,
    }
    table = planted.rankings_from_metrics(metrics)
    assert sorted(zip(table.emotion, table.region)) == [
        ("all", "mouth_jaw"),
        ("contempt", "mouth_corners"),
        ("surprise", "upper_lids"),
    ]
    checks, _ = planted.compare({}, table, {})
    assert checks["recovered"].isna().all() and len(checks) == 2


def _face_pairs(n: int, aus: dict[int, float], seed: int, size: int = 64):
    """n synthetic people, each drawn twice with the same randomness: neutral (label 0) and showing
    `aus` (label 1), so the only difference between the two classes is what the AUs draw.
    Returns images as the eval transform gives them, labels, and landmarks in the map frame."""
    from auforget.analysis.regions import landmarks_to_map
    from auforget.data.faces import random_identity, render_face
    from auforget.data.images import preset
    from auforget.data.manifest import box_from_landmarks

    rng, transform = np.random.default_rng(seed), preset("eval", size)
    images, labels, landmarks = [], [], []
    for _ in range(n):
        person, state = random_identity(rng), rng.bit_generator.state
        for label, shown in ((0, {}), (1, aus)):
            rng.bit_generator.state = state
            image, points = render_face(person, shown, (96, 96), rng)
            x, y, w, h = box = box_from_landmarks(points, 96, 96)
            images.append(transform(image.crop((x, y, x + w, y + h))))
            labels.append(label)
            landmarks.append(landmarks_to_map(points, box, size))
    return torch.stack(images), torch.tensor(labels), landmarks


def test_a_network_that_learned_a_planted_au_is_explained_by_that_aus_region(tmp_path):
    """The strong planted effect end to end through the real parts: the small VGG16 learns a class
    drawn with one AU pair only (AU25+26, lips apart and jaw dropped: surprise's mouth, absent from
    every pain frame), and LRP with the AU ranking the saliency stage uses puts that AU's region
    first, far above chance placement. If training, the face renderer, LRP or the region ranking
    stops recovering the one thing that separates the classes, this fails."""
    from torch.utils.data import TensorDataset

    from auforget.analysis.regions import rank_aus
    from auforget.nn.backbones import build_vgg16
    from auforget.nn.losses import FocalLoss
    from auforget.nn.lrp import relevance
    from auforget.nn.training import FitSettings, fit, make_loader

    planted_aus = {25: 4.0, 26: 4.0}
    x_train, y_train, _ = _face_pairs(80, planted_aus, seed=0)
    x_test, y_test, landmarks = _face_pairs(24, planted_aus, seed=1)
    torch.manual_seed(0)
    model = build_vgg16("small", 2)
    settings = FitSettings(
        epochs=8, lr=0.01, momentum=0.9, weight_decay=5e-4, patience=8, seed=0, schedule="onecycle"
    )
    fit(
        model,
        make_loader(TensorDataset(x_train, y_train), 32, shuffle=True, seed=0),
        make_loader(TensorDataset(x_test, y_test), 32, shuffle=False, seed=0),
        FocalLoss(0.0),
        settings,
        class_names=("neutral", "AU25+26"),
        checkpoint_dir=tmp_path,
        progress=False,
        device=torch.device("cpu"),
    )
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy >= 0.9, (
        f"the network did not learn the planted AU (test accuracy {accuracy:.2f})"
    )

    shown = y_test == 1
    maps = relevance(model, x_test[shown], 1).numpy()
    table = rank_aus(maps, [lm for lm, s in zip(landmarks, shown) if s], seed=0)
    top = table.iloc[0]
    assert top["region"] == "mouth_jaw", (
        table[["region", "mass_share", "effect_size"]].head(4).to_string()
    )
    assert top["effect_size"] > 5 and top["p_value"] < 0.01
    assert top["effect_size"] > 5 * table.iloc[1]["effect_size"]
