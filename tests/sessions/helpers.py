"""Shared pieces of the session tests: a small policy, proposals, a settable clock, PostgreSQL."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from .._postgres import create_database, database_url, drop_database

HEAD = """
apiVersion: txguard/v1
id: sessions-test
version: "1"
currency: USD
tools:
  checkout: {intent: checkout}
  add_to_cart: {intent: add_to_cart}
defaults: {checkout: allow, add_to_cart: allow}
rules:
  - id: consent
    check: consent
"""
"""The policy's head: its tools, defaults and the consent check (a test adds its rules and session)."""
BASE = HEAD + """\
  - id: big
    kinds: [checkout]
    when: {path: intent.total, gt: "5000.00"}
    outcome: escalate
"""

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
# This test run's own database (dropped at the end of the run by conftest): several runs share the
# server on one machine, and with one fixed name each run's `pg_reset` dropped the other's tables.
# Kept in the environment so the spawned worker processes of this run agree on it.
PG_DB = os.environ.setdefault("TXGUARD_SESSIONS_TEST_DB", f"txguard_sessions_test_{os.getpid()}")
PG_URL = database_url(PG_DB)


def policy(session_yaml: str) -> str:
    """The base policy with a ``session:`` section (YAML text indented by two spaces)."""
    return BASE + "session:\n" + session_yaml


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def checkout(total: str = "100.00", pm: str = "card_1", merchant: str | None = "shop", sku: str = "111") -> dict[str, Any]:
    args: dict[str, Any] = {
        "items": [{"sku": sku, "product_id": "p1", "title": "Kettle", "quantity": 1, "unit_price": total}],
        "currency": "USD", "total": total, "payment_method_id": pm,
    }
    if merchant is not None:
        args["merchant"] = merchant
    return {"name": "checkout", "arguments": args}


def session(cid: str | None, *confirmed: dict[str, Any], user: str = "alice", turn: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"authenticated_user_id": user, "confirmed": list(confirmed)}
    if cid is not None:
        out["id"] = cid
    if turn is not None:
        out["turn"] = turn
    return out


CREATED: list[str] = []
"""The databases this process created (conftest drops them at the end of the run)."""


def pg_drop_created() -> None:
    """Drop the test database if this run created it."""
    while CREATED:
        drop_database(CREATED.pop())


def pg_url() -> str:
    """The test database's URL, created on first use. Fails (not skips) under CI when unreachable."""
    if PG_DB not in CREATED:
        create_database(PG_DB)
        CREATED.append(PG_DB)
    return PG_URL


def pg_reset() -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for table in ("txg_session_events", "txg_session_budgets", "txg_session_confirmations", "txg_session_logged",
                      "txg_session_conversations"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
