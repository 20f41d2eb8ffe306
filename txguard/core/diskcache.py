"""The on-disk cache: where it is, whether it is on, entries written atomically and read
defensively, and the record of the files a computation read (what its entry depends on).

Only data is cached (JSON: loading an entry runs no code). Every entry is named after a digest of
what its content depends on, so processes may share the directory; an entry that does not read
back as what its reader expects (truncated, corrupt, another format) is ignored and rebuilt by the
caller; a directory that cannot be created, read or written costs time, never an error.

This module is on the path of every ``txguard`` start: it imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

CACHE_ENV = "TXGUARD_CACHE_DIR"
"""Where cache entries live; the empty string turns the cache off. Default:
``$XDG_CACHE_HOME/txguard``, else ``~/.cache/txguard``."""

_disabled = 0


@contextmanager
def disabled() -> Iterator[None]:
    """The cache is off, in every thread, while the block runs (``txguard --no-cache``)."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1


def cache_dir() -> Path | None:
    """The cache directory (not created here), or None when caching is off."""
    if _disabled:
        return None
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "txguard"


def read_entry(entry: Path) -> Any:
    """The JSON an entry holds, or None when it cannot be read or is not JSON (the caller checks
    the rest: an entry is never trusted for being there), or when another user could have written
    it: the entry or its folder belongs to someone else or is writable by others."""
    try:
        for where in (entry.parent, entry):
            st = os.stat(where)
            if (hasattr(os, "getuid") and st.st_uid != os.getuid()) or st.st_mode & 0o022:
                return None
        with open(entry, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError, RecursionError):
        return None


def write_entry(entry: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``entry``: to a temporary file in the same folder, renamed into
    place, so that a reader sees the whole old entry or the whole new one. Failures are silent."""
    import tempfile  # only a miss writes: not on the path of a start that finds its entry

    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.stem[:40]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        return  # a cache that cannot be written costs the next start the work, nothing else


# -- the files a computation read ----------------------------------------------------------------

Read = tuple[str, str, bool, str]
"""One file a computation read: (the path as opened, made absolute but with symbolic links kept;
where it really is; read as text (universal newlines) or as bytes; SHA-256 of what was read, the
text encoded as UTF-8)."""

MAX_INPUT_BYTES = 64 << 20
"""The largest file :func:`unchanged` reads to compare; a larger one is a miss, never read whole."""

_reads: ContextVar[list[Read] | None] = ContextVar("txguard_reads", default=None)


@contextmanager
def recording_reads() -> Iterator[list[Read]]:
    """Collect every :func:`note_read` made inside the block (in this context)."""
    reads: list[Read] = []
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def note_read(path: Path, content: str | bytes) -> None:
    """Record that ``content`` was read from ``path``. Every file a cached computation reads must
    be noted where it is read, or an edit of that file would not make its entries stale."""
    reads = _reads.get()
    if reads is not None:
        text = isinstance(content, str)
        data = content.encode("utf-8") if isinstance(content, str) else content
        reads.append((str(path.absolute()), os.path.realpath(path), text, hashlib.sha256(data).hexdigest()))


def unchanged(read: Any) -> bool:
    """True when the file of a :data:`Read` (as decoded from an entry, so checked for shape)
    still resolves to the same place and holds the same content; False on any doubt."""
    if not (isinstance(read, list) and len(read) == 4 and isinstance(read[0], str) and isinstance(read[1], str)
            and type(read[2]) is bool and isinstance(read[3], str)):
        return False
    opened, real, text, digest = read
    try:
        if os.path.realpath(opened) != real:
            return False
        # O_NONBLOCK: a FIFO put in a file's place must not block this check.
        with open(os.open(real, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_INPUT_BYTES:
                return False  # the compile that follows says what is wrong with it, if anything
            data = fh.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            return False
        if text:
            # What `open(path, encoding="utf-8").read()` gives: universal newlines.
            data = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    except (OSError, ValueError):
        return False
    return bool(hashlib.sha256(data).hexdigest() == digest)
