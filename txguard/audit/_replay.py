"""``replay``: re-decide recorded proposals under a policy and report what would change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .._compile import CompiledPolicy
from .._decision import Outcome
from .._evaluate import evaluate
from .._intents import INTENT_MODELS
from ._build import decision_data
from ._record import AuditRecord, recorded


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded decision that the other policy decides differently."""

    seq: int
    id: str
    kind: str | None
    before: str
    after: str
    rule: str | None
    code: str | None
    why: str
    before_codes: tuple[str, ...]
    after_codes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.id, "kind": self.kind, "before": self.before, "after": self.after,
                "rule": self.rule, "code": self.code, "why": self.why,
                "before_codes": list(self.before_codes), "after_codes": list(self.after_codes)}


@dataclass
class ReplayReport:
    """Counts by outcome transition (``("allow", "escalate"): 3``) and every changed decision."""

    policy: dict[str, str]
    total: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    identical: int = 0
    masked: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the ``--format json`` shape of ``txguard audit replay``)."""
        return {
            "policy": self.policy,
            "total": self.total,
            "identical": self.identical,
            "changed": len(self.changes),
            "masked": self.masked,
            "transitions": [{"before": b, "after": a, "count": n} for (b, a), n in sorted(self.transitions.items())],
            "changes": [c.to_dict() for c in self.changes],
        }


def _proposal(recorded: Any) -> Any:
    if isinstance(recorded, dict) and set(recorded) == {"intent"} and isinstance(recorded["intent"], dict):
        kind = recorded["intent"].get("kind")
        model = INTENT_MODELS.get(kind) if isinstance(kind, str) else None
        if model is not None:
            data = dict(recorded["intent"])
            if isinstance(data.get("confidence"), str):  # recorded as a decimal string; the model takes numbers only
                data["confidence"] = Decimal(data["confidence"])
            return model.model_validate(data)
    return recorded


def redecide(policy: CompiledPolicy, body: dict[str, Any]) -> dict[str, Any]:
    """Decide a stored body's proposal again under ``policy``, at the recorded time (escaped
    values restored first)."""
    body = recorded(body)
    now = datetime.fromisoformat(body["time"])
    ctx = body.get("context") or {}
    decision = evaluate(policy, _proposal(body.get("proposal")), ctx.get("request"), ctx.get("session"),
                        ctx.get("facts"), lambda: now)
    return decision_data(decision)


def _responsible(before: dict[str, Any], after: dict[str, Any]) -> tuple[str | None, str | None, str]:
    old = {(r["rule"], r["code"]) for r in before["reasons"]}
    new = {(r["rule"], r["code"]) for r in after["reasons"]}
    b_rank, a_rank = Outcome(before["outcome"]).rank, Outcome(after["outcome"]).rank
    if a_rank >= b_rank:
        for r in after["reasons"]:
            if (r["rule"], r["code"]) not in old and r["outcome"] == after["outcome"]:
                return r["rule"], r["code"], "fires now"
        for r in after["reasons"]:
            if (r["rule"], r["code"]) not in old:
                return r["rule"], r["code"], "fires now"
    for r in before["reasons"]:
        if (r["rule"], r["code"]) not in new and r["outcome"] == before["outcome"]:
            return r["rule"], r["code"], "no longer fires"
    for r in before["reasons"]:
        if (r["rule"], r["code"]) not in new:
            return r["rule"], r["code"], "no longer fires"
    return None, None, "same rules, different questions, route or confirmation"


def replay(records: Iterable[AuditRecord], policy: CompiledPolicy) -> ReplayReport:
    """Re-decide every recorded proposal under ``policy``.

    A decision counts as changed when its outcome, its reasons (rule and code), its questions, its
    route or its confirmation differ; under the recorded policy nothing changes. Records with masked
    fields are re-decided on the masked values (``masked`` counts them).
    """
    report = ReplayReport(policy=policy.ref.to_dict())
    for rec in records:
        body = rec.body
        before = body["decision"]
        after = redecide(policy, body)
        report.total += 1
        if body.get("masked"):
            report.masked += 1
        report.transitions[(before["outcome"], after["outcome"])] += 1

        def key(d: dict[str, Any]) -> Any:
            return (d["outcome"], [(r["rule"], r["code"], r["outcome"]) for r in d["reasons"]],
                    [q["code"] for q in d["questions"]], d["route"], d["confirmation"])

        if key(before) == key(after):
            report.identical += 1
            continue
        rule, code, why = _responsible(before, after)
        report.changes.append(Change(
            rec.seq, str(body.get("id")), before.get("kind"), before["outcome"], after["outcome"], rule, code, why,
            tuple(r["code"] for r in before["reasons"]), tuple(r["code"] for r in after["reasons"]),
        ))
    return report
