"""The process journal of the group-committing sinks (SQLite, PostgreSQL).

Every entry is written to this process's journal, with a MAC, before ``append`` returns; a crashed
writer's journal is committed by the next writer that opens the trail.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

from .base import AuditEntry, _write_all


_JOURNAL_TAG = b"txguard-audit-journal-v2\x00"


def journal_mac(key: bytes, name: str, index: int, ident: str, body: str) -> str:
    """HMAC-SHA256 (hex) of one journal entry: bound to the sink's key, the journal's name and the
    entry's place in it, so an entry cannot be forged, edited, moved to another journal or reordered."""
    msg = b"\x00".join((_JOURNAL_TAG, name.encode("utf-8"), str(index).encode("ascii"), ident.encode("utf-8"),
                        body.encode("utf-8")))
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


_IPAD = bytes(k ^ 0x36 for k in range(256))
_OPAD = bytes(k ^ 0x5C for k in range(256))


class _MacKey:
    """:func:`journal_mac` of one journal's entries, its key and name hashed in once (RFC 2104's
    inner and outer SHA-256 states, copied per entry): the same MAC, without per-entry set-up."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes, name: str) -> None:
        if len(key) > 64:  # RFC 2104: a key longer than the block is hashed first
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\x00")
        self._inner = hashlib.sha256(key.translate(_IPAD) + _JOURNAL_TAG + b"\x00" + name.encode("utf-8") + b"\x00")
        self._outer = hashlib.sha256(key.translate(_OPAD))

    def mac(self, index: int, ident: bytes, body: bytes) -> bytes:
        """The hex MAC (ASCII bytes) of entry ``index`` with the UTF-8 ``ident`` and ``body``."""
        inner = self._inner.copy()
        inner.update(b"%d\x00%b\x00" % (index, ident))
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest().encode("ascii")


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
        self._mac = _MacKey(key, self.name)
        self._count = 0
        self._size = 0
        tmp = directory / f"{self.name}.new"
        self.fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # locked before any other writer can see it
        os.rename(tmp, self.path)

    def write(self, entry: AuditEntry, body: bytes | None = None) -> None:
        """Append ``entry`` (``body``: its body's UTF-8 bytes, if the caller has them) with its MAC."""
        data = entry.body_text.encode("utf-8") if body is None else body
        ident = entry.id.encode("utf-8")
        line = b"".join((ident, b" ", self._mac.mac(self._count, ident, data), b" ", data, b"\n"))
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
