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
import hashlib
import hmac
import os
import re
import socket
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from ..core.errors import TxguardError
from ._record import GENESIS, AuditRecord, chain, is_hash, record_hash, record_line


class AuditError(TxguardError):
    """The audit trail cannot be opened, read or written."""


class Damaged(AuditError):
    """What a reader found wrong in a stored trail: ``kind`` (as in ``VerifyResult.kind``) and the
    1-based record position, when one is known."""

    def __init__(self, message: str, kind: str, position: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.position = position


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

_HEAD_WIDTH = 255  # a head file is 256 bytes (128 when written by earlier versions, without `next`)
_HEAD = re.compile(r'\{"hash":"([0-9a-f]{64})",(?:"next":"([0-9a-f]{64})",)?"seq":(0|[1-9][0-9]{0,18})\} *\n')


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    hash: str
    next: str | None = None
    """The hash of the record being written after ``seq``, announced before its line is written."""

    def text(self) -> bytes:
        nxt = f'"next":"{self.next}",' if self.next else ""
        return (f'{{"hash":"{self.hash}",{nxt}"seq":{self.seq}}}'.ljust(_HEAD_WIDTH) + "\n").encode("ascii")


def _read_head(path: Path) -> _Head | None:
    """The head file's content; ``None`` if it is absent or empty. Raises :class:`Damaged` if it is
    anything but the exact form the writer writes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if not data:
        return None
    m = _HEAD.fullmatch(data.decode("ascii", "replace"))
    if m is None or len(data) not in (128, _HEAD_WIDTH + 1) or (m.group(2) and len(data) == 128):
        raise Damaged(f"{path}: edited: the head file is not a chain head "
                      f'(expected `{{"hash":"<64 hex>","seq":N}}` padded to {_HEAD_WIDTH + 1} bytes)', "edited")
    return _Head(int(m.group(3)), m.group(1), m.group(2))


class JsonlSink:
    """One JSON object per line, appended with ``write(2)`` before ``append`` returns.

    Options (``jsonl:PATH?fsync=group&every=64&ms=5``): ``fsync=always`` fsyncs every record,
    ``group`` (default) fsyncs after ``every`` records or ``ms`` milliseconds, ``never`` leaves it to
    the OS. A record survives a crash of the writing process as soon as ``append`` returns; it
    survives power loss once fsynced. ``PATH.head`` holds the last acknowledged ``(seq, hash)``,
    moved with every record, so a trail cut short is detected by ``verify`` and refused by the next
    writer (it never appends to a cut trail). One writer process per file (an exclusive ``flock``).
    """

    exact_head = True

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
        for part in (self.path, self.head_path):
            # A FIFO or a device would block (or never end) every open and read below.
            if part.exists() and not stat.S_ISREG(part.stat().st_mode):
                raise AuditError(f"{part}: not a regular file, so not an audit trail")
        if readonly:
            if not self.path.exists() and not self.head_path.exists():
                raise AuditError(f"{self.path}: no such audit trail")
            return
        try:
            self._head_fd = os.open(self.head_path, os.O_RDWR | os.O_CREAT, 0o644)
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            if self._head_fd >= 0:
                os.close(self._head_fd)
            raise AuditError(f"{self.path}: cannot open the audit trail: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            os.close(self._head_fd)
            raise AuditError(f"{self.path}: another process is writing this audit trail") from None
        try:
            self._seq, self._prev, self._size = self._recover()
        except AuditError:
            os.close(self._fd)
            os.close(self._head_fd)
            raise
        self._put_head(_Head(self._seq, self._prev))
        self._synced = self._seq
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

    def _recover(self) -> tuple[int, str, int]:
        """Where to continue the chain: ``(seq, hash, size)`` of its last record.

        The file must end where the head says: at the head's record (a torn line after it, cut
        here, was being written when its writer died and was never acknowledged), or at the one
        record the head announced (its writer died after writing it, before moving the head). Any
        other state is a trail cut short, edited or extended by someone else: refused.
        """
        try:
            head = _read_head(self.head_path)
        except Damaged as exc:
            raise AuditError(f"{exc}; this writer will not continue it (run `txguard audit verify`)") from None
        size = os.fstat(self._fd).st_size
        end = size if not size or os.pread(self._fd, 1, size - 1) == b"\n" else self._rfind_newline(size) + 1
        last: AuditRecord | None = None
        if end:
            start = self._rfind_newline(end - 1) + 1
            try:
                last = AuditRecord.from_line(os.pread(self._fd, end - start, start).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise AuditError(f"{self.path}: the last record is not readable; this writer will not continue "
                                 "the trail (run `txguard audit verify`)") from None
        seq, digest = (last.seq, last.hash) if last else (0, GENESIS)
        refuse = "this writer will not continue it (run `txguard audit verify`; start a new trail, keep this one as evidence)"
        if head is None:
            if size:
                raise AuditError(f"{self.head_path}: the head file is missing or empty but the trail is not: "
                                 f"its tail cannot be checked; {refuse}")
            return 0, GENESIS, 0
        if (seq, digest) == (head.seq, head.hash):
            if end != size:
                os.ftruncate(self._fd, end)
            return seq, digest, end
        if (last is not None and end == size and head.next == digest and seq == head.seq + 1
                and last.prev == head.hash and record_hash(last.body_text, last.prev, last.seq) == digest):
            return seq, digest, end
        if seq < head.seq:
            raise AuditError(f"{self.path}: truncated tail: the trail ends at record {seq} but its head is "
                             f"record {head.seq}; {refuse}")
        raise AuditError(f"{self.path}: the trail ends at record {seq}, which is not its head (record {head.seq}); "
                         f"{refuse}")

    def _put_head(self, head: _Head) -> None:
        os.pwrite(self._head_fd, head.text(), 0)

    def append(self, entry: AuditEntry) -> None:
        with self._lock:
            if self._closed:
                raise AuditError(f"{self.path}: the audit sink is closed")
            ((seq, prev, digest, body),) = chain([entry.body_text], self._seq, self._prev)
            line = (record_line(body, prev, seq, digest) + "\n").encode("utf-8")
            try:
                self._put_head(_Head(self._seq, self._prev, digest))  # announce it, then write it
                _write_all(self._fd, line)
                if self._fsync == "always":
                    os.fsync(self._fd)
                self._put_head(_Head(seq, digest))  # acknowledged: the head is this record
            except OSError:
                os.ftruncate(self._fd, self._size)  # no half record stays behind (e.g. a full disk)
                self._put_head(_Head(self._seq, self._prev))
                raise
            self._seq, self._prev, self._size = seq, digest, self._size + len(line)
            if self._fsync == "always":  # the head is fsynced by flush() and close()
                return
            if self._dirty_since == 0.0:
                self._dirty_since = time.monotonic()
            due = self._seq - self._synced
        if due >= self._every:
            if self._fsync == "never":
                self._sync()
            else:
                self._wake.set()
            if due >= 8 * self._every:  # the background syncer is behind: the writer waits for it
                self._sync()

    def _sync(self) -> None:
        """fsync the trail and its head (per the mode); runs outside the append lock."""
        with self._sync_lock:
            with self._lock:
                if self._closed or self._seq == self._synced:
                    return
                seq = self._seq
                self._dirty_since = 0.0
            if self._fsync != "never":
                os.fsync(self._fd)
                os.fsync(self._head_fd)
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
        """The complete records; raises :class:`Damaged` at the first line that is not one."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        with fh:
            for n, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    raise Damaged(f"{self.path}:{n}: truncated tail: the final line is torn (no newline)",
                                  "truncated tail", n)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise Damaged(f"{self.path}:{n}: edited: the line is not UTF-8 (byte {exc.start + 1})", "edited", n) from None
                try:
                    yield AuditRecord.from_line(line)
                except ValueError as exc:
                    raise Damaged(f"{self.path}:{n}: edited: not a valid record ({str(exc)[:100]})", "edited", n) from None

    def head(self) -> tuple[int, str] | None:
        h = _read_head(self.head_path)
        if h is None:
            if self.path.exists() and self.path.stat().st_size:
                raise Damaged(f"{self.head_path}: deleted: the head file is missing or empty, so the tail "
                              "cannot be checked", "deleted")
            return None
        return h.seq, h.hash

    def announced(self) -> str | None:
        """The hash of the record the head announced (written, maybe not yet acknowledged), if any."""
        h = _read_head(self.head_path)
        return h.next if h else None


# -- group commit with a process journal (SQLite, PostgreSQL) ----------------------------------------

_JOURNAL_TAG = b"txguard-audit-journal-v2\x00"


def journal_mac(key: bytes, name: str, index: int, ident: str, body: str) -> str:
    """HMAC-SHA256 (hex) of one journal entry: bound to the sink's key, the journal's name and the
    entry's place in it, so an entry cannot be forged, edited, moved to another journal or reordered."""
    msg = b"\x00".join((_JOURNAL_TAG, name.encode("utf-8"), str(index).encode("ascii"), ident.encode("utf-8"),
                        body.encode("utf-8")))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def read_journal(name: str, data: bytes, key: bytes | None) -> tuple[list[AuditEntry], list[str]]:
    """The authenticated entries of a journal's complete lines, and why each other line was refused.

    A torn last line (no newline) was never acknowledged and is ignored.
    """
    entries: list[AuditEntry] = []
    refused: list[str] = []
    for n, raw in enumerate(data.split(b"\n")[:-1], 1):
        try:
            ident, mac, body = raw.decode("utf-8").split(" ", 2)
        except (UnicodeDecodeError, ValueError):
            refused.append(f"line {n} is not a journal entry")
            continue
        if key is None or not hmac.compare_digest(mac, journal_mac(key, name, n - 1, ident, body)):
            refused.append(f"line {n} (decision `{ident[:40]}`) does not carry its writer's MAC: forged, edited, "
                           "moved or reordered")
            continue
        entries.append(AuditEntry(ident, body))
    return entries, refused


class _Journal:
    """This process's journal: every entry is written here, with its MAC (:func:`journal_mac`),
    before ``append`` returns, and the file is deleted after the group that holds it is committed.
    A crashed writer's journal is committed by the next writer that opens the trail (found by a free
    ``flock``) once every entry is authenticated."""

    def __init__(self, directory: Path, key: bytes) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir = directory
        self.name = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(6).hex()}"
        self.path = directory / f"{self.name}.journal"
        self._key = key
        self._count = 0
        self._size = 0
        tmp = directory / f"{self.name}.new"
        self.fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # locked before any other writer can see it
        os.rename(tmp, self.path)

    def write(self, entry: AuditEntry) -> None:
        mac = journal_mac(self._key, self.name, self._count, entry.id, entry.body_text)
        line = f"{entry.id} {mac} {entry.body_text}\n".encode("utf-8")
        try:
            _write_all(self.fd, line)
        except OSError:
            os.ftruncate(self.fd, self._size)  # no half line for the next entry to follow
            raise
        self._count += 1
        self._size += len(line)

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


def orphan_journals(directory: Path) -> Iterator[tuple[Path, int, bytes]]:
    """Journals whose writer is gone: yields (path, locked fd, content); the caller authenticates
    the entries (:func:`read_journal`), commits them, then unlinks the path and closes the fd."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("*.journal")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # gone, or a symlink: not a journal any writer made (verify reports it)
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
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
        yield path, fd, data


class _GroupSink:
    """Group commit: one transaction per ``every`` records or ``ms`` milliseconds.

    With ``commit=group`` each entry goes to this process's journal (``write(2)``, with its MAC)
    before ``append`` returns, so an acknowledged record survives a crash of the process; a
    background thread commits the pending entries as one transaction, which also registers the
    journals they came from (``txguard_audit_journals``), then deletes those journals (each group
    starts a new journal file) and unregisters them in its next transaction. With ``commit=each``
    ``append`` commits its own transaction.
    """

    exact_head = True
    max_pending = 100_000
    _readonly = False  # a reader (verify, show) opened the trail: closing only disconnects
    _db: Any  # the database connection of the concrete sink
    _journal_dir: Path | None = None
    _key: bytes = b""

    def __init__(self, *, commit: str, every: int, ms: int, journal_dir: Path | None, salt: bytes | None) -> None:
        self.mask_salt = salt
        self._every, self._ms = every, ms
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[AuditEntry] = []
        self._retired: list[_Journal] = []
        self._done: list[str] = []  # journals deleted after their commit, to unregister in the next one
        self._oldest = 0.0
        self._closed = False
        self._error: BaseException | None = None
        self._journal_dir = journal_dir
        self._journal: _Journal | None = None
        if commit == "group":
            if journal_dir is None:
                raise AuditError("`commit=group` needs a journal directory (option `journal=DIR`)")
            self._key = self._journal_key() or b""
            if not self._key:
                raise AuditError("the audit database holds no journal key")
            self._recover(journal_dir)
            self._journal = _Journal(journal_dir, self._key)
            _start_timer(self, ms)
        _close_at_exit(self)

    def _commit(self, entries: Sequence[AuditEntry], journals: Sequence[str] = (), done: Sequence[str] = ()) -> None:
        """One transaction: chain ``entries``, register ``journals`` as committed, unregister ``done``."""
        raise NotImplementedError

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        raise NotImplementedError

    def _journal_key(self) -> bytes | None:
        """The key of journal MACs, kept in the database (never in the journal directory)."""
        raise NotImplementedError

    def _committed_journals(self) -> set[str]:
        """Journals whose entries are committed but which may not be deleted yet."""
        raise NotImplementedError

    def _recover(self, directory: Path) -> None:
        """Commit what crashed writers acknowledged: the authenticated entries of their journals.

        A journal with an entry that is not authentic (forged, edited, moved, reordered) or already
        in the chain although the journal was never committed (replayed) is renamed
        ``NAME.rejected``: its refused entries are never chained, and ``verify`` reports the file.
        """
        committed = self._committed_journals()
        for path, fd, data in orphan_journals(directory):
            try:
                name = path.stem
                if name in committed:  # its writer committed it and died before deleting it
                    path.unlink(missing_ok=True)
                    self._done.append(name)
                    continue
                entries, refused = read_journal(name, data, self._key)
                known = self._known_ids([e.id for e in entries]) if entries else set()
                todo = [e for e in entries if e.id not in known]
                if todo:
                    self._commit(todo, [name])
                    self._done.append(name)
                if refused or known:
                    path.rename(path.with_suffix(".rejected"))
                else:
                    path.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def journal_state(self, known: set[str]) -> int:
        """For ``verify``: the number of authenticated entries waiting in journals to be committed.

        Raises :class:`Damaged` (``forged``) for a quarantined journal, an entry that is not
        authentic, or an entry of an uncommitted journal that is already in the chain (replayed).
        """
        directory = self._journal_dir
        if directory is None or not directory.is_dir():
            return 0
        for path in sorted(directory.glob("*.rejected")):
            raise Damaged(f"{path}: a journal with forged, edited, reordered or replayed entries was refused by "
                          "the writer that found it: nothing of it was chained; it is kept for inspection", "forged")
        committed = self._committed_journals()
        key = self._journal_key()
        pending = 0
        for path in sorted(directory.glob("*.journal")):
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise Damaged(f"{path}: not a journal file (a link or a directory): no writer made it", "forged")
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # committed and deleted meanwhile
                continue
            entries, refused = read_journal(path.stem, data, key)
            if refused:
                raise Damaged(f"{path}: {refused[0]}", "forged")
            if path.stem in committed:
                continue
            for e in entries:
                if e.id in known:
                    raise Damaged(f"{path}: decision `{e.id[:40]}` is already in the chain but this journal was never "
                                  "committed: a replayed entry", "forged")
            pending += len(entries)
        return pending

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
                self._journal = _Journal(self._journal_dir, self._key)
            done = list(self._done)
            try:
                self._commit(batch, [j.name for j in self._retired], done)
            except Exception as exc:  # the batch stays journaled and pending; the next flush retries
                with self._lock:
                    self._pending = batch + self._pending
                    self._error = exc
                if raise_errors:
                    raise AuditError(f"the audit commit failed: {exc}") from exc
                return
            self._error = None
            del self._done[:len(done)]
            for journal in self._retired:
                journal.close()
                self._done.append(journal.name)
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
            if self._done:
                try:
                    self._commit([], (), self._done)
                except Exception:  # noqa: BLE001 - a stale registration only names a deleted file
                    pass
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


def _missing(exc: Exception) -> str:
    return "deleted" if "no such table" in str(exc) or "does not exist" in str(exc) else "unreadable"


def _checked_head(where: str, row: Any) -> tuple[int, str]:
    """The head row ``(seq, hash)`` if it is one; :class:`Damaged` says what else it is."""
    if not row:
        raise Damaged(f"{where}: the chain head row is missing", "deleted")
    seq, digest = row
    if isinstance(digest, bytes):
        digest = digest.decode("utf-8", "replace")
    if type(seq) is not int or seq < 0:
        raise Damaged(f"{where}: the chain head's seq `{str(seq)[:40]}` is not a record number", "edited")
    if not is_hash(digest):
        raise Damaged(f"{where}: the chain head's hash `{str(digest)[:70]}` is not a SHA-256 hex digest", "edited")
    return seq, str(digest)


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
