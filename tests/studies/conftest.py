"""Storage backends for the study tests: a SQLite file, and the real PostgreSQL and MariaDB servers.

Each server test session works in a database of its own, created here and dropped at the end.
A server that cannot be reached skips its tests (CI has both).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

SERVERS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306",
}
ADMIN_DATABASE = {"postgresql": "postgres", "mysql": "test"}
BACKENDS = ("sqlite", "postgresql", "mysql")


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, str | None]]:
    """One fresh database per server for this test session; None for a server that is not reachable."""
    created: dict[str, str | None] = {}
    name = f"ms_test_{uuid.uuid4().hex[:12]}"
    for backend, base in SERVERS.items():
        engine = sqlalchemy.create_engine(
            f"{base}/{ADMIN_DATABASE[backend]}", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {name}")
            created[backend] = f"{base}/{name}"
        except sqlalchemy.exc.OperationalError:
            created[backend] = None
        finally:
            engine.dispose()
    yield created
    for backend, url in created.items():
        if url is None:
            continue
        engine = sqlalchemy.create_engine(f"{SERVERS[backend]}/{ADMIN_DATABASE[backend]}", isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            if backend == "postgresql":
                connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            else:
                connection.exec_driver_sql(f"DROP DATABASE {name}")
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL of each backend; study names are unique per test, so a server database is shared."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    url = request.getfixturevalue("server_databases")[request.param]
    if url is None:
        pytest.skip(f"{request.param} server not reachable on 127.0.0.1")
    return url


@pytest.fixture(params=BACKENDS)
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A storage URL of each backend in a database of its own, dropped after the test: for tests that
    change what other tests share (the schema's revision)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    if request.getfixturevalue("server_databases")[request.param] is None:
        pytest.skip(f"{request.param} server not reachable on 127.0.0.1")
    name = f"ms_scratch_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(f"{SERVERS[request.param]}/{ADMIN_DATABASE[request.param]}", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield f"{SERVERS[request.param]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name}" + (" WITH (FORCE)" if request.param == "postgresql" else ""))
        admin.dispose()


@pytest.fixture
def study_name(request: pytest.FixtureRequest) -> str:
    """A study name unique to this test run, readable in a shared server database."""
    return f"t-{re.sub(r'[^A-Za-z0-9_.-]+', '-', request.node.name)[:60]}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=["private", "public"])
def api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which path the store takes (Optuna's internals, or its public API); set in the environment, so
    spawned workers take it too."""
    import optuna

    from momentum_search.store import PUBLIC_API_ENV, uses_private_api

    monkeypatch.delenv(PUBLIC_API_ENV, raising=False)
    if request.param == "public":
        monkeypatch.setenv(PUBLIC_API_ENV, "1")
    # Never skipped: an Optuna whose internals the probe refuses fails here, so CI says so (users get
    # the public path and a warning).
    assert uses_private_api() == (request.param == "private"), f"Optuna {optuna.__version__}: the private path is off"
    return request.param
