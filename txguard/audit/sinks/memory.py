"""``memory:``: records in a list, the test double every pluggable backend ships."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from .._record import GENESIS, AuditRecord, chain
from .base import AuditEntry


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
