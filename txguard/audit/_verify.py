"""``verify``: walk a chain and name the first broken link, with its position and why."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._record import GENESIS, AuditRecord, record_hash
from .sinks import AuditError, AuditSink, JsonlSink, open_sink

Problem = Literal["edited", "deleted", "inserted", "reordered", "truncated tail", "forged", "unreadable"]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What :func:`verify` found.

    ``position`` is the 1-based place in the chain of the first broken link (``None`` if ``ok``,
    or if the damage is not at a record, e.g. a head file or a journal); ``problem`` says what is
    wrong there and starts with one of ``edited``, ``deleted``, ``inserted``, ``reordered``,
    ``truncated tail``, ``forged`` (a journal entry its writer did not write) or ``unreadable``
    (``kind`` holds that word alone). ``pending`` counts acknowledged records still in group-commit
    journals (not yet in the chain: a writer commits them within milliseconds, or the next writer
    after a crash), ``unacknowledged`` the record a JSON Lines writer wrote but did not acknowledge
    before it stopped (its head announced it; the next writer adopts it).
    """

    ok: bool
    count: int
    position: int | None = None
    problem: str | None = None
    kind: Problem | None = None
    head: tuple[int, str] | None = None
    pending: int = 0
    unacknowledged: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``--format json`` shape of ``txguard audit verify``)."""
        return {"ok": self.ok, "count": self.count, "position": self.position, "problem": self.problem,
                "kind": self.kind, "head": list(self.head) if self.head else None, "pending": self.pending,
                "unacknowledged": self.unacknowledged}


def _fail(count: int, position: int | None, kind: Problem, detail: str, head: tuple[int, str] | None) -> VerifyResult:
    return VerifyResult(False, count, position, f"{kind}: {detail}", kind, head)


_KINDS: tuple[Problem, ...] = ("edited", "deleted", "inserted", "reordered", "truncated tail", "forged", "unreadable")


def _damaged(exc: AuditError, count: int, position: int | None, head: tuple[int, str] | None) -> VerifyResult:
    kind = getattr(exc, "kind", "unreadable")
    problem: Problem = next((k for k in _KINDS if k == kind), "unreadable")
    return VerifyResult(False, count, getattr(exc, "position", None) or position, f"{problem}: {exc}", problem, head)


def verify(target: str | AuditSink) -> VerifyResult:
    """Check that a trail is one unbroken chain: every record matches its hash, follows the one
    before it, carries the next sequence number, and the chain ends exactly at the anchored head;
    with group commit, that every journal entry waiting to be committed was written by its writer.

    It returns a verdict for whatever the trail holds (damaged files and rows included) and raises
    only if the trail cannot be opened at all (:class:`AuditError`: no such file, no connection).

    Args:
        target: a sink URL (opened read-only) or an open sink.

    Example:
        >>> from txguard.audit import MemorySink
        >>> verify(MemorySink()).ok
        True
    """
    sink = open_sink(target, readonly=True) if isinstance(target, str) else target
    try:
        return _verify(sink)
    except Exception as exc:  # noqa: BLE001 - a verdict for any content, never a traceback
        return VerifyResult(False, 0, None, f"unreadable: {type(exc).__name__}: {str(exc)[:200]}", "unreadable")
    finally:
        if isinstance(target, str):
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - a read-only sink; nothing to lose
                pass


def _verify(sink: AuditSink) -> VerifyResult:
    recs: list[AuditRecord] = []
    damage: AuditError | None = None
    try:
        for rec in sink.records():
            recs.append(rec)
    except AuditError as exc:
        damage = exc
    n = len(recs)
    if damage is not None and getattr(damage, "kind", None) != "truncated tail":
        result = _walk(recs, None, False, None)  # an unreadable record: the links before it come first
        return result if not result.ok else _damaged(damage, n, n + 1, None)
    try:
        head = sink.head()
    except AuditError as exc:
        result = _walk(recs, None, False, None)
        return result if not result.ok else _damaged(damage or exc, n, n + 1 if damage else None, None)
    announced: str | None = None
    if isinstance(sink, JsonlSink):
        try:
            announced = sink.announced()
        except AuditError:
            announced = None
    result = _walk(recs, head, bool(getattr(sink, "exact_head", False)), announced)
    if not result.ok:
        return result
    if damage is not None:
        out = _damaged(damage, n, n + 1, head)
        if out.kind == "truncated tail" and head is not None and head[0] == n:
            return replace(out, problem=f"{out.problem}; the head is record {n}, so its writer stopped while "
                                        "writing it and never acknowledged it: the next writer cuts it")
        return out
    journals = getattr(sink, "journal_state", None)
    if journals is not None:
        try:
            pending = journals({r.id for r in recs if r.id is not None})
        except AuditError as exc:
            return _damaged(exc, n, None, head)
        result = replace(result, pending=pending)
    return result


def _walk(recs: list[AuditRecord], head: tuple[int, str] | None, exact_head: bool, announced: str | None) -> VerifyResult:
    n = len(recs)
    seq_at: dict[int, int] = {}
    by_hash: dict[str, int] = {}
    for i, r in enumerate(recs):
        seq_at.setdefault(r.seq, i)
        by_hash.setdefault(r.hash, i)
    follows = Counter(r.prev for r in recs)
    expected_prev = GENESIS
    for i, r in enumerate(recs):
        pos = i + 1
        if follows[r.prev] > 1:
            other = next(k for k in range(i + 1, n) if recs[k].prev == r.prev)
            return _fail(n, pos, "inserted",
                         f"records at positions {pos} and {other + 1} both follow record {pos - 1}: one was inserted", head)
        if record_hash(r.body_text, r.prev, r.seq) != r.hash:
            j = by_hash.get(r.prev)
            true_seq = 1 if r.prev == GENESIS else (recs[j].seq + 1 if j is not None else None)
            if true_seq is not None and true_seq != r.seq and record_hash(r.body_text, r.prev, true_seq) == r.hash:
                if true_seq == pos:
                    return _fail(n, pos, "edited", f"record {pos}'s sequence number was changed to {r.seq}", head)
                return _fail(n, pos, "reordered", f"the record at position {pos} belongs at position {true_seq}", head)
            return _fail(n, pos, "edited", f"record {pos} (seq {r.seq}) does not match its hash", head)
        if r.id is not None:
            try:
                body_id = json.loads(r.body_text).get("id")
            except (ValueError, AttributeError):
                body_id = None
            if body_id != r.id:
                return _fail(n, pos, "edited", f"record {pos}'s stored id `{r.id}` differs from its body's", head)
        if r.seq != pos:
            if r.seq > pos:
                k = seq_at.get(pos)
                if k is not None and k > i:
                    return _fail(n, pos, "reordered", f"record {pos} is at position {k + 1}", head)
                return _fail(n, pos, "deleted", f"record {pos}{'' if r.seq == pos + 1 else f' to {r.seq - 1}'} is missing", head)
            if seq_at.get(r.seq, i) < i:
                return _fail(n, pos, "inserted", f"a second record with sequence number {r.seq} is at position {pos}", head)
            return _fail(n, pos, "reordered", f"the record at position {pos} belongs at position {r.seq}", head)
        if r.prev != expected_prev:
            if r.prev in by_hash or r.prev == GENESIS:
                return _fail(n, pos, "reordered", f"record {pos} does not follow record {pos - 1}", head)
            return _fail(n, pos, "edited", f"record {pos}'s link to record {pos - 1} was changed", head)
        expected_prev = r.hash
    if head is not None:
        head_seq, head_hash = head
        if n < head_seq:
            return _fail(n, n + 1, "truncated tail", f"the chain ends at record {n} but its head is record {head_seq}", head)
        if head_seq > 0 and recs[head_seq - 1].hash != head_hash:
            return _fail(n, head_seq, "edited", f"record {head_seq} does not match the chain head's hash", head)
        if head_seq == 0 and head_hash != GENESIS:
            return _fail(n, 1, "edited", "the chain head was changed", head)
        if exact_head and n > head_seq:
            if n == head_seq + 1 and announced is not None and recs[-1].hash == announced:
                return VerifyResult(True, n, head=head, unacknowledged=1)
            return _fail(n, head_seq + 1, "inserted", f"{n - head_seq} record(s) after the chain head", head)
    return VerifyResult(True, n, head=head)
