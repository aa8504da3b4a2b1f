"""MLflow plumbing: the tracking store, stage runs, and the model registry.

Names users and scripts rely on (see README):
  registered models  auforget-emotion (alias `base`), auforget-pain and auforget-retrain
                     (one version per run, tag freeze_blocks=i, alias freezeb<i> on the latest),
                     auforget-pain@champion set by `promote`.
  default store      sqlite `mlflow.db` (MLflow's own default name) + artifact folder
                     `mlartifacts`, both in the project root; MLFLOW_TRACKING_URI overrides both.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget import preflight
from auforget.config import TrackingConfig
from auforget.sqlite_store import lock_for

log = logging.getLogger(__name__)

EMOTION_MODEL = "auforget-emotion"
PAIN_MODEL = "auforget-pain"
RETRAIN_MODEL = "auforget-retrain"
BASE_ALIAS = "base"
CHAMPION_ALIAS = "champion"
# Set by `main`'s executors in a worker process: the study run its steps nest under.
PARENT_RUN_ENV = "AUFORGET_PARENT_RUN_ID"


def freeze_alias(i: int) -> str:
    return f"freezeb{i}"


def tracking_uri(cfg: TrackingConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else the project's sqlite file (absolute, so cwd can change)."""
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{Path(cfg.db).resolve()}"


def configure(cfg: TrackingConfig) -> str:
    """Point MLflow at the store and make sure the store and experiment exist.

    Creating the store's tables is serialised by the sqlite store plugin (sqlite_store.py);
    creating the experiment is a second check-then-act, serialised here by its own lock file
    (one process cannot take the same lock file twice, so the two must not share one).
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network at run time
    uri = tracking_uri(cfg)
    preflight.check_tracking_server(uri)  # one clear line now, not minutes of retries later
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    local = uri.startswith("sqlite:///")
    lock = lock_for(uri, ".experiment.lock") if local else contextlib.nullcontext()
    with lock:
        client = MlflowClient(uri)
        if os.environ.get("MLFLOW_RUN_ID"):
            return uri  # launched by `mlflow run`: the run (and its experiment) already exist
        experiment = client.get_experiment_by_name(cfg.experiment)
        if experiment is None:
            location = Path(cfg.artifacts).resolve().as_uri() if local else None
            experiment_id = client.create_experiment(cfg.experiment, artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
    if not local:
        preflight.check_artifact_store(client.get_experiment(experiment_id).artifact_location)
    # By id, not name: set_experiment(name) would trust a stale MLFLOW_EXPERIMENT_ID left in the
    # environment by an earlier store in the same process.
    mlflow.set_experiment(experiment_id=experiment_id)
    return uri


@contextlib.contextmanager
def stage_run(stage: str, params: dict[str, Any], tags: dict[str, str] | None = None) -> Iterator[Run]:
    """An MLflow run for one stage: the run `mlflow run` made, a child of an open run, or a new one.

    Leaving the block with an exception (or Ctrl-C / SIGTERM) marks the run FAILED.
    """
    parent = mlflow.active_run()
    # A step run by an executor in another process has no active parent: it names the study run.
    remote = None if parent else os.environ.get(PARENT_RUN_ENV) or None
    # A child run lives in its parent's experiment (which, under `mlflow run`, may be another
    # experiment than params.yaml's).
    experiment_id = parent.info.experiment_id if parent else None
    if remote:
        experiment_id = MlflowClient().get_run(remote).info.experiment_id
    with mlflow.start_run(run_name=stage, nested=parent is not None, experiment_id=experiment_id,
                          parent_run_id=remote) as run:
        mlflow.set_tags({"auforget.stage": stage, **(tags or {})})
        if params:
            mlflow.log_params({k: ("" if v is None else v) for k, v in params.items()})
        try:
            yield run
        except BaseException:
            mlflow.set_tag("auforget.failed", "true")
            raise


def register(model_uri: str, name: str, *, aliases: list[str], tags: dict[str, str], description: str = "") -> str:
    """Register a logged model as a new version, tag it and move the aliases to it.

    Called last in a stage, after every metric and artifact is written, so a run that fails
    earlier never reaches the registry.
    """
    client = MlflowClient()
    version = mlflow.register_model(model_uri, name, tags=tags)
    try:
        if description:
            client.update_model_version(name, version.version, description=description)
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version.version)
    except BaseException:
        # A version without its aliases would be a half-written registry entry: take it back.
        client.delete_model_version(name, version.version)
        raise
    log.info("registered %s version %s (aliases %s)", name, version.version, ", ".join(aliases))
    return str(version.version)


def resolve_alias(name: str, alias: str, *, hint: str):
    """The ModelVersion behind name@alias, or a ValueError that says what to run first."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        raise ValueError(f"no registered model {name}@{alias} in {mlflow.get_tracking_uri()}; {hint}") from None


def load_model(name: str, alias: str, *, hint: str, profile: str | None = None):
    """(torch model, ModelVersion) for name@alias; clear error if it is not registered yet, or
    (with `profile`) if it was trained with another model profile than params.yaml names."""
    import mlflow.pytorch

    from auforget.models import get_profile

    version = resolve_alias(name, alias, hint=hint)
    model = mlflow.pytorch.load_model(f"models:/{name}@{alias}", map_location="cpu")
    if profile is not None and getattr(model, "profile", None) != get_profile(profile):
        raise ValueError(f"{name}@{alias} (version {version.version}) was trained with another model profile than "
                         f"params.yaml model.profile={profile!r} ({getattr(model, 'profile', None)}); retrain the "
                         f"models upstream of it with this profile, or set model.profile back")
    return model, version


def run_artifact(run_id: str, path: str, dst: Path) -> Path:
    """Download one artifact of a run into `dst` and return its local path."""
    dst.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=str(dst)))


def code_version() -> str:
    """Content hash of the package's source: part of every run's identity for reuse."""
    import hashlib

    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def find_finished_run(key: str) -> Run | None:
    """The newest FINISHED run tagged auforget.key=key, in any experiment of the store."""
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=1,
                              filter_string=f"tags.`auforget.key` = '{key}' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


def reused(run: Run, stage: str, model: tuple[str, list[str]] | None = None) -> dict[str, float]:
    """Note a reused run on the open parent run and hand back its metrics.

    `model` = (registered name, aliases) for stages that register a model: the aliases are moved
    back to the version that run logged, so downstream steps read the model whose metrics these
    are, even if another run (a manual one with other parameters, say) moved them since.
    """
    log.info("%s: reusing finished run %s (same entry point, parameters, code, data and upstream runs)",
             stage, run.info.run_id)
    if mlflow.active_run() is not None:
        mlflow.set_tag(f"auforget.reused.{stage}", run.info.run_id)
    elif os.environ.get(PARENT_RUN_ENV):
        MlflowClient().set_tag(os.environ[PARENT_RUN_ENV], f"auforget.reused.{stage}", run.info.run_id)
    if model is not None:
        name, aliases = model
        client = MlflowClient()
        versions = client.search_model_versions(f"name='{name}' and run_id='{run.info.run_id}'")
        if not versions:
            raise ValueError(f"{stage}: run {run.info.run_id} finished but has no {name} version; "
                             f"delete the run or rerun the stage")
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
