"""Finding the report's evidence in MLflow: which runs and registry versions, then their files.

`collect` only looks runs up (cheap, and their ids are the report's reuse key); the `*_evidence`
functions download what one section shows and hand it over as plain tables, text and PNG bytes.
A file the run does not have becomes None; a file that is there but unreadable raises one of
EVIDENCE_ERRORS, which the caller turns into a "not available" section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget.analysis import instrument_checks, planted
from auforget.core import artifacts
from auforget.core.config import FREEZE_LEVELS
from auforget.stages.report.sections import (
    PROBE_STAGE,
    ChampionEvidence,
    ControlsEvidence,
    ForgettingEvidence,
    ModelRun,
    PlantedEvidence,
    ProbeEvidence,
    SaliencyEvidence,
    SeedEvidence,
    TradeoffEvidence,
    probe_order,
    probe_sort_key,
)
from auforget.tracking import registry, stage_runs

STAGE_TAG = "auforget.stage"
# what a missing or malformed piece of evidence raises; it becomes a "not available" section
EVIDENCE_ERRORS = (MlflowException, OSError, ValueError, KeyError, IndexError)


@dataclass
class Evidence:
    """The runs and registry versions the report reads, found before anything is downloaded."""

    pain: dict[int, tuple[Any, Run]] = field(default_factory=dict)  # freeze -> (ModelVersion, run)
    emotion: tuple[Any, Run] | None = None
    forgetting: Run | None = None
    saliency: Run | None = None
    probes: list[Run] = field(default_factory=list)  # newest run per probes-b<k>-au<au>
    promote: Run | None = None
    cka: Run | None = None  # the findings section's block-by-block CKA
    survey: Run | None = None  # the findings section's probe of every drawn AU
    controls: Run | None = None  # the instrument checks (synthetic data)
    champion: Any = None  # ModelVersion of auforget-pain@champion
    problems: dict[str, str] = field(default_factory=dict)  # what went wrong looking things up

    def identity(self) -> dict[str, Any]:
        """Run ids and versions: part of the report's reuse key."""
        out: dict[str, Any] = {
            f"pain_b{i}": (v.version, r.info.run_id) for i, (v, r) in sorted(self.pain.items())
        }
        if self.emotion:
            out["emotion"] = (self.emotion[0].version, self.emotion[1].info.run_id)
        for name in ("forgetting", "saliency", "promote", "cka", "survey", "controls"):
            run = getattr(self, name)
            out[name] = run.info.run_id if run else None
        out["probes"] = sorted(r.info.run_id for r in self.probes)
        if self.champion is not None:
            out["champion"] = (str(self.champion.version), sorted(self.champion.tags.items()))
        return out

    def runs(self) -> dict[str, str]:
        """name -> run id of every run the report shows."""
        out = {f"transfer-b{i}": r.info.run_id for i, (_, r) in sorted(self.pain.items())}
        if self.emotion:
            out["emotion"] = self.emotion[1].info.run_id
        for run in (
            self.forgetting,
            self.saliency,
            *self.probes,
            self.promote,
            self.cka,
            self.survey,
            self.controls,
        ):
            if run is not None:
                out[run.data.tags.get(STAGE_TAG, run.info.run_name)] = run.info.run_id
        if self.champion is not None:
            out["champion"] = self.champion.run_id
        return out

    def provenance(self) -> dict[str, str]:
        """runs() with the champion entry named after its registry version, for the page's last
        table."""
        label = (
            f"champion ({registry.PAIN_MODEL} version {self.champion.version})"
            if self.champion is not None
            else ""
        )
        return {(label if k == "champion" else k): v for k, v in self.runs().items()}


def newest_finished(stage_condition: str, max_results: int = 1) -> list[Run]:
    """FINISHED runs whose `auforget.stage` tag meets the condition (e.g. "= 'promote'"), newest
    first."""
    condition = f"tags.`{STAGE_TAG}` {stage_condition} and attributes.status = 'FINISHED'"
    return mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        max_results=max_results,
        filter_string=condition,
        order_by=["attributes.start_time DESC"],
    )


def _version_and_run(name: str, alias: str, client: MlflowClient) -> tuple[Any, Run]:
    version = registry.resolve_alias(name, alias, hint="")
    return version, client.get_run(version.run_id)


def _newest_probes() -> list[Run]:
    newest: dict[str, Run] = {}
    for run in newest_finished("LIKE 'probes-b%'", max_results=1000):
        stage = run.data.tags.get(STAGE_TAG, "")
        if PROBE_STAGE.match(stage) and stage not in newest:
            newest[stage] = run
    return [newest[s] for s in sorted(newest, key=probe_sort_key)]


def collect(levels: tuple[int, ...] = FREEZE_LEVELS, backbone: str = "vgg16") -> Evidence:
    """Look up every run and registry version the report shows; what is missing stays None/empty.
    `levels` and `backbone`: the study's freeze levels and registered names (Params)."""
    client = MlflowClient()
    ev = Evidence()
    pain = registry.model_name(registry.PAIN_MODEL, backbone)
    for i in levels:
        try:
            ev.pain[i] = _version_and_run(pain, registry.freeze_alias(i), client)
        except EVIDENCE_ERRORS as exc:
            ev.problems[f"pain_b{i}"] = str(exc)
    try:
        ev.emotion = _version_and_run(
            registry.model_name(registry.EMOTION_MODEL, backbone), registry.BASE_ALIAS, client
        )
    except EVIDENCE_ERRORS as exc:
        ev.problems["emotion"] = str(exc)
    for name, condition in (
        ("forgetting", "= 'forgetting'"),
        ("saliency", "LIKE 'saliency-b%'"),
        ("promote", "= 'promote'"),
        ("cka", "= 'cka'"),
        ("survey", "LIKE 'probes-survey-b%'"),
        ("controls", "= 'controls'"),
    ):
        try:
            found = [
                r
                for r in newest_finished(condition, max_results=100)
                if not _SEEDED.search(_stage(r))
            ]
            setattr(
                ev, name, found[0] if found else None
            )  # the single-seed view: the first seed's run
        except EVIDENCE_ERRORS as exc:
            ev.problems[name] = str(exc)
    try:
        ev.probes = _newest_probes()
    except EVIDENCE_ERRORS as exc:
        ev.problems["probes"] = str(exc)
    try:
        ev.champion = registry.resolve_alias(pain, registry.CHAMPION_ALIAS, hint="")
    except EVIDENCE_ERRORS as exc:
        ev.problems["champion"] = str(exc)
    return ev


# ---------------------------------------------------------------- one section's files


def _artifact(run: Run, path: str, folder: Path) -> Path | None:
    """Download one artifact of the run; None when the run has no such file."""
    try:
        local = stage_runs.run_artifact(run.info.run_id, path, folder / run.info.run_id)
    except (MlflowException, OSError):
        return None
    return local if local.is_file() else None


def _bytes(run: Run, path: str, folder: Path) -> bytes | None:
    local = _artifact(run, path, folder)
    return local.read_bytes() if local is not None else None


def _text(run: Run, path: str, folder: Path) -> str | None:
    local = _artifact(run, path, folder)
    return local.read_text() if local is not None else None


def _csv(run: Run, path: str, folder: Path, **read_options: Any) -> pd.DataFrame | None:
    local = _artifact(run, path, folder)
    return pd.read_csv(local, **read_options) if local is not None else None


def _artifact_names(run: Run, folder: str) -> list[str]:
    try:
        return sorted(
            f.path for f in MlflowClient().list_artifacts(run.info.run_id, folder) if not f.is_dir
        )
    except (MlflowException, OSError):
        return []


def pain_models(ev: Evidence) -> dict[int, ModelRun]:
    return {
        i: ModelRun(
            str(version.version),
            run.info.run_id,
            dict(run.data.metrics),
            run.data.params.get("transfer.freeze", version.tags.get("freeze_blocks", i)),
        )
        for i, (version, run) in ev.pain.items()
    }


def emotion_model(ev: Evidence) -> ModelRun | None:
    if ev.emotion is None:
        return None
    version, run = ev.emotion
    return ModelRun(str(version.version), run.info.run_id, dict(run.data.metrics))


def forgetting_evidence(run: Run, folder: Path) -> ForgettingEvidence:
    return ForgettingEvidence(
        run.info.run_id,
        _bytes(run, artifacts.RECALLS_PNG, folder),
        _csv(run, artifacts.RECALLS_CSV, folder),
        _csv(run, artifacts.MCNEMAR_VS_B5_CSV, folder),
        _csv(run, artifacts.MCNEMAR_PAIRWISE_CSV, folder),
        heads=run.data.params.get("retrain.heads"),
    )


def saliency_evidence(run: Run, folder: Path) -> SaliencyEvidence:
    grids = {}
    for name in _artifact_names(run, artifacts.SALIENCY_DIR):
        if name.endswith(artifacts.GRID_SUFFIX) and (png := _bytes(run, name, folder)) is not None:
            grids[Path(name).name[: -len(artifacts.GRID_SUFFIX)]] = png
    return SaliencyEvidence(
        run.info.run_id,
        run.data.tags.get(STAGE_TAG, "saliency"),
        _text(run, artifacts.SALIENCY_NOTES, folder),
        _csv(run, artifacts.AU_RANKING_CSV, folder, dtype={"aus": str}),
        grids,
        run.data.tags.get("auforget.attribution", ""),
    )


def probe_evidence(run: Run, folder: Path) -> ProbeEvidence:
    conclusion = _text(run, artifacts.PROBE_CONCLUSION, folder)
    return ProbeEvidence(
        run.info.run_id,
        run.data.tags[STAGE_TAG],
        dict(run.data.metrics),
        run.data.tags.get(artifacts.VARIANT_TAG, ""),
        (
            conclusion
            if conclusion is not None
            else run.data.tags.get(artifacts.CONCLUSION_TAG, "")
        ).strip(),
        _bytes(run, artifacts.PROBE_F1_PNG, folder),
    )


def controls_evidence(run: Run, folder: Path) -> ControlsEvidence:
    """The instrument checks' flags and figures, their notes and per-emotion recall table."""
    return ControlsEvidence(
        run.info.run_id,
        dict(run.data.metrics),
        _text(run, artifacts.CONTROLS_NOTES, folder) or "",
        _csv(run, artifacts.CONTROLS_RECALL_CSV, folder),
    )


def mcnemar_withdrawn(controls: Run | None) -> str:
    """Why the forgetting section's McNemar verdicts are withdrawn ("" when they stand, or when
    the study ran no instrument checks): the controls run's FreezeB5' pairs, one per draw."""
    if controls is None:
        return ""
    n = controls.data.metrics.get(instrument_checks.SHAM_N_SIGNIFICANT)
    pairs = int(controls.data.metrics.get(instrument_checks.NEGATIVE_DRAWS, 1))
    return instrument_checks.mcnemar_withdrawn(n, pairs) if n is not None else ""


def tradeoff_evidence(run: Run, folder: Path) -> TradeoffEvidence:
    return TradeoffEvidence(
        run.info.run_id,
        _bytes(run, artifacts.TRADEOFF_PNG, folder),
        _csv(run, artifacts.TRADEOFF_CSV, folder, dtype={"pain_version": str}),
        _text(run, artifacts.RULE_TXT, folder),
    )


def champion_evidence(ev: Evidence) -> ChampionEvidence | None:
    if ev.champion is None:
        return None
    promoted = ev.promote.data.tags.get(artifacts.CHAMPION_TAG) if ev.promote is not None else None
    return ChampionEvidence(
        str(ev.champion.version), ev.champion.run_id, dict(ev.champion.tags), promoted
    )


def planted_evidence(
    ev: Evidence,
    k: int,
    alpha: float,
    seeds: tuple[int, ...] = (0,),
    association: pd.DataFrame | None = None,
) -> PlantedEvidence:
    """`planted.compare` over the metrics of the runs the report shows (the first seed's): the
    forgetting run, the saliency run when it compares FreezeB`k`, and the probes of FreezeB`k`;
    with several seeds also `planted.compare_seeds` over every seed's saliency and probes runs."""
    assert ev.forgetting is not None
    runs = {"forgetting": ev.forgetting}
    saliency = (
        ev.saliency if ev.saliency is not None and _stage(ev.saliency) == f"saliency-b{k}" else None
    )
    rankings = (
        planted.rankings_from_metrics(saliency.data.metrics) if saliency is not None else None
    )
    if saliency is not None:
        runs[_stage(saliency)] = saliency
    probes = {}
    for run in ev.probes:
        pk, au = probe_order(_stage(run))
        if pk == k:
            probes[au] = dict(run.data.metrics)
            runs[_stage(run)] = run
    table, text = planted.compare(
        dict(ev.forgetting.data.metrics), rankings, probes, k=k, alpha=alpha
    )
    across, across_text = None, ""
    if len(seeds) > 1:
        by_seed_saliency = {
            seed: dict(run.data.metrics)
            for ((sk,), seed), run in _newest_by_stage(
                "LIKE 'saliency-b%'", _SEED_SALIENCY, seeds
            ).items()
            if int(sk) == k
        }
        by_seed_probes: dict[int, dict[int, dict[str, float]]] = {}
        for ((pk, au), seed), run in _newest_by_stage(
            "LIKE 'probes-b%'", _SEED_PROBE, seeds
        ).items():
            if int(pk) == k:
                by_seed_probes.setdefault(int(au), {})[seed] = dict(run.data.metrics)
        across, across_text = planted.compare_seeds(
            dict(ev.forgetting.data.metrics), by_seed_saliency, by_seed_probes, k=k, alpha=alpha
        )
    return PlantedEvidence(
        k,
        table,
        text,
        planted.planted_truth(),
        {n: r.info.run_id for n, r in runs.items()},
        across,
        across_text,
        association,
    )


# ---------------------------------------------------------------- across seeds

_SEEDED = re.compile(r"-seed(\d+)$")
_SEED_PROBE = re.compile(r"^probes-b(\d+)-au(\d+)(?:-seed(\d+))?$")
_SEED_SALIENCY = re.compile(r"^saliency-b(\d+)(?:-seed(\d+))?$")
_TOP_REGION_TAG = "auforget.top_region_"  # saliency: auforget.top_region_<emotion>


def _stage(run: Run) -> str:
    return run.data.tags.get(STAGE_TAG, run.info.run_name or "")


def _newest_by_stage(
    condition: str, pattern: re.Pattern, seeds: tuple[int, ...]
) -> dict[tuple, Run]:
    """(stage-name groups without the seed, seed) -> newest FINISHED run; the unsuffixed name is the
    first seed's."""
    found: dict[tuple, Run] = {}
    for run in newest_finished(condition, max_results=1000):
        if (m := pattern.match(_stage(run))) is None:
            continue
        *groups, seed = m.groups()
        seed = int(seed) if seed is not None else seeds[0]
        if seed in seeds:
            found.setdefault((tuple(groups), seed), run)
    return found


def seed_evidence(ev: Evidence, seeds: tuple[int, ...], folder: Path) -> SeedEvidence:
    """Each seed's probe F1 difference (B5 - Bk) and top AU regions, the forgetting run's
    forgetting_seeds.csv and the champion's seed stability."""
    diffs: dict[str, dict[int, float]] = {}
    for ((k, au), seed), run in sorted(
        _newest_by_stage("LIKE 'probes-b%'", _SEED_PROBE, seeds).items(),
        key=lambda kv: (int(kv[0][0][0]), int(kv[0][0][1]), seeds.index(kv[0][1])),
    ):
        m, b5, bk = (
            run.data.metrics,
            artifacts.probe_f1_mean("b5"),
            artifacts.probe_f1_mean(f"b{k}"),
        )
        if b5 in m and bk in m:
            diffs.setdefault(f"B{k} vs B5, AU{au}", {})[seed] = m[b5] - m[bk]
    tops: dict[str, dict[int, str]] = {}
    for ((k,), seed), run in sorted(
        _newest_by_stage("LIKE 'saliency-b%'", _SEED_SALIENCY, seeds).items(),
        key=lambda kv: (int(kv[0][0][0]), seeds.index(kv[0][1])),
    ):
        for tag, region in sorted(run.data.tags.items()):
            if tag.startswith(_TOP_REGION_TAG):
                tops.setdefault(f"{tag[len(_TOP_REGION_TAG) :]} (B{k} vs B5)", {})[seed] = region
    stability = ev.champion.tags.get(artifacts.SEED_STABILITY) if ev.champion is not None else None
    forgetting = (
        _csv(ev.forgetting, artifacts.FORGETTING_SEEDS_CSV, folder)
        if ev.forgetting is not None
        else None
    )
    runs = {"forgetting": ev.forgetting.info.run_id} if ev.forgetting is not None else {}
    return SeedEvidence(tuple(seeds), forgetting, diffs, tops, stability, runs)


def seed_run_ids(seeds: tuple[int, ...]) -> list[str]:
    """Ids of every seed's probes and saliency runs the across-seed section reads: part of the
    report's key."""
    runs = {
        **_newest_by_stage("LIKE 'probes-b%'", _SEED_PROBE, seeds),
        **_newest_by_stage("LIKE 'saliency-b%'", _SEED_SALIENCY, seeds),
    }
    return sorted(run.info.run_id for run in runs.values())
