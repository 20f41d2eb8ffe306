"""PostgreSQL conversation store (psycopg 3): row locks and ``INSERT ... ON CONFLICT``.

See the ``_store`` module docstring for the guarantees. One connection per thread and process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..core.errors import UsageError
from ._events import Event
from ._store import Charge, Transaction

_SCHEMA_LOCK = 0x7478_6773  # pg_advisory_xact_lock key: concurrent first opens create the tables once

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS txg_session_conversations (
        id TEXT PRIMARY KEY)""",
    """CREATE TABLE IF NOT EXISTS txg_session_events (
        conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
        at_us BIGINT NOT NULL, turn INTEGER, data TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq))""",
    """CREATE TABLE IF NOT EXISTS txg_session_budgets (
        key TEXT NOT NULL, bucket BIGINT NOT NULL, spent BIGINT NOT NULL,
        PRIMARY KEY (key, bucket))""",
    """CREATE TABLE IF NOT EXISTS txg_session_confirmations (
        key TEXT PRIMARY KEY)""",
    "CREATE INDEX IF NOT EXISTS txg_session_events_at ON txg_session_events (conversation_id, at_us)",
    "CREATE INDEX IF NOT EXISTS txg_session_events_type ON txg_session_events (conversation_id, type, seq)",
)
LOGGED = """CREATE TABLE IF NOT EXISTS txg_session_logged (
    conversation_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (conversation_id, key))"""

_COLUMNS = "SELECT seq, type, at_us, turn, data FROM txg_session_events"


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UsageError("a PostgreSQL session store needs psycopg 3: pip install 'txguard[postgres]'") from None
    return psycopg


class _PgTx:
    def __init__(self, cur: Any, conversation_id: str) -> None:
        self._cur = cur
        self._cid = conversation_id

    def lock(self) -> None:
        self._cur.execute("INSERT INTO txg_session_conversations (id) VALUES (%s) ON CONFLICT DO NOTHING", (self._cid,))
        self._cur.execute("SELECT id FROM txg_session_conversations WHERE id = %s FOR UPDATE", (self._cid,))

    def events(self) -> list[Event]:
        self._cur.execute(f"{_COLUMNS} WHERE conversation_id = %s ORDER BY seq", (self._cid,))
        return [Event.from_row(*row) for row in self._cur.fetchall()]

    def window(self, since_us: int, tail: Sequence[tuple[str, int]]) -> list[Event]:
        self._cur.execute(f"{_COLUMNS} WHERE conversation_id = %s AND at_us > %s", (self._cid, since_us))
        rows = {r[0]: r for r in self._cur.fetchall()}
        for type_, n in tail:
            self._cur.execute(f"{_COLUMNS} WHERE conversation_id = %s AND type = %s ORDER BY seq DESC LIMIT %s",
                              (self._cid, type_, n))
            rows.update((r[0], r) for r in self._cur.fetchall())
        return [Event.from_row(*rows[k]) for k in sorted(rows)]

    def next_seq(self) -> int:
        self._cur.execute("SELECT MAX(seq) FROM txg_session_events WHERE conversation_id = %s", (self._cid,))
        row = self._cur.fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def logged(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        self._cur.execute("SELECT key FROM txg_session_logged WHERE conversation_id = %s AND key = ANY(%s)",
                          (self._cid, list(keys)))
        return {r[0] for r in self._cur.fetchall()}

    def reserve(self, charges: Sequence[Charge], confirmations: Sequence[str]) -> str | None:
        cur = self._cur
        for c in sorted(charges, key=lambda c: (c.key, c.bucket)):
            cur.execute("INSERT INTO txg_session_budgets (key, bucket, spent) VALUES (%s, %s, 0) ON CONFLICT DO NOTHING",
                        (c.key, c.bucket))
            cur.execute("SELECT spent FROM txg_session_budgets WHERE key = %s AND bucket = %s FOR UPDATE",
                        (c.key, c.bucket))
            row = cur.fetchone()
            if int(row[0]) + c.amount_minor > c.limit_minor:
                return c.budget
        if confirmations and not any(self._consume(k) for k in confirmations):
            return "confirmation"
        for c in charges:
            cur.execute("UPDATE txg_session_budgets SET spent = spent + %s WHERE key = %s AND bucket = %s",
                        (c.amount_minor, c.key, c.bucket))
        return None

    def _consume(self, key: str) -> bool:
        self._cur.execute("INSERT INTO txg_session_confirmations (key) VALUES (%s) ON CONFLICT DO NOTHING RETURNING key",
                          (key,))
        return self._cur.fetchone() is not None

    def append(self, events: Sequence[Event]) -> None:
        self._cur.executemany(
            "INSERT INTO txg_session_events (conversation_id, seq, type, at_us, turn, data) VALUES (%s, %s, %s, %s, %s, %s)",
            [(self._cid, e.seq, e.type, e.at_us, e.turn, e.data_json()) for e in events],
        )
        logged = [(self._cid, e.key) for e in events if e.type == "confirmation" and e.key is not None]
        if logged:
            self._cur.executemany("INSERT INTO txg_session_logged (conversation_id, key) VALUES (%s, %s) "
                                  "ON CONFLICT DO NOTHING", logged)


class PostgresStore:
    """Conversation state in PostgreSQL, for many processes and hosts serving one conversation."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._psycopg = _psycopg()
        self._local = threading.local()
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for stmt in SCHEMA:
                cur.execute(stmt)
            cur.execute("SELECT to_regclass('txg_session_logged')")
            if cur.fetchone()[0] is None:
                cur.execute(LOGGED)
                # a store written by an earlier version: index the confirmations its logs hold, once
                cur.execute("SELECT conversation_id, seq, type, at_us, turn, data FROM txg_session_events "
                            "WHERE type = 'confirmation'")
                old = [(cid, e.key) for cid, *row in cur.fetchall() for e in (Event.from_row(*row),) if e.key is not None]
                if old:
                    cur.executemany("INSERT INTO txg_session_logged (conversation_id, key) VALUES (%s, %s) "
                                    "ON CONFLICT DO NOTHING", old)

    def _conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or getattr(self._local, "pid", None) != os.getpid():
            conn = self._psycopg.connect(self.url, autocommit=True)
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextmanager
    def transaction(self, conversation_id: str) -> Iterator[Transaction]:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            tx = _PgTx(cur, conversation_id)
            tx.lock()
            yield tx

    def events(self, conversation_id: str) -> list[Event]:
        with self._conn().cursor() as cur:
            return _PgTx(cur, conversation_id).events()

    def spent(self, key: str, bucket: int) -> int:
        with self._conn().cursor() as cur:
            cur.execute("SELECT spent FROM txg_session_budgets WHERE key = %s AND bucket = %s", (key, bucket))
            row = cur.fetchone()
            return int(row[0]) if row else 0

    def confirmation_used(self, key: str) -> bool:
        with self._conn().cursor() as cur:
            cur.execute("SELECT 1 FROM txg_session_confirmations WHERE key = %s", (key,))
            return cur.fetchone() is not None

    def consume(self, keys: Sequence[str]) -> bool:
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            return any(_PgTx(cur, "")._consume(k) for k in keys)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
