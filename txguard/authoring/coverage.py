"""Rule coverage: which rules of a policy the suites and corpora made fire, which reason codes
they asserted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..core.decision import Decision
from ..policy.compile import CompiledPolicy
from .suite import Result, Want


@dataclass
class Coverage:
    """Which rules of one policy fired, and which reason codes the suites asserted."""

    policy: CompiledPolicy
    fired: Counter[str] = field(default_factory=Counter)
    asserted: set[str] = field(default_factory=set)

    def add(self, decision: Decision, want: Want | None = None) -> None:
        for reason in decision.reasons:
            self.fired[reason.rule] += 1
        if want is not None and want.reasons is not None:
            self.asserted |= want.reasons

    def add_result(self, result: Result) -> None:
        """Every decision of a case (every turn of a multi-turn case) and what it asserted."""
        if result.turns:
            for t in result.turns:
                self.add(t.decision, t.turn.want)
        else:
            self.add(result.decision, result.case.want)

    @property
    def rule_ids(self) -> list[str]:
        """The policy's rules, then its session rules, budgets (``budgets.<id>``) and, if on, the
        single-use confirmations (``session.single_use_confirmations``): the ids their reasons carry."""
        sp = self.policy.session
        ids = [r.id for r in self.policy.rules] + [r.id for r in sp.rules] + [f"budgets.{b.id}" for b in sp.budgets]
        if sp.single_use_confirmations:
            ids.append("session.single_use_confirmations")
        return ids

    @property
    def never_fired(self) -> list[str]:
        return [r for r in self.rule_ids if not self.fired[r]]

    @property
    def codes(self) -> list[str]:
        sp = self.policy.session
        codes = {r.code for r in self.policy.rules} | {r.code for r in sp.rules}
        if sp.budgets:
            codes.add("budget_exceeded")
        if sp.single_use_confirmations:
            codes.add("confirmation_used")
        return sorted(codes)

    @property
    def never_asserted(self) -> list[str]:
        return [c for c in self.codes if c not in self.asserted]

    @property
    def percent(self) -> float:
        ids = self.rule_ids
        return 100.0 if not ids else 100.0 * (len(ids) - len(self.never_fired)) / len(ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.id,
            "file": self.policy.file,
            "rules": len(self.rule_ids),
            "fired": {r: self.fired[r] for r in self.rule_ids if self.fired[r]},
            "never_fired": self.never_fired,
            "never_asserted": self.never_asserted,
            "percent": round(self.percent, 1),
        }
