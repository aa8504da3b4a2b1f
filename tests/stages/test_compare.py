"""`compare`: several backbones' registered studies on one page, the champion across them by
promote's rule (numbers worked out by hand), its alias, and "not available" where a backbone or
the CKA metrics are missing."""

from __future__ import annotations

from html.parser import HTMLParser

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from auforget.core import artifacts
from auforget.core.config import EMOTIONS, Params
from auforget.stages.compare import run_compare
from auforget.tracking import connection, registry


def _registered(name: str, alias: str, metrics: dict[str, float]) -> str:
    client = MlflowClient()
    with mlflow.start_run() as run:
        mlflow.log_metrics(metrics)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(
        name, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, alias, version.version)
    return run.info.run_id


def _rows(html: str) -> list[list[str]]:
    """The text of each table row's cells, in order."""
    rows: list[list[str]] = []

    class Cells(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "tr":
                rows.append([])
            elif tag in ("td", "th"):
                rows[-1].append("")

        def handle_data(self, data):
            if rows and rows[-1]:
                rows[-1][-1] += data.strip()

    Cells().feed(html)
    return rows


def _study(backbone: str, pain: list[float], emotion: list[float], cka: bool = False) -> None:
    """A backbone's study as the registry holds it: a base model (recall 0.9 for every emotion)
    and, per level k, a pain model (recall pain[k]) and a retrain (recall emotion[k])."""
    recall = lambda e: artifacts.test_metric("recall", e)  # noqa: E731
    base = _registered(
        registry.model_name(registry.EMOTION_MODEL, backbone),
        registry.BASE_ALIAS,
        {recall(e): 0.9 for e in EMOTIONS},
    )
    upstream = {"auforget.upstream_run.base": base}
    for k, (p, r) in enumerate(zip(pain, emotion)):
        upstream[f"auforget.upstream_run.{k}"] = _registered(
            registry.model_name(registry.PAIN_MODEL, backbone),
            registry.freeze_alias(k),
            {recall("pain"): p, artifacts.test_metric("f1", "macro"): p - 0.1},
        )
        _registered(
            registry.model_name(registry.RETRAIN_MODEL, backbone),
            registry.freeze_alias(k),
            {recall(e): r for e in EMOTIONS},
        )
    if cka:  # the cka stage's run, tagged with the runs it measured as stages/cka.py tags them
        with mlflow.start_run(run_name="cka", tags=upstream):
            mlflow.log_metrics(
                {
                    f"cka_b{k}_block{j}": 1.0 if j < k else 0.5
                    for k in range(len(pain))
                    for j in range(2)
                }
            )


def test_compare_puts_backbones_side_by_side_and_promotes_across_them(mlflow_store, tmp_path):
    params = Params()
    connection.configure(params.tracking)
    # scores (pain weight 0.5): vgg16 B0 0.5*0.6+0.5*0.5=0.55, B1 0.5*0.5+0.5*0.8=0.65;
    # resnet50 B0 0.5*0.9+0.5*0.6=0.75 (the champion), B1 0.5*0.4+0.5*0.7=0.55 (dominated)
    _study("vgg16", pain=[0.6, 0.5], emotion=[0.5, 0.8])
    _study("resnet50", pain=[0.9, 0.4], emotion=[0.6, 0.7], cka=True)
    metrics = run_compare(params, progress=False)
    assert metrics == {"compare_champion_freeze": 0.0, "compare_backbones": 2.0}
    client = MlflowClient()
    champion = client.get_model_version_by_alias("auforget-pain-resnet50", artifacts.ACROSS_ALIAS)
    assert str(champion.version) == "1"
    html = (tmp_path / "reports" / artifacts.COMPARE_HTML).read_text()
    assert "Champion across backbones: resnet50 B0" in html
    assert "without a registered study: vit_b_16" in html
    assert "0.300" in html  # vgg16's B1 drop 0.9-0.6
    section = html[html.index("CKA per stage") :]
    cka = _rows(section[: section.index("</table>")])
    assert cka[0] == ["backbone", "freeze", "stage 0", "stage 1"]
    # vgg16 has no cka run; each resnet50 level reads its own values
    assert [[r[0], r[1], *map(float, r[2:])] for r in cka[1:]] == [
        ["resnet50", "0", 0.5, 0.5],
        ["resnet50", "1", 1.0, 0.5],
    ]

    # a later comparison that picks another backbone moves the alias off resnet50
    _study("vit_b_16", pain=[0.95], emotion=[0.9])
    run_compare(params, progress=False)
    assert client.get_model_version_by_alias("auforget-pain-vit_b_16", artifacts.ACROSS_ALIAS)
    assert (
        artifacts.ACROSS_ALIAS not in client.get_registered_model("auforget-pain-resnet50").aliases
    )


def test_compare_without_cka_metrics_says_not_available(mlflow_store, tmp_path):
    params = Params().with_overrides("compare", backbones=("vgg16",))
    connection.configure(params.tracking)
    _study("vgg16", pain=[0.6, 0.5], emotion=[0.5, 0.8])
    run_compare(params, progress=False)
    html = (tmp_path / "reports" / artifacts.COMPARE_HTML).read_text()
    assert "CKA per stage: not available" in html


def test_compare_without_any_study_is_one_clear_error(mlflow_store):
    params = Params()
    connection.configure(params.tracking)
    with pytest.raises(ValueError, match="none of compare.backbones"):
        run_compare(params, progress=False)
