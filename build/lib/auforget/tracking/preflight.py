"""Checks that the tracking server, the artifact bucket and a Ray head answer: at start, and when a
step fails.

MLflow's HTTP client retries a refused connection with exponential backoff for minutes and then
fails with a deep traceback; a bucket that cannot be reached shows up only when the first model
is uploaded, after the training. These checks try once, with a short timeout, before any work,
and say in one line which URI did not answer.

Mid-run (a server or bucket that goes away during a step), `bound_http_retries` keeps each
MLflow request's retries to about half a minute, and `lost_store` tells the step's run, once it
has failed, whether the server or its bucket is the reason (tracking.stage_run then ends the step
with `StoreLost`, one line).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 10.0

# MLflow's HTTP client defaults (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7, _BACKOFF_FACTOR=2: waits of
# 0, 4, 8, 16, 32, 64, 120 s) spend about 4 minutes on every request to a server that is gone,
# and a failing step makes three of them (the metric, the FAILED tag, the run's end): 12.4
# minutes measured from the server's death to the error. 5 retries with factor 1 wait 0, 2, 4,
# 8, 16 s (plus up to 1 s of jitter each; 32 s measured): a server restarted within about half a
# minute is ridden out, one that stays away fails the request. Set either variable to override.
HTTP_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def bound_http_retries() -> None:
    """MLflow's HTTP retries as HTTP_RETRIES, unless the environment already sets them (read by
    MLflow at every request, so this holds from the next request on, and in child processes);
    and urllib3's one warning per retry (the exception's repr, a line each) said once, plainly."""
    for name, value in HTTP_RETRIES.items():
        os.environ.setdefault(name, value)
    pool = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RetryNotice) for f in pool.filters):
        pool.addFilter(_RetryNotice())


class _RetryNotice(logging.Filter):
    """urllib3 logs `Retrying (Retry(total=3, ...)) after connection broken by
    'NewConnectionError(...)': /api/...` before every retry. Say the first of an outage as one plain
    line, drop the rest (the step's own error says how it ended)."""

    QUIET_S = 120.0

    def __init__(self) -> None:
        super().__init__()
        self.last = -float("inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Retrying") or len(record.args or ()) != 3:
            return True
        now = time.monotonic()
        quiet, self.last = now - self.last < self.QUIET_S, now
        if quiet:
            return False
        _, err, path = record.args
        reason = str(getattr(err, "reason", err) or type(err).__name__).split(": ")[-1]
        record.msg = "no answer to %s (%s); retrying for a while (MLFLOW_HTTP_REQUEST_MAX_RETRIES)"
        record.args = (path, reason.strip("\"')>"))
        return True


@contextlib.contextmanager
def one_try():
    """MLflow HTTP requests inside the block are tried once, with a TIMEOUT_S timeout: for closing
    up after the server went away, where each retry only delays the error."""
    names = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(dict(zip(names, ("0", str(int(TIMEOUT_S))))))
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class StoreLost(ValueError):
    """The tracking server or the artifact store stopped answering while a step ran."""


def _answers(url: str) -> str:
    """ "" when something answers HTTP at `url` (any status: 404 or 401 still means reachable),
    else why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S):
            return ""
    except urllib.error.HTTPError:
        return ""
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def check_tracking_server(uri: str) -> None:
    """ValueError naming `uri` when MLFLOW_TRACKING_URI is http(s) and nothing answers there."""
    if urllib.parse.urlsplit(uri).scheme not in ("http", "https"):
        return
    reason = _answers(uri.rstrip("/") + "/health")
    if reason:
        raise ValueError(
            f"cannot reach the MLflow tracking server at {uri} (MLFLOW_TRACKING_URI): {reason}; "
            "start it (mlflow server ...) or fix the URI"
        )


def check_ray_head(address: str) -> None:
    """ValueError naming `address` (--ray-address or $RAY_ADDRESS, host:port or ray://host:port)
    when it is malformed or nothing accepts a connection there.

    Why: ray.init retries an unreachable head's GCS without end (measured 2026-11-27: still
    retrying, a line a second, when killed after 90 s), so `main` would hang before its first
    step. "" (a new local instance) and "auto" (the `ray start` of this machine, which Ray
    looks up and refuses at once when there is none) are left to Ray.
    """
    if address in ("", "auto", "local"):
        return
    hostport = address.split("://", 1)[1] if "://" in address else address
    host, _, port = hostport.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"--ray-address {address!r}: expected host:port (e.g. head-host:6379), "
            "ray://host:port or auto"
        )
    start = (
        "`ray start --head` (a client connects to its port 10001)"
        if "://" in address
        else f"`ray start --head --port {port}`"
    )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=TIMEOUT_S).close()
    except OSError as exc:
        raise ValueError(
            f"no Ray head answers at {address} (--ray-address or RAY_ADDRESS): "
            f"{exc.strerror or exc}; start one there with {start}, "
            "or leave --ray-address out for a Ray instance on this machine"
        ) from None


def check_proxied_artifacts(artifact_location: str, tracking_uri: str) -> None:
    """ValueError when the tracking server proxies artifacts (mlflow-artifacts:/...) and cannot
    reach its own store: listing the experiment's folder through it fails with a server error."""
    path = urllib.parse.urlsplit(artifact_location).path.lstrip("/")
    url = (
        f"{tracking_uri.rstrip('/')}/api/2.0/mlflow-artifacts/artifacts"
        f"?path={urllib.parse.quote(path)}"
    )
    try:
        with urllib.request.urlopen(url, timeout=120):  # the server may retry its bucket a while
            return
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return  # auth, or a server that serves no artifacts: not this check's business
        detail = exc.read().decode(errors="replace").strip().splitlines()
        reason = f"HTTP {exc.code}" + (f": {detail[0][:300]}" if detail else "")
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
    raise ValueError(
        f"the MLflow server at {tracking_uri} cannot reach its artifact store "
        f"(--artifacts-destination) for {artifact_location}: {reason}"
    )


def check_artifact_store(artifact_location: str, tracking_uri: str = "") -> None:
    """ValueError naming the bucket when an experiment's artifacts go straight to an s3:// bucket
    (the server's --default-artifact-root) and the bucket does not answer this client; or, for
    artifacts the server proxies, when the server cannot reach them."""
    if artifact_location.startswith("mlflow-artifacts:") and tracking_uri.startswith(
        ("http://", "https://")
    ):
        check_proxied_artifacts(artifact_location, tracking_uri)
        return
    if not artifact_location.startswith("s3://"):
        return  # local folders
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ValueError(
            f"the experiment's artifacts live in {artifact_location}: install the S3 client "
            "with pip install 'auforget[s3]'"
        ) from None
    bucket = urllib.parse.urlsplit(artifact_location).netloc
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    config = Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1})
    try:
        boto3.client("s3", endpoint_url=endpoint, config=config).head_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; each means "not usable"
        where = f" at {endpoint} (MLFLOW_S3_ENDPOINT_URL)" if endpoint else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"cannot reach the artifact bucket {artifact_location}{where}: {first}; "
            "check the endpoint and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
        ) from None


def _connection_failure(exc: BaseException) -> bool:
    """True when `exc` (or what it was raised from) is a request that never got an answer: MLflow
    wraps requests' ConnectionError in an MlflowException whose text is all that is left of it."""
    import requests

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(
            exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)
        ):
            return True
        text = str(exc)
        if text.startswith("API request to ") and (
            "Max retries exceeded" in text or "timeout" in text
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def brief(exc: BaseException) -> str:
    """One short line for a warning: a request that got no answer as `no answer from the tracking
    server ([Errno 111] Connection refused)`, anything else as the first line of its message."""
    text = str(exc).strip()
    if _connection_failure(exc):
        found = re.search(r"\[Errno -?\d+\][^\"')]*|timed out|[Tt]imeout", text)
        return (
            "no answer from the tracking server "
            f"({found.group(0).strip() if found else type(exc).__name__})"
        )
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def lost_store(exc: BaseException, tracking_uri: str, artifact_uri: str) -> str:
    """Why a step that failed with `exc` lost its store, or "" when the store is not the reason.

    Asks the tracking server (once) and then the run's artifact store whether they answer now; a
    server that answers again after refusing the step's requests still counts (a restart longer
    than the retries). Only for http(s) tracking URIs: a local sqlite store cannot go away.
    """
    if urllib.parse.urlsplit(tracking_uri).scheme not in ("http", "https"):
        return ""
    if isinstance(exc, StoreLost):
        return str(exc)
    if reason := _answers(tracking_uri.rstrip("/") + "/health"):
        return (
            f"the MLflow tracking server at {tracking_uri} (MLFLOW_TRACKING_URI) stopped "
            f"answering: {reason}"
        )
    try:
        check_artifact_store(artifact_uri, tracking_uri)
    except ValueError as lost:
        return str(lost)
    if _connection_failure(exc):
        return (
            f"the MLflow tracking server at {tracking_uri} (MLFLOW_TRACKING_URI) did not answer "
            "for longer than its retries wait (MLFLOW_HTTP_REQUEST_MAX_RETRIES); it answers "
            "again now"
        )
    return ""
