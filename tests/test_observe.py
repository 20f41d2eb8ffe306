"""Observers see every decision exactly as returned, and cannot change or break it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from txguard import CompiledPolicy, Decision, Guard, Observer, Outcome

from .conftest import POLICIES

CALL = {"name": "checkout", "arguments": "{not json"}


class Recording(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[Decision, str, float, Mapping[str, str] | None]] = []

    def on_decision(self, decision: Decision, *, policy: CompiledPolicy, seconds: float,
                    lineage: Mapping[str, str] | None) -> None:
        self.seen.append((decision, policy.digest, seconds, lineage))


class Broken(Observer):
    def on_decision(self, decision: Decision, **_: Any) -> None:
        raise RuntimeError("metrics backend down")


def test_an_observer_sees_each_decision_as_returned() -> None:
    rec = Recording()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[rec])
    d1 = guard.check(CALL, lineage={"call_id": "c1"})
    d2 = guard.check({"name": "no_such_tool", "arguments": {}})
    assert [s[0] for s in rec.seen] == [d1, d2]
    assert rec.seen[0][1] == guard.policy.digest
    assert rec.seen[0][3] == {"call_id": "c1"} and rec.seen[1][3] is None
    assert all(s[2] >= 0 for s in rec.seen)


def test_a_raising_observer_changes_nothing() -> None:
    plain = Guard.from_file(POLICIES / "retail.yaml")
    rec = Recording()
    watched = Guard(plain.policy, observers=[Broken(), rec])
    decision = watched.check(CALL)
    assert decision.outcome is Outcome.ESCALATE
    assert decision.reasons == plain.check(CALL).reasons
    assert len(rec.seen) == 1  # the observer after the broken one is still told
