"""Built-in checks on declared intent kinds (issue 11, item 4): each check reads a declared kind
through its ``roles`` and the declared facts and request; allows, fires and fails closed
(``missing_fact``) as on the shipped kinds; is refused at load, located, on a kind that lacks
the roles it reads; and shows what it read in an explain trace.
"""

from __future__ import annotations

import json
import re
import textwrap
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import compile_policy
from txguard.authoring.explain import Explanation, explain
from txguard.core.errors import PolicyError
from txguard.policy.compile import CompiledPolicy

from .conftest import ROOT

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

DOMAIN = """\
apiVersion: txguard/v1
id: flights
version: 1
currency: USD
intents:
  book_flight:
    fields:
      user_id: id
      flights: {list: {flight_no: id, price: money}, min: 1, max: 4}
      total: money
      seats: {int: {min: 1, max: 9}}
      payment_id: id
      confidence: {decimal: {min: 0, max: 1}, optional: true}
      alternatives: {list: id, max: 10}
    roles: {amount: total, owner: user_id, payment: payment_id, quantity: seats,
            confidence: confidence, candidates: alternatives, lines: flights}
  cancel_booking:
    fields: {reservation_id: id}
    roles: {order: reservation_id}
  rebook:
    fields:
      reservation_id: id
      fares: {list: {price: money}, min: 1}
      note: optional string
    roles: {amount: fares.price, order: reservation_id}
  transfer:
    fields: {amount: money, currency: currency, to: id}
    roles: {amount: amount, payment: to}
  lookup:
    consequential: false
    fields: {query: string, confidence: decimal}
    roles: {confidence: confidence}
facts:
  users: {key: user_id, record: {user_id: id, payment_methods: {map: {source: string}}}}
  fares: {key: flight_no, record: {flight_no: id, price: money}}
  reservations: {key: reservation_id, record: {reservation_id: id, user_id: id}}
request:
  budget: optional money
  quantity: optional int
defaults: {book_flight: allow, cancel_booking: allow, rebook: allow, transfer: allow, lookup: allow}
tools:
  book: {intent: book_flight}
  cancel: {intent: cancel_booking}
  rebook: {intent: rebook}
  transfer: {intent: transfer}
  lookup: {intent: lookup}
rules:
"""

ARGS: dict[str, Any] = {"user_id": "u1", "flights": [{"flight_no": "F1", "price": "300.00"}], "total": "300",
                        "seats": 2, "payment_id": "cc1", "confidence": "0.9", "alternatives": []}
FACTS: dict[str, Any] = {
    "users": [{"user_id": "u1", "payment_methods": {"cc1": {"source": "card"}}}],
    "fares": [{"flight_no": "F1", "price": 300}, {"flight_no": "F2", "price": "120.50"}],
    "reservations": [{"reservation_id": "R1", "user_id": "u1"}, {"reservation_id": "R2", "user_id": "u2"}],
}
ME = {"authenticated_user_id": "u1"}


def policy(rules: str) -> CompiledPolicy:
    return compile_policy(DOMAIN + textwrap.indent(textwrap.dedent(rules), "  "), "p.yaml")


def run(p: CompiledPolicy, args: dict[str, Any] | None = None, *, tool: str = "book", facts: Any = None,
        session: Any = None, request: Any = None, **changes: Any) -> Explanation:
    arguments = dict(ARGS if args is None else args, **changes)
    envelope: dict[str, Any] = {"proposal": {"name": tool, "arguments": json.dumps(arguments)},
                                "facts": FACTS if facts is None else facts, "session": ME if session is None else session}
    if request is not None:
        envelope["request"] = request
    return explain(p, envelope, lambda: NOW)


def codes(result: Explanation) -> tuple[str, ...]:
    return tuple(r.code for r in result.decision.reasons)


def inputs(result: Explanation, rule: str) -> dict[str, Any]:
    return dict(next(t for t in result.rules if t.rule == rule).inputs)


def refused(rules: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        policy(rules)
    return [str(d) for d in info.value.diagnostics]


# -- price_cap and budget -------------------------------------------------------------------------------

CAP = "- {id: cap, check: price_cap, kinds: [book_flight, rebook, transfer], params: {max: {USD: '1000'}}}\n"


def test_price_cap_reads_the_amount_role_in_its_currency() -> None:
    p = policy(CAP)
    ok = run(p)
    assert ok.decision.outcome.value == "allow"
    assert inputs(ok, "cap") == {"intent.total (amount)": Decimal("300"), "currency": "USD", "cap": Decimal("1000.00")}
    over = run(p, total="1000.01")
    assert codes(over) == ("price_cap",) and "1000.01 USD is over the cap of 1000.00 USD" in over.decision.reasons[0].message


def test_price_cap_sums_an_amount_role_through_a_list() -> None:
    p = policy(CAP)
    fares = [{"price": "600"}, {"price": "400"}]
    assert codes(run(p, {"reservation_id": "R1", "fares": fares}, tool="rebook")) == ()
    over = run(p, {"reservation_id": "R1", "fares": fares + [{"price": "0.01"}]}, tool="rebook")
    assert codes(over) == ("price_cap",)
    assert inputs(over, "cap")["intent.fares.price (amount, summed)"] == Decimal("1000.01")


def test_price_cap_reads_the_currency_of_the_amount_from_the_intent() -> None:
    p = policy(CAP)
    assert codes(run(p, {"amount": "999", "currency": "USD", "to": "cc1"}, tool="transfer")) == ()
    eur = run(p, {"amount": "10", "currency": "EUR", "to": "cc1"}, tool="transfer")
    assert codes(eur) == ("price_cap",) and "no price cap is configured for EUR" in eur.decision.reasons[0].message
    assert inputs(eur, "cap")["currency"] == "EUR"


def test_price_cap_with_no_cap_for_the_currency_fires() -> None:
    p = policy("- {id: cap, check: price_cap, kinds: [book_flight], params: {max: {EUR: '1000'}}}\n")
    assert codes(run(p)) == ("price_cap",)


def test_budget_reads_the_declared_request_budget() -> None:
    p = policy("- {id: budget, check: budget, kinds: [book_flight]}\n")
    assert codes(run(p)) == ()  # no budget given: nothing to judge
    assert codes(run(p, request={"budget": "300.00"})) == ()  # equal is fine
    over = run(p, request={"budget": "299.99"})
    assert codes(over) == ("budget",) and over.decision.outcome.value == "clarify"
    assert inputs(over, "budget")["request.budget"] == Decimal("299.99")


def test_budget_in_another_currency_than_the_amount_fires() -> None:
    text = DOMAIN.replace("  budget: optional money", "  budget: {money: {currency: EUR}, optional: true}")
    p = compile_policy(text + "  - {id: budget, check: budget, kinds: [book_flight]}\n", "p.yaml")
    assert codes(run(p, request={"budget": "5000"})) == ("budget",)


def test_budget_needs_a_declared_money_budget() -> None:
    text = DOMAIN.replace("  budget: optional money\n", "")
    with pytest.raises(PolicyError, match="reads `request.budget`, which the policy's `request:` does not declare"):
        compile_policy(text + "  - {id: budget, check: budget, kinds: [book_flight]}\n", "p.yaml")


# -- ownership ---------------------------------------------------------------------------------------------

def test_ownership_compares_the_owner_role_with_the_authenticated_user() -> None:
    p = policy("- {id: own, check: ownership, kinds: [book_flight]}\n")
    assert codes(run(p)) == ()
    other = run(p, user_id="u2")
    assert codes(other) == ("ownership",) and other.decision.outcome.value == "escalate"
    assert inputs(other, "own") == {"authenticated user": "u1", "intent.user_id (owner)": "u2"}
    assert codes(run(p, session={})) == ()  # nobody signed in: `authentication` judges that


def test_ownership_through_a_declared_record_fails_closed() -> None:
    p = policy("- {id: own, check: ownership, kinds: [cancel_booking], params: {collection: reservations, field: user_id}}\n")
    assert codes(run(p, {"reservation_id": "R1"}, tool="cancel")) == ()
    assert codes(run(p, {"reservation_id": "R2"}, tool="cancel")) == ("ownership",)
    assert codes(run(p, {"reservation_id": "R9"}, tool="cancel")) == ("missing_fact",)
    hole = dict(FACTS, reservations=[{"reservation_id": "R1"}])
    assert codes(run(p, {"reservation_id": "R1"}, tool="cancel", facts=hole)) == ("missing_fact",)
    twice = dict(FACTS, reservations=[{"reservation_id": "R1", "user_id": "u1"}, {"reservation_id": "R1", "user_id": "u2"}])
    assert codes(run(p, {"reservation_id": "R1"}, tool="cancel", facts=twice)) == ("missing_fact",)


# -- payment_method ----------------------------------------------------------------------------------------

def test_payment_method_is_one_of_the_users_declared_methods() -> None:
    p = policy("- {id: pm, check: payment_method, kinds: [book_flight], params: {collection: users, field: payment_methods}}\n")
    ok = run(p)
    assert codes(ok) == () and inputs(ok, "pm")["user's methods"] == ["cc1"]
    assert codes(run(p, payment_id="cc9")) == ("payment_method",)
    # A hole is a missing fact, never a fallback to the agent's claim.
    assert codes(run(p, facts=dict(FACTS, users=[]))) == ("missing_fact",)
    assert codes(run(p, facts=dict(FACTS, users=[{"user_id": "u1"}]))) == ("missing_fact",)
    assert codes(run(p, session={})) == ("missing_fact",)


def test_payment_methods_may_be_a_declared_list_of_ids() -> None:
    text = DOMAIN.replace("payment_methods: {map: {source: string}}", "payment_methods: {list: id}")
    p = compile_policy(text + "  - {id: pm, check: payment_method, kinds: [book_flight, transfer]}\n", "p.yaml")
    facts = dict(FACTS, users=[{"user_id": "u1", "payment_methods": ["cc1", "cc2"]}])
    assert codes(run(p, facts=facts)) == () and codes(run(p, facts=facts, payment_id="cc3")) == ("payment_method",)
    assert codes(run(p, {"amount": "1", "currency": "USD", "to": "cc2"}, tool="transfer", facts=facts)) == ()
    assert codes(run(p, facts=dict(FACTS, users=[{"user_id": "u1", "payment_methods": [1]}]))) == ("missing_fact",)


def test_params_for_declared_kinds_on_a_rule_that_also_names_shipped_kinds_are_refused() -> None:
    # with the shipped kinds, the shipped request (which has a budget and a quantity too)
    text = DOMAIN.replace("currency: USD\n", "currency: USD\nbuiltin_kinds: commerce\n", 1).replace(
        "request:\n  budget: optional money\n  quantity: optional int\n", "", 1)
    with pytest.raises(PolicyError, match="`collection` applies to declared kinds only; this rule applies to checkout"):
        compile_policy(text + "  - {id: pm, check: payment_method, kinds: [checkout, book_flight], "
                              "params: {collection: users}}\n", "p.yaml")
    # Without `kinds`, the rule takes the kinds its params fit: the declared ones here.
    own = compile_policy(text + "  - {id: pm, check: payment_method, params: {collection: users}}\n", "p.yaml")
    assert set(next(r for r in own.rules if r.id == "pm").kinds) == {"book_flight", "transfer"}
    both = compile_policy(text + "  - {id: pm, check: payment_method}\n", "p.yaml")
    assert {"checkout", "book_flight", "transfer"} <= set(next(r for r in both.rules if r.id == "pm").kinds)


def test_payment_method_params_are_checked_against_the_declared_facts() -> None:
    wrong = refused("- {id: pm, check: payment_method, kinds: [book_flight], params: {collection: wallets}}\n")
    assert any("p.yaml:" in d and "`wallets` is not a declared facts collection" in d for d in wrong)
    scalar = refused("- {id: pm, check: payment_method, kinds: [book_flight], params: {field: user_id}}\n")
    assert any("facts.users `user_id` is an id, not map or list" in d for d in scalar)


# -- ambiguity and quantity --------------------------------------------------------------------------------

def test_ambiguity_reads_confidence_and_candidates() -> None:
    p = policy("- {id: amb, check: ambiguity, kinds: [book_flight], params: {min_confidence: 0.8, max_alternatives: 2}}\n")
    assert codes(run(p)) == ()
    assert codes(run(p, confidence="0.79")) == ("ambiguity",)
    assert codes(run(p, confidence=None)) == ("ambiguity",)  # not given: unsure
    assert codes(run(p, alternatives=["a", "b", "c"])) == ("ambiguity",)
    assert inputs(run(p, alternatives=["a"]), "amb")["candidates"] == 1


def test_a_confidence_just_under_the_floor_in_json_text_is_under_it() -> None:
    p = policy("- {id: amb, check: ambiguity, kinds: [book_flight], params: {min_confidence: 0.8}}\n")
    text = json.dumps(ARGS).replace('"0.9"', "0.79999999999999999")
    result = explain(p, {"proposal": {"name": "book", "arguments": text}, "facts": FACTS, "session": ME}, lambda: NOW)
    assert codes(result) == ("ambiguity",)


def test_quantity_against_the_declared_request() -> None:
    p = policy("- {id: qty, check: quantity, kinds: [book_flight]}\n")
    assert codes(run(p)) == () and codes(run(p, request={"quantity": 2})) == ()
    wrong = run(p, request={"quantity": 3})
    assert codes(wrong) == ("quantity",)
    assert inputs(wrong, "qty") == {"request.quantity": 3, "intent.seats (quantity)": 2}


# -- catalog consistency through a declared lookup ---------------------------------------------------------

LOOKUP = """\
- {id: exists, check: item_exists, kinds: [book_flight], params: {collection: fares, key: flight_no}}
- {id: price, check: catalog_price, kinds: [book_flight], params: {collection: fares, key: flight_no, price: price}}
"""


def test_item_exists_and_catalog_price_through_declared_facts() -> None:
    p = policy(LOOKUP)
    assert codes(run(p)) == ()
    unknown = run(p, flights=[{"flight_no": "F9", "price": "300"}])
    assert codes(unknown) == ("unknown_item",)  # and catalog_price, which needs `lines`, is skipped
    assert next(t for t in unknown.rules if t.rule == "price").status == "skipped"
    assert inputs(unknown, "exists") == {"lines": [{"flight_no": "F9", "in facts.fares": False}]}
    assert codes(run(p, flights=[{"flight_no": "F2", "price": "120.5"}])) == ()
    wrong = run(p, flights=[{"flight_no": "F2", "price": "99"}])
    assert codes(wrong) == ("catalog_mismatch",)
    assert inputs(wrong, "price")["lines"][0]["facts price"] == Decimal("120.50")
    bad = dict(FACTS, fares=[{"flight_no": "F1", "price": "cheap"}])
    assert codes(run(p, facts=bad)) == ("missing_fact",)
    alone = policy(LOOKUP.splitlines()[1] + "\n")  # without item_exists, a line not in the facts has no price
    assert codes(run(alone, flights=[{"flight_no": "F9", "price": "300"}])) == ("missing_fact",)


def test_lookup_params_are_required_and_checked_on_declared_kinds() -> None:
    missing = refused("- {id: exists, check: item_exists, kinds: [book_flight]}\n")
    assert any("give `collection`, `key`" in d for d in missing)
    key = refused("- {id: exists, check: item_exists, kinds: [book_flight], params: {collection: fares, key: nope}}\n")
    assert any("`nope` is not an id field of `book_flight`'s lines" in d for d in key)
    title = refused("- {id: price, check: catalog_price, kinds: [book_flight], "
                    "params: {collection: fares, key: flight_no, price: price, compare_title: true}}\n")
    assert any("`compare_title` applies to the shipped commerce kinds only" in d for d in title)


# -- a kind without the roles a check reads is refused, located ---------------------------------------------

@pytest.mark.parametrize("rule, role", [
    ("{id: r, check: price_cap, kinds: [cancel_booking], params: {max: {USD: '1'}}}", "amount"),
    ("{id: r, check: budget, kinds: [cancel_booking]}", "amount"),
    ("{id: r, check: ownership, kinds: [lookup]}", "owner"),
    ("{id: r, check: payment_method, kinds: [rebook]}", "payment"),
    ("{id: r, check: quantity, kinds: [rebook]}", "quantity"),
    ("{id: r, check: item_exists, kinds: [cancel_booking], params: {collection: fares, key: flight_no}}", "lines"),
])
def test_a_kind_lacking_the_role_is_refused_at_load(rule: str, role: str) -> None:
    found = refused(f"- {rule}\n")
    assert any(d.startswith(f"p.yaml:{DOMAIN.count(chr(10)) + 1}:") and "does not apply to" in d
               and f"declares no role `{role}`" in d for d in found), found


def test_a_role_of_the_wrong_type_is_named() -> None:
    text = DOMAIN.replace("roles: {amount: total, owner: user_id,", "roles: {amount: seats, owner: user_id,")
    with pytest.raises(PolicyError, match=r"role `amount` names `seats`, an int, not money"):
        compile_policy(text + "  - {id: cap, check: price_cap, kinds: [book_flight], params: {max: {USD: '1'}}}\n", "p.yaml")
    unbounded = refused("- {id: amb, check: ambiguity, kinds: [lookup], params: {min_confidence: 0.5}}\n")
    assert any("must be declared `{decimal: {min: 0, max: 1}}`" in d for d in unbounded)


def test_a_rule_without_kinds_applies_to_the_declared_kinds_with_the_role() -> None:
    p = policy("- {id: cap, check: price_cap, params: {max: {USD: '1000'}}}\n")
    assert set(next(r for r in p.rules if r.id == "cap").kinds) == {"book_flight", "rebook", "transfer"}


# -- consent does not bind the agent's own assessment ------------------------------------------------------

def test_consent_ignores_confidence_and_candidates_but_binds_the_action() -> None:
    p = policy("- {id: consent, check: consent}\n")
    confirmed = {"authenticated_user_id": "u1", "confirmed": [{"name": "book", "arguments": ARGS}]}
    assert codes(run(p, session=confirmed)) == ()
    assert codes(run(p, session=confirmed, confidence="0.5", alternatives=["F7"])) == ()
    assert codes(run(p, session=confirmed, seats=3)) == ("consent",)
    asked = run(p).decision.confirmation  # what the user is shown is what consent binds
    assert asked is not None and "confidence" not in asked.summary and "alternatives" not in asked.summary
    assert asked.summary["seats"] == 2 and asked.summary["total"] == "300.00 USD"


# -- properties --------------------------------------------------------------------------------------------

CENTS = st.integers(min_value=0, max_value=500_000).map(lambda c: Decimal(c).scaleb(-2))


@settings(max_examples=60, deadline=None)
@given(prices=st.lists(CENTS, min_size=1, max_size=4), cap=CENTS)
def test_price_cap_fires_exactly_when_the_summed_amount_is_over_the_cap(prices: list[Decimal], cap: Decimal) -> None:
    p = _cap_policy(str(cap))
    result = run(p, {"reservation_id": "R1", "fares": [{"price": str(x)} for x in prices]}, tool="rebook")
    assert (codes(result) == ("price_cap",)) == (sum(prices) > cap)


_CAPS: dict[str, CompiledPolicy] = {}


def _cap_policy(cap: str) -> CompiledPolicy:
    if cap not in _CAPS:
        _CAPS[cap] = policy(f"- {{id: cap, check: price_cap, kinds: [rebook], params: {{max: {{USD: '{cap}'}}}}}}\n")
    return _CAPS[cap]


@settings(max_examples=60, deadline=None)
@given(user=st.sampled_from(["u1", "u2", "u3"]), owner=st.sampled_from(["u1", "u2", "u3"]))
def test_ownership_fires_exactly_when_the_owner_is_someone_else(user: str, owner: str) -> None:
    result = run(OWN, session={"authenticated_user_id": user}, user_id=owner)
    assert (codes(result) == ("ownership",)) == (user != owner)


OWN = policy("- {id: own, check: ownership, kinds: [book_flight]}\n")


@settings(max_examples=60, deadline=None)
@given(conf=st.integers(min_value=0, max_value=1000).map(lambda n: Decimal(n).scaleb(-3)),
       floor=st.integers(min_value=0, max_value=100).map(lambda n: Decimal(n).scaleb(-2)))
def test_ambiguity_compares_the_confidence_exactly(conf: Decimal, floor: Decimal) -> None:
    p = policy(f"- {{id: amb, check: ambiguity, kinds: [book_flight], params: {{min_confidence: {floor}}}}}\n")
    assert (codes(run(p, confidence=str(conf))) == ("ambiguity",)) == (conf < floor)


# -- the documented example ----------------------------------------------------------------------------

def test_the_documented_example_loads_and_decides() -> None:
    text = (ROOT / "docs" / "declared-checks.md").read_text(encoding="utf-8")
    example = re.findall(r"```yaml\n(.*?)```", text, re.S)[0]
    p = compile_policy(example, "flights.yaml")
    args = {"user_id": "u1", "flights": [{"flight_no": "F1", "price": 300}, {"flight_no": "F2", "price": "120.50"}],
            "seats": 2, "payment_id": "cc1", "confidence": 0.9, "alternatives": ["F3"]}
    session = {"authenticated_user_id": "u1", "confirmed": [{"name": "book_reservation", "arguments": args}]}
    assert codes(run(p, args, tool="book_reservation", session=session)) == ()
    assert codes(run(p, args, tool="book_reservation", session=session, request={"budget": "400"})) == ("budget",)
    assert codes(run(p, args, tool="book_reservation", session=session, payment_id="cc2")) == ("payment_method", "consent")
    cancel = {"reservation_id": "R2"}
    confirmed = {"authenticated_user_id": "u1", "confirmed": [{"name": "cancel_reservation", "arguments": cancel}]}
    assert codes(run(p, cancel, tool="cancel_reservation", session=confirmed)) == ("ownership",)
    # The documented load error is the compiler's own text.
    doc_error = re.findall(r"```text\n(.*?)\n```", text, re.S)[0]
    bad = example + '  - {id: cap-cancel, check: price_cap, kinds: [cancel_booking], params: {max: {USD: "1"}}}\n'
    with pytest.raises(PolicyError) as info:
        compile_policy(bad, "flights.yaml")
    assert [str(d) for d in info.value.diagnostics] == [doc_error]


CONSENT = policy("- {id: consent, check: consent}\n")
MUTATIONS: list[tuple[str, Any]] = [("user_id", "u2"), ("seats", 3), ("payment_id", "cc2"), ("total", "300.01"),
                                    ("flights", [{"flight_no": "F2", "price": "300.00"}]),
                                    ("flights", [{"flight_no": "F1", "price": "300.01"}])]


@settings(max_examples=60, deadline=None)
@given(conf=st.one_of(st.none(), st.integers(min_value=0, max_value=100).map(lambda n: str(Decimal(n).scaleb(-2)))),
       alts=st.lists(st.sampled_from(["F2", "F3", "F4"]), max_size=3), change=st.sampled_from(MUTATIONS))
def test_consent_binds_the_action_never_the_assessment(conf: str | None, alts: list[str], change: tuple[str, Any]) -> None:
    confirmed = {"authenticated_user_id": "u1", "confirmed": [{"name": "book", "arguments": ARGS}]}
    assert codes(run(CONSENT, session=confirmed, confidence=conf, alternatives=alts)) == ()
    field, value = change
    assert codes(run(CONSENT, session=confirmed, confidence=conf, alternatives=alts, **{field: value})) == ("consent",)


def test_a_rule_without_kinds_takes_the_kinds_its_params_fit() -> None:
    # Commerce rules written without `kinds` (as in policies/retail.yaml) next to a declared kind:
    # each judges the declared kind when it has the role and the params fit (the cap, the confidence
    # floor), and leaves it alone when its params are for the commerce catalog.
    text = (DOMAIN.replace("currency: USD\n", "currency: USD\nbuiltin_kinds: commerce\n", 1)
            .replace("request:\n  budget: optional money\n  quantity: optional int\n", "", 1)
            .replace("defaults: {", "defaults: {checkout: allow, ", 1))
    p = compile_policy(text + textwrap.indent(textwrap.dedent("""\
        - {id: platform-cap, check: price_cap, params: {max: {USD: "1000.00"}}}
        - {id: known-sku, check: item_exists}
        - {id: catalog-price, check: catalog_price}
        - {id: ambiguity, check: ambiguity, params: {min_confidence: 0.80, required_options: {coffee maker: [color]}}}
        - {id: unsure, check: ambiguity, params: {min_confidence: 0.80}}
        - {id: fares, check: item_exists, kinds: [book_flight], params: {collection: fares, key: flight_no}}
        """), "  "), "p.yaml")
    kinds = {r.id: set(r.kinds) for r in p.rules}
    assert {"checkout", "book_flight", "rebook", "transfer"} <= kinds["platform-cap"]
    assert "book_flight" not in kinds["known-sku"] | kinds["catalog-price"] | kinds["ambiguity"]
    assert "checkout" in kinds["known-sku"] and "checkout" in kinds["ambiguity"]
    assert "book_flight" in kinds["unsure"] and kinds["fares"] == {"book_flight"}
    confirmed = {"authenticated_user_id": "u1", "confirmed": [{"name": "book", "arguments": dict(ARGS, total="1000.01")}]}
    assert codes(run(p, session=confirmed, total="1000.01")) == ("price_cap",)
    # Named explicitly, a kind the params do not fit is an error, not left out.
    with pytest.raises(PolicyError, match="on a declared kind, give `collection`, `key`"):
        compile_policy(text + "  - {id: x, check: item_exists, kinds: [book_flight]}\n", "p.yaml")
    # And a rule that fits no kind at all says why.
    with pytest.raises(PolicyError, match="on a declared kind, give `collection`, `key`"):
        policy("- {id: x, check: item_exists}\n")


def test_ownership_params_are_checked_against_the_declared_facts() -> None:
    field = refused("- {id: own, check: ownership, kinds: [cancel_booking], params: {collection: reservations, field: owner}}\n")
    assert any("rules[0](own).params.field" in d and "`owner` is not a field of a facts.reservations record" in d
               for d in field), field
    coll = refused("- {id: own, check: ownership, kinds: [cancel_booking], params: {collection: bookings, field: user_id}}\n")
    assert any("rules[0](own).params.collection" in d and "`bookings` is not a declared facts collection" in d
               for d in coll), coll
    role = refused("- {id: own, check: ownership, kinds: [book_flight], params: {collection: reservations, field: user_id}}\n")
    assert any("`book_flight` declares no role `order`" in d for d in role), role
