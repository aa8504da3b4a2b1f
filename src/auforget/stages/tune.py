"""`tune`: Optuna search for the focal-loss gamma (and optionally the learning rate).

A trial trains one step of the study -- `transfer` (FreezeB<tune.freeze>, from the registered
base emotion model) or `emotion` -- for `tune.epochs` epochs with a sampled gamma (uniform in
[gamma_low, gamma_high]) and, with `tune.tune_lr`, a sampled lr (log-uniform in [lr_low,
lr_high]). Everything else is the stage's own setup from params.yaml. The objective is the best
validation macro F1 of the run (the epoch `fit` keeps); the test split is never read, and
nothing is registered. After every epoch the trial reports its validation macro F1 and a
median pruner stops trials that fall below the median of earlier trials at the same epoch.

The study lives in Optuna's RDB storage under `tune.study_name`: `tune.storage`, or
`sqlite:///<cwd>/optuna.db` when that is empty. Every call adds `tune.n_trials` trials to the
study stored there, so running again continues the search with all earlier trials known to the
sampler and the pruner (`reuse=True` instead tops the study up to `n_trials` finished trials).
A study is pinned to its setup (stage, settings, model profile, data, base model version): a
call whose setup differs is refused with a ValueError, so use another `--study-name` then.

Several workers, on several machines, share one study through a PostgreSQL URL (psycopg 3, the
`postgres` extra); each worker runs the same command, ideally with its own `--seed` so their
random startup trials differ:

    auforget tune --storage postgresql+psycopg://user:password@dbhost/optuna --n-trials 8 --seed 1
    auforget tune --storage postgresql+psycopg://user:password@dbhost/optuna --n-trials 8 --seed 2

Trials of a worker that dies are noticed through Optuna's heartbeat, marked failed and run
again by the next worker that starts a trial.

MLflow: a `tune` run per call; each trial is a run nested under it (`trial-<number>`, params
gamma and lr, per-epoch validation metrics, tag `optuna.state` COMPLETE / PRUNED / FAIL). The
tune run logs the study's best_gamma (best_lr), best_value, trial counts and `trials.csv`.
`write_params=True` writes the best gamma (and lr when tuned) into params.yaml, editing only
those lines of the tuned section (comments and order stay).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import random
import re
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import optuna
from optuna.trial import TrialState
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.tokens import CommentToken
from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError
from torch.utils.data import Dataset

from auforget.core.config import (
    EmotionConfig,
    Params,
    TransferConfig,
    TuneConfig,
    flat,
    load_params,
)
from auforget.data.task_data import TaskData
from auforget.nn.backbones import VGG16Blocks
from auforget.nn.training import FitResult, pick_device
from auforget.tracking import connection, stage_runs
from auforget.workflow.fitting import cached_sets, fit_on_task
from auforget.workflow.recipes import RECIPES, Recipe

try:  # Optuna >= 4.9 names the stale-trial retry callback this way
    from optuna.storages import RetryHeartbeatStaleTrialCallback as _RetryStale

    _RETRY_ARG = "heartbeat_stale_trial_callback"
except ImportError:  # pragma: no cover - older Optuna
    from optuna.storages import RetryFailedTrialCallback as _RetryStale

    _RETRY_ARG = "failed_trial_callback"

log = logging.getLogger(__name__)

DEFAULT_STORAGE_FILE = "optuna.db"
MONITOR = "val_f1_macro"
# TPE draws this many random trials before it models the results (Optuna's default is 10,
# more than the 8 trials a default call runs).
TPE_STARTUP_TRIALS = 4
# Median pruning starts once 2 trials have completed, and never at epoch 1: focal loss with a
# high gamma down-weights easy samples and starts slower, so first-epoch scores would prune
# high gammas for the wrong reason. (Epochs are reported as steps 1, 2, ...)
PRUNER = dict(n_startup_trials=2, n_warmup_steps=2)
HEARTBEAT_S, GRACE_S = 60, 180
CREATE_TRIES = 5  # opening a fresh storage while other workers create its tables
SETUP_ATTR = "auforget.setup"


@dataclass
class TrialSetup:
    """What every trial of a study shares: the tuned stage's parameters, data and starting point."""

    stage: str
    params: Params  # with tune.epochs (and tune.freeze) applied to the stage
    data: TaskData
    start: VGG16Blocks | None = None  # transfer: the registered base model, copied per trial
    identity: dict[str, Any] = field(default_factory=dict)
    features: tuple[Dataset, Dataset] | None = (
        None  # FreezeB5: conv features, extracted by the first trial
    )

    @property
    def cfg(self) -> EmotionConfig | TransferConfig:
        return getattr(self.params, self.stage)

    def recipe(self, gamma: float, lr: float) -> Recipe:
        """The stage's own recipe with a trial's gamma and lr."""
        return RECIPES[self.stage](
            self.params.with_overrides(self.stage, gamma=gamma, lr=lr), data=self.data
        )


def tuned_params(params: Params) -> Params:
    """params with tune.epochs (and, for transfer, tune.freeze) applied to the tuned stage."""
    tune = params.tune
    if tune.stage == "transfer":
        return params.with_overrides("transfer", freeze=tune.freeze, epochs=tune.epochs)
    return params.with_overrides(tune.stage, epochs=tune.epochs)


def trial_setup(params: Params) -> TrialSetup:
    """Read the tuned stage's data and starting model through its recipe, as the stage would.

    Configures MLflow tracking. A missing base model is the ValueError of `registry.resolve_alias`,
    one trained with another model profile that of `registry.load_model`.
    """
    tune = params.tune
    params = tuned_params(params)
    recipe = RECIPES[tune.stage](params)
    connection.configure(params.tracking)
    setup = TrialSetup(tune.stage, params, recipe.data)
    version = None
    if recipe.upstream is not None:
        setup.start, version = recipe.upstream.load(params.model.profile, params.model.backbone)
    tuned = {"gamma", "lr"} if tune.tune_lr else {"gamma"}
    setup.identity = {
        "stage": tune.stage,
        "data": recipe.data.files_digest(),
        "base_model_version": str(version.version) if version is not None else "",
        **{f"{tune.stage}.{k}": v for k, v in flat(setup.cfg).items() if k not in tuned},
        **flat(params.model, "model."),
        # the monitored macros leave excluded classes out since 2026-12-08: a study begun with
        # the old ones must not be resumed with the new (the key is absent when none is excluded)
        **({"macros": "kept classes"} if recipe.data.excluded else {}),
    }
    return setup


def train_trial(
    setup: TrialSetup,
    gamma: float,
    lr: float,
    *,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = False,
    desc: str = "trial",
) -> FitResult:
    """Train the stage's recipe with a trial's gamma and lr on train, scored on val.

    Checkpoints go to a temporary folder, and nothing is evaluated on the test split, logged as
    a model or registered.
    """
    device = pick_device()
    recipe = setup.recipe(gamma, lr)
    start = copy.deepcopy(setup.start) if setup.start is not None else None
    model, _ = recipe.prepare(start)
    if recipe.cached and setup.features is None:
        # All conv blocks are frozen and identical in every trial: extract their features once.
        setup.features = cached_sets(
            model,
            recipe.data,
            batch_size=recipe.batch_size,
            views=recipe.views,
            seed=recipe.settings.seed,
            device=device,
            progress=progress,
            desc="tune",
        )
    settings = dataclasses.replace(recipe.settings, monitor=MONITOR)
    with tempfile.TemporaryDirectory(prefix="auforget-tune-") as checkpoints:
        return fit_on_task(
            model,
            recipe.data,
            recipe.loss,
            settings,
            batch_size=recipe.batch_size,
            cached=recipe.cached,
            views=recipe.views,
            checkpoint_dir=Path(checkpoints),
            on_epoch=on_epoch,
            features=setup.features if recipe.cached else None,
            device=device,
            progress=progress,
            desc=desc,
        )


def report_and_prune(
    trial: optuna.Trial, monitor: str = MONITOR
) -> Callable[[int, dict[str, float]], None]:
    """An `on_epoch` callback for `fit`: report `monitor` as step `epoch`, raise TrialPruned when
    the study's pruner says so (which stops `fit` right there)."""

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        value = metrics[monitor]
        trial.report(value, epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(
                f"{monitor} {value:.4f} after epoch {epoch} is below the median of earlier trials"
            )

    return on_epoch


def storage_url(tune: TuneConfig) -> str:
    """`tune.storage`, or the sqlite file optuna.db in the working directory (absolute)."""
    return tune.storage or f"sqlite:///{Path(DEFAULT_STORAGE_FILE).resolve()}"


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for logs and MLflow."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at `url`, with heartbeats so trials of a dead worker are retried.

    A URL Optuna cannot open is a ValueError naming it and the URLs that work.
    """
    engine_kwargs = (
        {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else None
    )
    try:
        for attempt in range(CREATE_TRIES):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        url,
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=HEARTBEAT_S,
                        grace_period=GRACE_S,
                        **{_RETRY_ARG: _RetryStale(max_retry=2)},
                    )
            except (IntegrityError, ProgrammingError) as exc:
                # Workers started together on a fresh database all create Optuna's tables; on
                # PostgreSQL the losers of that race get a unique violation (pg_type) or, when
                # they reach CREATE TYPE second, "type ... already exists" (DuplicateObject). The
                # winner's tables are there a moment later.
                lost_race = isinstance(exc, IntegrityError) or "already exists" in str(exc)
                if not lost_race or attempt == CREATE_TRIES - 1:
                    raise
                log.info(
                    "tune: another worker is creating the Optuna tables in %s; trying again",
                    redact(url),
                )
                time.sleep(random.uniform(0.5, 2.0))
    except (SQLAlchemyError, ImportError) as exc:
        reason = str(exc).splitlines()[0]
        raise ValueError(
            f"cannot open the Optuna storage {redact(url)!r} (params.yaml tune.storage): "
            f"{reason}; expected an RDB URL such as sqlite:///{DEFAULT_STORAGE_FILE} or "
            "postgresql+psycopg://user:password@host:5432/dbname (PostgreSQL through psycopg 3: "
            "pip install 'auforget[postgres]'), or an empty tune.storage for ./optuna.db"
        ) from None


def open_study(tune: TuneConfig, identity: dict[str, Any]) -> optuna.Study:
    """Create or load the study `tune.study_name` and check it was made for the same setup.

    The sampler's seed is tune.seed plus the number of trials already stored, so a continued
    study does not replay the random startup draws of its first call.
    """
    storage = open_storage(storage_url(tune))
    study = optuna.create_study(
        study_name=tune.study_name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(**PRUNER),
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(
            f"Optuna study {tune.study_name!r} in {redact(storage_url(tune))} minimises; "
            "use another tune.study_name"
        )
    pinned = study.user_attrs.get(SETUP_ATTR)
    if pinned is None:
        study.set_user_attr(SETUP_ATTR, identity)
    elif pinned != identity:
        diff = sorted(k for k in set(pinned) | set(identity) if pinned.get(k) != identity.get(k))
        shown = ", ".join(f"{k}: {pinned.get(k)!r} -> {identity.get(k)!r}" for k in diff[:6])
        raise ValueError(
            f"Optuna study {tune.study_name!r} in {redact(storage_url(tune))} was run with another "
            f"setup ({shown}); its trials are not comparable with these. Choose a new "
            "tune.study_name (--study-name) or restore the settings"
        )
    study.sampler = optuna.samplers.TPESampler(
        seed=tune.seed + len(study.trials), n_startup_trials=TPE_STARTUP_TRIALS
    )
    return study


def summarise(study: optuna.Study) -> dict[str, float]:
    """Best trial and trial counts of the whole study (every call, every worker)."""
    trials = study.get_trials(deepcopy=False)
    count = {s: sum(t.state == s for t in trials) for s in TrialState}
    out = {
        "n_trials": float(len(trials)),
        "n_trials_complete": float(count[TrialState.COMPLETE]),
        "n_trials_pruned": float(count[TrialState.PRUNED]),
        "n_trials_failed": float(count[TrialState.FAIL]),
    }
    if count[TrialState.COMPLETE]:
        best = study.best_trial
        out.update(
            best_value=float(best.value),
            best_trial=float(best.number),
            best_gamma=float(best.params["gamma"]),
        )
        if "lr" in best.params:
            out["best_lr"] = float(best.params["lr"])
    return out


def _objective(
    setup: TrialSetup, tune: TuneConfig, progress: bool
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        gamma = trial.suggest_float("gamma", tune.gamma_low, tune.gamma_high)
        lr = (
            trial.suggest_float("lr", tune.lr_low, tune.lr_high, log=True)
            if tune.tune_lr
            else setup.cfg.lr
        )
        prune = report_and_prune(trial)

        def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
            mlflow.log_metrics(metrics, step=epoch)
            prune(epoch, metrics)

        parent = mlflow.active_run()
        pruned: optuna.TrialPruned | None = None
        with mlflow.start_run(
            run_name=f"trial-{trial.number}",
            nested=True,
            experiment_id=parent.info.experiment_id if parent else None,
        ) as run:
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            mlflow.set_tags(
                {
                    "auforget.stage": "tune-trial",
                    "optuna.study_name": trial.study.study_name,
                    "optuna.trial_number": str(trial.number),
                }
            )
            mlflow.log_params({"gamma": gamma, "lr": lr})
            state = TrialState.FAIL
            try:
                result = train_trial(
                    setup,
                    gamma,
                    lr,
                    on_epoch=on_epoch,
                    progress=progress,
                    desc=f"trial-{trial.number}",
                )
                state = TrialState.COMPLETE
                mlflow.log_metrics(
                    {f"best_{MONITOR}": result.best_score, "best_epoch": result.best_epoch}
                )
            except optuna.TrialPruned as exc:
                state, pruned = TrialState.PRUNED, exc
            finally:
                mlflow.set_tag("optuna.state", state.name)
        if pruned is not None:  # raised outside the run, so MLflow ends it FINISHED, not FAILED
            raise pruned
        return result.best_score

    return objective


def run_tune(
    params: Params,
    *,
    progress: bool = True,
    params_path: str = "params.yaml",
    write_params: bool = False,
    reuse: bool = False,
) -> dict[str, float]:
    """Run `tune.n_trials` more trials of the study (with `reuse`, only as many as it takes to
    reach `tune.n_trials` finished ones) and return the study's best values and trial counts.

    With `write_params` the best gamma (and lr, when tuned) goes into `params_path` under the
    tuned stage's section.
    """
    tune = params.tune
    setup = trial_setup(params)
    study = open_study(tune, setup.identity)
    finished = sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        for t in study.get_trials(deepcopy=False)
    )
    todo = max(0, tune.n_trials - finished) if reuse else tune.n_trials
    url = redact(storage_url(tune))
    if todo == 0:
        log.info(
            "tune: study %r in %s already has %d finished trials; not running more",
            tune.study_name,
            url,
            finished,
        )
        summary = summarise(study)
    else:
        run_params = {
            **flat(tune, "tune."),
            **flat(setup.cfg, f"{tune.stage}."),
            "tune.storage": url,
            "study.trials_before": len(study.trials),
            **{f"data.n_{s}": len(f) for s, f in setup.data.splits.items()},
        }
        tags = {"optuna.study_name": tune.study_name, "optuna.storage": url}
        with stage_runs.stage_run("tune", run_params, tags=tags):
            study.optimize(
                _objective(setup, tune, progress), n_trials=todo, catch=(FloatingPointError,)
            )
            summary = summarise(study)
            mlflow.log_metrics({**summary, "n_trials_run": float(todo)})
            mlflow.log_text(study.trials_dataframe().to_csv(index=False), "trials.csv")
            if "best_gamma" not in summary:
                raise ValueError(
                    f"tune: no trial of study {tune.study_name!r} completed "
                    f"({int(summary['n_trials_failed'])} failed, "
                    f"{int(summary['n_trials_pruned'])} pruned); see the trial runs' logs"
                )
    log.info(
        "tune: best %s %.4f with gamma %.4f (trial %d of %d)",
        MONITOR,
        summary.get("best_value", float("nan")),
        summary.get("best_gamma", float("nan")),
        int(summary.get("best_trial", -1)),
        int(summary["n_trials"]),
    )
    if write_params:
        if "best_gamma" not in summary:
            raise ValueError(
                f"tune: study {tune.study_name!r} has no completed trial to write into "
                f"{params_path}"
            )
        best = {
            "gamma": summary["best_gamma"],
            **({"lr": summary["best_lr"]} if tune.tune_lr else {}),
        }
        write_best(params_path, tune.stage, best)
        log.info(
            "tune: wrote %s into %s",
            ", ".join(f"{tune.stage}.{k}={v!r}" for k, v in best.items()),
            params_path,
        )
    return summary


# ----------------------------------------------------------------------------- params.yaml


def write_best(path: str | Path, section: str, values: dict[str, float]) -> None:
    """Set `section.key: value` for each of `values` in params.yaml, changing only those lines.

    A round-trip YAML editor (ruamel.yaml) keeps comments, order and layout. The result is
    loaded back with `load_params` before it replaces the file: it must equal the old parameters
    with exactly these changes.
    """
    path = Path(path)
    expected = load_params(path).with_overrides(section, **values)
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    yaml.representer.add_representer(float, _represent_float)
    tmp = path.with_name(f".{path.name}.tune.tmp")
    try:
        doc = yaml.load(path.read_text() if path.exists() else "") or CommentedMap()
        body = doc.get(section)
        if body is None:
            doc[section] = body = CommentedMap()
        if not isinstance(body, CommentedMap):
            raise ValueError(f"'{section}' is not a mapping")
        for key, value in values.items():
            _set(body, key, float(value))
        with tmp.open("w") as out:
            yaml.dump(doc, out)
        ok = load_params(tmp) == expected
    except (ValueError, YAMLError):
        ok = False
    if not ok:
        tmp.unlink(missing_ok=True)
        wanted = ", ".join(f"{section}.{k}: {_yaml_float(v)}" for k, v in values.items())
        raise ValueError(
            f"{path}: could not update {wanted} (is '{section}' a mapping?); set it by hand"
        )
    os.replace(tmp, path)


def _yaml_float(value: float) -> str:
    # PyYAML (YAML 1.1) reads 1e-05 as a string; 1.0e-05 is a float.
    text = repr(float(value))
    return text.replace("e", ".0e") if "e" in text and "." not in text else text


def _represent_float(representer, value: float):
    return representer.represent_scalar("tag:yaml.org,2002:float", _yaml_float(value))


def _set(body: CommentedMap, key: str, value: float) -> None:
    """body[key] = value; a new key goes last, taking over the comment lines and blank lines
    that followed the old last key (they belong to what comes after the section)."""
    last = next(reversed(body), None) if key not in body else None
    body[key] = value
    token = body.ca.items.get(last, [None] * 4)[2] if last is not None else None
    if token is None or not ("\n" in token.value.rstrip("\n") or token.value.startswith("\n")):
        return
    own, _, after = token.value.partition("\n")
    if own:
        token.value = own + "\n"
    else:
        body.ca.items[last][2] = None
    body.ca.items[key] = [None, None, CommentToken("\n" + after, CommentMark(0), None), None]
