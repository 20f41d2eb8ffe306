"""Building a record body for a decision, and the guard's audited decide path."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..policy.compile import CompiledPolicy
from ..core.context import Facts, Proposal
from ..core.decision import Decision, Outcome, Reason
from ..engine.evaluate import Clock, evaluate, internal_error
from ..core.observe import Observer, notify_audit_append
from ._record import FORMAT_VERSION, apply_masks, encode_body, encode_value, proposal_digest, salt_id, uuid7
from .sinks import AuditEntry, AuditSink

if TYPE_CHECKING:
    from .._shadow import Shadow, ShadowResult


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Facts):
        return value.raw()
    return value


def proposal_data(proposal: Any) -> Any:
    """The proposal as recorded: ``{"name", "arguments"}`` as given, or ``{"intent": ...}`` for an intent."""
    if isinstance(proposal, BaseModel) and not isinstance(proposal, Proposal) and hasattr(proposal, "kind"):
        return {"intent": proposal.model_dump(mode="json")}
    return _plain(proposal)


def decision_data(decision: Decision) -> dict[str, Any]:
    """The decision as recorded (and as replay compares it): no timing, the confirmation by digest."""
    return {
        "outcome": decision.outcome.value,
        "kind": decision.kind,
        "reasons": [r.to_dict() for r in decision.reasons],
        "questions": [q.to_dict() for q in decision.questions],
        "route": decision.route,
        "confirmation": decision.confirmation.digest if decision.confirmation else None,
    }


def build_entry(policy: CompiledPolicy, decision: Decision, now: datetime, proposal: Any, request: Any,
                session: Any, facts: Any, lineage: Mapping[str, str] | None, salt: bytes,
                shadow: dict[str, Any] | None = None, record_id: str | None = None) -> tuple[AuditEntry, bool]:
    """The audit entry of one decision, its masks applied, its body encoded (canonical JSON), and
    whether the body holds everything replay needs (see :func:`~txguard.audit._record.encode_body`).

    ``record_id`` is the record's id when the caller chose it (a UUIDv7 from :func:`uuid7`), else a new one.

    ``shadow`` is the observational decision of a candidate policy (``Shadow.record``), recorded
    under the body's ``shadow`` key when the case was sampled.
    """
    prop = proposal_data(proposal)
    intent = decision.intent
    if isinstance(session, Mapping):
        lineage_data = {"session_id": session.get("id"), "turn": session.get("turn"),
                        "source": dict(lineage) if lineage else {}}
    else:
        lineage_data = {"session_id": getattr(session, "id", None), "turn": getattr(session, "turn", None),
                        "source": dict(lineage) if lineage else {}}
    ident = record_id or uuid7()
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "id": ident,
        "time": now.isoformat(),
        "policy": decision.policy.to_dict(),
        "proposal": prop,
        "intent": intent.model_dump(mode="json") if isinstance(intent, BaseModel) else None,
        "context": {"request": _plain(request), "session": _plain(session), "facts": _plain(facts)},
        "decision": decision_data(decision),
        "elapsed_ns": int(decision.elapsed_us * 1000),
        "lineage": lineage_data,
        "masked": [],
        "salt": None,
    }
    if shadow is not None:
        body["shadow"] = shadow
    if policy.mask:
        try:
            body["proposal_digest"] = proposal_digest(encode_value(prop))
        except (TypeError, ValueError):
            pass
        ctx = body["context"]
        sections = {"proposal": prop, "intent": body["intent"], "request": ctx["request"], "session": ctx["session"],
                    "facts": ctx["facts"], "lineage": lineage_data}
        sections, masked = apply_masks(sections, policy.mask, salt)
        body.update(proposal=sections["proposal"], intent=sections["intent"], lineage=sections["lineage"],
                    context={"request": sections["request"], "session": sections["session"], "facts": sections["facts"]})
        if masked:
            body.update(masked=masked, salt=salt_id(salt))
    text, complete = encode_body(body)
    return AuditEntry(ident, text), complete


class Recorder:
    """The guard's audit side: decides with a frozen clock, records, then answers."""

    __slots__ = ("sink", "salt", "observers")

    def __init__(self, sink: AuditSink, observers: Sequence[Observer] = ()) -> None:
        self.sink = sink
        self.observers = tuple(observers)
        salt = getattr(sink, "mask_salt", None)
        self.salt: bytes = salt if isinstance(salt, bytes) else os.urandom(32)

    def check(self, policy: CompiledPolicy, clock: Clock, proposal: Any, request: Any, session: Any, facts: Any,
              lineage: Mapping[str, str] | None, decide: Decide = evaluate,
              shadow: Shadow | None = None, record_id: str | None = None) -> tuple[Decision, ShadowResult | None]:
        """Decide with ``decide`` (reading the clock once) and append the record before returning.

        With a ``shadow`` whose sample takes this case, the candidate decides first, at the same
        instant, and its decision joins the same record; it is returned beside the decision.
        """
        seen = None
        try:
            now = clock()
        except Exception as exc:  # noqa: BLE001 - a broken clock fails closed like everything else
            now = datetime.now(timezone.utc)
            clock_used = _raise(exc)
        else:
            clock_used = lambda: now  # noqa: E731
            if shadow is not None:  # before the primary: both see the conversation store in one state
                seen = shadow.run(proposal, request, session, facts, now)
        try:
            decision = decide(policy, proposal, request, session, facts, clock_used)
        except Exception as exc:  # noqa: BLE001 - a decision that failed is recorded as the escalation it is
            decision = internal_error(policy, exc)
        t0 = time.perf_counter()
        try:
            shadowed = shadow.record(decision, seen) if shadow is not None and seen is not None else None
            entry, complete = build_entry(policy, decision, now, proposal, request, session, facts, lineage, self.salt,
                                          shadowed, record_id)
            if not complete and decision.outcome is Outcome.ALLOW:  # no allow on a record that cannot replay it
                decision = _withheld(policy, decision, "the decision's inputs cannot be recorded")
                entry, _ = build_entry(policy, decision, now, proposal, request, session, facts, lineage, self.salt,
                                       shadowed, record_id)
            self.sink.append(entry)
        except Exception as exc:  # noqa: BLE001 - no decision without its record: fail closed
            if self.observers:
                notify_audit_append(self.observers, seconds=time.perf_counter() - t0, ok=False)
            return _withheld(policy, decision, f"the audit record could not be written: {type(exc).__name__}: {str(exc)[:160]}"), seen
        if self.observers:
            notify_audit_append(self.observers, seconds=time.perf_counter() - t0, ok=True)
        return decision, seen


def _withheld(policy: CompiledPolicy, decision: Decision, why: str) -> Decision:
    reason = Reason("txguard:audit_unavailable", "audit_unavailable", why, Outcome.ESCALATE)
    return Decision(Outcome.ESCALATE, (reason,), policy.ref, decision.kind, route="human",
                    elapsed_us=decision.elapsed_us, intent=decision.intent)


Decide = Callable[[CompiledPolicy, Any, Any, Any, Any, Clock], Decision]
"""What decides one proposal: ``evaluate``, or the guard's session-aware pipeline."""


def _raise(exc: Exception) -> Clock:
    def clock() -> datetime:
        raise exc

    return clock
