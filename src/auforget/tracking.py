"""MLflow plumbing: the tracking store, stage runs, and the model registry.

Names users and scripts rely on (see README):
  registered models  auforget-emotion (alias `base`), auforget-pain and auforget-retrain
                     (one version per run, tag freeze_blocks=i, alias freezeb<i> on the latest),
                     auforget-pain@champion set by `promote`.
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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget import claims, preflight
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
HOLDER_TAG = "auforget.holder"        # host:pid of the process that opened a stage run
FAILED_TAG = "auforget.failed"        # "true" on a stage run that ended with an error
FAILED_WHY_TAG = "auforget.failed_reason"


# MLflow 3 reads this experiment tag to choose the UI's view (mlflow/server/js: ExperimentKind).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
NOTE_TAG = "mlflow.note.content"  # the run's description in the UI
# Stage-name prefix -> the run description the UI shows (format fields: the number after "-b").
DESCRIPTIONS = {
    "study": "The whole study: data, base emotion model, FreezeB0-B5 pain models, retrained emotion heads, "
             "McNemar tests, LRP maps, concept probes, promotion and report. Chart `tradeoff_*` against step "
             "(= frozen blocks) to see pain recall and the forgotten emotions' recalls of FreezeB0..B5.",
    "emotion": "Base emotion classifier: VGG16 in five blocks on AffectNet (8 classes), weighted focal loss.",
    "transfer": "FreezeB{i}: pain model fine-tuned on UNBC-McMaster from the base emotion model with its first "
                "{i} conv blocks frozen.",
    "retrain": "Forgetting measure for FreezeB{i}: its conv blocks frozen, output layers retrained on AffectNet "
               "emotions; compare per-emotion recalls with the base model.",
    "forgetting": "Per-emotion recalls of the retrained models and McNemar tests against FreezeB5.",
    "saliency": "LRP maps of FreezeB5 and FreezeB{i} (retrained) and their difference, with the AU regions ranked.",
    "probes": "Linear SVM concept probes: is the AU still encoded in the conv features of FreezeB{i} and FreezeB5?",
    "promote": "Chooses the pain/emotion trade-off among the FreezeB models and aliases it auforget-pain@champion.",
    "tune": "Optuna search for the focal-loss gamma; one nested run per trial.",
    "report": "The HTML study report.",
}


def freeze_alias(i: int) -> str:
    return f"freezeb{i}"


def seed_suffix(seed: int, seeds: Sequence[int]) -> str:
    """"" for the study's first seed (its runs and aliases keep the single-seed names), else
    "-seed<s>": `transfer-b2-seed1`, `auforget-pain@freezeb2-seed1`."""
    return "" if seeds and seed == seeds[0] else f"-seed{seed}"


def seed_aliases(alias: str, seed: int, seeds: Sequence[int]) -> tuple[str, ...]:
    """The aliases a model trained under `seed` gets: `<alias>-seed<s>` always (a script can loop
    over seeds), and the plain `<alias>` too for the study's first seed."""
    return tuple(dict.fromkeys((alias + seed_suffix(seed, seeds), f"{alias}-seed{seed}")))


def describe(stage: str) -> str:
    """The UI description for a stage run named e.g. `transfer-b2` (empty for unknown stages)."""
    prefix, _, rest = stage.partition("-")
    number = rest[1:].split("-")[0] if rest.startswith("b") else ""
    return DESCRIPTIONS.get(prefix, "").format(i=number or "k")


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
    return "://" not in path and Path(path).resolve() == Path(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).resolve()


def _same_store(a: str, b: str) -> bool:
    from auforget.sqlite_store import sqlite_path

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
        preflight.bound_http_retries()  # a server that goes away mid-step: about 30 s, not 12 minutes
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
                experiment_id = client.create_experiment(cfg.experiment, artifact_location=location,
                                                         tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
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
    if uri not in _SWEPT:  # once per process and store: the runs and claims a dead process here left
        _SWEPT.add(uri)
        try:
            fail_abandoned_runs(client)
            claims.expire_gone_holders(client, cfg.experiment)
        except MlflowException as exc:  # a store this user may not write to: leave them as they are
            log.warning("could not close runs or claims left by dead processes on this machine: %s",
                        preflight.brief(exc))
    if launcher[0]:
        _take_over_launcher_run(launcher[0], launcher[1], uri, experiment_id, cfg.experiment)
    # By id, not name: set_experiment(name) would trust a stale MLFLOW_EXPERIMENT_ID left in the
    # environment by an earlier store in the same process.
    mlflow.set_experiment(experiment_id=experiment_id)
    if cfg.system_metrics:
        mlflow.enable_system_metrics_logging()  # CPU, memory, disk, network (and GPU) per run
    return uri


def _take_over_launcher_run(run_id: str, launcher_uri: str, uri: str, experiment_id: str, name: str) -> None:
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
    if _same_store(launcher_uri, uri) and theirs.get_run(run_id).info.experiment_id == experiment_id:
        return  # mlflow.start_run() picks MLFLOW_RUN_ID up
    os.environ.pop("MLFLOW_RUN_ID", None)
    global _LAUNCHER
    _LAUNCHER = (run_id, launcher_uri, name, uri)
    log.info("mlflow run: this step runs in experiment '%s' of %s, not in the launcher's run %s", name, uri, run_id)


# (run id, store, study experiment, study store) of the `mlflow run` run this process stepped away from
_LAUNCHER: tuple[str, str, str, str] | None = None


def _point_launcher_run_at(run: Run) -> None:
    """Describe the launcher's run as a pointer to the run the stage really ran in."""
    run_id, launcher_uri, name, uri = _LAUNCHER
    note = (f"`mlflow run` made this run outside the study's store or experiment; the step ran as run "
            f"{run.info.run_id} ('{run.info.run_name}') in experiment '{name}' of {uri}. Pass --experiment-name "
            f"{name} to have one run.")
    try:
        client = MlflowClient(launcher_uri)
        client.set_tag(run_id, NOTE_TAG, note)
        client.set_tag(run_id, "auforget.run", run.info.run_id)
    except MlflowException as exc:  # a read-only or unreachable launcher store: leave its run as it is
        log.warning("could not describe mlflow run's own run %s in %s: %s", run_id, launcher_uri, exc)


_SWEPT: set[str] = set()  # stores whose abandoned runs this process has looked for


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
        why = (f"left RUNNING by {who}, a process that is gone (the tracking server went away mid-step, or the "
               f"process was killed); marked FAILED by {holder}")
        dropped = _fail_run(client, run.info.run_id, why)
        log.warning("run %s ('%s'): %s%s", run.info.run_id, run.info.run_name, why,
                    f"; deleted its model versions {', '.join(dropped)}" if dropped else "")
        failed.append(run.info.run_id)
    return failed


def _fail_run(client: MlflowClient, run_id: str, why: str) -> list[str]:
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


def _abandon(run: Run, stage: str, why: str, checkpoint: Path | None) -> preflight.StoreLost:
    """Close a run whose store went away: one try at marking it FAILED (and dropping any version
    registered from it), then the one-line error that ends the step."""
    run_id = run.info.run_id
    closed = True
    with preflight.one_try():
        try:
            _fail_run(MlflowClient(), run_id, why)
        except Exception:  # noqa: BLE001 - the server is gone; the next command here closes the run
            closed = False
        # Off this process's stack of active runs (end_run pops before it asks the server).
        if (active := mlflow.active_run()) is not None and active.info.run_id == run_id:
            with contextlib.suppress(Exception):
                mlflow.end_run("FAILED")
    state = ("marked FAILED, no model version kept for it" if closed else
             "left RUNNING: the next auforget command on this machine against the server marks it FAILED and "
             "deletes any model version registered from it")
    if checkpoint is not None and checkpoint.exists():
        kept = (f"the training checkpoint {checkpoint} is kept: run the same command again once it is back and it "
                "resumes there")
    else:
        kept = "run the same command again once it is back (a training step resumes from its last epoch checkpoint)"
    return preflight.StoreLost(f"{stage}: {why}; run {run_id} {state}; {kept}")


@contextlib.contextmanager
def stage_run(stage: str, params: dict[str, Any], tags: dict[str, str] | None = None, *,
              checkpoint: Path | None = None) -> Iterator[Run]:
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
    with mlflow.start_run(run_name=stage, nested=parent is not None, experiment_id=experiment_id,
                          parent_run_id=remote) as run:
        top = parent is None and not remote
        extra = {"auforget.launcher_run": _LAUNCHER[0]} if _LAUNCHER and top else {}
        if extra:
            _point_launcher_run_at(run)
        if note := describe(stage):
            extra[NOTE_TAG] = note
        try:
            mlflow.set_tags({"auforget.stage": stage, HOLDER_TAG: claims.holder(), **extra, **(tags or {})})
            if params:
                # "" and None read as "no value" in the UI's compare view; say so.
                mlflow.log_params({k: ("none" if v in (None, "") else v) for k, v in params.items()})
            yield run
        except BaseException as exc:
            why = preflight.lost_store(exc, mlflow.get_tracking_uri(), run.info.artifact_uri)
            if not why:
                mlflow.set_tag(FAILED_TAG, "true")
                raise
            if isinstance(exc, preflight.StoreLost):  # an inner step's line says it all; close this run too
                _abandon(run, stage, why, None)
                raise
            raise _abandon(run, stage, why, checkpoint) from exc


def log_tradeoff(pain_recall: Mapping[int, float], emotion_recalls: Mapping[str, Mapping[int, float]]) -> None:
    """Log FreezeB0..B5 as series on the active (study) run, step = number of frozen blocks:
    `tradeoff_pain_recall` and `tradeoff_recall_<emotion>`. One line chart of these against step
    (run page > Model metrics, or the compare view's line chart) shows the study's trade-off:
    pain recall gained against the forgotten emotions' recall lost."""
    series = {"tradeoff_pain_recall": pain_recall,
              **{f"tradeoff_recall_{emotion}": values for emotion, values in emotion_recalls.items()}}
    for key, values in series.items():
        for blocks, value in sorted(values.items()):
            mlflow.log_metric(key, float(value), step=int(blocks))


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
