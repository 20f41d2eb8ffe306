"""Custom `when` rules: all/any/not/for_each, comparisons, facts lookups, missing facts."""

from __future__ import annotations

from typing import Any

import pytest

from txguard import Decision, Guard, Outcome, PolicyError

from .helpers import GIFT, checkout_args, envelope, line

HEAD = """\
apiVersion: txguard/v1
id: t
version: "1"
tools:
  checkout: {intent: checkout}
  cancel: {intent: cancel_order}
defaults: {checkout: allow, cancel_order: allow}
rules:
"""


def decide(rules: str, env: dict[str, Any]) -> Decision:
    return Guard.from_text(HEAD + rules, file="f.yaml").check_envelope(env)


def three_coffee_makers() -> dict[str, Any]:
    return envelope(checkout_args(line(quantity=3)))  # total 360.00


def cancel(order_id: str) -> dict[str, Any]:
    return envelope({"order_id": order_id, "reason": "no longer needed"}, name="cancel")


@pytest.mark.parametrize(("cond", "fires"), [
    ('{path: intent.total, gt: "300.00"}', True),
    ('{path: intent.total, gt: "360.00"}', False),
    ('{path: intent.total, ge: "360"}', True),
    ("{path: intent.total, lt: 360.01}", True),
    ('{path: intent.total, le: "359.99"}', False),
    ('{path: intent.total, eq: "360.0"}', True),
    ("{path: intent.total, ne: 360}", False),
    ("{path: intent.currency, in: [EUR, USD]}", True),
    ("{path: intent.currency, not_in: [EUR, USD]}", False),
    ("{path: intent.merchant, exists: false}", True),
    ("{path: intent.merchant, exists: true}", False),
    ('{all: [{path: intent.total, gt: "300"}, {path: intent.currency, eq: USD}]}', True),
    ('{all: [{path: intent.total, gt: "300"}, {path: intent.currency, eq: EUR}]}', False),
    ('{any: [{path: intent.total, gt: "999"}, {path: intent.currency, eq: USD}]}', True),
    ('{not: {path: intent.currency, eq: USD}}', False),
    ("{for_each: intent.items, as: l, any: [{path: l.quantity, ge: 3}]}", True),
    ("{for_each: intent.items, as: l, all: [{path: l.quantity, ge: 4}]}", False),
    ("{for_each: intent.items, as: l, any: [{path: l.quantity, ge: 9}, {path: l.sku, eq: S-COF-1}]}", True),
    ("{path: intent.payment_method_id, in: {path: 'facts.users[session.authenticated_user_id].payment_methods'}}", True),
    ("{path: 'facts.products[intent.items[0].product_id].variants[intent.items[0].sku].price',"
     " eq: {path: 'intent.items[0].unit_price'}}", True),
    ("{path: 'facts.products[intent.items[0].product_id].name', eq: 'Coffee Maker'}", True),
])
def test_comparisons(cond: str, fires: bool) -> None:
    d = decide(f"  - id: r\n    kinds: [checkout]\n    when: {cond}\n", three_coffee_makers())
    assert d.outcome is (Outcome.ESCALATE if fires else Outcome.ALLOW)
    assert d.codes == (("r",) if fires else ())


def test_a_fired_rule_carries_its_code_description_outcome_question_and_route() -> None:
    rules = """\
  - id: Many-Units
    kinds: [checkout]
    outcome: clarify
    question: How many do you want?
    description: more than two units
    when: {for_each: intent.items, as: l, any: [{path: l.quantity, gt: 2}]}
  - id: big
    kinds: [checkout]
    code: big_spender
    route: refuse
    message: "refused: {detail}"
    description: over 300
    when: {path: intent.total, gt: "300"}
"""
    d = decide(rules, three_coffee_makers())
    assert d.outcome is Outcome.ESCALATE
    assert [(r.rule, r.code, r.message, r.outcome) for r in d.reasons] == [
        ("big", "big_spender", "refused: over 300", Outcome.ESCALATE),
        ("Many-Units", "many_units", "rule `Many-Units` matched", Outcome.CLARIFY),  # the description is the authors'
    ]
    assert d.route == "refuse"
    only_clarify = decide(rules.split("  - id: big")[0], three_coffee_makers())
    assert only_clarify.outcome is Outcome.CLARIFY
    assert [(q.code, q.text) for q in only_clarify.questions] == [("many_units", "How many do you want?")]
    assert only_clarify.reasons[0].message == "rule `Many-Units` matched"


STATUS = '  - id: st\n    kinds: [cancel_order]\n    when: {path: "facts.orders[intent.order_id].status", ne: pending%s}\n'


def test_facts_lookup_by_a_key_from_the_intent() -> None:
    assert decide(STATUS % "", cancel("#W1")).outcome is Outcome.ALLOW
    d = decide(STATUS % "", cancel("#W2"))  # delivered
    assert (d.outcome, d.codes, d.reasons[0].message) == (Outcome.ESCALATE, ("st",), "rule `st` matched")


def test_a_missing_fact_escalates_with_missing_fact() -> None:
    d = decide(STATUS % "", cancel("#W404"))
    assert d.outcome is Outcome.ESCALATE
    assert d.route == "human"
    assert [(r.rule, r.code, r.message) for r in d.reasons] == [
        ("st", "missing_fact", "`facts.orders[intent.order_id].status` is not in the facts")]


@pytest.mark.parametrize(("on_missing", "outcome"), [("false", Outcome.ALLOW), ("true", Outcome.ESCALATE),
                                                     ("escalate", Outcome.ESCALATE)])
def test_on_missing(on_missing: str, outcome: Outcome) -> None:
    d = decide(STATUS % f", on_missing: {on_missing}", cancel("#W404"))
    assert d.outcome is outcome
    if on_missing == "true":
        assert d.codes == ("st",)


def test_for_each_over_a_missing_fact_escalates() -> None:
    rules = ('  - id: r\n    kinds: [cancel_order]\n    when: {for_each: "facts.orders[intent.order_id].items",'
             ' as: i, any: [{path: i.price, gt: 100}]}\n')
    assert decide(rules, cancel("#W1")).codes == ("r",)
    assert decide(rules, cancel("#W404")).codes == ("missing_fact",)


def test_comparing_a_word_with_a_number_is_a_check_error() -> None:
    d = decide("  - id: r\n    kinds: [checkout]\n    when: {path: 'intent.items[0].title', gt: 5}\n",
               three_coffee_makers())
    assert d.outcome is Outcome.ESCALATE
    assert [(r.code, r.message) for r in d.reasons] == [
        ("check_error", "ConditionError: `intent.items[0].title` gt `5`: both sides must be numbers")]


def test_in_a_non_collection_is_a_load_error_when_typed_and_a_check_error_when_not() -> None:
    # `intent.payment_method_id` is typed a string: the policy does not load (it would err on every decision).
    with pytest.raises(PolicyError, match="txg-type: rules\\[0\\]\\(r\\).when.in: `in` takes a list or a mapping"):
        decide("  - id: r\n    kinds: [checkout]\n    when: {path: intent.currency, in: {path: intent.payment_method_id}}\n",
               three_coffee_makers())
    # A free-form (untyped) value is judged when the rule runs.
    d = decide("  - id: r\n    kinds: [checkout]\n    when: {path: intent.currency, in: "
               "{path: 'facts.users[session.authenticated_user_id].payment_methods[intent.payment_method_id].extra_info'}}\n",
               three_coffee_makers())
    assert d.codes in (("check_error",), ("missing_fact",))


def test_numbers_compare_exactly() -> None:
    # 0.1 + 0.2 in binary floats is 0.30000000000000004; here the cart is exactly 0.30.
    env = envelope(checkout_args(line(unit_price="0.10"), line("S-COF-2", unit_price="0.20")))
    assert decide('  - id: r\n    kinds: [checkout]\n    when: {path: intent.total, eq: "0.3"}\n', env).codes == ("r",)
    assert decide("  - id: r\n    kinds: [checkout]\n    when: {path: intent.total, gt: 0.3}\n", env).codes == ()


def test_payment_method_not_owned() -> None:
    rules = ("  - id: pm\n    kinds: [checkout]\n    when: {not: {path: intent.payment_method_id, in: "
             "{path: 'facts.users[session.authenticated_user_id].payment_methods'}}}\n")
    assert decide(rules, envelope(checkout_args(pm=GIFT))).outcome is Outcome.ALLOW
    assert decide(rules, envelope(checkout_args(pm="stolen_card"))).codes == ("pm",)


@pytest.mark.parametrize(("rules", "message"), [
    ("  - id: r\n    kinds: [checkout]\n    when: {path: intent.itemz, exists: false}\n",
     "f.yaml:11:18: txg-path: rules[0](r).when.path: path `intent.itemz`: `itemz` is not a field of Checkout "
     "(expected one of: alternatives, confidence, currency, items, kind, merchant, payment_method_id, "
     "shipping_address, total) (in Checkout)"),
    ("  - id: r\n    kinds: [cancel_order]\n    when: {path: 'facts.orders[intent.order_id].statu', eq: x}\n",
     "f.yaml:11:18: txg-path: rules[0](r).when.path: path `facts.orders[intent.order_id].statu`: `statu` is not a "
     "field here (expected one of: address, cancel_reason, exchange_items, exchange_new_items, "
     "exchange_payment_method_id, exchange_price_difference, fulfillments, items, order_id, payment_history, "
     "return_items, return_payment_method_id, status, user_id)"),
    ("  - id: r\n    kinds: [checkout]\n    when: {path: intent.total, gt: 1, lt: 5}\n",
     "f.yaml:11:11: txg-path: rules[0](r).when: a comparison has exactly one of: eq, ne, gt, ge, lt, le, in, "
     "not_in, startswith, endswith, ieq, ine, exists"),
    ("  - id: r\n    kinds: [checkout]\n    when: {on_missing: true}\n",
     "f.yaml:11:11: txg-path: rules[0](r).when: expected one of `all`, `any`, `not`, `for_each` or a comparison "
     "with `path` or `value`"),
    ("  - id: r\n    kinds: [checkout]\n    when: {path: 'intent.items[0', eq: 1}\n",
     "f.yaml:11:18: txg-path: rules[0](r).when.path: expected `]` in path `intent.items[0`"),
    ("  - id: r\n    kinds: [checkout]\n    when: {for_each: intent.items, as: l, any: [{path: l.qty, gt: 1}]}\n",
     "f.yaml:11:56: txg-path: rules[0](r).when.any[0].path: path `l.qty`: `qty` is not a field of LineItem "
     "(expected one of: category, product_id, quantity, sku, title, unit_price)"),
])
def test_bad_conditions_are_load_errors(rules: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        Guard.from_text(HEAD + rules, file="f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [message]


def test_a_path_is_checked_against_every_kind_the_rule_applies_to() -> None:
    with pytest.raises(PolicyError) as info:
        Guard.from_text(HEAD + "  - id: r\n    when: {path: intent.total, gt: 1}\n", file="f.yaml")
    kinds = [str(d).rsplit("(in ", 1)[1] for d in info.value.diagnostics]
    assert kinds == sorted(kinds) and "CancelOrder)" in kinds and "Checkout)" not in kinds
