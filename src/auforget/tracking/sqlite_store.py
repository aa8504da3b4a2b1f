"""MLflow store plugin: sqlite stores are created under a file lock.

The first process to open a new sqlite store creates its tables (alembic migrations). Several
processes doing that at once -- six `mlflow run . -e transfer` started together against a
fresh `mlflow.db` -- corrupt each other's migrations ("table _alembic_tmp_params already
exists", "Online migration expected to match one row"), and every one of them dies. MLflow
builds its stores through a registry that plugins may extend; pyproject.toml registers these
two builders for the `sqlite` scheme, so every process that has auforget installed -- the
`mlflow run` launcher included -- initialises the store one at a time, behind a lock file next
to the database. Once the tables exist the lock costs microseconds, and MLflow's own sessions
wait on a busy database (PRAGMA busy_timeout) for concurrent writes.

Kept free of auforget imports: MLflow loads it while `import mlflow` runs.
"""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock

LOCK_TIMEOUT_S = 300


def sqlite_path(store_uri: str) -> str:
    """The database file of `sqlite:///rel.db` or `sqlite:////abs.db` ("" for in-memory or other
    schemes)."""
    path = (
        store_uri[len("sqlite:///") :].split("?", 1)[0]
        if store_uri.startswith("sqlite:///")
        else ""
    )
    return "" if path == ":memory:" else path


def lock_for(store_uri: str, suffix: str = ".lock") -> FileLock:
    """The lock file beside the database."""
    path = sqlite_path(store_uri)
    if not path:
        return FileLock(Path.home() / f".auforget-sqlite-memory{suffix}", timeout=LOCK_TIMEOUT_S)
    return FileLock(str(Path(path).resolve()) + suffix, timeout=LOCK_TIMEOUT_S)


def tracking_store(store_uri: str, artifact_uri: str | None = None):
    from mlflow.tracking._tracking_service.utils import _get_sqlalchemy_store

    with lock_for(store_uri):
        return _get_sqlalchemy_store(store_uri, artifact_uri)


def registry_store(store_uri: str, tracking_uri: str | None = None):
    from mlflow.tracking._model_registry.utils import _get_sqlalchemy_store

    with lock_for(store_uri):
        return _get_sqlalchemy_store(store_uri)
