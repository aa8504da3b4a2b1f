"""Which tracking store a process talks to, and taking over the run `mlflow run` opened.

  default store      sqlite `mlflow.db` (MLflow's own default name) + artifact folder
                     `mlartifacts`, both in the project root; MLFLOW_TRACKING_URI overrides both.
  experiment         params.yaml tracking.experiment, tagged as a model-training experiment so
                     the MLflow UI opens it on its training-runs view (not the GenAI overview).

Under `mlflow run`, the launcher hands its run over in MLFLOW_RUN_ID / MLFLOW_EXPERIMENT_ID /
MLFLOW_TRACKING_URI. That run is used when it is in the study's store and experiment (`mlflow run
. -e X --experiment-name auforget`); otherwise (MLflow's default store or the `Default`
experiment) the stage runs in the study's experiment and store, and the launcher's run (empty
but for the entry point's parameters) is left where the launcher made it, its description
pointing at the stage's run. It cannot be deleted: the launcher sets its status when the
command ends, and MLflow refuses that on a deleted run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget.core.config import TrackingConfig
from auforget.tracking import claims, preflight
from auforget.tracking.sqlite_store import lock_for

log = logging.getLogger(__name__)

NOTE_TAG = "mlflow.note.content"  # the run's description in the UI
HOLDER_TAG = "auforget.holder"  # host:pid of the process that opened a stage run
FAILED_TAG = "auforget.failed"  # "true" on a stage run that ended with an error
FAILED_WHY_TAG = "auforget.failed_reason"
# (run id, store, study experiment, study store) of the `mlflow run` run this process stepped away
# from
_LAUNCHER: tuple[str, str, str, str] | None = None
_SWEPT: set[str] = set()  # stores whose abandoned runs this process has looked for


# MLflow 3 reads this experiment tag to choose the UI's view (mlflow/server/js: ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"


MODEL_TRAINING_KIND = "custom_model_development"


def tracking_uri(cfg: TrackingConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else the project's sqlite file (absolute, so cwd can change).

    Under `mlflow run` the launcher always sets MLFLOW_TRACKING_URI; when it only passes on
    MLflow's own default (no store chosen), the project's store is used instead.
    """
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env and not (os.environ.get("MLFLOW_RUN_ID") and _is_mlflow_default(env)):
        return env
    return f"sqlite:///{Path(cfg.db).resolve()}"


def _is_mlflow_default(uri: str) -> bool:
    """MLflow's built-in store when none is configured: sqlite:///mlflow.db, or ./mlruns."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH, DEFAULT_TRACKING_URI

    if uri == DEFAULT_TRACKING_URI:
        return True
    path = uri.removeprefix("file://") if uri.startswith("file://") else uri
    return (
        "://" not in path
        and Path(path).resolve() == Path(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).resolve()
    )


def _same_store(a: str, b: str) -> bool:
    from auforget.tracking.sqlite_store import sqlite_path

    pa, pb = sqlite_path(a), sqlite_path(b)
    return Path(pa).resolve() == Path(pb).resolve() if pa and pb else a == b


def configure(cfg: TrackingConfig) -> str:
    """Point MLflow at the store and make sure the store and experiment exist.

    Creating the store's tables is serialised by the sqlite store plugin (sqlite_store.py);
    creating the experiment is a second check-then-act, serialised here by its own lock file
    (one process cannot take the same lock file twice, so the two must not share one).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network at run time
    launcher = os.environ.get("MLFLOW_RUN_ID"), os.environ.get("MLFLOW_TRACKING_URI", "")
    uri = tracking_uri(cfg)
    preflight.check_tracking_server(uri)  # one clear line now, not minutes of retries later
    if not uri.startswith("sqlite:///"):
        # a server that goes away mid-step: about 30 s of retries, not 12 minutes
        preflight.bound_http_retries()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    local = uri.startswith("sqlite:///")
    lock = lock_for(uri, ".experiment.lock") if local else contextlib.nullcontext()
    with lock:
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(cfg.experiment)
        if experiment is None:
            location = Path(cfg.artifacts).resolve().as_uri() if local else None
            try:
                experiment_id = client.create_experiment(
                    cfg.experiment,
                    artifact_location=location,
                    tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND},
                )
            except MlflowException as exc:  # a worker on another machine created it just now
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(cfg.experiment)
        if experiment is not None:
            experiment_id = experiment.experiment_id
            if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
                client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
    if not local:
        preflight.check_artifact_store(client.get_experiment(experiment_id).artifact_location, uri)
    if (
        uri not in _SWEPT
    ):  # once per process and store: the runs and claims a dead process here left
        _SWEPT.add(uri)
        try:
            fail_abandoned_runs(client)
            claims.expire_gone_holders(client, cfg.experiment)
        except MlflowException as exc:  # a store this user may not write to: leave them as they are
            log.warning(
                "could not close runs or claims left by dead processes on this machine: %s",
                preflight.brief(exc),
            )
    if launcher[0]:
        _take_over_launcher_run(launcher[0], launcher[1], uri, experiment_id, cfg.experiment)
    # By id, not name: set_experiment(name) would trust a stale MLFLOW_EXPERIMENT_ID left in the
    # environment by an earlier store in the same process.
    mlflow.set_experiment(experiment_id=experiment_id)
    if cfg.system_metrics:
        mlflow.enable_system_metrics_logging()  # CPU, memory, disk, network (and GPU) per run
    return uri


def _take_over_launcher_run(
    run_id: str, launcher_uri: str, uri: str, experiment_id: str, name: str
) -> None:
    """Use `mlflow run`'s run when it is in our store and experiment; else run apart from it.

    The launcher's run cannot move to another store or experiment, so when it is elsewhere the
    stage starts its own run here (tagged auforget.launcher_run), and stage_run points the
    launcher's run at it. The launcher's run is not ended or deleted here: when the command
    exits, the launcher sets its status (MLflow 3.17 compares the stored status string with
    integer codes, so it always does), which fails on a deleted run.
    """
    os.environ["MLFLOW_TRACKING_URI"] = uri  # later configure() calls and child processes agree
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    theirs = MlflowClient(launcher_uri)
    if (
        _same_store(launcher_uri, uri)
        and theirs.get_run(run_id).info.experiment_id == experiment_id
    ):
        return  # mlflow.start_run() picks MLFLOW_RUN_ID up
    os.environ.pop("MLFLOW_RUN_ID", None)
    global _LAUNCHER
    _LAUNCHER = (run_id, launcher_uri, name, uri)
    log.info(
        "mlflow run: this step runs in experiment '%s' of %s, not in the launcher's run %s",
        name,
        uri,
        run_id,
    )


def point_launcher_run_at(run: Run) -> None:
    """Describe the launcher's run as a pointer to the run the stage really ran in."""
    run_id, launcher_uri, name, uri = _LAUNCHER
    note = (
        "`mlflow run` made this run outside the study's store or experiment; the step ran as run "
        f"{run.info.run_id} ('{run.info.run_name}') in experiment '{name}' of {uri}. Pass "
        f"--experiment-name {name} to have one run."
    )
    try:
        client = MlflowClient(launcher_uri)
        client.set_tag(run_id, NOTE_TAG, note)
        client.set_tag(run_id, "auforget.run", run.info.run_id)
    except (
        MlflowException
    ) as exc:  # a read-only or unreachable launcher store: leave its run as it is
        log.warning(
            "could not describe mlflow run's own run %s in %s: %s", run_id, launcher_uri, exc
        )


def fail_abandoned_runs(client: MlflowClient) -> list[str]:
    """Mark FAILED every RUNNING stage run whose process was on this machine and is gone (the
    server went away mid-step and the run could not be closed; or the process was killed), and
    delete any model version registered from it. Returns their ids."""
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if not experiments:
        return []
    holder = claims.holder()
    failed = []
    for run in claims.runs_of_gone_holders(client, experiments, HOLDER_TAG):
        who = run.data.tags[HOLDER_TAG]
        why = (
            f"left RUNNING by {who}, a process that is gone (the tracking server went away "
            f"mid-step, or the process was killed); marked FAILED by {holder}"
        )
        dropped = fail_run(client, run.info.run_id, why)
        log.warning(
            "run %s ('%s'): %s%s",
            run.info.run_id,
            run.info.run_name,
            why,
            f"; deleted its model versions {', '.join(dropped)}" if dropped else "",
        )
        failed.append(run.info.run_id)
    return failed


def fail_run(client: MlflowClient, run_id: str, why: str) -> list[str]:
    """Tag a run failed (with why), delete the model versions registered from it, end it FAILED.
    Returns the versions deleted as `name/version`."""
    client.set_tag(run_id, FAILED_TAG, "true")
    client.set_tag(run_id, FAILED_WHY_TAG, why[:5000])
    dropped = []
    for version in client.search_model_versions(f"run_id = '{run_id}'"):
        client.delete_model_version(version.name, version.version)
        dropped.append(f"{version.name}/{version.version}")
    client.set_terminated(run_id, "FAILED")
    return dropped


def launcher_run() -> tuple[str, str, str, str] | None:
    """(run id, launcher store, experiment, store) of the run `mlflow run` opened outside the
    study's store or experiment, once configure() has taken it over; else None."""
    return _LAUNCHER
