"""Compiled ``when`` conditions (``engine/compiled.py``) decide exactly as the reference ``eval_node``.

Differential: random condition trees (the fuzzers' strategies: odd keys, odd literals, paths into
missing and ill-typed facts, ``for_each``, ``not``, expressions with arithmetic, aggregates, tables,
money, datetimes and durations) are compiled into policies; on hostile envelopes, every rule's
compiled test and ``eval_node`` give the same result or raise the same error with the same message,
and the guard's untraced decision (compiled) equals the traced one (``eval_node``). Declared kinds
and facts (comparisons with a ``default``, typed fact getters) are covered by the flight example.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, PolicyError, compile_policy
from txguard.checks.ctx import Ctx
from txguard.engine.case import Case
from txguard.engine.compiled import compile_node, plan
from txguard.engine.conditions import eval_node
from txguard.engine.evaluate import evaluate
from txguard.engine.rules import _env
from txguard.engine.trace import Trace
from txguard.policy.compile import CompiledPolicy
from txguard.policy.ir import Check

from ..helpers import line
from ..test_expressions import HEAD as EXPR_HEAD
from ..test_expressions import cart
from .test_condition_fuzz import ENVELOPES, HEAD, _conditions
from .test_expr_fuzz import exprs, facts_x, ops

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
FLIGHT = Path(__file__).resolve().parent.parent / "data" / "domains" / "flight.yaml"


def result(fn: Any, env: Any) -> tuple[str, Any]:
    try:
        return "value", fn(env)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return "raised", (type(exc).__name__, str(exc))


def agree(policy: CompiledPolicy, envelopes: list[dict[str, Any]]) -> None:
    guard = Guard(policy, clock=lambda: CLOCK)
    for envelope in envelopes:
        case = Case.read(policy, envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                         envelope.get("facts"), lambda: CLOCK)
        m = case.mapped
        if case.problem is None and m.intent is not None and m.kind is not None:
            ctx = Ctx(m.intent, case.req, case.ses, case.fac, CLOCK, policy, m.prop, m.arguments, None)
            env = _env(ctx)
            for rule in policy.by_kind.get(m.kind, ()):
                test = rule.test
                if type(test) is not Check:
                    assert result(compile_node(test), env) == result(lambda e, t=test: eval_node(t, e), env), rule.id
        fast = guard.independent().check_envelope(envelope)
        traced = evaluate(policy, envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                          envelope.get("facts"), lambda: CLOCK, trace=Trace())
        assert (fast.outcome, fast.reasons, fast.route, fast.questions) == \
            (traced.outcome, traced.reasons, traced.route, traced.questions)


def _load(text: str) -> CompiledPolicy | None:
    try:
        return compile_policy(text, "fuzz.yaml")
    except PolicyError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=_conditions(), outcome=st.sampled_from(["escalate", "clarify"]))
def test_compiled_conditions_agree_with_eval_node(cond: Any, outcome: str) -> None:
    extra = {"question": "Sure?"} if outcome == "clarify" else {}
    doc = {**HEAD, "rules": [{"id": "r", "kinds": ["checkout"], "when": cond, "outcome": outcome, "code": "fuzz", **extra},
                             {"id": "s", "kinds": ["checkout"], "when": {"not": cond}, "outcome": "escalate"}]}
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        text = json.dumps(doc)
    policy = _load(text)
    if policy is not None:
        agree(policy, ENVELOPES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=exprs, op=ops, right=exprs, xs=st.lists(facts_x, min_size=1, max_size=3))
def test_compiled_expressions_agree_with_eval_node(left: Any, op: str, right: Any, xs: list[Any]) -> None:
    when = json.dumps({"any": [{"value": left, op: right}, {"path": "intent.total", "gt": {"value": left}}]})
    policy = _load(EXPR_HEAD + "  - id: r\n    kinds: [checkout]\n    when: " + when + "\n")
    if policy is not None:
        agree(policy, [cart(line(), extra_info={"x": x}) for x in xs])


def test_the_plan_is_built_once_per_rule_list() -> None:
    policy = compile_policy(FLIGHT.read_text(encoding="utf-8"), str(FLIGHT))
    rules = policy.by_kind["book_flight"]
    assert plan(rules) is plan(rules)
    assert [r for r, _ in plan(rules)] == list(rules)
    assert all((fn is None) == (type(r.test) is Check) for r, fn in plan(rules))


DECLARED = """apiVersion: txguard/v1
id: p
version: 1
intents:
  pay:
    fields: {amount: money, user: id, tags: {list: string, max: 4}, when: optional datetime}
facts:
  users: {key: id, record: {id: id, limit: optional money, since: optional datetime, roles: {list: string, default: []}}}
defaults: {pay: allow}
tools:
  pay: {intent: pay}
rules:
  - id: over-limit
    when: {path: 'facts.users[intent.user].limit', default: "100", lt: {path: intent.amount}}
  - id: every-tag-known
    when: {for_each: intent.tags, as: t, all: {path: t, in: [a, b]}}
  - id: some-role-admin
    outcome: clarify
    question: Admin?
    when: {for_each: 'facts.users[intent.user].roles', as: r, any: {path: r, eq: admin}}
  - id: not-new
    when: {not: {any: [{path: 'facts.users[intent.user].since', lt: {sub: [now, {days: 30}]}, on_missing: false},
                       {path: intent.when, exists: true}]}}
  - id: big
    when: {all: [{path: intent.amount, ge: "10"}, {value: {count: intent.tags}, gt: 1}]}
"""
hostile = st.one_of(st.none(), st.booleans(), st.integers(-3, 200), st.sampled_from(["ten", "50", "", "admin", "a"]),
                    st.sampled_from(["2026-01-01T00:00:00Z", "2026-04-30T00:00:00+02:00", "2026-01-01"]),
                    st.lists(st.sampled_from(["admin", "a", "b", 3]), max_size=3), st.just({"x": 1}))
users = st.dictionaries(st.sampled_from(["u", "v"]), st.one_of(
    st.fixed_dictionaries({"id": st.sampled_from(["u", "v", 7])},
                          optional={"limit": hostile, "since": hostile, "roles": hostile}), hostile), max_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=users, amount=st.sampled_from(["5", "50", "150", "10.00"]),
       tags=st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), when=st.sampled_from([None, "2026-01-01T00:00:00Z"]))
def test_compiled_conditions_agree_on_declared_facts(users: Any, amount: str, tags: list[str], when: Any) -> None:
    args: dict[str, Any] = {"amount": amount, "user": "u", "tags": tags, **({"when": when} if when else {})}
    agree(compile_policy(DECLARED, "p.yaml"), [{"proposal": {"name": "pay", "arguments": args}, "facts": {"users": users}}])


COMPARED = ["intent.total", "intent.currency", "intent.payment_method_id", "intent.items[0].quantity",
            "intent.items[0].unit_price", "intent.merchant", "intent.confidence", "request.budget",
            "facts.users[session.authenticated_user_id].payment_methods[intent.payment_method_id].source"]
LITERALS = st.one_of(st.sampled_from(["USD", "EUR", "card_1", "credit_card", "", "10.00", "1", "0"]),
                     st.integers(-2, 2000), st.sampled_from([0.5, 0.99, 10.0, 1e3]),
                     st.decimals(0, 2000, places=2).map(str))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(COMPARED), op=st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]), literal=LITERALS,
       on_missing=st.sampled_from([None, True, False]), price=st.sampled_from(["10.00", "1999.99", "0.50"]),
       quantity=st.integers(1, 3))
def test_compiled_comparisons_with_a_literal_agree_with_eval_node(path: str, op: str, literal: Any, on_missing: Any,
                                                                   price: str, quantity: int) -> None:
    """The literal fast paths (a string against a string literal, an amount or an int against a
    number): the same result as ``compare`` on intent amounts, quantities, strings and facts."""
    cond: dict[str, Any] = {"path": path, op: literal, **({} if on_missing is None else {"on_missing": on_missing})}
    doc = {**HEAD, "rules": [{"id": "r", "kinds": ["checkout"], "when": cond, "outcome": "escalate", "code": "fuzz"}]}
    policy = _load(json.dumps(doc))
    if policy is not None:
        agree(policy, [cart(line(unit_price=price, quantity=quantity)), *ENVELOPES])
