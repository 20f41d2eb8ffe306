"""Groups of literal comparisons on one path (``engine/compiled.py``: ``schedule``) decide exactly as
the rules one by one.

Differential: policies of retail plus random ``when`` rules comparing a few paths (amounts, ints,
strings, optional request fields that may be null or absent) with random literals and operators
(``gt``, ``ge``, ``lt``, ``le``, ``eq``, ``ne``, ``"7"`` against ``7``, ``0.10`` against ``0.1``),
on random checkouts and requests: the untraced decision (groups) equals the untraced decision with
groups turned off and the traced one (``eval_node``, rule by rule), reasons, routes and questions
in the same order.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, PolicyError, compile_policy
from txguard.engine import compiled
from txguard.engine.evaluate import evaluate
from txguard.engine.trace import Trace

from .helpers import RETAIL, checkout_args, envelope, line

CLOCK = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
HEAD = yaml.safe_load(RETAIL.read_text(encoding="utf-8"))
PATHS = {
    "intent.total": st.sampled_from(["100", "120.00", "240", "0.10", "0.1", "999999", 7, 120, 240]),
    "intent.items[0].quantity": st.sampled_from([0, 1, 2, 3, "2", "7", 7, 2.5, True]),
    "intent.items[1].quantity": st.sampled_from([0, 1, 2]),
    "intent.payment_method_id": st.sampled_from(["credit_card_1", "gift_card_1", "x", "7", 7]),
    "intent.confidence": st.sampled_from(["0.5", "0.95", 0.9, 1, "1"]),
    "request.quantity": st.sampled_from([1, 2, 3, "2"]),
    "request.budget": st.sampled_from(["100.00", "500", 200]),
    "request.product_type": st.sampled_from(["Coffee Maker", "Kettle", "7"]),
}
OPS = ["gt", "ge", "lt", "le", "eq", "ne"]


@st.composite
def extra_rules(draw: Any) -> list[dict[str, Any]]:
    paths = draw(st.lists(st.sampled_from(sorted(PATHS)), min_size=1, max_size=3, unique=True))
    rules = []
    for i in range(draw(st.integers(3, 12))):
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(OPS))
        outcome = draw(st.sampled_from(["escalate", "clarify"]))
        rule: dict[str, Any] = {"id": f"g-{i:02d}", "kinds": ["checkout"], "when": {"path": path, op: draw(PATHS[path])},
                                "outcome": outcome, "code": f"g_{draw(st.integers(0, 3))}"}
        if draw(st.booleans()):
            rule["when"]["on_missing"] = draw(st.booleans())
        if outcome == "clarify":
            rule["question"] = draw(st.sampled_from(["Sure?", "Really?"]))
        rules.append(rule)
    return rules


requests = st.one_of(st.none(), st.fixed_dictionaries({}, optional={
    "quantity": st.integers(1, 3), "budget": st.sampled_from(["100.00", "500.00"]),
    "product_type": st.sampled_from(["Coffee Maker", "Kettle"])}))
carts = st.tuples(st.integers(1, 3), st.booleans(), st.sampled_from(["credit_card_1", "gift_card_1", "paypal_1"]),
                  st.sampled_from([0.5, 0.95, None]))


def _decisions(policy: Any, env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    guard = Guard(policy, clock=lambda: CLOCK)
    out = []
    grouped = guard.independent().check_envelope(env)
    with monkeypatch.context() as mp:
        mp.setattr(compiled, "schedule", lambda rules: None)
        from txguard.engine import rules as rules_module
        mp.setattr(rules_module, "schedule", lambda rules: None)
        one_by_one = guard.independent().check_envelope(env)
    traced = evaluate(policy, env["proposal"], env.get("request"), env["session"], env["facts"], lambda: CLOCK,
                      trace=Trace())
    for d in (grouped, one_by_one, traced):
        out.append((d.outcome, d.reasons, d.route, d.questions, d.confirmation))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(extra=extra_rules(), carts_=st.lists(carts, min_size=1, max_size=4), request=requests)
def test_groups_decide_as_the_rules_one_by_one(extra: list[dict[str, Any]], carts_: list[tuple[Any, ...]],
                                                request: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        policy = compile_policy(yaml.safe_dump({**HEAD, "rules": list(HEAD["rules"]) + extra}),
                                str(RETAIL.parent / "groups.yaml"), RETAIL.parent)
    except PolicyError:
        return  # a literal the path's type refuses: no policy, nothing to decide
    for quantity, two, pm, confidence in carts_:
        lines = [line(quantity=quantity)] + ([line(sku="S-COF-2", unit_price="150.50")] if two else [])
        env = envelope(checkout_args(*lines, pm=pm, confidence=confidence), request=request)
        grouped, one_by_one, traced = _decisions(policy, env, monkeypatch)
        assert grouped == one_by_one == traced


def test_a_group_is_formed_and_passed_over_when_quiet() -> None:
    rules = [{"id": f"t-{i}", "kinds": ["checkout"], "when": {"path": "intent.total", "gt": f"{10000 + i}"},
              "outcome": "escalate"} for i in range(5)]
    policy = compile_policy(yaml.safe_dump({**HEAD, "rules": list(HEAD["rules"]) + rules}),
                            str(RETAIL.parent / "groups.yaml"), RETAIL.parent)
    order = policy.by_kind["checkout"]
    plan = compiled.schedule(order)
    assert plan is not None and sum(g is not None for _, g in plan) == 1
    assert len(plan) == len(order) - 4
    guard = Guard(policy, clock=lambda: CLOCK)
    for unit_price, want in (("120.00", []), ("10002.00", ["t-0", "t-1"]), ("10080.00", [f"t-{i}" for i in range(5)])):
        d = guard.independent().check_envelope(envelope(checkout_args(line(unit_price=unit_price))))
        assert sorted(r.rule for r in d.reasons if r.rule.startswith("t-")) == want
