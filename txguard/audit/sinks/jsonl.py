"""``jsonl:PATH``: one JSON object per line, a head file beside it, one writer process per file."""

from __future__ import annotations

import fcntl
import os
import re
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._record import GENESIS, AuditRecord, chain, record_hash, record_line
from .base import AuditEntry, AuditError, Damaged, _close_at_exit, _start_timer, _write_all


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
