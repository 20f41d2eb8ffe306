"""SQLite conversation store: ``BEGIN IMMEDIATE`` transactions serialise writers across processes."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._events import Event
from ._store import Charge, Transaction

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS txg_session_events (
        conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
        at_us INTEGER NOT NULL, turn INTEGER, data TEXT NOT NULL,
        PRIMARY KEY (conversation_id, seq))""",
    """CREATE TABLE IF NOT EXISTS txg_session_budgets (
        key TEXT NOT NULL, bucket INTEGER NOT NULL, spent INTEGER NOT NULL,
        PRIMARY KEY (key, bucket))""",
    """CREATE TABLE IF NOT EXISTS txg_session_confirmations (
        key TEXT PRIMARY KEY)""",
)


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection, conversation_id: str) -> None:
        self._conn = conn
        self._cid = conversation_id

    def events(self) -> list[Event]:
        rows = self._conn.execute(
            "SELECT seq, type, at_us, turn, data FROM txg_session_events WHERE conversation_id = ? ORDER BY seq",
            (self._cid,),
        ).fetchall()
        return [Event.from_row(*row) for row in rows]

    def reserve(self, charges: Sequence[Charge], confirmations: Sequence[str]) -> str | None:
        for c in charges:
            row = self._conn.execute("SELECT spent FROM txg_session_budgets WHERE key = ? AND bucket = ?",
                                     (c.key, c.bucket)).fetchone()
            if (row[0] if row else 0) + c.amount_minor > c.limit_minor:
                return c.budget
        if confirmations and not any(
            self._conn.execute("INSERT OR IGNORE INTO txg_session_confirmations (key) VALUES (?)", (k,)).rowcount == 1
            for k in confirmations
        ):
            return "confirmation"
        for c in charges:
            self._conn.execute(
                "INSERT INTO txg_session_budgets (key, bucket, spent) VALUES (?, ?, ?) "
                "ON CONFLICT (key, bucket) DO UPDATE SET spent = spent + excluded.spent",
                (c.key, c.bucket, c.amount_minor),
            )
        return None

    def append(self, events: Sequence[Event]) -> None:
        self._conn.executemany(
            "INSERT INTO txg_session_events (conversation_id, seq, type, at_us, turn, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(self._cid, e.seq, e.type, e.at_us, e.turn, e.data_json()) for e in events],
        )


class SQLiteStore:
    """Conversation state in a SQLite file (the embedded default). One connection per thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.url = f"sqlite:{path}"
        self._local = threading.local()
        conn = self._conn()
        with self._immediate(conn):
            for stmt in SCHEMA:
                conn.execute(stmt)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @staticmethod
    @contextmanager
    def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self, conversation_id: str) -> Iterator[Transaction]:
        conn = self._conn()
        with self._immediate(conn):
            yield _SQLiteTx(conn, conversation_id)

    def events(self, conversation_id: str) -> list[Event]:
        return _SQLiteTx(self._conn(), conversation_id).events()

    def spent(self, key: str, bucket: int) -> int:
        row = self._conn().execute("SELECT spent FROM txg_session_budgets WHERE key = ? AND bucket = ?",
                                   (key, bucket)).fetchone()
        return int(row[0]) if row else 0

    def confirmation_used(self, key: str) -> bool:
        return self._conn().execute("SELECT 1 FROM txg_session_confirmations WHERE key = ?", (key,)).fetchone() is not None

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
