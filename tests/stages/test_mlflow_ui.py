"""The study as a user sees it in the MLflow UI: `mlflow ui` on the tiny study's store, walked in
headless Chromium (tools/mlflow_ui.py: runs, one training run, the Models tab, the registry), and
each page checked for the study's runs, datasets, models and a metric value from the store."""

from __future__ import annotations

import re

import pytest
from mlflow.tracking import MlflowClient
from tools import chromium, mlflow_ui

from auforget.tracking import registry, stage_runs
from auforget.tracking.model_export import model_name

TRAINING = ["emotion", *(f"transfer-b{i}" for i in range(6)), *(f"retrain-b{i}" for i in range(6))]
ANALYSIS = ["forgetting", "saliency-b0", "probes-b0-au14", "probes-b0-au5", "promote", "report"]


def _js(value: float) -> str:
    """A number as the UI prints it (JavaScript's shortest round-trip form: 1 for 1.0)."""
    return str(int(value)) if value == int(value) else repr(value)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _name(row: dict[str, str], column: str) -> str:
    """The name in a row's name cell (its last line: the run's or model's colour label comes
    first)."""
    return _cell(row, column).split("\n")[-1]


def _cell(row: dict[str, str], column: str) -> str:
    """The text of the row's cell whose column id contains `column` ("" when there is none)."""
    return next((text for col, text in row.items() if column in (col or "")), "")


@pytest.mark.skipif(
    chromium.find() is None, reason="no chromium binary on PATH (Debian: apt-get install chromium)"
)
def test_the_ui_shows_the_studys_runs_datasets_and_models_with_metrics(tiny_study, tmp_path):
    with (
        mlflow_ui.serve(tiny_study / "mlflow.db", tmp_path / "mlflow-ui.log") as url,
        chromium.Browser(width=mlflow_ui.WINDOW[0], height=mlflow_ui.WINDOW[1]) as browser,
    ):
        pages = mlflow_ui.walk(browser, url)

    # Runs: the study run unfolded into every step; training steps show their datasets and models.
    runs = {_name(row, "Run Name"): row for row in pages["runs"].rows}
    assert {"study", *TRAINING, *ANALYSIS} <= set(runs), sorted(runs)
    assert "unbc-train" in _cell(runs["transfer-b2"], "Dataset"), runs["transfer-b2"]
    assert registry.PAIN_MODEL in _cell(runs["transfer-b2"], "Models"), runs["transfer-b2"]
    assert "affectnet-train" in _cell(runs["emotion"], "Dataset"), runs["emotion"]
    assert registry.RETRAIN_MODEL in _cell(runs["retrain-b2"], "Models"), runs["retrain-b2"]

    # One training run: its description, datasets, and its test metrics linked to its logged model,
    # with the value the store holds for the run the page is about.
    run_id = pages["run"].url.rstrip("/").split("/runs/")[1].split("/")[0].split("?")[0]
    metric, dataset = mlflow_ui.MODEL_METRIC
    value = _js(
        MlflowClient(f"sqlite:///{tiny_study / 'mlflow.db'}").get_run(run_id).data.metrics[metric]
    )
    run_page = _flat(pages["run"].text)
    assert stage_runs.describe(mlflow_ui.RUN) in run_page
    assert "Datasets unbc-train" in run_page
    assert f"{metric} {value} {model_name(mlflow_ui.RUN)}" in run_page, run_page

    # Models tab: every logged model by name, and the same metric in the row of the model logged by
    # that run (a store may hold several studies, so the row is found by its source run's link).
    models = pages["models"].rows
    assert {model_name(stage) for stage in TRAINING} <= {_name(row, "name") for row in models}, (
        models
    )
    logged = [
        row for row in models if row.get("source_run_id href", "").endswith(f"/runs/{run_id}")
    ]
    assert [_name(row, "name") for row in logged] == [model_name(mlflow_ui.RUN)], logged
    column = f'"metricKey":"{metric}","datasetName":"{dataset}"'
    assert _cell(logged[0], column) == value, logged[0]

    # Registry: the three registered models; auforget-pain's versions carry champion and freezeb<i>.
    assert all(
        name in pages["registry-list"].text
        for name in (registry.EMOTION_MODEL, registry.PAIN_MODEL, registry.RETRAIN_MODEL)
    )
    registry_page = pages["registry"].text
    for alias in (registry.CHAMPION_ALIAS, *(registry.freeze_alias(i) for i in range(6))):
        assert f"@ {alias}\n" in registry_page, alias
