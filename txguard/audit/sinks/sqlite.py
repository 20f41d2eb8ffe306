"""``sqlite:PATH``: the embedded default, an SQLite database in WAL mode, many writer processes."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._record import AuditRecord, chain
from .base import AuditEntry, AuditError, Damaged, _checked_head, _missing
from .group import _GroupSink


SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS txguard_audit (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prev TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS txguard_audit_head (
  one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL
);
INSERT OR IGNORE INTO txguard_audit_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE IF NOT EXISTS txguard_audit_key (one INTEGER PRIMARY KEY CHECK (one = 1), key BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS txguard_audit_journals (name TEXT PRIMARY KEY);
"""

_TEXT_COLUMNS = ("id", "prev", "hash", "body")


class SqliteSink(_GroupSink):
    """The embedded default: an SQLite database in WAL mode.

    Options (``sqlite:PATH?commit=group&every=64&ms=5&sync=normal``): ``commit=group`` (default)
    journals each record to ``PATH.journal/`` before ``append`` returns and commits one transaction
    per ``every`` records or ``ms`` milliseconds; ``commit=each`` commits one transaction per
    record. ``sync=normal`` (default) or ``full`` is SQLite's ``synchronous`` (``full`` makes every
    commit survive power loss). Many processes may append to one file: each group transaction takes
    SQLite's write lock (``BEGIN IMMEDIATE``), reads the head row, links and inserts its records,
    and moves the head. Journal entries carry a MAC keyed by a random key kept in the database
    (``txguard_audit_key``), so a file dropped into the journal directory is never chained.
    """

    def __init__(self, path: str | Path, *, commit: str = "group", every: int = 64, ms: int = 5,
                 sync: str = "normal", readonly: bool = False, salt: bytes | None = None) -> None:
        self.path = Path(path)
        self._readonly = readonly
        self._broken: str | None = None
        try:
            if readonly:
                if not self.path.exists():
                    raise AuditError(f"{self.path}: no such audit trail")
                self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                           check_same_thread=False)
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None, timeout=60,
                                           check_same_thread=False)
                with open(f"{self.path}.lock", "a") as lock:  # switching to WAL is not retried by SQLite
                    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                    self._db.execute("PRAGMA journal_mode=WAL")
                    self._db.executescript(f"BEGIN IMMEDIATE; {SQLITE_SCHEMA} COMMIT;")
                    self._db.execute("INSERT OR IGNORE INTO txguard_audit_key VALUES (1, ?)", (os.urandom(32),))
                self._db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit database: {exc}") from None
        if readonly:
            self.mask_salt = salt
            self._closed = False
            self._journal_dir = Path(f"{self.path}.journal")
            try:
                self._empty = self._uninitialised()
            except sqlite3.Error as exc:  # a damaged file: verify reports it
                self._empty, self._broken = False, f"{self.path}: unreadable: not an audit database ({exc})"
            return
        self._empty = False
        super().__init__(commit=commit, every=every, ms=ms, salt=salt,
                         journal_dir=Path(f"{self.path}.journal") if commit == "group" else None)

    def _commit(self, entries: Sequence[AuditEntry], journals: Sequence[str] = (), done: Sequence[str] = ()) -> None:
        # Writers on this host queue on a file lock (woken at once by the kernel) rather than in
        # SQLite's busy handler, which sleeps up to 100 ms between retries.
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            self._commit_locked(entries, journals, done)

    def _commit_locked(self, entries: Sequence[AuditEntry], journals: Sequence[str], done: Sequence[str]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            if entries:
                seq, prev = db.execute("SELECT seq, hash FROM txguard_audit_head WHERE one = 1").fetchone()
                rows = chain([e.body_text for e in entries], seq, prev)
                db.executemany("INSERT INTO txguard_audit (seq, id, prev, hash, body) VALUES (?, ?, ?, ?, ?)",
                               [(s, e.id, p, h, b) for (s, p, h, b), e in zip(rows, entries)])
                db.execute("UPDATE txguard_audit_head SET seq = ?, hash = ? WHERE one = 1", rows[-1][:1] + rows[-1][2:3])
            if journals:
                db.executemany("INSERT OR IGNORE INTO txguard_audit_journals (name) VALUES (?)", [(n,) for n in journals])
            if done:
                db.executemany("DELETE FROM txguard_audit_journals WHERE name = ?", [(n,) for n in done])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"SELECT id FROM txguard_audit WHERE id IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self._db.execute(q, part))
        return found

    def _journal_key(self) -> bytes | None:
        try:
            row = self._db.execute("SELECT key FROM txguard_audit_key WHERE one = 1").fetchone()
        except sqlite3.Error:  # a trail written before journals carried MACs
            return None
        return row[0] if row and isinstance(row[0], bytes) and len(row[0]) >= 16 else None

    def _committed_journals(self) -> set[str]:
        try:
            return {str(r[0]) for r in self._db.execute("SELECT name FROM txguard_audit_journals")}
        except sqlite3.Error:
            return set()

    def _uninitialised(self) -> bool:
        """An empty database (a writer died before creating the tables) is an empty trail."""
        return int(self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) == 0

    def records(self) -> Iterator[AuditRecord]:
        if self._broken:
            raise Damaged(self._broken, "unreadable", 1)
        if self._empty:
            return
        # Each text column is read as bytes with its storage type, so that a value of another type
        # or bytes that are not UTF-8 are reported at their row instead of failing the whole read.
        columns = ", ".join(f"typeof({c}), CAST({c} AS BLOB)" for c in _TEXT_COLUMNS)
        n = 0
        try:
            for row in self._db.execute(f"SELECT seq, {columns} FROM txguard_audit ORDER BY seq"):
                n += 1
                values = []
                for i, name in enumerate(_TEXT_COLUMNS):
                    kind, raw = row[1 + 2 * i], row[2 + 2 * i]
                    if kind != "text" or not isinstance(raw, bytes):
                        raise Damaged(f"{self.path}: row seq {row[0]}: `{name}` is {kind}, not text", "edited", n)
                    try:
                        values.append(raw.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise Damaged(f"{self.path}: row seq {row[0]}: `{name}` is not UTF-8", "edited", n) from None
                ident, prev, digest, body = values
                yield AuditRecord(int(row[0]), prev, digest, body, ident)
        except sqlite3.Error as exc:
            raise Damaged(f"{self.path}: unreadable audit table: {exc}", _missing(exc), n + 1) from None

    def head(self) -> tuple[int, str] | None:
        if self._broken:
            raise Damaged(self._broken, "unreadable")
        if self._empty:
            return None
        try:
            row = self._db.execute("SELECT typeof(seq), seq, typeof(hash), CAST(hash AS BLOB) FROM txguard_audit_head "
                                   "WHERE one = 1").fetchone()
        except sqlite3.Error as exc:
            raise Damaged(f"{self.path}: unreadable audit head: {exc}", _missing(exc)) from None
        return _checked_head(str(self.path), row and (row[1], row[3] if row[2] == "text" else row[2]))
