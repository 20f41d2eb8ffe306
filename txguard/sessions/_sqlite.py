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
    # what a decision reads is bounded by the rules' windows: by time, and the last n of a type
    "CREATE INDEX IF NOT EXISTS txg_session_events_at ON txg_session_events (conversation_id, at_us)",
    "CREATE INDEX IF NOT EXISTS txg_session_events_type ON txg_session_events (conversation_id, type, seq)",
)
LOGGED = """CREATE TABLE IF NOT EXISTS txg_session_logged (
    conversation_id TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (conversation_id, key))"""
"""The confirmation keys each conversation's log holds (one lookup per decision, not a log scan)."""

_COLUMNS = "SELECT seq, type, at_us, turn, data FROM txg_session_events"


class _SQLiteTx:
    def __init__(self, conn: sqlite3.Connection, conversation_id: str) -> None:
        self._conn = conn
        self._cid = conversation_id

    def events(self) -> list[Event]:
        rows = self._conn.execute(f"{_COLUMNS} WHERE conversation_id = ? ORDER BY seq", (self._cid,)).fetchall()
        return [Event.from_row(*row) for row in rows]

    def window(self, since_us: int, tail: Sequence[tuple[str, int]]) -> list[Event]:
        rows = {r[0]: r for r in self._conn.execute(f"{_COLUMNS} WHERE conversation_id = ? AND at_us > ?",
                                                    (self._cid, since_us))}
        for type_, n in tail:
            for r in self._conn.execute(f"{_COLUMNS} WHERE conversation_id = ? AND type = ? ORDER BY seq DESC LIMIT ?",
                                        (self._cid, type_, n)):
                rows[r[0]] = r
        return [Event.from_row(*rows[k]) for k in sorted(rows)]

    def next_seq(self) -> int:
        row = self._conn.execute("SELECT MAX(seq) FROM txg_session_events WHERE conversation_id = ?",
                                 (self._cid,)).fetchone()
        return 0 if row is None or row[0] is None else int(row[0]) + 1

    def logged(self, keys: Sequence[str]) -> set[str]:
        return {k for k in keys if self._conn.execute(
            "SELECT 1 FROM txg_session_logged WHERE conversation_id = ? AND key = ?", (self._cid, k)).fetchone()}

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
        self._conn.executemany("INSERT OR IGNORE INTO txg_session_logged (conversation_id, key) VALUES (?, ?)",
                               [(self._cid, e.key) for e in events if e.type == "confirmation" and e.key is not None])


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
            if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'txg_session_logged'").fetchone() is None:
                conn.execute(LOGGED)
                # a store written by an earlier version: index the confirmations its logs hold, once
                conn.executemany("INSERT OR IGNORE INTO txg_session_logged (conversation_id, key) VALUES (?, ?)", [
                    (cid, e.key) for cid, *row in conn.execute(
                        "SELECT conversation_id, seq, type, at_us, turn, data FROM txg_session_events "
                        "WHERE type = 'confirmation'")
                    for e in (Event.from_row(*row),) if e.key is not None])

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

    def consume(self, keys: Sequence[str]) -> bool:
        conn = self._conn()
        with self._immediate(conn):
            return any(conn.execute("INSERT OR IGNORE INTO txg_session_confirmations (key) VALUES (?)", (k,)).rowcount == 1
                       for k in keys)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
