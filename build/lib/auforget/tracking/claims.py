"""Step claims: several `auforget main` against one store never run the same step at once.

Two machines (or two terminals) running the study against one tracking server would otherwise
both find no finished run for a step and both train it. Before a step runs, its worker claims it;
a second worker waits for the claim to go away and then calls the step, which finds the first
worker's FINISHED run and reuses it.

Why through MLflow and not the database: every worker reaches the tracking server, while the
server's database may be out of its reach; and the server's database orders the writes. A claim
is a RUNNING run in the experiment `<experiment>-claims`, tagged with the step, its holder
(host:pid, study run) and a heartbeat counter that a background thread bumps every `timeout_s/6`.

Taking a step (announce, then look): wait until no live claim for the step is left, create our
own claim, then search again. If any other live claim shows up, withdraw ours and retry after a
random pause. Of two workers that announce at about the same time, the one that searches later
always sees the other's claim (it was written before that search began), so both may withdraw,
never both go ahead. A holder deletes its claim when the step ends, however it ends.

A dead worker (killed, machine gone) leaves a RUNNING claim whose heartbeat stops changing. A
waiter that has seen the same heartbeat value for `timeout_s` on its own clock (no comparison of
clocks across machines) marks that claim KILLED and goes on. A holder whose claim was expired
that way (it stalled for longer than the timeout) logs an error when its heartbeat notices.
Every auforget command also expires, when it starts (`expire_gone_holders`, from
tracking.configure), the claims held by processes of this machine (same host name) that no
longer exist: the usual case after the tracking server went away mid-step, when the holder could
not delete its claim and the rerun is on the same machine (where the step's checkpoint is), so
the rerun does not wait out the timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from auforget.tracking import preflight

log = logging.getLogger(__name__)

STEP_TAG = "auforget.claim.step"
HOLDER_TAG = "auforget.claim.holder"
HEARTBEAT_TAG = "auforget.claim.heartbeat"
STUDY_TAG = "auforget.claim.study_run"
DEFAULT_TIMEOUT_S = 120.0
POLL_S = 1.0


def claims_experiment(client: MlflowClient, experiment: str) -> str:
    """Id of `<experiment>-claims`, created (or restored) on first use; safe when workers race."""
    name = f"{experiment}-claims"
    for _ in range(3):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(found.experiment_id)
            return found.experiment_id
        try:
            return client.create_experiment(name, tags={"auforget.claims": "true"})
        except MlflowException:  # another worker created it between our look and our create
            continue
    raise ValueError(f"cannot create or find the MLflow experiment {name!r} for step claims")


class _Heartbeat(threading.Thread):
    """Bumps the claim's heartbeat tag; notices when a waiter expired the claim."""

    def __init__(self, client: MlflowClient, run_id: str, every_s: float):
        super().__init__(daemon=True, name=f"claim-heartbeat-{run_id[:8]}")
        self.client, self.run_id, self.every_s = client, run_id, every_s
        self.stop = threading.Event()
        self.lost = False

    def run(self) -> None:
        beat = 0
        while not self.stop.wait(self.every_s):
            beat += 1
            try:
                if self.client.get_run(self.run_id).info.status != "RUNNING":
                    self.lost = True
                    log.error(
                        "claim %s was expired by another worker (this one stalled longer than "
                        "the claim timeout); the step may now run twice",
                        self.run_id,
                    )
                    return
                self.client.set_tag(self.run_id, HEARTBEAT_TAG, str(beat))
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried; the step goes on
                log.warning("claim heartbeat for %s failed: %s", self.run_id, preflight.brief(exc))


@dataclass
class _Watch:
    """What a waiter has seen of other claims: run id -> (heartbeat value, when first seen)."""

    timeout_s: float
    seen: dict[str, tuple[str, float]]

    def live(self, client: MlflowClient, runs: list[Run]) -> list[Run]:
        now = time.monotonic()
        alive = []
        for run in runs:
            beat = run.data.tags.get(HEARTBEAT_TAG, "")
            value, since = self.seen.get(run.info.run_id, (None, now))
            if value != beat:
                since = now
            self.seen[run.info.run_id] = (beat, since)
            if now - since < self.timeout_s:
                alive.append(run)
                continue
            log.warning(
                "claim of %s on step %s has had no heartbeat for %.0f s: expiring it",
                run.data.tags.get(HOLDER_TAG, "?"),
                run.data.tags.get(STEP_TAG, "?"),
                now - since,
            )
            with contextlib.suppress(MlflowException):
                client.set_terminated(run.info.run_id, "KILLED")
        return alive


def _claims_on(client: MlflowClient, experiment_id: str, step: str) -> list[Run]:
    return client.search_runs(
        [experiment_id],
        f"tags.`{STEP_TAG}` = '{step}' and attributes.status = 'RUNNING'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=100,
    )


def holder() -> str:
    """This process, as claims and stage runs record it: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_gone(who: str) -> bool:
    """True when `who` (a `holder()` value) is a process of this machine that no longer exists.
    A process elsewhere, or an unreadable value, is never called gone (a reused pid only makes
    a dead holder look alive, the safe way round)."""
    host, _, pid = who.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, under another user
        return False
    return False


def expire_gone_holders(client: MlflowClient, experiment: str) -> list[str]:
    """Mark KILLED the live claims (in `<experiment>-claims`, if it exists) whose holder is a
    process of this machine that is gone; returns their steps."""
    found = client.get_experiment_by_name(f"{experiment}-claims")
    if found is None:
        return []
    steps = []
    for run in runs_of_gone_holders(client, [found.experiment_id], HOLDER_TAG):
        client.set_terminated(run.info.run_id, "KILLED")
        steps.append(run.data.tags.get(STEP_TAG, "?"))
        log.warning(
            "claim of %s on step %s: its process is gone; expired",
            run.data.tags.get(HOLDER_TAG),
            steps[-1],
        )
    return steps


def runs_of_gone_holders(client: MlflowClient, experiment_ids: list[str], tag: str) -> list[Run]:
    """The RUNNING runs in `experiment_ids` whose `tag` (a `holder()` value) names a process of
    this machine that is gone: claims here, stage runs in tracking.fail_abandoned_runs."""
    host = holder().rpartition(":")[0]
    live = f"attributes.status = 'RUNNING' and tags.`{tag}` LIKE '{host}:%'"
    runs = client.search_runs(
        experiment_ids, live, run_view_type=ViewType.ACTIVE_ONLY, max_results=1000
    )
    return [run for run in runs if holder_is_gone(run.data.tags.get(tag, ""))]


@contextlib.contextmanager
def claim(
    step: str,
    *,
    experiment: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    study_run: str = "",
    client: MlflowClient | None = None,
) -> Iterator[str]:
    """Hold the claim on `step` for the block (yields the claim's run id); waits while another
    worker holds it. Uses the current tracking URI."""
    client = client or MlflowClient()
    experiment_id = claims_experiment(client, experiment)
    watch = _Watch(timeout_s, {})
    waited = None
    while True:
        others = watch.live(client, _claims_on(client, experiment_id, step))
        if others:
            if waited is None:
                waited = time.monotonic()
                log.info(
                    "%s: claimed by %s (claim %s); waiting for it to finish",
                    step,
                    others[0].data.tags.get(HOLDER_TAG, "?"),
                    others[0].info.run_id,
                )
            time.sleep(POLL_S)
            continue
        mine = client.create_run(
            experiment_id,
            run_name=f"claim {step}",
            tags={STEP_TAG: step, HOLDER_TAG: holder(), HEARTBEAT_TAG: "0", STUDY_TAG: study_run},
        )
        rivals = [
            r for r in _claims_on(client, experiment_id, step) if r.info.run_id != mine.info.run_id
        ]
        if not watch.live(client, rivals):
            break
        client.delete_run(mine.info.run_id)  # both announced: withdraw, let the pauses decide
        time.sleep(random.uniform(0.2, 1.5))
    if waited is not None:
        log.info("%s: claim free after %.0f s of waiting", step, time.monotonic() - waited)
    beat = _Heartbeat(MlflowClient(client.tracking_uri), mine.info.run_id, timeout_s / 6)
    beat.start()
    lost = False
    try:
        yield mine.info.run_id
    except preflight.StoreLost:
        lost = True  # the server is gone: one try at releasing, not another half minute of retries
        raise
    finally:
        beat.stop.set()
        beat.join(timeout=10)
        try:
            with preflight.one_try() if lost else contextlib.nullcontext():
                client.delete_run(mine.info.run_id)
        except (
            MlflowException
        ) as exc:  # it expires on its own after timeout_s, at once for a rerun here
            log.warning(
                "%s: could not release claim %s: %s", step, mine.info.run_id, preflight.brief(exc)
            )


@dataclass(frozen=True)
class Claimed:
    """A stage function that runs under the claim of its step (picklable, for worker processes):
    `Claimed("transfer-b2", run_transfer)(params, ...)`."""

    name: str
    run: Callable[..., dict[str, float]]

    def __call__(self, params: Any, **kwargs: Any) -> dict[str, float]:
        import mlflow

        cfg = params.tracking
        active = mlflow.active_run()
        study = active.info.run_id if active else os.environ.get("AUFORGET_PARENT_RUN_ID", "")
        with claim(
            self.name, experiment=cfg.experiment, timeout_s=cfg.claim_timeout_s, study_run=study
        ):
            return self.run(params, **kwargs)


def claimed_layers(layers: list[list[Any]]) -> list[list[Any]]:
    """`main`'s layers of executor Steps, each step's function wrapped in its claim."""
    return [
        [dataclasses.replace(step, run=Claimed(step.name, step.run)) for step in layer]
        for layer in layers
    ]
