"""Stage runs: opening one, closing it FAILED when its step dies, and reusing a finished one.

Every stage opens its run through `stage_run`, which tags the run with its process
(`auforget.holder`) and the stage, and closes it FAILED with the reason when the step raises.

A tracking server or bucket that goes away mid-step (see preflight): the step's MLflow requests
give up after about 30 s of retries, and the step ends with one line (`preflight.StoreLost`)
naming what went away, the run, and the checkpoint that is kept. Its run is marked FAILED if the
server takes that one request; otherwise it stays RUNNING, tagged with its process
(`auforget.holder` = host:pid), and the next command on the same machine marks it FAILED when it
finds that process gone. A model version is only ever kept for a FINISHED run: a failed or
abandoned run's versions are deleted when it is marked FAILED.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget.tracking import claims, connection, preflight
from auforget.tracking.connection import FAILED_TAG, HOLDER_TAG, NOTE_TAG, fail_run

log = logging.getLogger(__name__)


# Set by `main`'s executors in a worker process: the study run its steps nest under.
PARENT_RUN_ENV = "AUFORGET_PARENT_RUN_ID"


# Stage-name prefix -> the run description the UI shows (format fields: the number after "-b").
DESCRIPTIONS = {
    "study": "The whole study: data, base emotion model, FreezeB0-B5 pain models, retrained "
    "emotion heads, McNemar tests, LRP maps, concept probes, promotion and report. Chart "
    "`tradeoff_*` against step (= frozen blocks) to see pain recall and the forgotten emotions' "
    "recalls of FreezeB0..B5.",
    "emotion": "Base emotion classifier: VGG16 in five blocks on AffectNet (8 classes), weighted "
    "focal loss.",
    "transfer": "FreezeB{i}: pain model fine-tuned on UNBC-McMaster from the base emotion model "
    "with its first {i} conv blocks frozen.",
    "retrain": "Forgetting measure for FreezeB{i}: its conv blocks frozen, output layers "
    "retrained on AffectNet emotions; compare per-emotion recalls with the base model.",
    "forgetting": "Per-emotion recalls of the retrained models and McNemar tests against FreezeB5.",
    "saliency": "LRP maps of FreezeB5 and FreezeB{i} (retrained) and their difference, with the "
    "AU regions ranked.",
    "probes": "Linear SVM concept probes: is the AU still encoded in the conv features of "
    "FreezeB{i} and FreezeB5?",
    "promote": "Chooses the pain/emotion trade-off among the FreezeB models and aliases it "
    "auforget-pain@champion.",
    "tune": "Optuna search for the focal-loss gamma; one nested run per trial.",
    "report": "The HTML study report.",
}


def describe(stage: str) -> str:
    """The UI description for a stage run named e.g. `transfer-b2` (empty for unknown stages)."""
    prefix, _, rest = stage.partition("-")
    number = rest[1:].split("-")[0] if rest.startswith("b") else ""
    return DESCRIPTIONS.get(prefix, "").format(i=number or "k")


def _abandon(run: Run, stage: str, why: str, checkpoint: Path | None) -> preflight.StoreLost:
    """Close a run whose store went away: one try at marking it FAILED (and dropping any version
    registered from it), then the one-line error that ends the step."""
    run_id = run.info.run_id
    closed = True
    with preflight.one_try():
        try:
            fail_run(MlflowClient(), run_id, why)
        except Exception:  # noqa: BLE001 - the server is gone; the next command here closes the run
            closed = False
        # Off this process's stack of active runs (end_run pops before it asks the server).
        if (active := mlflow.active_run()) is not None and active.info.run_id == run_id:
            with contextlib.suppress(Exception):
                mlflow.end_run("FAILED")
    state = (
        "marked FAILED, no model version kept for it"
        if closed
        else "left RUNNING: the next auforget command on this machine against the server marks "
        "it FAILED and deletes any model version registered from it"
    )
    if checkpoint is not None and checkpoint.exists():
        kept = (
            f"the training checkpoint {checkpoint} is kept: run the same command again once it is "
            "back and it resumes there"
        )
    else:
        kept = (
            "run the same command again once it is back (a training step resumes from its last "
            "epoch checkpoint)"
        )
    return preflight.StoreLost(f"{stage}: {why}; run {run_id} {state}; {kept}")


@contextlib.contextmanager
def stage_run(
    stage: str,
    params: dict[str, Any],
    tags: dict[str, str] | None = None,
    *,
    checkpoint: Path | None = None,
) -> Iterator[Run]:
    """An MLflow run for one stage: the run `mlflow run` made, a child of an open run, or a new one.

    Leaving the block with an exception (or Ctrl-C / SIGTERM) marks the run FAILED. When the
    tracking server or the run's artifact store is what went away, the step ends with one line
    (`preflight.StoreLost`) naming it, the run and `checkpoint` (the step's local progress, kept);
    see this module's docstring for what happens to the run.
    """
    parent = mlflow.active_run()
    # A step run by an executor in another process has no active parent: it names the study run.
    remote = None if parent else os.environ.get(PARENT_RUN_ENV) or None
    # A child run lives in its parent's experiment (which, under `mlflow run`, may be another
    # experiment than params.yaml's).
    experiment_id = parent.info.experiment_id if parent else None
    if remote:
        experiment_id = MlflowClient().get_run(remote).info.experiment_id
    with mlflow.start_run(
        run_name=stage, nested=parent is not None, experiment_id=experiment_id, parent_run_id=remote
    ) as run:
        top = parent is None and not remote
        extra = (
            {"auforget.launcher_run": connection.launcher_run()[0]}
            if connection.launcher_run() and top
            else {}
        )
        if extra:
            connection.point_launcher_run_at(run)
        if note := describe(stage):
            extra[NOTE_TAG] = note
        try:
            mlflow.set_tags(
                {"auforget.stage": stage, HOLDER_TAG: claims.holder(), **extra, **(tags or {})}
            )
            if params:
                # "" and None read as "no value" in the UI's compare view; say so.
                mlflow.log_params(
                    {k: ("none" if v in (None, "") else v) for k, v in params.items()}
                )
            yield run
        except BaseException as exc:
            why = preflight.lost_store(exc, mlflow.get_tracking_uri(), run.info.artifact_uri)
            if not why:
                mlflow.set_tag(FAILED_TAG, "true")
                raise
            if isinstance(
                exc, preflight.StoreLost
            ):  # an inner step's line says it all; close this run too
                _abandon(run, stage, why, None)
                raise
            raise _abandon(run, stage, why, checkpoint) from exc


def log_tradeoff(
    pain_recall: Mapping[int, float],
    emotion_recalls: Mapping[str, Mapping[int, float]],
    focus: str = "pain",
) -> None:
    """Log FreezeB0..B5 as series on the active (study) run, step = number of frozen blocks:
    `tradeoff_pain_recall` and `tradeoff_recall_<emotion>`. One line chart of these against step
    (run page > Model metrics, or the compare view's line chart) shows the study's trade-off:
    pain recall gained against the forgotten emotions' recall lost. `focus` names the target
    class (`tradeoff_<focus>_recall`; manifest data name their own)."""
    series = {
        f"tradeoff_{focus}_recall": pain_recall,
        **{f"tradeoff_recall_{emotion}": values for emotion, values in emotion_recalls.items()},
    }
    for key, values in series.items():
        for blocks, value in sorted(values.items()):
            mlflow.log_metric(key, float(value), step=int(blocks))


def run_artifact(run_id: str, path: str, dst: Path) -> Path:
    """Download one artifact of a run into `dst` and return its local path."""
    dst.mkdir(parents=True, exist_ok=True)
    return Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst))
    )


def find_finished_run(key: str) -> Run | None:
    """The newest FINISHED run tagged auforget.key=key, in any experiment of the store."""
    runs = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        max_results=1,
        filter_string=f"tags.`auforget.key` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
    )
    return runs[0] if runs else None


def reused(run: Run, stage: str, model: tuple[str, list[str]] | None = None) -> dict[str, float]:
    """Note a reused run on the open parent run and hand back its metrics.

    `model` = (registered name, aliases) for stages that register a model: the aliases are moved
    back to the version that run logged, so downstream steps read the model whose metrics these
    are, even if another run (a manual one with other parameters, say) moved them since.
    """
    log.info(
        "%s: reusing finished run %s (same entry point, parameters, code, data and upstream runs)",
        stage,
        run.info.run_id,
    )
    if mlflow.active_run() is not None:
        mlflow.set_tag(f"auforget.reused.{stage}", run.info.run_id)
    elif os.environ.get(PARENT_RUN_ENV):
        MlflowClient().set_tag(
            os.environ[PARENT_RUN_ENV], f"auforget.reused.{stage}", run.info.run_id
        )
    if model is not None:
        name, aliases = model
        client = MlflowClient()
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        if not versions:
            raise ValueError(
                f"{stage}: run {run.info.run_id} finished but has no {name} version; "
                f"delete the run or rerun the stage"
            )
        version = str(max(int(v.version) for v in versions))
        for alias in aliases:
            try:
                current = str(client.get_model_version_by_alias(name, alias).version)
            except MlflowException:
                current = None
            if current != version:
                client.set_registered_model_alias(name, alias, version)
                log.info("%s: alias %s@%s moved back to version %s", stage, name, alias, version)
    return dict(run.data.metrics)
