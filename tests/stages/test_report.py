"""`report`: the page shows every piece of evidence, is self-contained, is logged, and degrades.

The evidence is built by hand in a real MLflow sqlite store in tmp_path: runs tagged like the
stages tag theirs, with metrics, tiny PNGs and CSVs, and registry versions with the aliases the
stages set (the report only reads the registry, so versions point at runs without a model).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from auforget.core import artifacts, identity

# noqa: E402
from auforget.core.config import EMOTIONS, DataConfig, Params, ReportConfig  # noqa: E402
from auforget.stages.report import run_report  # noqa: E402
from auforget.tracking import connection, registry

PAIN_RECALL = {i: 0.61 + 0.05 * i for i in range(6)}  # 0.610, 0.660, ... distinctive numbers
CHAMPION = 2
RULE = (
    "Pareto-optimal over pain recall and recall of surprise, contempt; max 0.5 * pain recall + "
    "0.5 * mean"
)


def _png(path: Path, label: str) -> Path:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.text(0.5, 0.5, label)
    fig.savefig(path, dpi=20)
    plt.close(fig)
    return path


def _stage_run(
    stage: str,
    metrics: dict[str, float] | None = None,
    tags: dict[str, str] | None = None,
    files: dict[str, object] | None = None,
    params: dict[str, object] | None = None,
) -> str:
    """A FINISHED run like a stage's: tag auforget.stage, metrics, artifacts (str: text, Path: file,
    DataFrame: CSV)."""
    with mlflow.start_run(run_name=stage) as run:
        mlflow.set_tags({"auforget.stage": stage, **(tags or {})})
        if params:
            mlflow.log_params(params)
        if metrics:
            mlflow.log_metrics(metrics)
        for name, content in (files or {}).items():
            folder, _, base = name.rpartition("/")
            if isinstance(content, pd.DataFrame):
                mlflow.log_text(content.to_csv(index=False), name)
            elif isinstance(content, Path):
                mlflow.log_artifact(str(content), artifact_path=folder or None)
                assert content.name == base
            else:
                mlflow.log_text(str(content), name)
        return run.info.run_id


def _register(name: str, run_id: str, alias: str, tags: dict[str, str]) -> str:
    client = MlflowClient()
    try:
        client.create_registered_model(name)
    except mlflow.exceptions.MlflowException:
        pass  # already registered
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id, tags=tags)
    client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)


def _pain_models() -> dict[int, tuple[str, str]]:
    """FreezeB0..B5 transfer runs registered as auforget-pain@freezeb<i>: {i: (run id, version)}."""
    out = {}
    for i in range(6):
        metrics = {"test_accuracy": 0.7 + 0.01 * i}
        for measure in ("precision", "recall", "f1"):
            for cls in ("pain", "no_pain", "macro"):
                metrics[artifacts.test_metric(measure, cls)] = 0.5 + 0.01 * i
        metrics[artifacts.test_metric("recall", "pain")] = PAIN_RECALL[i]
        run_id = _stage_run(
            f"transfer-b{i}", metrics, {"freeze_blocks": str(i)}, params={"transfer.freeze": i}
        )
        out[i] = (
            run_id,
            _register(
                registry.PAIN_MODEL, run_id, registry.freeze_alias(i), {"freeze_blocks": str(i)}
            ),
        )
    return out


def _full_evidence(tmp: Path) -> dict[str, object]:
    """Every stage's evidence; returns the run ids and versions the report should show."""
    pain = _pain_models()
    emotion_run = _stage_run(
        "emotion",
        {
            **{f"test_recall_{e}": 0.3 + 0.05 * k for k, e in enumerate(EMOTIONS)},
            "test_recall_macro": 0.4771,
            "test_accuracy": 0.5123,
        },
    )
    _register(registry.EMOTION_MODEL, emotion_run, registry.BASE_ALIAS, {})
    recalls = pd.DataFrame(
        {"emotion": EMOTIONS, "n": 10, "base": 0.8, **{f"b{i}": 0.2 + 0.1 * i for i in range(6)}}
    )
    vs_b5 = pd.DataFrame(
        [
            {
                "model_a": f"b{k}",
                "model_b": "b5",
                "emotion": e,
                "n": 10,
                "n01": 1,
                "n10": 7,
                "statistic": 4.5,
                "method": "exact",
                "pvalue": 0.0011 if e == "surprise" else 0.5,
                "pvalue_holm": 0.0088 if e == "surprise" else 0.9,
            }
            for k in range(5)
            for e in EMOTIONS
        ]
    )
    forgetting_run = _stage_run(
        "forgetting",
        {"n_significant_vs_b5": 5},
        files={
            artifacts.RECALLS_PNG: _png(tmp / artifacts.RECALLS_PNG, "recalls"),
            artifacts.RECALLS_CSV: recalls,
            artifacts.MCNEMAR_VS_B5_CSV: vs_b5,
            artifacts.MCNEMAR_PAIRWISE_CSV: vs_b5.assign(model_b="base"),
            artifacts.FORGETTING_SEEDS_CSV: pd.DataFrame(
                [
                    {
                        "emotion": "contempt",
                        "model": "b0",
                        "n_seeds": 1,
                        "diffs": "-0.3000",
                        "diff_mean": -0.3,
                        "diff_low": float("nan"),
                        "diff_high": float("nan"),
                        "p_combined": 0.004,
                        "p_combined_holm": 0.032,
                    }
                ]
            ),
        },
    )
    ranking = pd.DataFrame(
        [
            {
                "emotion": label,
                "region": region,
                "aus": aus,
                "mass_share": 0.3,
                "null_share": 0.1,
                "effect_size": effect,
                "p_value": 0.004 if effect > 1 else 0.6,
                "p_holm": 0.02 if effect > 1 else 1.0,
                "n_images": 3,
                "area_share": 0.1,
            }
            for label in ("surprise", "all")
            for region, aus, effect in (("brows", "1,2,4", 2.345), ("lip_corners", "12,14", 0.25))
        ]
    )
    saliency_run = _stage_run(
        "saliency-b0",
        {"saliency_n_surprise": 3},
        files={
            artifacts.saliency_file("surprise", artifacts.GRID_SUFFIX): _png(
                tmp / f"surprise{artifacts.GRID_SUFFIX}", "grid"
            ),
            artifacts.AU_RANKING_CSV: ranking,
            artifacts.SALIENCY_NOTES: "surprise: 3 of 4 qualifying images selected.",
        },
    )
    probes = {}
    _stage_run(
        "probes-b0-au14", {"probe_t": 99.0}, {"auforget.variant": "peak"}
    )  # older: must not be shown
    for au, variant, p in ((14, "peak", 0.0004), (5, "peak_mouthless", 0.3)):
        probes[au] = _stage_run(
            f"probes-b0-au{au}",
            {
                artifacts.probe_f1_mean("b5"): 0.812,
                artifacts.probe_f1_mean("b0"): 0.645,
                artifacts.PROBE_T: 7.25 + au,
                artifacts.PROBE_P: p,
                artifacts.PROBE_T_CORRECTED: 1.75 + au,
                artifacts.PROBE_P_CORRECTED: 0.2,
                artifacts.probe_baseline("b5"): 0.456,
                artifacts.probe_baseline("b0"): 0.432,
            },
            {artifacts.VARIANT_TAG: variant},
            files={
                artifacts.PROBE_F1_PNG: _png(tmp / Path(artifacts.PROBE_F1_PNG).name, f"au{au}"),
                artifacts.PROBE_CONCLUSION: f"B5 encodes AU{au} better than B0 (conclusion {au}).",
            },
        )
    tradeoff = pd.DataFrame(
        {
            "model": [f"FreezeB{i}" for i in range(6)],
            "pain_recall": list(PAIN_RECALL.values()),
            "recall_surprise": [0.2 + 0.1 * i for i in range(6)],
            "pareto": True,
        }
    )
    promote_run = _stage_run(
        "promote",
        {"champion_freeze": CHAMPION},
        {"auforget.champion": f"FreezeB{CHAMPION}"},
        files={
            artifacts.TRADEOFF_PNG: _png(tmp / artifacts.TRADEOFF_PNG, "tradeoff"),
            artifacts.TRADEOFF_CSV: tradeoff,
            artifacts.RULE_TXT: f"{RULE}\nchampion: FreezeB{CHAMPION}\n",
        },
    )
    client = MlflowClient()
    champion_version = pain[CHAMPION][1]
    for k, v in {
        "champion_rule": RULE,
        "champion_score": "0.6543",
        "champion_pain_recall": "0.7100",
        "champion_recall_surprise": "0.4000",
        "champion_pareto_models": "FreezeB1,FreezeB2",
    }.items():
        client.set_model_version_tag(registry.PAIN_MODEL, champion_version, k, v)
    client.set_registered_model_alias(
        registry.PAIN_MODEL, registry.CHAMPION_ALIAS, champion_version
    )
    return {
        "pain": pain,
        "emotion": emotion_run,
        "forgetting": forgetting_run,
        "saliency": saliency_run,
        "probes": probes,
        "promote": promote_run,
        "champion_version": champion_version,
    }


@pytest.fixture(autouse=True)
def _no_exported_experiment(monkeypatch):
    """mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID, which connection.configure reads as
    "launched by `mlflow run`": without clearing it, a test would log into the experiment id of
    another test's store."""
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    yield
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


def _configure(root: Path, mp: pytest.MonkeyPatch) -> Params:
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    params = Params(data=DataConfig(synthetic=True))
    connection.configure(params.tracking)
    return params


def _report_runs() -> list:
    """Report runs, newest first."""
    return mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string="tags.`auforget.stage` = 'report'",
        order_by=["attributes.start_time DESC"],
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, dict[str, object]]:
    """A project folder whose store holds every stage's evidence (built once: it is the slow
    part)."""
    root = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        _configure(root, mp)
        ids = _full_evidence(root)
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    return root, ids


@pytest.fixture
def full(store, monkeypatch) -> tuple[Path, Params, dict[str, object]]:
    root, ids = store
    return root, _configure(root, monkeypatch), ids


def test_report_shows_all_evidence_offline_and_is_logged(full):
    root, params, ids = full
    metrics = run_report(params, progress=False)
    assert (
        metrics["report_sections"] == 9 and metrics["report_sections_missing"] == 2
    )  # the hand-made store has no findings (logit excess, mixed model, CKA) and no controls run

    page = (root / "reports" / "report.html").read_text(encoding="utf-8")
    # every section but the findings and the controls (this store has no runs for them) is there
    others = page
    for section in ("findings", "controls"):
        others = re.sub(rf'<section id="{section}">.*?</section>', "", others, flags=re.S)
        others = re.sub(rf'href="#{section}">[^<]*</a> \(not available\)', "", others)
        assert f'id="{section}"' in page
    assert "not available" not in others
    # offline: inline CSS, embedded images, no scripts, nothing fetched from the internet
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert (
        len(re.findall(r'<img [^>]*src="data:image/png;base64,', page)) == 5
    )  # recalls, grid, 2 probes, tradeoff
    assert not re.search(r'src="(?!data:)', page)
    # header
    assert "Synthetic data" in page and identity.code_version() in page and "sqlite:///" in page
    # Table 1: all six pain models with their numbers and runs, the champion starred
    for i, (run_id, _) in ids["pain"].items():
        assert f"FreezeB{i}" in page and run_id in page
        assert f"{PAIN_RECALL[i]:.3f}" in page
    assert f"FreezeB{CHAMPION} \u2605" in page
    assert "0.477" in page and "0.512" in page and ids["emotion"] in page  # base emotion model
    # forgetting: recall table, McNemar rows, significant Holm p highlighted
    assert ids["forgetting"] in page
    assert page.count("<td>exact</td>") >= 5 * len(EMOTIONS)
    assert '<td class="sig">0.009 *</td>' in page and '<td class="sig">0.001 *</td>' in page
    assert '<td class="sig">0.900' not in page
    # saliency: grid and the top of the AU ranking
    assert ids["saliency"] in page and "LRP maps for surprise" in page
    assert "brows" in page and "1,2,4" in page and "2.345" in page and "3 of 4 qualifying" in page
    # probes: both t-tests and the baseline, for each probe, newest run only
    for au, run_id in ids["probes"].items():
        assert f"probes-b0-au{au}" in page and run_id in page and f"conclusion {au}" in page
        assert f"{7.25 + au:.3f}" in page and f"{1.75 + au:.3f}" in page
    assert "99.000" not in page
    assert "0.456" in page and "0.432" in page and "corrected resampled t-test" in page
    assert '<td class="sig">4.0e-04 *</td>' in page and "peak_mouthless" in page
    # trade-off and the promoted model with its rule
    assert ids["promote"] in page
    assert f"<strong>FreezeB{CHAMPION}</strong> is <code>auforget-pain@champion</code>" in page
    assert RULE.replace(">", "&gt;") in page and "FreezeB1,FreezeB2" in page and "0.654" in page
    # across seeds (one seed here): the first seed's runs, intervals n/a;
    # probe F1 difference 0.812 - 0.645
    assert "Across training seeds" in page and "n/a (one seed)" in page and "B0 vs B5, AU14" in page
    assert "<td>+0.167</td>" in page and '<td class="sig">0.032 *</td>' in page
    # planted truth (synthetic data): the probes of FreezeB0 against the world's truth,
    # F1 0.812 - 0.645
    assert (
        "Planted truth" in page
        and "finding with no verdict" in page
        and "AU14 (nuisance)" in page
        and "F1 B5 - Bk" in page
    )

    run = _report_runs()[0]
    assert run.info.status == "FINISHED" and run.info.run_id in page
    assert [a.path for a in MlflowClient().list_artifacts(run.info.run_id, "report")] == [
        "report/report.html"
    ]
    assert run.data.tags["auforget.upstream_run.promote"] == ids["promote"]
    assert run.data.metrics == metrics


def test_a_pair_of_ones_own_reads_in_its_own_words_in_every_title_and_sentence(full, tmp_path):
    """With a manifest study's words, no title or sentence names pain, its data or CK+; only
    the table cells (this store's class names) and the registered names (contracts) do."""
    from auforget.data.study_names import task_words
    from auforget.stages.report import build_sections
    from auforget.stages.report.lookup import collect

    _, params, _ = full
    manifest = DataConfig(
        kind="manifest",
        source="my/source.csv",
        target="my/target.csv",
        concepts=("my/concepts.csv",),
        source_task="emotion",
        target_task="fatigue",
    )
    words = task_words(Params(data=manifest))
    ev = collect(params.freeze_levels, params.model.backbone)
    shown = build_sections(ev, 0.05, tmp_path, words=words)
    titles = " ".join(s.title for s in shown)
    assert "Table 1: the fatigue models FreezeB0\u2013B5 (target.csv test set)" in titles
    assert "The fatigue / emotion trade-off" in titles and "concepts.csv" in titles
    prose = "\n".join(s.body for s in shown)
    prose = re.sub(r"<table.*?</table>", "", prose, flags=re.S)  # the data's own names
    prose = re.sub(r"<pre>.*?</pre>", "", prose, flags=re.S)  # the runs' own notes
    prose = re.sub(r"<p>Why: .*?</p>", "", prose, flags=re.S)  # the promote run's rule, its words
    prose = re.sub(r"auforget-pain|auforget\.pain|data:image[^\"]*", "", prose)
    for word in ("pain", "Pain", "UNBC", "AffectNet", "CK+", "PSPI", "action unit"):
        assert word not in titles + prose, word
    # the trade-off table's pain_* columns are shown under the target's name
    assert "fatigue_recall" in "\n".join(s.body for s in shown)


def test_reuse_skips_the_run_and_restores_the_file(full):
    root, params, _ = full
    first = run_report(params, progress=False)
    runs = len(_report_runs())
    path = root / "reports" / "report.html"
    original = path.read_text(encoding="utf-8")
    path.unlink()
    again = run_report(params, progress=False, reuse=True)
    assert again == first and len(_report_runs()) == runs
    assert path.read_text(encoding="utf-8") == original
    run_report(params, progress=False)  # without reuse: a new report run
    assert len(_report_runs()) == runs + 1


def test_missing_evidence_gives_not_available_sections(tmp_path, monkeypatch):
    params = _configure(tmp_path, monkeypatch)
    out = tmp_path / "elsewhere"
    params = dataclasses.replace(
        params, report=ReportConfig(out=str(out)), data=DataConfig(synthetic=False)
    )
    # an empty store
    assert run_report(params, progress=False) == {
        "report_sections": 0.0,
        "report_sections_missing": 9.0,
    }
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "auforget transfer --freeze" in page and "Synthetic data" not in page

    # nothing but the pain models
    pain = _pain_models()
    assert run_report(params, progress=False) == {
        "report_sections": 1.0,
        "report_sections_missing": 8.0,
    }
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(run_id in page for run_id, _ in pain.values())
    for command in (
        "auforget emotion",
        "auforget forgetting",
        "auforget saliency",
        "auforget probes",
        "auforget promote",
    ):
        assert f"not available:</strong> run <code>{command}" in page
    assert "http://" not in page and "https://" not in page

    # a forgetting run without its artifacts
    _stage_run("forgetting")
    assert run_report(params, progress=False)["report_sections"] == 2
    assert f"no {artifacts.MCNEMAR_VS_B5_CSV}" in (out / "report.html").read_text(encoding="utf-8")

    # a saliency run with an unreadable ranking: that section says so, the rest is written
    _stage_run("saliency-b1", files={artifacts.AU_RANKING_CSV: ""})
    assert run_report(params, progress=False)["report_sections"] == 2
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "run <code>auforget saliency</code> (its evidence could not be read" in page
