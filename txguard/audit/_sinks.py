"""Audit sinks: where records go. One small protocol, four implementations.

``memory:`` (:class:`MemorySink`, the test double), ``jsonl:PATH`` (:class:`JsonlSink`),
``sqlite:PATH`` (:class:`SqliteSink`, the embedded default) and ``postgresql://...``
(:class:`~txguard.audit.PostgresSink`). :func:`open_sink` picks one from a URL. Every sink links
records into one chain (``seq``, ``prev``, ``hash``) at the moment they join it; see
``docs/audit-format.md`` for the durability modes and what each guarantees after a crash.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from .._errors import TxguardError
from ._record import GENESIS, AuditRecord, chain, record_line


class AuditError(TxguardError):
    """The audit trail cannot be opened, read or written."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A record body waiting to join the chain: the decision id and the body's canonical JSON text."""

    id: str
    body_text: str


@runtime_checkable
class AuditSink(Protocol):
    """Where the guard writes its audit records.

    ``append`` returns only once the record is as durable as the sink's mode promises (at least:
    it survives the crash of the calling process); it raises if the record cannot be written, and
    the guard then answers ``escalate`` (``audit_unavailable``). ``records`` yields the stored
    chain in order; ``head`` is the last ``(seq, hash)`` the sink anchored, or ``None``.
    """

    def append(self, entry: AuditEntry) -> None:
        """Add one record to the chain."""

    def flush(self) -> None:
        """Commit everything appended so far."""

    def close(self) -> None:
        """Flush, then release files and connections."""

    def records(self) -> Iterator[AuditRecord]:
        """The stored records, in chain order."""

    def head(self) -> tuple[int, str] | None:
        """The anchored chain head ``(seq, hash)``, if the sink keeps one."""


class MemorySink:
    """Records in a list: the test double, and a sink for short-lived tools.

    >>> sink = MemorySink()
    >>> sink.append(AuditEntry("id-1", '{"id":"id-1"}'))
    >>> [r.seq for r in sink.records()]
    [1]
    """

    exact_head = True

    def __init__(self, salt: bytes | None = None) -> None:
        self.mask_salt = salt
        self.stored: list[AuditRecord] = []
        """The records, in chain order (tests tamper with this list)."""
        self._head = (0, GENESIS)
        self._lock = threading.Lock()

    def append(self, entry: AuditEntry) -> None:
        with self._lock:
            seq, prev = self._head
            ((seq, prev, digest, body),) = chain([entry.body_text], seq, prev)
            self.stored.append(AuditRecord(seq, prev, digest, body, entry.id))
            self._head = (seq, digest)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def records(self) -> Iterator[AuditRecord]:
        return iter(list(self.stored))

    def head(self) -> tuple[int, str] | None:
        return self._head

    def __len__(self) -> int:
        return len(self.stored)


def _options(query: str, allowed: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in allowed:
            raise AuditError(f"unknown audit sink option `{key}` (expected one of {', '.join(sorted(allowed))})")
        try:
            out[key] = allowed[key](value)
        except ValueError as exc:
            raise AuditError(f"audit sink option `{key}`: {exc}") from None
    return out


def _choice(*names: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in names:
            raise ValueError(f"expected one of {', '.join(names)}, got `{value}`")
        return value

    return parse


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError(f"expected a positive integer, got `{value}`")
    return n


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# -- JSON Lines ------------------------------------------------------------------------------------------

_HEAD_WIDTH = 127


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    import json

    data = json.loads(text)
    return int(data["seq"]), str(data["hash"])


class JsonlSink:
    """One JSON object per line, appended with ``write(2)`` before ``append`` returns.

    Options (``jsonl:PATH?fsync=group&every=64&ms=5``): ``fsync=always`` fsyncs every record,
    ``group`` (default) fsyncs after ``every`` records or ``ms`` milliseconds, ``never`` leaves it to
    the OS. A record survives a crash of the writing process as soon as ``append`` returns; it
    survives power loss once fsynced. ``PATH.head`` holds the last fsynced ``(seq, hash)`` so a
    truncated tail is detected. One writer process per file (an exclusive ``flock``).
    """

    exact_head = False

    def __init__(self, path: str | Path, *, fsync: str = "group", every: int = 64, ms: int = 5,
                 readonly: bool = False, salt: bytes | None = None) -> None:
        self.path = Path(path)
        self.head_path = Path(f"{self.path}.head")
        self.mask_salt = salt
        self._fsync, self._every, self._ms = fsync, every, ms
        self._readonly = readonly
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._fd = -1
        self._head_fd = -1
        self._closed = False
        if readonly:
            if not self.path.exists() and not self.head_path.exists():
                raise AuditError(f"{self.path}: no such audit trail")
            return
        try:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o644)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AuditError(f"{self.path}: cannot open the audit trail: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            os.close(self._head_fd)
            raise AuditError(f"{self.path}: another process is writing this audit trail") from None
        self._seq, self._prev = self._recover()
        self._synced = self._seq
        if os.fstat(self._head_fd).st_size == 0:
            self._write_head()
        self._dirty_since = 0.0
        if fsync == "group":
            _start_timer(self, ms)
        _close_at_exit(self)

    def _rfind_newline(self, before: int) -> int:
        """Offset of the last newline strictly before offset ``before``, or -1."""
        end = before
        while end > 0:
            start = max(0, end - (1 << 16))
            i = os.pread(self._fd, end - start, start).rfind(b"\n")
            if i >= 0:
                return start + i
            end = start
        return -1

    def _recover(self) -> tuple[int, str]:
        """Find the last complete record; cut a torn final line (its append never returned)."""
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            size = self._rfind_newline(size) + 1
            os.ftruncate(self._fd, size)
        if size == 0:
            return 0, GENESIS
        start = self._rfind_newline(size - 1) + 1
        last = os.pread(self._fd, size - start, start)
        try:
            rec = AuditRecord.from_line(last.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuditError(f"{self.path}: the last record is not readable ({exc}); run `txguard audit verify`") from None
        return rec.seq, rec.hash

    def _write_head(self) -> None:
        text = f'{{"hash":"{self._prev}","seq":{self._seq}}}'.ljust(_HEAD_WIDTH) + "\n"
        os.pwrite(self._head_fd, text.encode("ascii"), 0)
        self._synced = self._seq

    def append(self, entry: AuditEntry) -> None:
        with self._lock:
            if self._closed:
                raise AuditError(f"{self.path}: the audit sink is closed")
            ((seq, prev, digest, body),) = chain([entry.body_text], self._seq, self._prev)
            _write_all(self._fd, (record_line(body, prev, seq, digest) + "\n").encode("utf-8"))
            self._seq, self._prev = seq, digest
            if self._dirty_since == 0.0:
                self._dirty_since = time.monotonic()
            due = self._seq - self._synced
        if self._fsync == "always":
            self._sync()
        elif due >= self._every:
            if self._fsync == "never":
                self._sync()
            else:
                self._wake.set()
            if due >= 8 * self._every:  # the background syncer is behind: the writer waits for it
                self._sync()

    def _sync(self) -> None:
        """fsync (per the mode), then move the head; runs outside the append lock."""
        with self._sync_lock:
            with self._lock:
                if self._closed or self._seq == self._synced:
                    return
                seq, digest = self._seq, self._prev
                self._dirty_since = 0.0
            if self._fsync != "never":
                os.fsync(self._fd)
            text = f'{{"hash":"{digest}","seq":{seq}}}'.ljust(_HEAD_WIDTH) + "\n"
            os.pwrite(self._head_fd, text.encode("ascii"), 0)
            self._synced = seq

    def _tick(self) -> None:
        with self._lock:
            due = not self._closed and (self._seq - self._synced >= self._every or (
                self._dirty_since and time.monotonic() - self._dirty_since >= self._ms / 1000))
        if due:
            self._sync()

    def flush(self) -> None:
        if not self._readonly:
            self._sync()

    def close(self) -> None:
        if self._readonly or self._closed:
            self._closed = True
            return
        self._sync()
        with self._sync_lock, self._lock:
            if self._closed:
                return
            self._stop.set()
            os.close(self._fd)
            os.close(self._head_fd)
            self._closed = True

    def records(self) -> Iterator[AuditRecord]:
        try:
            fh = open(self.path, encoding="utf-8", newline="\n")
        except FileNotFoundError:
            return
        with fh:
            for n, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    raise AuditError(f"{self.path}:{n}: torn final line (no newline): truncated tail")
                try:
                    yield AuditRecord.from_line(line)
                except ValueError as exc:
                    raise AuditError(f"{self.path}:{n}: edited: not a valid record ({str(exc)[:100]})") from None

    def head(self) -> tuple[int, str] | None:
        try:
            return _read_head(self.head_path)
        except (ValueError, KeyError) as exc:
            raise AuditError(f"{self.head_path}: edited: the head file is not readable ({exc})") from None


# -- group commit with a process journal (SQLite, PostgreSQL) ----------------------------------------

class _Journal:
    """This process's journal: every entry is written here before ``append`` returns, and the
    file is emptied after the group that holds it is committed. A crashed writer's journal is
    committed by the next writer that opens the trail (found by a free ``flock``)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.dir = directory
        name = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(6).hex()}"
        self.path = directory / f"{name}.journal"
        tmp = directory / f"{name}.new"
        self.fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # locked before any other writer can see it
        os.rename(tmp, self.path)

    def write(self, entry: AuditEntry) -> None:
        _write_all(self.fd, f"{entry.id} {entry.body_text}\n".encode("utf-8"))

    def close(self) -> None:
        # Unlink while still holding the lock, then release it: a `.journal` path is only ever
        # unlinked by its lock holder, so whoever takes the lock and still finds the path naming the
        # same file owns it (see `orphan_journals`). Releasing first let another process's recovery
        # lock the committed journal and then fail to unlink it (FileNotFoundError at open).
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)


def _still_named(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not unlinked, not replaced)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def orphan_journals(directory: Path) -> Iterator[tuple[Path, int, list[AuditEntry]]]:
    """Journals whose writer is gone: yields (path, locked fd, complete entries); the caller
    commits the entries, then unlinks the path and closes the fd."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.journal")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        if not _still_named(path, fd):  # its holder committed and unlinked it before releasing the lock
            os.close(fd)
            continue
        with open(fd, "rb", closefd=False) as fh:
            data = fh.read()
        entries = []
        for raw in data.split(b"\n")[:-1]:  # a torn last line was never acknowledged
            ident, _, body = raw.decode("utf-8").partition(" ")
            entries.append(AuditEntry(ident, body))
        yield path, fd, entries


class _GroupSink:
    """Group commit: one transaction per ``every`` records or ``ms`` milliseconds.

    With ``commit=group`` each entry goes to this process's journal (``write(2)``) before
    ``append`` returns, so an acknowledged record survives a crash of the process; a background
    thread commits the pending entries as one transaction, then deletes the journal they were in
    (each group starts a new journal file). With ``commit=each`` ``append`` commits its own
    transaction.
    """

    exact_head = True
    max_pending = 100_000
    _readonly = False  # a reader (verify, show) opened the trail: closing only disconnects
    _db: Any  # the database connection of the concrete sink

    def __init__(self, *, commit: str, every: int, ms: int, journal_dir: Path | None, salt: bytes | None) -> None:
        self.mask_salt = salt
        self._every, self._ms = every, ms
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[AuditEntry] = []
        self._retired: list[_Journal] = []
        self._oldest = 0.0
        self._closed = False
        self._error: BaseException | None = None
        self._journal_dir = journal_dir
        self._journal: _Journal | None = None
        if commit == "group":
            if journal_dir is None:
                raise AuditError("`commit=group` needs a journal directory (option `journal=DIR`)")
            self._recover(journal_dir)
            self._journal = _Journal(journal_dir)
            _start_timer(self, ms)
        _close_at_exit(self)

    def _commit(self, entries: Sequence[AuditEntry]) -> None:
        raise NotImplementedError

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        raise NotImplementedError

    def _recover(self, directory: Path) -> None:
        for path, fd, entries in orphan_journals(directory):
            try:
                known = self._known_ids([e.id for e in entries]) if entries else set()
                todo = [e for e in entries if e.id not in known]
                if todo:
                    self._commit(todo)
                path.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def append(self, entry: AuditEntry) -> None:
        if self._journal is None:
            with self._commit_lock:
                if self._closed:
                    raise AuditError("the audit sink is closed")
                self._commit([entry])
            return
        with self._lock:
            if self._closed:
                raise AuditError("the audit sink is closed")
            if len(self._pending) >= self.max_pending:
                raise AuditError(f"{len(self._pending)} records wait for a commit that keeps failing: {self._error}")
            self._journal.write(entry)
            self._pending.append(entry)
            n = len(self._pending)
            if n == 1:
                self._oldest = time.monotonic()
        if n >= self._every:
            self._wake.set()
            if n >= 8 * self._every:  # the committer is behind: the writer waits for it
                self._flush(raise_errors=False)

    def _flush(self, raise_errors: bool = True) -> None:
        with self._commit_lock:
            with self._lock:
                if not self._pending or self._journal is None:
                    return
                batch, self._pending = self._pending, []
                self._retired.append(self._journal)
                assert self._journal_dir is not None
                self._journal = _Journal(self._journal_dir)
            try:
                self._commit(batch)
            except Exception as exc:  # the batch stays journaled and pending; the next flush retries
                with self._lock:
                    self._pending = batch + self._pending
                    self._error = exc
                if raise_errors:
                    raise AuditError(f"the audit commit failed: {exc}") from exc
                return
            self._error = None
            for journal in self._retired:
                journal.close()
            self._retired = []

    def _tick(self) -> None:
        self._wake.clear()
        with self._lock:
            due = bool(self._pending) and (len(self._pending) >= self._every
                                           or time.monotonic() - self._oldest >= self._ms / 1000)
        if due:
            self._flush(raise_errors=False)

    def flush(self) -> None:
        if not self._closed:
            self._flush()

    def close(self) -> None:
        if self._closed:
            return
        if self._readonly:
            self._closed = True
            self._disconnect()
            return
        self._stop.set()
        self._wake.set()
        self._flush()
        with self._commit_lock, self._lock:
            if self._closed:
                return
            if self._journal is not None:
                self._journal.close()
            self._closed = True
            self._disconnect()

    def _disconnect(self) -> None:
        self._db.close()


def _start_timer(sink: Any, ms: int) -> None:
    ref = weakref.ref(sink)
    stop: threading.Event = sink._stop
    wake: threading.Event = sink._wake

    def loop() -> None:
        while not stop.is_set():
            wake.wait(ms / 1000)
            s = ref()
            if s is None:
                return
            try:
                s._tick()
            except Exception:  # noqa: BLE001 - the next append or flush reports the failure
                pass
            del s

    threading.Thread(target=loop, name="txguard-audit-commit", daemon=True).start()


def _close_at_exit(sink: Any) -> None:
    ref = weakref.ref(sink)

    def close() -> None:
        s = ref()
        if s is not None:
            try:
                s.close()
            except Exception:  # noqa: BLE001 - exiting; the journal keeps what was acknowledged
                pass

    atexit.register(close)


# -- SQLite ----------------------------------------------------------------------------------------------

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS txguard_audit (
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prev TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS txguard_audit_head (
  one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL
);
INSERT OR IGNORE INTO txguard_audit_head VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
"""


class SqliteSink(_GroupSink):
    """The embedded default: an SQLite database in WAL mode.

    Options (``sqlite:PATH?commit=group&every=64&ms=5&sync=normal``): ``commit=group`` (default)
    journals each record to ``PATH.journal/`` before ``append`` returns and commits one transaction
    per ``every`` records or ``ms`` milliseconds; ``commit=each`` commits one transaction per
    record. ``sync=normal`` (default) or ``full`` is SQLite's ``synchronous`` (``full`` makes every
    commit survive power loss). Many processes may append to one file: each group transaction takes
    SQLite's write lock (``BEGIN IMMEDIATE``), reads the head row, links and inserts its records,
    and moves the head.
    """

    def __init__(self, path: str | Path, *, commit: str = "group", every: int = 64, ms: int = 5,
                 sync: str = "normal", readonly: bool = False, salt: bytes | None = None) -> None:
        self.path = Path(path)
        self._readonly = readonly
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
                self._db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: cannot open the audit database: {exc}") from None
        if readonly:
            self.mask_salt = salt
            self._closed = False
            self._empty = self._uninitialised()
            return
        self._empty = False
        super().__init__(commit=commit, every=every, ms=ms, salt=salt,
                         journal_dir=Path(f"{self.path}.journal") if commit == "group" else None)

    def _commit(self, entries: Sequence[AuditEntry]) -> None:
        # Writers on this host queue on a file lock (woken at once by the kernel) rather than in
        # SQLite's busy handler, which sleeps up to 100 ms between retries.
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            self._commit_locked(entries)

    def _commit_locked(self, entries: Sequence[AuditEntry]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq, prev = db.execute("SELECT seq, hash FROM txguard_audit_head WHERE one = 1").fetchone()
            rows = chain([e.body_text for e in entries], seq, prev)
            db.executemany("INSERT INTO txguard_audit (seq, id, prev, hash, body) VALUES (?, ?, ?, ?, ?)",
                           [(s, e.id, p, h, b) for (s, p, h, b), e in zip(rows, entries)])
            db.execute("UPDATE txguard_audit_head SET seq = ?, hash = ? WHERE one = 1", rows[-1][:1] + rows[-1][2:3])
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = f"SELECT id FROM txguard_audit WHERE id IN ({','.join('?' * len(part))})"
            found.update(r[0] for r in self._db.execute(q, part))
        return found


    def _uninitialised(self) -> bool:
        """An empty database (a writer died before creating the tables) is an empty trail."""
        try:
            return int(self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) == 0
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: not an audit database: {exc}") from None

    def records(self) -> Iterator[AuditRecord]:
        if self._empty:
            return
        try:
            cur = self._db.execute("SELECT seq, prev, hash, body, id FROM txguard_audit ORDER BY seq")
            for seq, prev, digest, body, ident in cur:
                yield AuditRecord(seq, prev, digest, body, ident)
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: unreadable audit table: {exc}") from None

    def head(self) -> tuple[int, str] | None:
        if self._empty:
            return None
        try:
            row = self._db.execute("SELECT seq, hash FROM txguard_audit_head WHERE one = 1").fetchone()
        except sqlite3.Error as exc:
            raise AuditError(f"{self.path}: unreadable audit head: {exc}") from None
        if row is None:
            raise AuditError(f"{self.path}: edited: the chain head row is missing")
        return int(row[0]), str(row[1])


# -- the URL -------------------------------------------------------------------------------------------

def open_sink(url: str, *, readonly: bool = False, salt: bytes | None = None) -> AuditSink:
    """Open an audit sink from a URL.

    ``memory:``, ``jsonl:PATH[?fsync=always|group|never&every=N&ms=T]``,
    ``sqlite:PATH[?commit=group|each&every=N&ms=T&sync=normal|full]``,
    ``postgresql://USER@HOST/DB[?commit=each|group&journal=DIR&every=N&ms=T]``.
    ``readonly`` opens an existing trail to read or verify it, without taking a writer's place.
    ``salt`` keys the digests of masked fields (default: env ``TXGUARD_AUDIT_SALT``; without
    either, a random salt per sink, so masked values cannot be linked across sinks).

    Example:
        >>> sink = open_sink("memory:")
        >>> type(sink).__name__
        'MemorySink'

    Raises:
        AuditError: an unknown scheme or option, or a trail that cannot be opened.
    """
    if salt is None and os.environ.get("TXGUARD_AUDIT_SALT"):
        salt = os.environ["TXGUARD_AUDIT_SALT"].encode("utf-8")
    if url == "memory:" or url == "memory":
        return MemorySink(salt)
    if url.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresSink

        return PostgresSink(url, readonly=readonly, salt=salt)
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in ("jsonl", "sqlite"):
        raise AuditError(f"unknown audit sink URL `{url}` (expected memory:, jsonl:PATH, sqlite:PATH or postgresql://...)")
    path, _, query = rest.partition("?")
    if path.startswith("//"):
        path = path[2:]
    if not path:
        raise AuditError(f"audit sink URL `{url}` names no file")
    if scheme == "jsonl":
        opts = _options(query, {"fsync": _choice("always", "group", "never"), "every": _positive, "ms": _positive})
        return JsonlSink(path, readonly=readonly, salt=salt, **opts)
    opts = _options(query, {"commit": _choice("group", "each"), "every": _positive, "ms": _positive,
                            "sync": _choice("normal", "full")})
    return SqliteSink(path, readonly=readonly, salt=salt, **opts)
