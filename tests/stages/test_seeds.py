"""The study under several training seeds: ordinary runs and registry versions per seed, and
across-seed findings (forgetting, probes, AU ranking, promotion) with intervals."""

from __future__ import annotations

import json
import shutil

import mlflow
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from auforget.core import artifacts
from auforget.core.config import Params
from auforget.stages.main import study_layers
from auforget.tracking import registry
from tests.project import run

ONE_EPOCH = {"epochs": 1, "batch_size": 16}


def _runs() -> dict[str, object]:
    """Newest FINISHED run per stage name."""
    out = {}
    for r in mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        max_results=1000,
        order_by=["attributes.start_time DESC"],
    ):
        if r.info.status == "FINISHED":
            out.setdefault(r.data.tags.get("auforget.stage"), r)
    return out


def test_each_seed_is_a_chain_of_more_steps_in_the_same_layers():
    params = Params().with_overrides("study", seeds=[3, 1])
    layers = study_layers(params)
    names = [[s.name for s in layer] for layer in layers]
    assert names[0] == ["emotion", "emotion-seed1"]  # the first seed keeps the plain names
    assert "transfer-b2" in names[1] and "transfer-b2-seed1" in names[1] and len(names[1]) == 12
    assert "retrain-b5-seed1" in names[2] and len(names[2]) == 12
    assert {"saliency", "saliency-seed1", "probes-au14-seed1", "probes-au5", "forgetting"} <= set(
        names[3]
    )
    step = next(s for s in layers[2] if s.name == "retrain-b4-seed1")
    assert (step.params.emotion.seed, step.params.transfer.seed, step.params.retrain.seed) == (
        1,
        1,
        1,
    )
    assert step.params.retrain.freeze == 4
    assert registry.seed_aliases("freezeb4", 3, (3, 1)) == ("freezeb4", "freezeb4-seed3")
    assert registry.seed_aliases("freezeb4", 1, (3, 1)) == ("freezeb4-seed1",)


def test_two_seed_study_through_auforget_main(prepared_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(prepared_project, project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    # three freeze levels and no AU survey: what is checked is how seeds chain, not each level
    params["study"] = {"seeds": [0, 1], "freeze_levels": [0, 2, 5]}
    params["probes"]["survey_aus"] = []
    for section in ("emotion", "transfer", "retrain"):
        params[section].update(ONE_EPOCH)
    params["probes"]["seeds"] = 10
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run(["auforget", "--quiet", "main"], project)

    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri)
    runs = _runs()
    for name, seed in (
        ("emotion", 0),
        ("emotion-seed1", 1),
        ("transfer-b2", 0),
        ("transfer-b2-seed1", 1),
        ("retrain-b5-seed1", 1),
        ("saliency-b0-seed1", 1),
        ("probes-b0-au14-seed1", 1),
    ):
        assert runs[name].data.tags["seed"] == str(seed), name
    # the first seed keeps the single-seed aliases; every seed has its own; chains stay within a
    # seed
    plain = client.get_model_version_by_alias("auforget-pain", "freezeb2")
    assert (
        client.get_model_version_by_alias("auforget-pain", "freezeb2-seed0").version
        == plain.version
    )
    other = client.get_model_version_by_alias("auforget-pain", "freezeb2-seed1")
    assert (
        other.version != plain.version and other.tags["seed"] == "1" and plain.tags["seed"] == "0"
    )
    assert other.run_id == runs["transfer-b2-seed1"].info.run_id
    base1 = client.get_model_version_by_alias("auforget-emotion", "base-seed1")
    assert runs["transfer-b2-seed1"].data.params["base_model_version"] == str(base1.version)
    assert runs["retrain-b2-seed1"].data.params["pain_model_version"] == str(other.version)

    forgetting = runs["forgetting"]
    across = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=forgetting.info.run_id,
            artifact_path=artifacts.FORGETTING_SEEDS_CSV,
            dst_path=str(tmp_path / "f"),
        )
    )
    assert len(across) == 8 * 2 and (across["n_seeds"] == 2).all()
    finite = across.dropna(subset=["diff_low"])
    assert len(finite) > 0 and (finite["diff_low"] <= finite["diff_mean"]).all()
    assert (finite["diff_mean"] <= finite["diff_high"]).all()
    assert forgetting.data.metrics["n_seeds"] == 2
    assert artifacts.seed_diff_metric("contempt", "b0", "low") in forgetting.data.metrics

    promote = runs["promote"].data.metrics
    assert promote[artifacts.SEED_STABILITY] in (0.0, 0.5, 1.0) and promote["n_seeds"] == 2
    champion = client.get_model_version_by_alias("auforget-pain", "champion")
    assert (
        champion.tags[artifacts.SEED_STABILITY].split(" ")[1] == "seeds"
        and "seed 1: FreezeB" in champion.tags[artifacts.SEED_STABILITY]
    )
    assert champion.tags["seed"] == "0"

    report = (project / "reports" / "report.html").read_text()
    assert "Across training seeds" in report and "B0 vs B5, AU14" in report
    assert "n/a (one seed)" not in report
    # the planted truth measured across both seeds, beside the first seed's networks: findings,
    # no counts of recovered rows and no verdict flags
    found = json.loads((project / "metrics" / "planted.json").read_text())
    assert not any(k.endswith(("_recovered", "_checks")) for k in found)
    assert "seeds_probe_au5_value" in found and "seeds_recall_contempt_value" in found
    assert "seeds_probe_au14_p" in found and "seeds_recall_contempt_p" in found
    assert all(
        0 <= v <= 1
        for k, v in found.items()
        if k.startswith("seeds_region_") and k.endswith("_value")
    )
    assert (
        "Across 2 training seeds. Planted truth" in report and "The first seed's networks" in report
    )
    assert "How the pain training frames use each AU, measured" in report
    assert (
        found["pain_phi_au4"] > 0.5 and abs(found["pain_phi_au14"]) < 0.15
    )  # measured on the drawn UNBC split
