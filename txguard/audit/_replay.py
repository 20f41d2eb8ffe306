"""``replay``: re-decide recorded proposals under a policy and report what would change.

The report is the risk team's backtest of a policy change: counts by outcome transition, the rules
that newly fire or stop firing, every changed decision with its old and new reasons, and a gate
(:meth:`ReplayReport.gate`) on the share of outcomes that change and on decisions that became less
strict (``allow`` < ``clarify`` < ``escalate``). A record's ``shadow`` part (shadow mode) is
observational and never compared.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ..policy.compile import CompiledPolicy
from ..core.decision import Outcome
from ..engine.evaluate import evaluate
from ._build import decision_data, decision_key
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
    time: str | None = None
    before_reasons: tuple[dict[str, Any], ...] = ()
    """The recorded reasons: ``{"rule", "code", "message", "outcome"}`` each."""
    after_reasons: tuple[dict[str, Any], ...] = ()
    """The reasons under the replayed policy."""

    @property
    def direction(self) -> str:
        """``loosened`` (the outcome is less strict now), ``tightened`` or ``same`` (outcome unchanged)."""
        step = Outcome(self.after).rank - Outcome(self.before).rank
        return "loosened" if step < 0 else "tightened" if step > 0 else "same"

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.id, "time": self.time, "kind": self.kind, "before": self.before,
                "after": self.after, "direction": self.direction, "rule": self.rule, "code": self.code, "why": self.why,
                "before_codes": list(self.before_codes), "after_codes": list(self.after_codes),
                "before_reasons": list(self.before_reasons), "after_reasons": list(self.after_reasons)}


@dataclass(frozen=True, slots=True)
class ReplayGate:
    """The verdict of :meth:`ReplayReport.gate`: ``ok``, and one line per limit that was exceeded."""

    ok: bool
    failures: tuple[str, ...]
    max_divergence: float | None
    max_loosened: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failures": list(self.failures), "max_divergence": self.max_divergence,
                "max_loosened": self.max_loosened}


@dataclass
class ReplayReport:
    """Counts by outcome transition (``("allow", "escalate"): 3``), by rule, and every changed decision.

    ``rules`` counts, over the changed decisions, each ``(rule, code, "fires now" | "no longer fires")``.
    """

    policy: dict[str, str]
    total: int = 0
    transitions: Counter[tuple[str, str]] = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)
    identical: int = 0
    masked: int = 0
    rules: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    recorded: Counter[str] = field(default_factory=Counter)
    """The recorded policies (``"id version digest"``) the replayed decisions were made under."""

    @property
    def outcome_changed(self) -> int:
        """Decisions whose outcome changed."""
        return sum(n for (b, a), n in self.transitions.items() if b != a)

    @property
    def loosened(self) -> int:
        """Decisions whose outcome became less strict (``escalate -> allow``, ``clarify -> allow``, ...)."""
        return sum(n for (b, a), n in self.transitions.items() if Outcome(a).rank < Outcome(b).rank)

    @property
    def tightened(self) -> int:
        """Decisions whose outcome became stricter."""
        return sum(n for (b, a), n in self.transitions.items() if Outcome(a).rank > Outcome(b).rank)

    @property
    def divergence(self) -> float:
        """The fraction of replayed decisions whose outcome changed (0.0 for an empty trail)."""
        return self.outcome_changed / self.total if self.total else 0.0

    def gate(self, max_divergence: float | None = None, max_loosened: int | None = None) -> ReplayGate:
        """Check the report against the limits a policy change must stay within.

        Args:
            max_divergence: the largest fraction of decisions whose outcome may change (0 to 1).
            max_loosened: the largest number of decisions that may become less strict.
        """
        failures = []
        if max_divergence is not None and self.divergence > max_divergence:
            failures.append(f"divergence {self.divergence:.4f} ({self.outcome_changed} of {self.total} outcomes changed) "
                            f"is over --max-divergence {max_divergence:g}")
        if max_loosened is not None and self.loosened > max_loosened:
            failures.append(f"{self.loosened} decisions became less strict, over --max-loosened {max_loosened}")
        return ReplayGate(not failures, tuple(failures), max_divergence, max_loosened)

    def to_dict(self, gate: ReplayGate | None = None) -> dict[str, Any]:
        """JSON-ready form (the ``--format json`` shape of ``txguard audit replay``)."""
        out = {
            "policy": self.policy,
            "recorded_policies": [{"policy": p, "count": n} for p, n in sorted(self.recorded.items())],
            "total": self.total,
            "identical": self.identical,
            "changed": len(self.changes),
            "outcome_changed": self.outcome_changed,
            "divergence": self.divergence,
            "loosened": self.loosened,
            "tightened": self.tightened,
            "masked": self.masked,
            "transitions": [{"before": b, "after": a, "count": n} for (b, a), n in sorted(self.transitions.items())],
            "rules": [{"rule": r, "code": c, "change": w, "count": n}
                      for (r, c, w), n in sorted(self.rules.items(), key=lambda x: (-x[1], x[0]))],
            "changes": [c.to_dict() for c in self.changes],
        }
        if gate is not None:
            out["gate"] = gate.to_dict()
        return out


def _proposal(recorded: Any, policy: CompiledPolicy) -> Any:
    """The recorded proposal, an intent rebuilt with the replayed policy's model of its kind (a
    declared kind's too); a kind the policy does not know stays a record, decided as malformed."""
    if isinstance(recorded, dict) and set(recorded) == {"intent"} and isinstance(recorded["intent"], dict):
        kind = recorded["intent"].get("kind")
        model = policy.domain.models.get(kind) if isinstance(kind, str) else None
        if model is not None:
            data = dict(recorded["intent"])
            # A shipped kind's confidence is recorded as a decimal string; its model takes numbers only.
            if kind not in policy.domain.specs and isinstance(data.get("confidence"), str):
                data["confidence"] = Decimal(data["confidence"])
            return model.model_validate(data)
    return recorded


def redecide(policy: CompiledPolicy, body: dict[str, Any]) -> dict[str, Any]:
    """Decide a stored body's proposal again under ``policy``, at the recorded time (escaped
    values restored first)."""
    body = recorded(body)
    now = datetime.fromisoformat(body["time"])
    ctx = body.get("context") or {}
    decision = evaluate(policy, _proposal(body.get("proposal"), policy), ctx.get("request"), ctx.get("session"),
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
    fields are re-decided on the masked values (``masked`` counts them). Only the recorded
    ``decision`` is compared; a shadow decision in the record is ignored.
    """
    report = ReplayReport(policy=policy.ref.to_dict())
    for rec in records:
        body = rec.body
        before = body["decision"]
        after = redecide(policy, body)
        report.total += 1
        if body.get("masked"):
            report.masked += 1
        p = body.get("policy") or {}
        report.recorded[f"{p.get('id')} {p.get('version')} {p.get('digest')}"] += 1
        report.transitions[(before["outcome"], after["outcome"])] += 1
        if decision_key(before) == decision_key(after):
            report.identical += 1
            continue
        old = {(r["rule"], r["code"]) for r in before["reasons"]}
        new = {(r["rule"], r["code"]) for r in after["reasons"]}
        for r, c in new - old:
            report.rules[(r, c, "fires now")] += 1
        for r, c in old - new:
            report.rules[(r, c, "no longer fires")] += 1
        rule, code, why = _responsible(before, after)
        report.changes.append(Change(
            rec.seq, str(body.get("id")), before.get("kind"), before["outcome"], after["outcome"], rule, code, why,
            tuple(r["code"] for r in before["reasons"]), tuple(r["code"] for r in after["reasons"]),
            body.get("time"), tuple(before["reasons"]), tuple(after["reasons"]),
        ))
    return report
