"""Fuzz of the ``when`` condition parser (review of issue 10): any condition data either compiles
or is refused with located errors (:class:`PolicyError`), never a crash of the compiler; a policy
that compiles never raises at decide time, and a condition that cannot be judged fires only
``check_error`` or ``missing_fact`` (escalate), never anything else."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome, PolicyError, compile_policy

from ..helpers import checkout_args, envelope, line

HEAD = {
    "apiVersion": "txguard/v1", "id": "fuzz", "version": "1",
    "tools": {"checkout": {"intent": "checkout"}},
    "defaults": {"checkout": "allow"},
}
PATHS = ["intent.total", "intent.items", "intent.items[0].quantity", "intent.items[0]", "line.quantity", "line",
         "facts.users[session.authenticated_user_id].payment_methods", "facts.products[intent.items[0].product_id]",
         "facts.products", "session.confirmed", "request.budget", "intent.currency", "intent.merchant", "x.y",
         "intent.items[-1]", "intent.items[99999999999999999999]", "facts.users[", "facts..a", "", "intent.total.x",
         "facts.orders[facts.users[session.authenticated_user_id].orders[0]].status"]
KEYS = ["all", "any", "not", "for_each", "as", "path", "eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "exists",
        "on_missing", "between", "matches", "unknown"]
ODD = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8), st.sampled_from(PATHS),
    st.sampled_from(["escalate", "true", "false", "ESCALATE", "skip", "1e400", "NaN", "-0.0", "\ud800"]),
    st.lists(st.integers(), max_size=3), st.just([[[]]]), st.just({"path": "intent.total"}), st.just({"path": 3}),
    st.just({"path": "intent.total", "extra": 1}),
)


def _conditions() -> st.SearchStrategy[Any]:
    def node(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        keyed = st.dictionaries(st.sampled_from(KEYS), st.one_of(ODD, children, st.lists(children, max_size=3)),
                                min_size=1, max_size=4)
        comparison = st.fixed_dictionaries(
            {"path": st.sampled_from(PATHS)},
            optional={"gt": ODD, "in": st.one_of(ODD, st.lists(ODD, max_size=4)), "on_missing": ODD, "exists": ODD})
        for_each = st.fixed_dictionaries(
            {"for_each": st.one_of(st.sampled_from(PATHS), ODD), "as": st.one_of(st.just("line"), ODD),
             "any": st.one_of(children, st.lists(children, max_size=2))})
        return st.one_of(keyed, comparison, for_each)

    return st.recursive(st.one_of(ODD, st.fixed_dictionaries({"path": st.sampled_from(PATHS), "eq": ODD})), node,
                        max_leaves=12)


def _envelopes() -> list[dict[str, Any]]:
    big = envelope(checkout_args(line(quantity=3)))
    odd = envelope(checkout_args())
    odd["facts"]["users"]["alice_1"]["payment_methods"] = ["not", "a", "mapping"]
    odd["facts"]["products"]["P-COF"] = 7
    return [big, odd, envelope(checkout_args(), fact_data={})]


ENVELOPES = _envelopes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cond=_conditions())
def test_any_condition_compiles_or_is_refused_with_located_errors_and_never_raises_when_deciding(cond: Any) -> None:
    doc = {**HEAD, "rules": [{"id": "r", "kinds": ["checkout"], "when": cond, "outcome": "escalate", "code": "fuzz"}]}
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        text = json.dumps(doc)  # JSON is YAML
    try:
        policy = compile_policy(text, "fuzz.yaml")
    except PolicyError as exc:
        assert "fuzz.yaml:" in str(exc), str(exc)  # located
        return
    guard = Guard(policy)
    for env in ENVELOPES:
        decision = guard.independent().check_envelope(env)
        for r in decision.reasons:
            assert r.code in ("fuzz", "check_error", "missing_fact", "consent"), (cond, decision.reasons)
            if r.code in ("check_error", "missing_fact"):
                assert r.outcome is Outcome.ESCALATE
                # a literal the compiler let through that cannot even be compared (`.nan`) is a load error
                assert not r.message.startswith("InvalidOperation"), (cond, r.message)


def test_a_non_finite_number_literal_is_a_located_load_error() -> None:
    for literal in (".nan", ".inf", "[1, -.inf]"):
        doc = yaml.safe_load(yaml.safe_dump(HEAD)) | {"rules": [{"id": "r", "kinds": ["checkout"], "code": "c",
                                                                 "outcome": "escalate", "when": {}}]}
        text = yaml.safe_dump(doc).replace("when: {}", "when: {path: intent.total, gt: %s}" % literal)
        try:
            compile_policy(text, "nan.yaml")
        except PolicyError as exc:
            assert "nan.yaml:" in str(exc) and "is not a finite number" in str(exc)
        else:
            raise AssertionError(f"`{literal}` compiled")


def test_a_surrogate_escape_in_a_policy_is_a_located_load_error_not_a_digest_crash() -> None:
    text = yaml.safe_dump({**HEAD, "rules": [{"id": "r", "kinds": ["checkout"], "code": "c", "outcome": "escalate",
                                              "when": {"path": "intent.currency", "eq": "X"}}]})
    for escaped in ('"\\ud800"', '"\\ud83d\\ude00"'):
        try:
            compile_policy(text.replace("eq: X", f"eq: {escaped}"), "s.yaml")
        except PolicyError as exc:
            assert "s.yaml:" in str(exc) and "surrogate" in str(exc)
        else:
            raise AssertionError(f"{escaped} compiled")
    assert compile_policy(text.replace("eq: X", 'eq: "\\U0001F600"'), "s.yaml").rules
