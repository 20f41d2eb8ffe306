"""A domain txguard has never seen, declared in YAML alone: a flight-booking agent's kinds, facts
and request (tests/data/domains/flight.yaml) load, decide, bind consent and fail closed."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard, Outcome
from txguard.core.errors import PolicyError
from txguard.domain.digest import bound_fields, intent_digest
from txguard.integrations.guarded import render_confirmation
from txguard.policy.compile import compile_file, compile_policy

FLIGHT = Path(__file__).parent / "data" / "domains" / "flight.yaml"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
ARGS: dict[str, Any] = {
    "user_id": "u1", "passenger_ids": ["p1", "p2"],
    "flights": [{"flight_no": "HAT1", "date": "2026-05-10", "cabin": "economy", "price": 129.99}],
    "payment": [{"payment_id": "cc1", "amount": "129.99"}], "bags": 2, "insurance": False,
}
FACTS: dict[str, Any] = {
    "users": [{"user_id": "u1", "membership": "regular", "payment_methods": {}}],
    "reservations": {"R1": {"reservation_id": "R1", "user_id": "u1", "cabin": "economy",
                            "created_at": "2026-05-01T08:00:00+02:00", "flights": []}},
}
CANCEL = {"name": "cancel_reservation", "arguments": {"reservation_id": "R1", "reason": "other"}}


@pytest.fixture()
def guard() -> Guard:
    return Guard.from_file(FLIGHT, clock=lambda: NOW)


def book(args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "book_reservation", "arguments": json.dumps(args or ARGS)}


def confirmed(*proposals: dict[str, Any]) -> dict[str, Any]:
    return {"authenticated_user_id": "u1", "confirmed": [
        {"name": p["name"], "arguments": json.loads(p["arguments"]) if isinstance(p["arguments"], str) else p["arguments"]}
        for p in proposals]}


def test_the_policy_has_exactly_its_declared_kinds() -> None:
    policy = compile_file(FLIGHT)
    assert policy.domain.kinds == ["book_flight", "cancel_booking"]
    assert policy.domain.consequential == frozenset({"book_flight", "cancel_booking"})


def test_a_booking_needs_consent_and_the_screen_shows_every_bound_field(guard: Guard) -> None:
    d = guard.check(book(), session={"authenticated_user_id": "u1"}, facts=FACTS)
    assert d.outcome is Outcome.CLARIFY and d.codes == ("consent",)
    assert d.confirmation is not None
    summary = d.confirmation.summary
    assert summary["flights"] == [{"flight_no": "HAT1", "date": "2026-05-10", "cabin": "economy", "price": "129.99 USD"}]
    assert summary["bags"] == 2 and summary["insurance"] is False and "note" not in summary  # `note` is unbound
    screen = render_confirmation(d.confirmation)
    for text in ("flights: [(flight_no HAT1, date 2026-05-10, cabin economy, price 129.99 USD)]", "bags: 2",
                 "insurance: no", "passenger_ids: [p1, p2]", "payment: [(payment_id cc1, amount 129.99 USD)]"):
        assert text in screen


def test_the_confirmed_booking_is_allowed_and_any_change_is_not(guard: Guard) -> None:
    assert guard.check(book(), session=confirmed(book()), facts=FACTS).outcome is Outcome.ALLOW
    changes = [("flights", 0, "cabin", "business"), ("flights", 0, "date", "2026-05-11"), ("bags", 1),
               ("insurance", True), ("passenger_ids", ["p1", "p3"]), ("payment", 0, "payment_id", "cc2")]
    for *path, value in changes:
        args = copy.deepcopy(ARGS)
        cur: Any = args
        for step in path[:-1]:
            cur = cur[step]
        cur[path[-1]] = value
        d = guard.check(book(args), session=confirmed(book()), facts=FACTS)
        assert d.outcome is not Outcome.ALLOW, path


def test_unbound_fields_and_an_unordered_list_keep_the_consent(guard: Guard) -> None:
    noted = {**ARGS, "note": "window seat", "passenger_ids": ["p2", "p1"]}
    assert guard.check(book(noted), session=confirmed(book()), facts=FACTS).outcome is Outcome.ALLOW


def test_the_same_price_as_a_json_number_or_a_string_is_the_same_action(guard: Guard) -> None:
    policy = guard.policy
    a = policy.domain.models["book_flight"].model_validate(ARGS)
    b = policy.domain.models["book_flight"].model_validate(
        {**ARGS, "flights": [{**ARGS["flights"][0], "price": "129.9"}], "payment": [{"payment_id": "cc1", "amount": 129.90}]})
    c = policy.domain.models["book_flight"].model_validate(
        {**ARGS, "flights": [{**ARGS["flights"][0], "price": "129.90"}], "payment": [{"payment_id": "cc1", "amount": "129.9"}]})
    assert intent_digest(b) == intent_digest(c) != intent_digest(a)
    assert bound_fields(b)["flights"][0]["price"] == "129.90 USD"


def test_a_table_and_arithmetic_rule_fires(guard: Guard) -> None:
    many = {**ARGS, "bags": 3}
    d = guard.check(book(many), session=confirmed(book(many)), facts=FACTS)
    assert d.outcome is Outcome.CLARIFY and d.codes == ("bags_within_allowance",)
    gold = copy.deepcopy(FACTS)
    gold["users"][0]["membership"] = "gold"
    assert guard.check(book(many), session=confirmed(book(many)), facts=gold).outcome is Outcome.ALLOW


def test_dates_compare_as_instants_across_offsets(guard: Guard) -> None:
    assert guard.check(CANCEL, session=confirmed(CANCEL), facts=FACTS).outcome is Outcome.ALLOW
    old = copy.deepcopy(FACTS)
    old["reservations"]["R1"]["created_at"] = "2026-04-30T13:59:00+02:00"  # 11:59Z: more than 24 hours ago
    d = guard.check(CANCEL, session=confirmed(CANCEL), facts=old)
    assert d.outcome is Outcome.ESCALATE and d.codes == ("cancel_within_24h",)


@pytest.mark.parametrize("value", ["2026-05-01", "2026-05-01T08:00:00", 1746086400, None])
def test_an_ill_typed_or_missing_fact_is_a_missing_fact(guard: Guard, value: Any) -> None:
    bad = copy.deepcopy(FACTS)
    bad["reservations"]["R1"]["created_at"] = value
    d = guard.check(CANCEL, session=confirmed(CANCEL), facts=bad)
    assert d.outcome is Outcome.ESCALATE and d.codes == ("missing_fact",)


def test_a_key_two_records_claim_finds_nothing(guard: Guard) -> None:
    twice = copy.deepcopy(FACTS)
    twice["users"].append({"user_id": "u1", "membership": "gold", "payment_methods": {}})
    d = guard.check(book({**ARGS, "bags": 3}), session=confirmed(book({**ARGS, "bags": 3})), facts=twice)
    assert d.outcome is Outcome.ESCALATE and "missing_fact" in d.codes
    filed_wrong = copy.deepcopy(FACTS)
    filed_wrong["reservations"]["R1"]["reservation_id"] = "R2"
    d = guard.check(CANCEL, session=confirmed(CANCEL), facts=filed_wrong)
    assert d.outcome is Outcome.ESCALATE and d.codes == ("missing_fact",)


def test_the_declared_request_is_validated(guard: Guard) -> None:
    d = guard.check(book(), session=confirmed(book()), facts=FACTS, request={"reason": "whim"})
    assert d.outcome is Outcome.ESCALATE and d.codes == ("malformed_context",)
    d = guard.check(book(), session=confirmed(book()), facts=FACTS, request={"budget": "10"})
    assert d.outcome is Outcome.ESCALATE and d.codes == ("malformed_context",)  # not a field of this request
    ok = guard.check(book(), session=confirmed(book()), facts=FACTS, request={"reason": "other"})
    assert ok.outcome is Outcome.ALLOW


@pytest.mark.parametrize("args, why", [
    ({**ARGS, "flights": [{**ARGS["flights"][0], "price": 129.999}]}, "more decimals than USD allows"),
    ({**ARGS, "bags": 21}, "bags"),
    ({**ARGS, "bags": True}, "bags"),
    ({**ARGS, "flights": [{**ARGS["flights"][0], "cabin": "first"}]}, "cabin"),
    ({**ARGS, "passenger_ids": []}, "passenger_ids"),
    ({**ARGS, "extra": 1}, "extra"),
    ({k: v for k, v in ARGS.items() if k != "insurance"}, "insurance"),
])
def test_ill_typed_arguments_are_malformed(guard: Guard, args: dict[str, Any], why: str) -> None:
    d = guard.check(book(args), session=confirmed(book(args)), facts=FACTS)
    assert d.outcome is Outcome.ESCALATE and d.codes == ("malformed",)
    assert why in d.reasons[0].message


def test_an_intent_of_another_policys_model_is_refused(guard: Guard) -> None:
    other = compile_policy(FLIGHT.read_text().replace("id: flights", "id: other").replace("bags: {int: {min: 0, max: 20}}",
                                                                                         "bags: {int: {min: 0, max: 99}}"),
                           str(FLIGHT))
    intent = other.domain.models["book_flight"].model_validate({**ARGS, "bags": 50})
    d = guard.decide(guard.case(intent, session=confirmed(book()), facts=FACTS))
    assert d.outcome is Outcome.ESCALATE and d.codes == ("malformed",)


def test_undeclared_facts_can_be_refused() -> None:
    text = FLIGHT.read_text().replace("facts:\n", "undeclared_facts: error\nfacts:\n", 1)
    g = Guard(compile_policy(text, str(FLIGHT)), clock=lambda: NOW)
    d = g.check(CANCEL, session=confirmed(CANCEL), facts={**FACTS, "loyalty": {}})
    assert d.outcome is Outcome.ESCALATE and d.codes == ("malformed_context",)
    assert g.check(CANCEL, session=confirmed(CANCEL), facts=FACTS).outcome is Outcome.ALLOW


@pytest.mark.parametrize("change, want", [
    (("price: money}", "price: monie}"), "`monie` is not a type"),
    (("bags: {int: {min: 0, max: 20}}", "bags: {int: {min: 5, max: 2}}"), "`min` (5) is above `max` (2)"),
    (("unbound: [note]", "unbound: [notes]"), "`notes` is not a field of intent `book_flight`"),
    (("path: intent.bags, gt:", "path: intent.bag, gt:"), "`bag` is not a field of book_flight"),
    (("created_at', lt: {sub", "cabin', lt: {sub"), "compares a string with a datetime"),
    (("kinds: [book_flight]\n    when: {path: intent.bags", "kinds: [book_plane]\n    when: {path: intent.bags"),
     "`book_plane` is not an intent kind of this policy"),
    (("book_reservation: {intent: book_flight}", "book_reservation: {intent: book_plane}"),
     "`book_plane` is not an intent kind of this policy"),
])
def test_declaration_and_path_errors_are_located(change: tuple[str, str], want: str) -> None:
    text = FLIGHT.read_text()
    assert change[0] in text
    with pytest.raises(PolicyError) as info:
        compile_policy(text.replace(change[0], change[1]), "flight.yaml")
    messages = [str(d) for d in info.value.diagnostics]
    assert all(m.startswith("flight.yaml:") and m.split(":")[1].isdigit() for m in messages)
    assert any(want in m for m in messages), messages


def test_an_imported_domain_is_located_in_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("apiVersion: txguard/v1\ndomain: d\nintents:\n  pay:\n    fields: {amount: monie}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: txguard/v1\nid: p\nversion: 1\nimports: [d.yaml]\n")
    with pytest.raises(PolicyError) as info:
        compile_file(tmp_path / "p.yaml")
    assert any(str(d).startswith(f"{tmp_path / 'd.yaml'}:5:22: txg-type: intents.pay.fields.amount: `monie`")
               for d in info.value.diagnostics), [str(d) for d in info.value.diagnostics]
    (tmp_path / "d.yaml").write_text("apiVersion: txguard/v1\ndomain: d\nintents:\n  pay:\n    fields: {amount: money}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: txguard/v1\nid: p\nversion: 1\nimports: [d.yaml]\n"
                                     "intents:\n  pay:\n    fields: {amount: money}\n")
    with pytest.raises(PolicyError, match="`intents.pay` of `d.yaml` is already declared by this policy"):
        compile_file(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("apiVersion: txguard/v1\nid: p\nversion: 1\nimports: [../x.yaml]\n")
    with pytest.raises(PolicyError, match="is outside"):
        compile_file(tmp_path / "p.yaml")


def test_a_declared_kind_with_no_default_and_no_rule_escalates(tmp_path: Path) -> None:
    text = ("apiVersion: txguard/v1\nid: p\nversion: 1\nintents:\n  pay:\n    fields: {amount: money}\n"
            "tools:\n  pay: {intent: pay}\n")
    g = Guard(compile_policy(text, "p.yaml"))
    d = g.check({"name": "pay", "arguments": {"amount": "5"}})
    assert d.outcome is Outcome.ESCALATE and d.codes == ("default_outcome",)


DEFAULTS = """apiVersion: txguard/v1
id: p
version: 1
intents:
  pay:
    fields: {amount: money, user: id}
facts:
  users: {key: id, record: {id: id, limit: optional money}}
defaults: {pay: allow}
tools:
  pay: {intent: pay}
rules:
  - id: over-limit
    when: {path: 'facts.users[intent.user].limit', default: "100", lt: {path: intent.amount}}
"""


@pytest.mark.parametrize("users, amount, want", [
    ({"u": {"id": "u"}}, "50", ()),                          # the field is absent: its default, 100
    ({"u": {"id": "u"}}, "150", ("over_limit",)),
    ({"u": {"id": "u", "limit": 10}}, "50", ("over_limit",)),  # present: its own value
    ({}, "50", ("missing_fact",)),                           # the record itself is missing: no default
    ({"u": {"id": "u", "limit": "ten"}}, "50", ("missing_fact",)),  # ill-typed: a hole, not absent
])
def test_a_rule_default_stands_for_an_absent_field_of_a_present_record(users: dict[str, Any], amount: str,
                                                                       want: tuple[str, ...]) -> None:
    g = Guard(compile_policy(DEFAULTS, "p.yaml"))
    assert g.check({"name": "pay", "arguments": {"amount": amount, "user": "u"}}, facts={"users": users}).codes == want


def test_a_default_is_type_checked_against_its_path() -> None:
    with pytest.raises(PolicyError, match=r"p.yaml:14:61: txg-type: rules\[0\]\(over-limit\).when.default: `lots` is not an amount"):
        compile_policy(DEFAULTS.replace('default: "100"', 'default: "lots"'), "p.yaml")


def test_an_enum_literal_the_enum_never_takes_is_a_load_error() -> None:
    text = FLIGHT.read_text().replace("kinds: [book_flight]\n    when: {path: intent.bags",
                                      "kinds: [book_flight]\n    when: {path: 'intent.flights[0].cabin', eq: first}\n"
                                      "    description: x\n  - id: y\n    kinds: [book_flight]\n    when: {path: intent.bags")
    with pytest.raises(PolicyError, match="`first` is not a value of the left side's enum"):
        compile_policy(text, "flight.yaml")


def test_a_string_predicate_on_an_absent_optional_field_follows_on_missing() -> None:
    text = FLIGHT.read_text().replace("outcome: escalate\n", "outcome: escalate\n  - id: noted\n    kinds: [book_flight]\n"
                                      "    when: {path: intent.note, ieq: urgent, on_missing: false}\n", 1)
    g = Guard(compile_policy(text, str(FLIGHT)), clock=lambda: NOW)
    assert g.check(book(), session=confirmed(book()), facts=FACTS).outcome is Outcome.ALLOW


def test_an_amount_whose_optional_currency_is_absent_is_malformed() -> None:
    text = ("apiVersion: txguard/v1\nid: p\nversion: 1\nintents:\n  pay:\n    fields: {amount: money, currency: optional currency}\n"
            "defaults: {pay: allow}\ntools:\n  pay: {intent: pay}\n")
    g = Guard(compile_policy(text, "p.yaml"))
    d = g.check({"name": "pay", "arguments": {"amount": "1.234"}})
    assert d.codes == ("malformed",) and "gives no currency" in d.reasons[0].message
    assert g.check({"name": "pay", "arguments": {"amount": "1.23", "currency": "USD"}}).outcome is Outcome.ALLOW


def test_a_policy_with_the_commerce_kinds_keeps_the_commerce_request() -> None:
    text = ("apiVersion: txguard/v1\nid: p\nversion: 1\nimports: [txguard:commerce]\n"
            "request:\n  reason: optional string\n")
    with pytest.raises(PolicyError, match="declares every field of the shipped request"):
        compile_policy(text, "p.yaml")


PRORATED = """apiVersion: txguard/v1
id: p
version: 1
intents:
  refund:                      # a shipped kind's name is free in a policy without the shipped kinds
    fields: {account: id, amount: money}
facts:
  accounts: {key: id, record: {id: id, price: money, start: datetime, end: datetime}}
defaults: {refund: allow}
tools:
  refund: {intent: refund}
rules:
  - id: over-prorated
    when:
      path: intent.amount
      gt:
        round:
          div:
            - mul: ['facts.accounts[intent.account].price', {div: [{sub: ['facts.accounts[intent.account].end', now]}, {seconds: 1}]}]
            - div: [{sub: ['facts.accounts[intent.account].end', 'facts.accounts[intent.account].start']}, {seconds: 1}]
        places: 2
"""


@pytest.mark.parametrize("amount, want", [("20.00", ()), ("20.01", ("over_prorated",)), ("19.99", ())])
def test_a_prorated_refund_is_computed_exactly_from_dates(amount: str, want: tuple[str, ...]) -> None:
    # 30.00 for 30 days, 20 days left: 20.00 exactly; a duration divided by a duration is a number.
    g = Guard(compile_policy(PRORATED, "p.yaml"), clock=lambda: datetime(2026, 1, 11, tzinfo=timezone.utc))
    facts = {"accounts": {"a": {"id": "a", "price": "30.00", "start": "2026-01-01T00:00:00Z",
                                "end": "2026-01-31T01:00:00+01:00"}}}
    assert g.check({"name": "refund", "arguments": {"account": "a", "amount": amount}}, facts=facts).codes == want


def test_a_duration_ratio_that_does_not_terminate_asks_for_round() -> None:
    text = PRORATED.replace("""        round:
          div:
            - mul: ['facts.accounts[intent.account].price', {div: [{sub: ['facts.accounts[intent.account].end', now]}, {seconds: 1}]}]
            - div: [{sub: ['facts.accounts[intent.account].end', 'facts.accounts[intent.account].start']}, {seconds: 1}]
        places: 2""", """        mul: ['facts.accounts[intent.account].price', {div: [{sub: ['facts.accounts[intent.account].end', now]}, {days: 3}]}]""")
    g = Guard(compile_policy(text, "p.yaml"), clock=lambda: datetime(2026, 1, 11, tzinfo=timezone.utc))
    facts = {"accounts": {"a": {"id": "a", "price": "30.00", "start": "2026-01-01T00:00:00Z", "end": "2026-01-31T00:00:00Z"}}}
    d = g.check({"name": "refund", "arguments": {"account": "a", "amount": "1"}}, facts=facts)
    assert d.codes == ("check_error",) and "round" in d.reasons[0].message


def test_a_yaml_boolean_field_name_and_an_instant_outside_utc_are_refused() -> None:
    text = ("apiVersion: txguard/v1\nid: p\nversion: 1\nintents:\n  k:\n    fields: {at: datetime}\n"
            "defaults: {k: allow}\ntools:\n  k: {intent: k}\nrules: [{id: c, check: consent}]\n")
    with pytest.raises(PolicyError, match="YAML reads `on`"):
        compile_policy(text.replace("{at: datetime}", "{on: bool}"), "p.yaml")
    g = Guard(compile_policy(text, "p.yaml"))
    d = g.check({"name": "k", "arguments": {"at": "0001-01-01T00:30:00+01:00"}})
    assert d.codes == ("malformed",) and "outside the range" in d.reasons[0].message
