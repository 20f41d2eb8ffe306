"""The PostgreSQL server the tests run against, and this test run's own databases on it.

Several test runs share the server on one machine (CI's clone, the main checkout, worktrees): each
run works in databases named after its own process, so no run drops the tables under another's
writers. Unreachable, the server skips its tests locally and fails them in CI (``CI=true``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest

PG_ADMIN = os.environ.get("TXGUARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def unreachable(why: str) -> NoReturn:
    """Skip the test, or fail it in CI, where PostgreSQL is required."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(f"PostgreSQL unreachable: {why}")


def create_database(name: str) -> str:
    """(Re)create the empty database ``name`` and return its URL; unreachable: see :func:`unreachable`."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - installed by the `test` extra
        unreachable(str(exc))
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        unreachable(str(exc).strip())
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop the database ``name``, closing its open connections."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def run_database(prefix: str) -> Iterator[str]:
    """A fresh database ``<prefix>_<pid>`` of this run, dropped on exit; yields its URL."""
    name = f"{prefix}_{os.getpid()}"
    url = create_database(name)
    try:
        yield url
    finally:
        drop_database(name)
