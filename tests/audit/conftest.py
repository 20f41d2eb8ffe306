"""Shared fixtures of the audit tests: real corpus cases, a fixed clock, a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from .._postgres import run_database
from ..conftest import POLICIES, read_cases

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


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """This test run's own database (see ``tests/_postgres.py``), dropped at the end of the run."""
    with run_database("txguard_audit_test") as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    """A fresh audit schema in this run's own database; fails (never skips) in CI if unreachable."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS txguard_audit, txguard_audit_head")
    yield pg_database
