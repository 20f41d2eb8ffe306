"""Differential test: txguard's own session-rule evaluator and the durable_rules one give identical
outcomes and reasons for random rule sets and random conversations."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sessions.rete import require_durable_rules
from txguard.policy.session import compile_session
from txguard.sessions import Event, OwnEvaluator, RuleEngineEvaluator
from txguard.sessions._rules import outcome_max

KINDS = ["checkout", "add_to_cart", "cancel_order", "read"]
WITHIN = st.sampled_from([None, "1s", "30s", "5m", "1h"])


def _where() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "type": st.sampled_from(["decision", "confirmation", ["decision", "confirmation"]]),
        "kind": st.one_of(st.sampled_from(KINDS), st.lists(st.sampled_from(KINDS), min_size=1, max_size=3, unique=True)),
        "outcome": st.one_of(st.sampled_from(["allow", "clarify", "escalate"]), st.just(["clarify", "escalate"])),
        "payment_method": st.sampled_from(["p1", "p2"]),
    })


def _with_window(spec: dict[str, Any], within: str | None) -> dict[str, Any]:
    return {**spec, "within": within} if within else spec


RULE = st.one_of(
    st.builds(lambda w, n, row, within: {"count": _with_window({"where": w, "at_least": n, "in_a_row": row}, within)},
              _where(), st.integers(1, 4), st.booleans(), WITHIN),
    st.builds(lambda w, f, n, within: {"distinct": _with_window({"field": f, "where": w, "at_least": n}, within)},
              _where(), st.sampled_from(["payment_method", "merchant", "digest", "kind"]), st.integers(1, 3), WITHIN),
    st.builds(lambda w, c, m, within: {"sum": _with_window({"field": "amount", "where": w, "currency": c, "more_than": m}, within)},
              _where(), st.sampled_from(["USD", "JPY"]), st.sampled_from(["0", "10", "100"]), WITHIN),
    st.builds(lambda p, within: {"sequence": _with_window({"pattern": p}, within)},
              st.sampled_from(["changed_after_confirmation", "retry_after_escalation"]), WITHIN),
)

RULES = st.lists(st.tuples(RULE, st.sampled_from(["clarify", "escalate"])), min_size=1, max_size=5)

EVENT = st.fixed_dictionaries({
    "type": st.sampled_from(["decision", "decision", "confirmation"]),
    "at": st.integers(0, 4_000_000_000),
    "kind": st.sampled_from(KINDS + [None]),
    "outcome": st.sampled_from(["allow", "clarify", "escalate"]),
    "digest": st.sampled_from(["d1", "d2", "d3", None]),
    "payment_method": st.sampled_from(["p1", "p2", "p3", None]),
    "merchant": st.sampled_from(["m1", "m2", None]),
    "currency": st.sampled_from(["USD", "JPY", None]),
    "amount_minor": st.one_of(st.none(), st.integers(0, 5000)),
})


def _event(seq: int, raw: dict[str, Any]) -> Event:
    outcome = raw["outcome"] if raw["type"] == "decision" else None
    return Event(seq=seq, type=raw["type"], at_us=raw["at"], kind=raw["kind"], outcome=outcome, digest=raw["digest"],
                 payment_method=raw["payment_method"], merchant=raw["merchant"], currency=raw["currency"],
                 amount_minor=raw["amount_minor"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=RULES, log=st.lists(EVENT, max_size=12), current=EVENT, now=st.integers(3_000_000_000, 4_100_000_000))
def test_both_evaluators_give_identical_outcomes_and_reasons(rules: list[Any], log: list[dict[str, Any]],
                                                             current: dict[str, Any], now: int) -> None:
    require_durable_rules()
    errors: list[Any] = []
    spec = {"rules": [{"id": f"r{i}", "outcome": outcome, **rule} for i, (rule, outcome) in enumerate(rules)]}
    sp = compile_session(spec, set(), lambda *a: errors.append(a))
    assert errors == []
    events = [_event(i, e) for i, e in enumerate(log)]
    cur = _event(len(events), {**current, "type": "decision"})
    own = OwnEvaluator().evaluate(sp, events, cur, now)
    rete = RuleEngineEvaluator().evaluate(sp, events, cur, now)
    assert rete == own
    assert outcome_max(rete) is outcome_max(own)
