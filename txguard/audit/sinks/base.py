"""What every audit sink shares: the protocol, the entry, the errors and the URL option parsers.

A sink links records into one chain (``seq``, ``prev``, ``hash``) at the moment they join it; see
``docs/audit-format.md`` for the durability modes and what each guarantees after a crash.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl

from ...core.errors import TxguardError
from .._record import AuditRecord, is_hash


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


# -- the background commit timer and the close at exit (the JSON Lines and the group sinks) -----------

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
