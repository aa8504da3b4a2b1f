"""Session-wide servers for the team set-up tests: one PostgreSQL, one moto S3 bucket, and an
`mlflow server` per artifact mode, all on loopback ports they pick and stopped at the end of the
session, whatever happened in between."""

from __future__ import annotations

import os

import pytest

from tests.servers import mlflow_server, object_store, postgres_bindir, postgres_server


@pytest.fixture(scope="session")
def server_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def postgres():
    if postgres_bindir() is None and not os.environ.get("CI"):
        pytest.skip(
            "PostgreSQL server binaries not installed (apt-get install postgresql; .ci/run does)"
        )
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def bucket(server_logs):
    with object_store(server_logs) as store:
        yield store


@pytest.fixture(scope="session")
def proxied_server(postgres, bucket, server_logs):
    """Artifacts proxied by the server into s3://auforget/proxied (clients hold no S3 keys)."""
    with mlflow_server(
        postgres.create_database("mlflow_proxied"), bucket, "proxied", server_logs, proxied=True
    ) as server:
        yield server


@pytest.fixture(scope="session")
def direct_server(postgres, bucket, server_logs):
    """Clients write artifacts straight into s3://auforget/direct."""
    with mlflow_server(
        postgres.create_database("mlflow_direct"), bucket, "direct", server_logs, proxied=False
    ) as server:
        yield server
