"""Real servers on loopback for the team set-up tests: PostgreSQL, an S3 object store (moto's
standalone server) and `mlflow server`, each on a port it picks, each stopped by its context
manager even when the test fails.

PostgreSQL comes from Debian's `postgresql` package (.ci/run installs it). Its server refuses
to run as root, and CI runs as root, so initdb / pg_ctl run as the `postgres` user then, with the
data directory in a fresh folder under /tmp that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (uvicorn workers included), SIGKILL after 15 s."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args[0]} exited {proc.returncode} before answering {url}:\n"
                f"{log.read_text(errors='replace')[-4000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"{url} did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}"
    )


@dataclass
class Postgres:
    bindir: Path
    root: Path  # owned by the server's user: data/, server.log
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        """SQLAlchemy URL with the psycopg 3 driver (what MLflow and Optuna take)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c "
            "max_connections=200"
        )
        self._as_server_user(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        self._as_server_user(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="auforget-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = Postgres(bindir, root, free_port())
    try:
        server._as_server_user(
            str(bindir / "initdb"),
            "-D",
            str(server.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        server.start()
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class ObjectStore:
    endpoint: str
    bucket: str
    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    def stop(self) -> None:
        """The bucket goes away at once, with what it held (moto keeps it in memory)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def env(self) -> dict[str, str]:
        """What a client that talks to the bucket itself needs (MLflow, DVC via boto)."""
        return {**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": self.endpoint}

    def keys(self, prefix: str = "") -> list[str]:
        import boto3

        s3 = boto3.client("s3", endpoint_url=self.endpoint, **_boto_credentials())
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


@contextlib.contextmanager
def object_store(logs: Path, bucket: str = "auforget") -> Iterator[ObjectStore]:
    """moto's S3 server (in memory) with one bucket."""
    import boto3

    port = free_port()
    log = logs / "moto.log"
    proc = _spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log,
        env={**os.environ, **S3_ENV},
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        _wait_http(f"{endpoint}/moto-api/", proc, log, timeout=60)
        boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(
            Bucket=bucket
        )
        yield ObjectStore(endpoint, bucket, proc)
    finally:
        _stop(proc)


@dataclass
class TrackingServer:
    uri: str
    artifacts: str  # where runs' artifacts end up: s3://bucket/prefix
    proxied: bool
    client_env: dict[str, str]  # what a client needs besides MLFLOW_TRACKING_URI
    process: _Server | None = field(default=None, repr=False, compare=False)

    def kill(self) -> None:
        """The server goes away at once (SIGKILL to its process group), as a crashed machine
        would."""
        self.process.stop(kill=True)

    def start(self) -> None:
        """Start it again: same port, database and bucket."""
        self.process.start()


@dataclass
class _Server:
    """A server process that can be stopped and started again with the same command."""

    cmd: list[str]
    env: dict[str, str]
    log: Path
    health: str
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = _spawn(self.cmd, self.log, env=self.env)
        _wait_http(self.health, self.proc, self.log)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        _stop(self.proc)


@contextlib.contextmanager
def mlflow_server(
    backend: str, store: ObjectStore, prefix: str, logs: Path, *, proxied: bool
) -> Iterator[TrackingServer]:
    """`mlflow server` on `backend`, artifacts under s3://bucket/prefix: proxied through the server
    (--artifacts-destination; clients need no S3 credentials) or written by the clients themselves
    (--default-artifact-root --no-serve-artifacts; clients need the bucket's endpoint and keys)."""
    port = free_port()
    artifacts = f"s3://{store.bucket}/{prefix}"
    where = (
        ["--artifacts-destination", artifacts]
        if proxied
        else ["--default-artifact-root", artifacts, "--no-serve-artifacts"]
    )
    # No job runner: its consumers (GenAI scorers) are a dozen more processes the study never uses.
    env = {
        **os.environ,
        **store.env(),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    mlflow = str(Path(sys.executable).parent / "mlflow")
    uri = f"http://127.0.0.1:{port}"
    server = _Server(
        [
            mlflow,
            "server",
            "--backend-store-uri",
            backend,
            *where,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env,
        logs / f"mlflow-{prefix}.log",
        f"{uri}/health",
    )
    try:
        server.start()
        yield TrackingServer(uri, artifacts, proxied, {} if proxied else store.env(), server)
    finally:
        server.stop()
