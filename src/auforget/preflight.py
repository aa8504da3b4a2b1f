"""Start-up checks that the tracking server and the artifact bucket answer.

MLflow's HTTP client retries a refused connection with exponential backoff for minutes and then
fails with a deep traceback; a bucket that cannot be reached shows up only when the first model
is uploaded, after the training. These checks try once, with a short timeout, before any work,
and say in one line which URI did not answer.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 10.0


def _answers(url: str) -> str:
    """"" when something answers HTTP at `url` (any status: 404 or 401 still means reachable),
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
        raise ValueError(f"cannot reach the MLflow tracking server at {uri} (MLFLOW_TRACKING_URI): {reason}; "
                         "start it (mlflow server ...) or fix the URI")


def check_proxied_artifacts(artifact_location: str, tracking_uri: str) -> None:
    """ValueError when the tracking server proxies artifacts (mlflow-artifacts:/...) and cannot
    reach its own store: listing the experiment's folder through it fails with a server error."""
    path = urllib.parse.urlsplit(artifact_location).path.lstrip("/")
    url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow-artifacts/artifacts?path={urllib.parse.quote(path)}"
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
    raise ValueError(f"the MLflow server at {tracking_uri} cannot reach its artifact store "
                     f"(--artifacts-destination) for {artifact_location}: {reason}")


def check_artifact_store(artifact_location: str, tracking_uri: str = "") -> None:
    """ValueError naming the bucket when an experiment's artifacts go straight to an s3:// bucket
    (the server's --default-artifact-root) and the bucket does not answer this client; or, for
    artifacts the server proxies, when the server cannot reach them."""
    if artifact_location.startswith("mlflow-artifacts:") and tracking_uri.startswith(("http://", "https://")):
        check_proxied_artifacts(artifact_location, tracking_uri)
        return
    if not artifact_location.startswith("s3://"):
        return  # local folders
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ValueError(f"the experiment's artifacts live in {artifact_location}: install the S3 client "
                         "with pip install 'auforget[s3]'") from None
    bucket = urllib.parse.urlsplit(artifact_location).netloc
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    config = Config(connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1})
    try:
        boto3.client("s3", endpoint_url=endpoint, config=config).head_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; each means "not usable"
        where = f" at {endpoint} (MLFLOW_S3_ENDPOINT_URL)" if endpoint else ""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot reach the artifact bucket {artifact_location}{where}: {first}; "
                         "check the endpoint and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY") from None
