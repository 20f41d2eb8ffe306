"""Shared fixtures of the audit tests: real corpus cases, a fixed clock, a PostgreSQL database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ..conftest import POLICIES, read_cases

PG_ADMIN = os.environ.get("TXGUARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = f"txguard_audit_test_{os.getpid()}"  # this run's own: see `pg_database`
RETAIL = POLICIES / "retail.yaml"


def envelopes(n: int | None = None) -> list[dict[str, Any]]:
    """Wire-format envelopes of the chat-to-buy dev corpus (inputs only, never the labels)."""
    cases = read_cases("chat-to-buy-dev.jsonl.gz")[:n]
    return [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c} for c in cases]


class StepClock:
    """A clock that advances by ``step`` on every call."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc),
                 step: timedelta = timedelta(seconds=7)) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


def _unreachable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {why}")
    pytest.skip(f"PostgreSQL unreachable: {why}")


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """This test run's own database, dropped at the end of the run.

    Named after the pytest process: several runs share the server on one machine (CI's clone, the
    main checkout, worktrees), and with one fixed name each run's ``pg_url`` dropped the tables
    under the other's writers.
    """
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - installed by the `test` extra
        _unreachable(str(exc))
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        _unreachable(str(exc).strip())
    with admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DB}")
    yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{PG_DB}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh audit schema in this run's own database; fails (never skips) in CI if unreachable."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS txguard_audit, txguard_audit_head")
    yield pg_database
