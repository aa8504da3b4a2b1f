"""`main`: the whole study, in order, each step its own MLflow run nested under a study run.

data (synth when data.synthetic, then prepare) -> emotion -> transfer 0..5 -> retrain 0..5 ->
forgetting, cka -> saliency -> probes (AU14, and AU5 on mouth-cropped faces; the survey of every
drawn AU) -> controls (synthetic data: the instrument checks) -> promote -> report;
on synthetic data, then the planted truth against what the study found (metrics/planted.json).

A step whose identity -- entry point, parameters, code version, data (content hash of the split
manifests it reads) and upstream run ids -- matches a FINISHED run is reused instead of run
again (see each stage's `fingerprint(...)`); anything else re-runs, and so does everything
downstream of it, because the upstream run ids change.

Steps of one layer (the six transfers, the six retrains, the analyses) do not depend on each
other; an executor (executors.py: serial by default, a local process pool, or Ray) may run them
at once.
"""

from __future__ import annotations

import logging
import time

import mlflow

from auforget.analysis import planted
from auforget.core.config import Params, flat
from auforget.data.study_names import study_names
from auforget.stages.cka import run_cka
from auforget.stages.controls import run_controls
from auforget.stages.emotion import run_emotion
from auforget.stages.forgetting import run_forgetting
from auforget.stages.prepare import run_prepare
from auforget.stages.probes import run_au_survey, run_probes
from auforget.stages.promote import run_promote
from auforget.stages.report import run_report
from auforget.stages.retrain import run_retrain
from auforget.stages.saliency import run_saliency
from auforget.stages.synth import run_synth, synthetic_is_current
from auforget.stages.transfer import run_transfer
from auforget.tracking import connection, preflight, registry, stage_runs
from auforget.tracking.claims import claimed_layers
from auforget.workflow.executors import ExecutorSettings, Step, run_layers, worker_context

log = logging.getLogger(__name__)

PROBED_AUS = (14, 5)


def seed_params(params: Params, seed: int) -> Params:
    """The study's parameters for one training seed: the seed of every training section."""
    return (
        params.with_overrides("emotion", seed=seed)
        .with_overrides("transfer", seed=seed)
        .with_overrides("retrain", seed=seed)
    )


def study_layers(params: Params) -> list[list[Step]]:
    """The study after the data, in dependency order: each layer reads only earlier layers' runs.
    Every seed of study.seeds is one more chain emotion -> transfer -> retrain, i.e. more steps
    in the same layers, named with the seed after the first (`transfer-b2-seed1`)."""
    chains = [
        (registry.seed_suffix(s, params.study.seeds), seed_params(params, s))
        for s in params.study.seeds
    ]
    return [
        [Step(f"emotion{sx}", run_emotion, p, gpu=True) for sx, p in chains],
        [
            Step(
                f"transfer-b{i}{sx}", run_transfer, p.with_overrides("transfer", freeze=i), gpu=True
            )
            for sx, p in chains
            for i in params.freeze_levels
        ],
        [
            Step(f"retrain-b{i}{sx}", run_retrain, p.with_overrides("retrain", freeze=i), gpu=True)
            for sx, p in chains
            for i in params.freeze_levels
        ],
        [
            Step("forgetting", run_forgetting, params),
            Step("cka", run_cka, params, gpu=True),
            *(Step(f"saliency{sx}", run_saliency, p, gpu=True) for sx, p in chains),
            *(
                Step(f"probes-au{au}{sx}", run_probes, p.with_overrides("probes", au=au), gpu=True)
                for sx, p in chains
                for au in (PROBED_AUS if params.data.kind == "native" else ())
            ),
            *(
                Step(f"probes-{c}{sx}", run_probes, p.with_overrides("probes", concept=c), gpu=True)
                for sx, p in chains
                for c in (study_names(params).concepts if params.data.kind == "manifest" else ())
            ),
            *(
                Step(f"probes-survey{sx}", run_au_survey, p, gpu=True)
                for sx, p in chains
                if p.probes.survey_aus and params.data.kind == "native"
            ),
            # synthetic data: the instrument checks on the first seed's FreezeB5 (controls.py)
            *(
                [Step("controls", run_controls, chains[0][1], gpu=True)]
                if params.data.synthetic
                and params.data.kind == "native"
                and params.model.backbone == "vgg16"
                else []
            ),
        ],
        [Step("promote", run_promote, params)],
        [Step("report", run_report, params)],
    ]


def log_planted(params: Params, steps: dict[str, dict[str, float]]) -> dict[str, float]:
    """Synthetic data only: the planted truth against what the first seed's forgetting, saliency
    and probes found (FreezeB<probes.k> vs FreezeB5) and, with several seeds, against what they
    found across seeds; as <study.metrics_dir>/planted.json and on the study run."""
    k, seeds, alpha = params.probes.k, params.study.seeds, params.forgetting.alpha
    rankings = planted.rankings_from_metrics(steps["saliency"]) if params.saliency.k == k else None
    table, text = planted.compare(
        steps["forgetting"],
        rankings,
        {au: steps[f"probes-au{au}"] for au in PROBED_AUS},
        k=k,
        alpha=alpha,
    )
    found = planted.planted_metrics(table)
    mlflow.log_text(table.to_csv(index=False), "planted/planted.csv")
    mlflow.log_text(text + "\n", "planted/planted.txt")
    log.info("main: %s", text)
    across = None
    if len(seeds) > 1:
        sx = {s: registry.seed_suffix(s, seeds) for s in seeds}
        saliency = {s: steps[f"saliency{sx[s]}"] for s in seeds} if params.saliency.k == k else {}
        probes = {au: {s: steps[f"probes-au{au}{sx[s]}"] for s in seeds} for au in PROBED_AUS}
        across, seeds_text = planted.compare_seeds(
            steps["forgetting"], saliency, probes, k=k, alpha=alpha
        )
        found.update(planted.planted_metrics(across, planted.SEEDS_PREFIX))
        mlflow.log_text(across.to_csv(index=False), "planted/planted_seeds.csv")
        mlflow.log_text(seeds_text + "\n", "planted/planted_seeds.txt")
        log.info("main: %s", seeds_text)
    association = planted.association_or_none(params.data.splits_dir, "main")
    if association is not None:
        found.update(planted.association_metrics(association))
        mlflow.log_text(association.to_csv(index=False), "planted/pain_association.csv")
    planted.write_planted(table, params.study.metrics_path, seeds=across, association=association)
    mlflow.log_metrics({f"planted.{name}": value for name, value in found.items()})
    return found


def manifest_headline(params: Params, steps: dict[str, dict[str, float]]) -> dict[str, float]:
    """Manifest data: `<focus>_recall_b<i>` of each transfer (the target class promote trades,
    or macro) and `<class>_recall_b<i>` of each retrain for the classes of promote.emotions: the
    data's names where native data have pain, surprise and contempt."""
    focus = study_names(params).target_focus
    out = {
        f"{focus}_recall_b{i}": steps[f"transfer-b{i}"].get(f"test_recall_{focus}", float("nan"))
        for i in params.freeze_levels
    }
    for name in params.promote.emotions:
        out.update(
            {
                f"{name}_recall_b{i}": steps[f"retrain-b{i}"].get(
                    f"test_recall_{name}", float("nan")
                )
                for i in params.freeze_levels
            }
        )
    return out


def run_main(
    params: Params,
    *,
    progress: bool = True,
    params_path: str = "params.yaml",
    executor: ExecutorSettings | None = None,
) -> dict[str, float]:
    executor = executor or ExecutorSettings()
    if (
        executor.kind == "ray"
    ):  # before any run is opened: an unreachable head is an error, not a hang
        preflight.check_ray_head(executor.ray_target)
    uri = connection.configure(params.tracking)
    started = time.monotonic()
    study_params = {
        "params_file": params_path,
        **flat(params.data, "data."),
        **flat(params.model, "model."),
        **flat(params.study, "study."),
    }
    with stage_runs.stage_run("study", study_params, tags={"auforget.study": "true"}) as study:
        if params.data.synthetic:
            if synthetic_is_current(params):
                log.info(
                    "main: synthetic data in %s is current; not regenerating", params.synth.out
                )
            else:
                run_synth(params, progress=progress)
        prepared = run_prepare(params, progress=progress)
        mlflow.log_metrics({f"prepare_{k}": v for k, v in prepared.items()})
        mlflow.set_tags(
            {"auforget.executor": executor.kind, "auforget.threads": str(executor.step_threads)}
        )
        context = worker_context(
            tracking_uri=uri,
            parent_run_id=study.info.run_id,
            threads=executor.step_threads,
            log_level=logging.getLogger().getEffectiveLevel(),
        )
        # Each step is claimed while it runs, so another `main` on the same store waits for it and
        # then reuses the finished run instead of training it a second time (claims.py).
        steps = run_layers(
            claimed_layers(study_layers(params)), executor, context, progress=progress
        )
        if params.data.kind == "manifest":
            headline = manifest_headline(params, steps)
        else:
            headline = {
                f"pain_recall_b{i}": steps[f"transfer-b{i}"].get("test_recall_pain", float("nan"))
                for i in params.freeze_levels
            }
        if params.data.kind == "native":
            headline.update(
                {
                    f"surprise_recall_b{i}": steps[f"retrain-b{i}"].get(
                        "test_recall_surprise", float("nan")
                    )
                    for i in params.freeze_levels
                }
            )
            headline.update(
                {
                    f"contempt_recall_b{i}": steps[f"retrain-b{i}"].get(
                        "test_recall_contempt", float("nan")
                    )
                    for i in params.freeze_levels
                }
            )
        headline["champion_freeze"] = steps["promote"]["champion_freeze"]
        if params.data.synthetic and params.data.kind == "native":
            log_planted(params, steps)
        headline["study_minutes"] = (time.monotonic() - started) / 60
        mlflow.log_metrics(headline)
        focus = study_names(params).target_focus
        stage_runs.log_tradeoff(
            {
                i: steps[f"transfer-b{i}"].get(f"test_recall_{focus}", float("nan"))
                for i in params.freeze_levels
            },
            {
                e: {
                    i: steps[f"retrain-b{i}"].get(f"test_recall_{e}", float("nan"))
                    for i in params.freeze_levels
                }
                for e in params.promote.emotions
            },
            focus,
        )
    log.info(
        "main: study finished in %.1f minutes; metrics in %s, report in %s",
        headline["study_minutes"],
        params.study.metrics_dir,
        params.report.out,
    )
    return headline
