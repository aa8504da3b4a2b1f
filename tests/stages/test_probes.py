"""`probes`: the stage on the tiny CK+ split with two tiny registered pain models; its metrics, its
files, and that the report reads every part of them back."""

from __future__ import annotations

import mlflow
import torch

from auforget.core import artifacts
from auforget.nn.backbones import build_vgg16
from auforget.stages.probes import probe_metrics, run_probes
from auforget.stages.report.lookup import probe_evidence
from auforget.stages.report.sections import section_probes
from auforget.tracking import connection, registry
from auforget.workflow.fitting import log_torch_model


def _register_pain(freeze: int, seed: int) -> None:
    torch.manual_seed(seed)
    with mlflow.start_run(run_name=f"transfer-b{freeze}"):
        info = log_torch_model(build_vgg16("small", 2))
        registry.register(
            info.model_uri,
            registry.PAIN_MODEL,
            aliases=[registry.freeze_alias(freeze)],
            tags={"freeze_blocks": str(freeze)},
        )


def test_probe_metrics_are_named_for_the_compared_model():
    summary = {
        "f1_b5_mean": 0.8,
        "f1_bk_mean": 0.6,
        "f1_b5_std": 0.1,
        "f1_bk_std": 0.2,
        "t": 3.0,
        "p": 0.01,
        "t_corrected": 1.0,
        "p_corrected": 0.3,
        "baseline_f1_b5_mean": 0.4,
        "baseline_f1_bk_mean": 0.45,
        "above_baseline_b5": 1.0,
        "above_baseline_bk": 1.0,
        "n_images": 40,
        "n_positive": 12,
    }
    metrics = probe_metrics(summary, k=2)
    assert metrics["probe_f1_mean_b2"] == 0.6 and metrics["probe_f1_mean_b5"] == 0.8
    assert metrics["probe_baseline_f1_b2"] == 0.45 and metrics["probe_p_corrected"] == 0.3
    assert len(metrics) == len(summary)


def test_the_stage_logs_what_the_report_reads(fast_params, mlflow_store, tmp_path):
    params = fast_params.with_overrides("probes", seeds=4)
    connection.configure(params.tracking)
    _register_pain(5, seed=0)
    _register_pain(0, seed=1)
    metrics = run_probes(params, progress=False)
    assert (
        0.0 <= metrics[artifacts.probe_f1_mean("b0")] <= 1.0
        and artifacts.PROBE_P_CORRECTED in metrics
    )

    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'probes-b0-au14'",
    )
    shown = probe_evidence(run, tmp_path / "report-download")
    assert shown.png and shown.conclusion and shown.variant == "peak"
    logged = {
        a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, artifacts.PROBES_DIR)
    }
    assert logged == {
        artifacts.PROBE_F1_CSV,
        artifacts.PROBE_BASELINE_CSV,
        artifacts.PROBE_F1_PNG,
        artifacts.PROBE_CONCLUSION,
    }
    body = section_probes([shown], alpha=0.05).body
    assert "not available" not in body and "probes-b0-au14: AU14, FreezeB5 vs FreezeB0" in body


def test_the_au_survey_probes_every_listed_au_on_features_extracted_once(
    fast_params, mlflow_store, tmp_path
):
    from auforget.stages.probes import run_au_survey
    from auforget.stages.report.findings import findings_evidence, section_findings

    params = fast_params.with_overrides("probes", survey_aus=(14, 5, 99), survey_seeds=3)
    connection.configure(params.tracking)
    _register_pain(5, seed=0)
    _register_pain(0, seed=1)
    metrics = run_au_survey(params, progress=False)
    assert -1.0 <= metrics[artifacts.survey_metric("drop", 14)] <= 1.0
    assert artifacts.survey_metric("drop", 5) in metrics
    assert artifacts.survey_metric("drop", 99) not in metrics  # no image shows AU99
    (run,) = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'probes-survey-b0'",
    )
    ev = findings_evidence(None, None, tmp_path / "download", run)
    rows = ev.survey.set_index("au")
    assert rows.at[5, "variant"] == "peak_mouthless" and rows.at[14, "variant"] == "peak"
    assert "too few images" in rows.at[99, "note"]
    body = section_findings(ev, alpha=0.05).body
    assert "every drawn AU" in body and "probes-survey" not in body or run.info.run_id in body
