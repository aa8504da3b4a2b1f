"""Where `main`'s steps run: in this process (serial, the default), in a local process pool, or as
Ray tasks on a Ray cluster.

`main` hands over the study as layers -- lists of steps that do not depend on each other, each
layer needing only the layers before it -- and gets every step's metrics back. A step is the
stage function the CLI calls, with `reuse=True`, so a finished run (same fingerprint) is reused
whichever process asks for it. Only where the function runs changes:

- serial: here, in order, with the stages' progress bars.
- local: a pool of `jobs` spawned Python processes (not forked: a forked torch can deadlock).
- ray: one Ray task per step, asking for `threads` CPUs and, on a cluster with GPUs, one GPU for
  the steps that run a network. A task whose worker or node dies is retried by Ray (training
  resumes from its epoch checkpoint when `checkpoints/` is on a shared file system); an
  exception raised by the stage itself is not retried.

A worker changes into the driver's project folder, uses the driver's tracking URI and nests its
runs under the study run. Numbers depend on torch's thread count (a matmul sums in another
order with more threads), so every step runs with exactly `threads` torch threads: a serial run
with the same `--threads` gives the same numbers, bit for bit.

A failed step fails `main` once its layer is done: the layer's other steps finish and keep their
runs, and the next `main` reuses them and retries only what failed. Seeds (or any other
repetition) are more steps in the same layers, under their own names.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXECUTORS = ("serial", "local", "ray")
# Worker or node deaths Ray absorbs per task before the step fails.
RAY_RETRIES = 2


class StepFailed(RuntimeError):
    """One or more steps of a layer raised; their names and causes are in the message."""


@dataclass(frozen=True)
class Step:
    """One run of the study: `run(params, progress=..., reuse=True) -> metrics`, a module-level
    stage function (so it pickles by reference into a worker)."""

    name: str
    run: Callable[..., dict[str, float]]
    params: Any
    gpu: bool = False  # runs a network: asks Ray for a GPU when the cluster has GPUs


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "serial"
    jobs: int = 0  # local: worker processes; 0 = CPU cores // threads
    ray_address: str = (
        ""  # "" = $RAY_ADDRESS, else a new local Ray instance; "auto" = the `ray start` one here
    )
    threads: int = 0  # torch threads per step; 0 = torch's default (serial) or 1 (local, ray)

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ValueError(f"--executor {self.kind!r}: expected one of {', '.join(EXECUTORS)}")
        if self.jobs < 0 or self.threads < 0:
            raise ValueError(
                f"--jobs and --threads must be >= 0 (got {self.jobs} and {self.threads})"
            )

    @property
    def ray_target(self) -> str:
        """The Ray cluster to join: --ray-address, else $RAY_ADDRESS; "" = a new local instance."""
        return self.ray_address or os.environ.get("RAY_ADDRESS", "")

    @property
    def step_threads(self) -> int:
        return self.threads or (0 if self.kind == "serial" else 1)


@dataclass(frozen=True)
class WorkerContext:
    """What a worker process needs to act like the driver."""

    cwd: str
    threads: int
    log_level: int
    env: dict[str, str] = field(default_factory=dict)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--executor",
        default="serial",
        choices=EXECUTORS,
        help="where independent steps run: here one after another (default), a local process "
        "pool, or Ray tasks",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="--executor local: worker processes (default: CPU cores / threads)",
    )
    parser.add_argument(
        "--ray-address",
        default="",
        metavar="ADDRESS",
        help="--executor ray: the cluster (host:port or auto; default $RAY_ADDRESS, else a new "
        "local instance)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="torch threads per step, and CPUs each Ray task asks for (default: 1 under local "
        "and ray, torch's default under serial); numbers match between runs with the same N",
    )


def settings_from_args(args: argparse.Namespace) -> ExecutorSettings:
    return ExecutorSettings(args.executor, args.jobs, args.ray_address, args.threads)


def run_step(step: Step, *, progress: bool = True) -> dict[str, float]:
    return step.run(step.params, progress=progress, reuse=True)


def run_layers(
    layers: Sequence[Sequence[Step]],
    settings: ExecutorSettings,
    context: WorkerContext,
    *,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Run every step, a layer at a time; {step name: metrics}. StepFailed names what failed."""
    from tqdm.auto import tqdm

    names = [s.name for layer in layers for s in layer]
    if len(set(names)) != len(names):
        raise ValueError(
            f"step names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}"
        )
    results: dict[str, dict[str, float]] = {}
    with _submitter(settings, context, progress) as submit:
        bar = tqdm(
            total=len(names),
            desc=f"study ({settings.kind})",
            unit="step",
            disable=not progress or settings.kind == "serial",
        )
        for layer in layers:
            started = time.monotonic()
            futures = {submit(step): step for step in layer}
            failed = []
            for future in cf.as_completed(futures):
                step = futures[future]
                try:
                    results[step.name] = future.result()
                except Exception as exc:  # noqa: BLE001 - reported per step below, the layer goes on
                    failed.append(f"{step.name}: {_cause(exc)}")
                    log.error("main: step %s failed: %s", step.name, _cause(exc))
                else:
                    log.info(
                        "main: step %s done (%.0f s into its layer)",
                        step.name,
                        time.monotonic() - started,
                    )
                bar.update()
            if failed:
                bar.close()
                done = ", ".join(s.name for s in layer if s.name in results) or "none"
                raise StepFailed(
                    f"{len(failed)} step(s) failed -- "
                    + "; ".join(failed)
                    + f" -- finished in that layer: {done}; run main again to reuse them and retry"
                )
        bar.close()
    return results


def _cause(exc: BaseException) -> str:
    """The stage's own exception, without the wrapping Ray adds around it."""
    inner = getattr(exc, "cause", None)
    exc = inner if isinstance(inner, BaseException) else exc
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextlib.contextmanager
def _submitter(
    settings: ExecutorSettings, context: WorkerContext, progress: bool
) -> Iterator[Callable[[Step], cf.Future]]:
    if settings.kind == "serial":
        yield lambda step: _run_here(step, settings.step_threads, progress)
    elif settings.kind == "local":
        jobs = settings.jobs or max(1, (os.cpu_count() or 1) // max(context.threads, 1))
        with cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            log.info(
                "main: local pool of %d processes, %d torch thread(s) each", jobs, context.threads
            )
            yield lambda step: pool.submit(run_in_worker, step, context)
    else:
        with _ray_session(settings.ray_target) as ray:
            has_gpus = ray.cluster_resources().get("GPU", 0) > 0
            task = ray.remote(run_in_worker)

            def submit(step: Step) -> cf.Future:
                options = {
                    "num_cpus": context.threads,
                    "num_gpus": 1 if step.gpu and has_gpus else 0,
                    "max_retries": RAY_RETRIES,
                    "retry_exceptions": False,
                    "name": step.name,
                }
                return task.options(**options).remote(step, context).future()

            yield submit


def _run_here(step: Step, threads: int, progress: bool) -> cf.Future:
    future: cf.Future = cf.Future()
    if threads:
        import torch

        torch.set_num_threads(threads)
    try:
        future.set_result(run_step(step, progress=progress))
    except Exception as exc:  # noqa: BLE001 - handed to run_layers like a worker's failure
        future.set_exception(exc)
    return future


@contextlib.contextmanager
def _ray_session(address: str) -> Iterator[Any]:
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'auforget[ray]'") from None
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(include_dashboard=False, log_to_driver=True)
    try:
        resources = ray.cluster_resources()
        log.info(
            "main: Ray cluster %s: %d node(s), %g CPUs, %g GPUs",
            address or "(local)",
            len(ray.nodes()),
            resources.get("CPU", 0),
            resources.get("GPU", 0),
        )
        yield ray
    finally:
        ray.shutdown()


def worker_context(
    *, tracking_uri: str, parent_run_id: str, threads: int, log_level: int
) -> WorkerContext:
    from auforget.tracking.stage_runs import PARENT_RUN_ENV

    return WorkerContext(
        cwd=str(Path.cwd().resolve()),
        threads=threads,
        log_level=log_level,
        env={"MLFLOW_TRACKING_URI": tracking_uri, PARENT_RUN_ENV: parent_run_id},
    )


def run_in_worker(step: Step, context: WorkerContext) -> dict[str, float]:
    """A step in a worker process (pool or Ray): the driver's folder, store, parent run and
    threads."""
    os.chdir(context.cwd)
    os.environ.update(context.env)
    for var in (
        "MLFLOW_RUN_ID",
        "MLFLOW_EXPERIMENT_ID",
    ):  # the driver's, when it runs under `mlflow run`
        os.environ.pop(var, None)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _log_as(step.name, context.log_level)
    import torch

    torch.set_num_threads(context.threads)
    return run_step(step, progress=False)


def _log_as(name: str, level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s [{name}] %(name)s: %(message)s", "%H:%M:%S")
    )
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic", "mlflow", "urllib3", "git", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("mlflow.pytorch").setLevel(logging.ERROR)
