"""Where conversation state lives: the event log, budget counters and used confirmations.

Every decision with a store runs in one :meth:`SessionStore.transaction` for its conversation:
read the events, decide, ``reserve`` budget and the single-use confirmation (only when the
outcome is ``allow``), ``append`` the new events, commit. The guarantees come from the database:

* memory: one lock per store, held for the whole transaction (one process only);
* SQLite: ``BEGIN IMMEDIATE``, so transactions that write serialise on the database file, across
  threads and processes (WAL journal, 60 s busy timeout);
* PostgreSQL: READ COMMITTED with row locks: the conversation's row is locked ``FOR UPDATE`` (the
  log of one conversation is read and appended by one transaction at a time), each budget counter
  row is created with ``INSERT ... ON CONFLICT DO NOTHING`` then locked ``FOR UPDATE`` in key order
  (no deadlock), and a single-use confirmation is consumed by an ``INSERT ... ON CONFLICT DO
  NOTHING RETURNING``, which a concurrent transaction can win only once.
"""

from __future__ import annotations

import bisect
import operator
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from ..core.fastinit import fast_init
from ._events import Event


@fast_init
@dataclass(frozen=True, slots=True)
class Charge:
    """Spend to reserve against one budget counter (``key``, ``bucket``) of limit ``limit_minor``."""

    budget: str
    key: str
    bucket: int
    amount_minor: int
    limit_minor: int


class Transaction(Protocol):
    """One conversation's state inside a store transaction."""

    def events(self) -> list[Event]:
        """The conversation's log, oldest first."""
        ...

    def window(self, since_us: int, tail: Sequence[tuple[str, int]]) -> list[Event]:
        """The events with ``at_us > since_us``, and for each ``(type, n)`` of ``tail`` the last
        ``n`` events of that type, oldest first: what the session rules can look at. The cost is
        bounded by what is returned, never by the length of the log."""
        ...

    def next_seq(self) -> int:
        """The ``seq`` the next appended event takes (the length of the log)."""
        ...

    def logged(self, keys: Sequence[str]) -> set[str]:
        """Which of the confirmation ``keys`` this conversation's log already holds."""
        ...

    def reserve(self, charges: Sequence[Charge], confirmations: Sequence[str]) -> str | None:
        """Reserve every charge and consume one of ``confirmations`` (the first unused), all or nothing.

        Returns None on success, the id of the first budget that would be exceeded, or
        ``"confirmation"`` if ``confirmations`` is not empty and every one was already used.
        """
        ...

    def append(self, events: Sequence[Event]) -> None:
        """Append events (their ``seq`` continue the log)."""
        ...


class SessionStore(Protocol):
    """A conversation store; see :func:`open_store`."""

    url: str

    def transaction(self, conversation_id: str) -> AbstractContextManager[Transaction]:
        """A transaction over one conversation; commits on normal exit, rolls back on an exception."""
        ...

    def events(self, conversation_id: str) -> list[Event]:
        """The conversation's log (read-only)."""
        ...

    def spent(self, key: str, bucket: int) -> int:
        """Spend recorded against a budget counter, in minor units (0 if none)."""
        ...

    def confirmation_used(self, key: str) -> bool:
        """True if the single-use confirmation ``key`` has been consumed."""
        ...

    def consume(self, keys: Sequence[str]) -> bool:
        """Consume the first of ``keys`` not used yet, outside any conversation (a session with no
        ``id``, or a guard's own ledger); False if every one was already used. Atomic like
        :meth:`Transaction.reserve`."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def _at(e: Event) -> int:
    return e.at_us


_type = operator.attrgetter("type")


def window_start(log: Sequence[Event], since_us: int, hint: int = 0) -> int:
    """``bisect_right`` of ``since_us`` in a ``log`` in clock order (the first event after it),
    walking forward from ``hint`` (where the previous decision's window started: the clock moves
    on, so the start moves a few events at most) and bisecting when the hint is past it."""
    n = len(log)
    if not 0 <= hint <= n or (hint and not log[hint - 1].at_us <= since_us):
        return bisect.bisect_right(log, since_us, key=_at)
    steps = 0
    while hint < n and log[hint].at_us <= since_us:
        hint += 1
        steps += 1
        if steps > 16:  # far behind: bisect the rest
            return bisect.bisect_right(log, since_us, hint, key=_at)
    return hint


def select_window(log: Sequence[Event], since_us: int, tail: Sequence[tuple[str, int]], *,
                  monotonic: bool = False, start: int | None = None) -> list[Event]:
    """What :meth:`Transaction.window` returns, picked from a whole ``log`` held in memory
    (``monotonic``: appended in clock order, so the window is a suffix found by bisection, or
    ``start``, its first index, if the caller found it)."""
    if monotonic:
        if start is None:
            start = bisect.bisect_right(log, since_us, key=_at)
        suffix = log[start:] if type(log) is list else list(log[start:])
        extra = _tail_before(log, start, suffix, tail)
        return suffix if not extra else [*extra, *suffix]
    else:
        out = {e.seq: e for e in log if e.at_us > since_us}
    for type_, n in tail:
        found = 0
        for e in reversed(log):
            if found >= n:
                break
            if e.type == type_:
                out[e.seq] = e
                found += 1
    return [out[k] for k in sorted(out)]


def _tail_before(log: Sequence[Event], start: int, suffix: list[Event], tail: Sequence[tuple[str, int]]) -> list[Event]:
    """The events before ``log[start]`` that ``tail`` adds to the window ``suffix`` (the last ``n``
    of a type when the window holds fewer), oldest first; usually none, found without a scan."""
    extra: dict[int, Event] = {}
    for type_, n in tail:
        if n <= 8:  # counted back from the end, up to n
            found = 0
            for e in reversed(suffix):
                if found >= n:
                    break
                if e.type == type_:
                    found += 1
        else:  # the same count, by C-level map and count
            found = min(n, list(map(_type, suffix)).count(type_))
        if found >= n:
            continue  # the window holds them (the usual case)
        need = n - found
        if len(tail) == 1 and 0 < need <= start:
            # the `need` events just before the window, when all of this type (a run of decisions),
            # are what the walk below picks: taken as one slice
            chunk = list(log[start - need:start])
            if list(map(_type, chunk)).count(type_) == need:
                return chunk
        i = start - 1
        while found < n and i >= 0:
            e = log[i]
            if e.type == type_:
                extra[i] = e
                found += 1
            i -= 1
    return [extra[k] for k in sorted(extra)] if extra else []


class _MemoryTx:
    def __init__(self, store: MemoryStore, conversation_id: str) -> None:
        self._store = store
        self._cid = conversation_id
        self.new_events: list[Event] = []
        self.charges: list[Charge] = []
        self.used: list[str] = []

    # A context manager written out (not @contextmanager): it is on every decision's path.
    def __enter__(self) -> _MemoryTx:
        self._store._lock.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc_type is None:
                self._store._commit(self)
        finally:
            self._store._lock.release()

    def events(self) -> list[Event]:
        return list(self._store._events.get(self._cid, ()))

    def window(self, since_us: int, tail: Sequence[tuple[str, int]]) -> list[Event]:
        store = self._store
        log = store._events.get(self._cid, ())
        if self._cid not in store._monotonic:
            return select_window(log, since_us, tail)
        start = window_start(log, since_us, store._starts.get(self._cid, 0))
        store._starts[self._cid] = start
        return select_window(log, since_us, tail, monotonic=True, start=start)

    def next_seq(self) -> int:
        return len(self._store._events.get(self._cid, ()))

    def logged(self, keys: Sequence[str]) -> set[str]:
        have = self._store._logged.get(self._cid, set())
        return {k for k in keys if k in have}

    def reserve(self, charges: Sequence[Charge], confirmations: Sequence[str]) -> str | None:
        for c in charges:
            if self._store._spent.get((c.key, c.bucket), 0) + c.amount_minor > c.limit_minor:
                return c.budget
        if confirmations:
            unused = [k for k in confirmations if k not in self._store._used]
            if not unused:
                return "confirmation"
            self.used.append(unused[0])
        self.charges.extend(charges)
        return None

    def append(self, events: Sequence[Event]) -> None:
        self.new_events.extend(events)


class MemoryStore:
    """Conversation state in this process's memory (tests, one-process hosts).

    A :class:`~txguard.Guard` given no store keeps one of these as its single-use ledger of
    confirmations (only :meth:`consume` is used then: no conversation log is kept).
    """

    url = "memory:"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[Event]] = {}
        self._spent: dict[tuple[str, int], int] = {}
        self._used: set[str] = set()
        self._logged: dict[str, set[str]] = {}
        self._monotonic: set[str] = set()  # conversations whose events were appended in clock order
        self._starts: dict[str, int] = {}  # where a monotonic conversation's last window started

    def transaction(self, conversation_id: str) -> _MemoryTx:
        return _MemoryTx(self, conversation_id)

    def _commit(self, tx: _MemoryTx) -> None:
        cid = tx._cid
        if tx.new_events:
            old = self._events.setdefault(cid, [])
            new = tx.new_events
            monotonic = not old or cid in self._monotonic
            if monotonic:  # each new event at or after the one before it
                prev = old[-1] if old else new[0]
                for e in new:
                    if not prev.at_us <= e.at_us:
                        monotonic = False
                        break
                    prev = e
            if monotonic:
                self._monotonic.add(cid)
            else:
                self._monotonic.discard(cid)
                self._starts.pop(cid, None)
            old.extend(new)
            keys = [e.key for e in new if e.type == "confirmation" and e.key is not None]
            if keys:
                self._logged.setdefault(cid, set()).update(keys)
        for c in tx.charges:
            self._spent[(c.key, c.bucket)] = self._spent.get((c.key, c.bucket), 0) + c.amount_minor
        self._used.update(tx.used)

    def events(self, conversation_id: str) -> list[Event]:
        return list(self._events.get(conversation_id, ()))

    def spent(self, key: str, bucket: int) -> int:
        return self._spent.get((key, bucket), 0)

    def confirmation_used(self, key: str) -> bool:
        return key in self._used

    def consume(self, keys: Sequence[str]) -> bool:
        with self._lock:
            for k in keys:
                if k not in self._used:
                    self._used.add(k)
                    return True
            return False

    def conversations(self) -> int:
        """How many conversations have a log."""
        return len(self._events)

    def close(self) -> None:
        return None


class _DryRunTx:
    """A read-only transaction: reads the store, checks reservations, writes nothing."""

    def __init__(self, store: SessionStore, conversation_id: str) -> None:
        self._store = store
        self._cid = conversation_id

    def __enter__(self) -> _DryRunTx:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        return None

    def events(self) -> list[Event]:
        return self._store.events(self._cid)

    def window(self, since_us: int, tail: Sequence[tuple[str, int]]) -> list[Event]:
        # A shadow's read: the whole log, read without the store's lock, then windowed here.
        return select_window(self._store.events(self._cid), since_us, tail)

    def next_seq(self) -> int:
        return len(self._store.events(self._cid))

    def logged(self, keys: Sequence[str]) -> set[str]:
        wanted = set(keys)
        return {e.key for e in self._store.events(self._cid)
                if e.type == "confirmation" and e.key is not None and e.key in wanted}

    def reserve(self, charges: Sequence[Charge], confirmations: Sequence[str]) -> str | None:
        for c in charges:
            if self._store.spent(c.key, c.bucket) + c.amount_minor > c.limit_minor:
                return c.budget
        if confirmations and all(self._store.confirmation_used(k) for k in confirmations):
            return "confirmation"
        return None

    def append(self, events: Sequence[Event]) -> None:
        return None


class DryRunStore:
    """A read-only view of a store: transactions see its state and change nothing.

    A shadow (candidate) policy's session layer runs on it: budgets are checked against the spend
    recorded so far but never reserved, single-use confirmations are checked but never consumed,
    and no event is appended. Reads take no lock, so a concurrent writer may be seen half-way.
    """

    def __init__(self, store: SessionStore) -> None:
        self._store = store
        self.url = store.url

    def transaction(self, conversation_id: str) -> _DryRunTx:
        return _DryRunTx(self._store, conversation_id)

    def events(self, conversation_id: str) -> list[Event]:
        return self._store.events(conversation_id)

    def spent(self, key: str, bucket: int) -> int:
        return self._store.spent(key, bucket)

    def confirmation_used(self, key: str) -> bool:
        return self._store.confirmation_used(key)

    def consume(self, keys: Sequence[str]) -> bool:
        """True if one of ``keys`` is still unused; consumes nothing."""
        return any(not self._store.confirmation_used(k) for k in keys)

    def close(self) -> None:
        """Nothing to release: the underlying store belongs to its owner."""
