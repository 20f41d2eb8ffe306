"""Monotonicity for kinds whose default is not `allow`: the default is a floor, so adding rules
(here: any subset of tau-retail-style order rules) never lowers an outcome below it or below the
outcome without those rules."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome

RULES = [
    "  - {id: authentication, check: authentication}",
    "  - {id: consent, check: consent}",
    "  - {id: unknown-order, check: order_exists}",
    "  - {id: ownership, check: ownership}",
    "  - {id: status, check: order_status, params: {allowed: {cancel_order: [pending]}}}",
    "  - {id: reason, kinds: [cancel_order], when: {path: intent.reason, not_in: [no longer needed]}, outcome: clarify}",
]


def _policy(default: str | None, rules: list[str]) -> Guard:
    text = "\n".join([
        "apiVersion: txguard/v1", "id: floor", "version: 1",
        "tools: {cancel: {intent: cancel_order}}",
        f"defaults: {{cancel_order: {default}}}" if default else "defaults: {}",
        "rules:" if rules else "rules: []", *rules,
    ])
    return Guard.from_text(text)


ORDERS = {"#W1": {"order_id": "#W1", "user_id": "u1", "status": "pending"},
          "#W2": {"order_id": "#W2", "user_id": "u2", "status": "delivered"}}

cases = st.fixed_dictionaries({
    "order": st.sampled_from(["#W1", "#W2", "#W9"]),
    "reason": st.sampled_from(["no longer needed", "ordered by mistake", None]),
    "user": st.sampled_from(["u1", "u2", None]),
    "confirmed": st.booleans(),
})


def _decide(guard: Guard, case: dict[str, Any]) -> Outcome:
    args: dict[str, Any] = {"order_id": case["order"]}
    if case["reason"] is not None:
        args["reason"] = case["reason"]
    proposal = {"name": "cancel", "arguments": args}
    session = {"authenticated_user_id": case["user"], "confirmed": [proposal] if case["confirmed"] else []}
    return guard.independent().check(proposal, session=session, facts={"orders": ORDERS}).outcome


@settings(max_examples=150, deadline=None)
@given(
    default=st.sampled_from([None, "clarify", "escalate", "allow"]),
    base=st.lists(st.sampled_from(range(len(RULES))), unique=True),
    extra=st.lists(st.sampled_from(range(len(RULES))), unique=True),
    case=cases,
)
def test_adding_rules_never_lowers_the_outcome(default: str | None, base: list[int], extra: list[int],
                                                case: dict[str, Any]) -> None:
    smaller = _policy(default, [RULES[i] for i in sorted(base)])
    larger = _policy(default, [RULES[i] for i in sorted(set(base) | set(extra))])
    before, after = _decide(smaller, case), _decide(larger, case)
    assert after.rank >= before.rank
    floor = Outcome(default) if default else Outcome.ESCALATE
    assert after.rank >= floor.rank
