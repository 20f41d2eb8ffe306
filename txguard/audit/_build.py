"""Building a record body for a decision, and the audit step of the guard's pipeline."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from ..core.context import Facts, Proposal
from ..core.decision import Decision, Outcome, Reason
from ..core.observe import Observer, notify_audit_append
from ..engine.case import Case
from ..engine.state import ShadowResult, State
from ..policy.compile import CompiledPolicy
from ..core.ids import uuid7
from ._record import FORMAT_VERSION, apply_masks, encode_body, encode_value, proposal_digest, salt_id
from .sinks import AuditEntry, AuditSink


def _plain(value: Any) -> Any:
    if type(value) is dict or value is None:  # the wire format: no model isinstance checks
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Facts):
        return value.raw()
    return value


def proposal_data(proposal: Any) -> Any:
    """The proposal as recorded: ``{"name", "arguments"}`` as given, or ``{"intent": ...}`` for an intent."""
    if type(proposal) is dict:
        return proposal
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


def decision_key(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """What two recorded decisions (``decision_data``) must share to be the same decision."""
    return (data["outcome"], [(r["rule"], r["code"], r["outcome"]) for r in data["reasons"]],
            [q["code"] for q in data["questions"]], data["route"], data["confirmation"])


def shadow_part(primary: Decision, result: ShadowResult) -> dict[str, Any]:
    """The audit record's ``shadow`` part, compared with the primary decision ``primary``. Never raises."""
    part: dict[str, Any] = {"policy": result.candidate.ref.to_dict(), "decision": None, "observational": True,
                            "diverged": True, "error": result.error, "elapsed_ns": result.elapsed_ns}
    try:
        data = decision_data(result.decision)
        part.update(decision=data, diverged=decision_key(data) != decision_key(decision_data(primary)))
    except Exception as exc:  # noqa: BLE001 - the primary's record must be written whatever the candidate did
        part["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return part


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
    if type(session) is dict or isinstance(session, Mapping):
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
    """The audit step: appends the decision's record before the decision is returned.

    A decision whose record cannot be written, or (an ``allow``) whose inputs cannot be recorded
    so that replay can decide it again, is replaced by ``escalate`` (``audit_unavailable``).
    The shadow candidate's decision, if the case was sampled, joins the same record.
    """

    __slots__ = ("sink", "salt", "observers")

    def __init__(self, sink: AuditSink, observers: Sequence[Observer] = ()) -> None:
        self.sink = sink
        self.observers = tuple(observers)
        salt = getattr(sink, "mask_salt", None)
        self.salt: bytes = salt if isinstance(salt, bytes) else os.urandom(32)

    def __call__(self, case: Case, state: State) -> State:
        decision = state.decision
        if decision is None:
            raise RuntimeError("the audit step runs after the decision is combined")
        policy = case.policy
        # a broken clock fails the decision closed; its record still needs a time
        now = case.now if case.now is not None else datetime.now(timezone.utc)
        args = (case.proposal, case.request, case.session, case.facts, case.lineage, self.salt)
        if case.record_id is not None and case.record_id in case.written:
            # a second record under one id: a sink refuses it (a UNIQUE key fails its whole batch) or keeps two
            why = f"the record id `{case.record_id}` was already written: a case read with a record id is decided once"
            return replace(state, decision=_withheld(policy, decision, why))
        t0 = time.perf_counter()
        try:
            shadowed = shadow_part(decision, state.shadow) if state.shadow is not None else None
            entry, complete = build_entry(policy, decision, now, *args, shadowed, case.record_id)
            if not complete and decision.outcome is Outcome.ALLOW:  # no allow on a record that cannot replay it
                decision = _withheld(policy, decision, "the decision's inputs cannot be recorded")
                entry, _ = build_entry(policy, decision, now, *args, shadowed, case.record_id)
            self.sink.append(entry)
            if case.record_id is not None:
                case.written.append(case.record_id)
        except Exception as exc:  # noqa: BLE001 - no decision without its record: fail closed
            if self.observers:
                notify_audit_append(self.observers, seconds=time.perf_counter() - t0, ok=False)
            why = f"the audit record could not be written: {type(exc).__name__}: {str(exc)[:160]}"
            return replace(state, decision=_withheld(policy, decision, why))
        if self.observers:
            notify_audit_append(self.observers, seconds=time.perf_counter() - t0, ok=True)
        return state if decision is state.decision else replace(state, decision=decision)


def _withheld(policy: CompiledPolicy, decision: Decision, why: str) -> Decision:
    """The fail-closed decision that replaces one whose record could not be written."""
    reason = Reason("txguard:audit_unavailable", "audit_unavailable", why, Outcome.ESCALATE)
    return Decision(Outcome.ESCALATE, (reason,), policy.ref, decision.kind, route="human",
                    elapsed_us=decision.elapsed_us, intent=decision.intent)
