"""Adversarial review of declared domains (issue 11, ``txguard/domain``): inputs a hostile policy
author or agent could send to a declared-domain policy. Each must fail closed (a located load error,
or a refusing decision), never crash, hang or allow by error."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from txguard import Guard, PolicyError
from txguard.core.jsonio import read_json

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
USER = "u1"


def policy(fields: dict[str, Any], *, rules: str = "", kind_extra: str = "", top: str = "") -> str:
    return f"""apiVersion: txguard/v1
id: adv
version: 1
currency: USD
intents:
  k:
    fields: {json.dumps(fields)}
{kind_extra}
{top}
defaults: {{k: allow}}
tools:
  t: {{intent: k}}
rules:
  - id: consent
    check: consent
  - id: auth
    check: authentication
{rules}"""


def guard(fields: dict[str, Any], **kw: Any) -> Guard:
    return Guard.from_text(policy(fields, **kw), file="adv.yaml", clock=lambda: NOW)


def decide(g: Guard, args: Any, confirmed: Any = None, **kw: Any) -> tuple[str, tuple[str, ...], str]:
    conf = args if confirmed is None else confirmed
    session = {"authenticated_user_id": USER, "confirmed": [{"name": "t", "arguments": conf}]}
    d = g.check({"name": "t", "arguments": args}, session=session, **kw)
    return d.outcome.value, d.codes, " ".join(r.message for r in d.reasons)


def load_error(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        Guard.from_text(text, file="adv.yaml")
    return str(info.value)


# -- field names pydantic reserves -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["model_extra", "model_fields_set"])
def test_a_field_named_like_a_model_property_is_refused_not_left_unbound(name: str) -> None:
    # before: the field loaded, but consent bound the BaseModel property (None / the set of names):
    # a confirmed `model_extra: 1` allowed `model_extra: 2`
    message = load_error(policy({name: "int", "x": "int"}))
    assert "adv.yaml:7:" in message and f"`{name}`" in message and "reserved" in message


@pytest.mark.parametrize("name", ["model_config", "model_dump", "schema", "copy", "json", "dict", "validate",
                                  "construct", "Config", "_x", "__init__", "__slots__", "__doc__",
                                  "__annotations__", "__pydantic_core_schema__"])
def test_pydantic_internal_names_are_located_load_errors(name: str) -> None:
    # before: crashes (ValueError, TypeError, PydanticUserError, SchemaError), UserWarnings, or a
    # field silently dropped from the model
    message = load_error(policy({name: "int"}))
    assert "adv.yaml:7:" in message and "reserved" in message


def test_a_nested_record_field_with_a_reserved_name_is_refused() -> None:
    assert "reserved" in load_error(policy({"r": {"record": {"model_extra": "int"}}}))


def test_an_ordinary_field_named_fields_still_works() -> None:
    g = guard({"fields": "int"})
    assert decide(g, {"fields": 1})[0] == "allow"
    assert decide(g, {"fields": 2}, confirmed={"fields": 1})[0] == "clarify"


# -- patterns the validator's regex engine does not take ---------------------------------------------

@pytest.mark.parametrize("pattern", ["^(?!x).*$", "^(a)\\1$", "(?<=a)b"])
def test_a_pattern_the_validator_cannot_run_is_a_located_error(pattern: str) -> None:
    # before: pydantic's SchemaError escaped compile (Python's `re` accepts look-around, the
    # validator's engine does not)
    message = load_error(policy({"s": {"string": {"pattern": pattern}}}))
    assert "adv.yaml:7:" in message and "pattern" in message


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    g = guard({"s": {"string": {"pattern": "^(a+)+$"}}})
    assert decide(g, {"s": "a" * 5000 + "!"})[:2] == ("escalate", ("malformed",))


# -- decimals: exact binding, bounded values ----------------------------------------------------------

def test_consent_binds_a_decimal_beyond_28_digits() -> None:
    # the bound form is exact, whatever the context (decisions run in a 60-digit one)
    g = guard({"d": "decimal"})
    changed = read_json('{"d": 1.00000000000000000000000000000001}')
    assert decide(g, changed, confirmed={"d": 1})[0] != "allow"


def test_consent_binds_a_tiny_decimal() -> None:
    # before: 1e-999999999 normalised to 0 (underflow) and was allowed on a confirmed 0
    g = guard({"d": "decimal"})
    assert decide(g, read_json('{"d": 1e-999999999}'), confirmed={"d": 0})[0] != "allow"


@pytest.mark.parametrize("text", ['{"d": 1e999999999}', '{"d": 1e-999999999}', '{"d": -1e400}',
                                  '{"d": 1' + "0" * 70 + '}'])
def test_a_decimal_of_unbounded_size_is_malformed(text: str) -> None:
    # before: accepted, then the digest overflowed (`session_store_error`) or bound as 0
    assert decide(guard({"d": "decimal"}), read_json(text))[:2] == ("escalate", ("malformed",))


def test_equal_decimals_written_differently_bind_the_same() -> None:
    g = guard({"d": "decimal"})
    assert decide(g, read_json('{"d": 1.50}'), confirmed={"d": "1.5"})[0] == "allow"
    assert decide(g, read_json('{"d": 100}'), confirmed=read_json('{"d": 1E2}'))[0] == "allow"


# -- durations and datetimes at the edges --------------------------------------------------------------

@pytest.mark.parametrize("value", ["P99999999999D", "PT" + "9" * 30 + "S", "P9999999999W"])
def test_a_duration_too_long_is_malformed_not_an_internal_error(value: str) -> None:
    assert decide(guard({"d": "duration"}), {"d": value})[:2] == ("escalate", ("malformed",))


@pytest.mark.parametrize("value", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
def test_a_datetime_outside_the_utc_range_is_malformed(value: str) -> None:
    # before: valid for the model, then binding it to UTC overflowed (`session_store_error`)
    assert decide(guard({"at": "datetime"}), {"at": value})[:2] == ("escalate", ("malformed",))


# -- same_length groups -------------------------------------------------------------------------------

def test_a_same_length_group_mixing_ordered_and_unordered_lists_is_refused() -> None:
    # before: passengers unordered, seats ordered: confirmed B->1, A->2 allowed A->1, B->2
    text = policy({"p": {"list": "id", "unordered": True}, "s": {"list": "id"}},
                  kind_extra="    same_length: [[p, s]]")
    message = load_error(text)
    assert "same_length" in message and "unordered" in message


def test_an_unordered_same_length_group_keeps_its_pairs() -> None:
    g = guard({"p": {"list": "id", "unordered": True}, "s": {"list": "id", "unordered": True}},
              kind_extra="    same_length: [[p, s]]")
    assert decide(g, {"p": ["A", "B"], "s": ["1", "2"]}, confirmed={"p": ["B", "A"], "s": ["2", "1"]})[0] == "allow"
    assert decide(g, {"p": ["A", "B"], "s": ["1", "2"]}, confirmed={"p": ["B", "A"], "s": ["1", "2"]})[0] == "clarify"


# -- currencies of declared amounts --------------------------------------------------------------------

MONEY = {"eur": {"money": {"currency": "EUR"}}, "usd": "money", "jpy": {"money": {"currency": "JPY"}},
         "other": {"money": {"currency": "cur"}}, "cur": "currency"}


def rule(when: str) -> str:
    return f"  - {{id: r, kinds: [k], when: {when}, outcome: escalate}}\n"


@pytest.mark.parametrize("when", [
    "{path: intent.eur, gt: {path: intent.usd}}",
    "{path: intent.eur, gt: {path: intent.jpy}}",
    "{value: {add: [intent.eur, intent.jpy]}, gt: 1}",
    "{path: intent.eur, lt: {money: '100', currency: USD}}",
    "{path: intent.usd, lt: {money: '100', currency: EUR}}",
])
def test_amounts_in_different_declared_currencies_never_compare(when: str) -> None:
    # before: every declared amount was typed `money (intent.currency)`: EUR compared with USD
    message = load_error(policy(MONEY, rules=rule(when)))
    assert "adv.yaml:" in message and "currenc" in message


def test_an_amount_compares_with_a_literal_in_its_own_currency() -> None:
    # before: `check_error` on every decision (the EUR field was read as in `intent.currency`)
    g = guard(MONEY, rules=rule("{path: intent.eur, gt: {money: '100', currency: EUR}}"))
    args = {"eur": "150", "usd": "1", "jpy": "1", "other": "1", "cur": "GBP"}
    assert decide(g, args)[:2] == ("escalate", ("r",))
    assert decide(g, dict(args, eur="50"))[0] == "allow"


def test_an_amount_in_a_currency_field_is_checked_at_run_time() -> None:
    g = guard(MONEY, rules=rule("{path: intent.other, gt: {money: '100', currency: GBP}}"))
    args = {"eur": "1", "usd": "1", "jpy": "1", "other": "150", "cur": "GBP"}
    assert decide(g, args)[:2] == ("escalate", ("r",))
    outcome, codes, message = decide(g, dict(args, cur="EUR"))
    assert (outcome, codes) == ("escalate", ("check_error",)) and "currenc" in message


FACTS = """facts:
  acc:
    key: id
    record: {id: id, bal: {money: {currency: JPY}}, plain: money}
request:
  budget: {money: {currency: EUR}}
"""


@pytest.mark.parametrize("when", [
    "{path: 'facts.acc[intent.x].bal', lt: {money: '100', currency: USD}}",
    "{path: 'facts.acc[intent.x].plain', lt: {money: '100', currency: EUR}}",
    "{path: request.budget, lt: {money: '100', currency: USD}}",
])
def test_declared_fact_and_request_amounts_carry_their_currency(when: str) -> None:
    # before: a JPY balance compared with a USD literal as if the same currency
    message = load_error(policy({"x": "id"}, top=FACTS, rules=rule(when)))
    assert "currenc" in message


def test_declared_fact_amounts_compare_in_their_currency() -> None:
    g = guard({"x": "id"}, top=FACTS, rules=rule("{path: 'facts.acc[intent.x].bal', lt: {money: '100', currency: JPY}}"))
    facts = {"acc": [{"id": "A", "bal": "50", "plain": "1"}]}
    assert decide(g, {"x": "A"}, facts=facts, request={"budget": "1"})[:2] == ("escalate", ("r",))


def test_a_fact_amount_whose_currency_is_a_path_is_refused() -> None:
    top = "facts:\n  acc: {key: id, record: {id: id, cur: currency, bal: {money: {currency: cur}}}}\n"
    assert "currency" in load_error(policy({"x": "id"}, top=top))


# -- literals checked against enums and temporal types ---------------------------------------------

ENUMS = {"cabin": {"enum": ["economy", "business"]}, "cabins": {"list": {"enum": ["economy", "business"]}},
         "d": "date", "t": "datetime", "u": "duration"}


@pytest.mark.parametrize("when", [
    "{path: intent.cabin, eq: buisness}",
    "{path: intent.cabin, ne: first}",
    "{path: intent.cabin, in: [economy, first]}",
    "{path: intent.cabin, not_in: [first]}",
    "{path: intent.cabin, eq: 5}",
    "{path: 'intent.cabins[0]', eq: first}",
    "{for_each: intent.cabins, as: c, any: {path: c, eq: first}}",
])
def test_an_enum_literal_outside_the_enum_is_a_located_error(when: str) -> None:
    # before: loaded, and the rule silently never (or always) fired: a typo'd blocker allowed
    message = load_error(policy(ENUMS, rules=rule(when)))
    assert "adv.yaml:" in message and "not a value of" in message


@pytest.mark.parametrize("when", [
    "{path: intent.d, in: ['2026-01-01', '2026-13-01']}",
    "{path: intent.t, not_in: ['2026-01-01']}",
    "{path: intent.u, in: [soon]}",
])
def test_an_in_list_of_unreadable_temporal_literals_is_a_located_error(when: str) -> None:
    assert "adv.yaml:" in load_error(policy(ENUMS, rules=rule(when)))


ARGS = {"cabin": "economy", "cabins": ["business"], "d": "2026-01-01", "t": "2026-01-01T10:00:00+02:00", "u": "PT1H"}


@pytest.mark.parametrize("when", [
    "{path: intent.d, in: ['2026-01-01', '2026-12-24']}",
    "{path: intent.t, in: ['2026-01-01T08:00:00Z']}",
    "{path: intent.u, in: [PT60M]}",
    "{path: intent.cabin, in: [economy]}",
])
def test_in_compares_temporal_values_as_values(when: str) -> None:
    # before: a date never equalled its text in a list: `in` never fired, `not_in` always did
    g = guard(ENUMS, rules=rule(when))
    assert decide(g, ARGS)[:2] == ("escalate", ("r",))
    g = guard(ENUMS, rules=rule(when.replace(" in:", " not_in:")))
    assert decide(g, ARGS)[0] == "allow"


# -- an amount's currency ------------------------------------------------------------------------------

OPTIONAL_CURRENCY = {"cur": "currency?", "amt": {"money": {"currency": "cur"}}}


@pytest.mark.parametrize("args", [{"amt": "50"}, {"amt": "5.123456"}, {"amt": "50", "cur": None}])
def test_an_amount_whose_currency_field_is_absent_is_malformed(args: dict[str, Any]) -> None:
    # before: allowed, its exponent unchecked, and compared with USD literals as if it were USD
    g = guard(OPTIONAL_CURRENCY, rules=rule("{path: intent.amt, lt: {money: '100', currency: USD}}"))
    outcome, codes, message = decide(g, args)
    assert (outcome, codes) == ("escalate", ("malformed",)) and "currency" in message


def test_an_absent_amount_needs_no_currency() -> None:
    g = guard({"cur": "currency?", "amt": {"money": {"currency": "cur"}, "optional": True}})
    assert decide(g, {})[0] == "allow"


def test_the_consent_digest_binds_an_amounts_currency() -> None:
    # before: amounts were bound without their code: an unbound currency field (or another policy
    # currency after a reload) turned a confirmed 100.00 USD into 100.00 EUR without a new confirmation
    g = guard({"currency": "currency", "amt": "money"}, kind_extra="    unbound: [currency]")
    assert decide(g, {"currency": "EUR", "amt": "100.00"}, confirmed={"currency": "USD", "amt": "100.00"})[0] == "clarify"
    usd = Guard.from_text(policy({"amt": "money"}), clock=lambda: NOW)
    eur = Guard.from_text(policy({"amt": "money"}).replace("currency: USD", "currency: EUR"), clock=lambda: NOW)
    first = usd.check({"name": "t", "arguments": {"amt": "100.00"}}, session={"authenticated_user_id": USER})
    assert first.confirmation is not None and first.confirmation.summary["amt"] == "100.00 USD"
    session = {"authenticated_user_id": USER, "confirmed": [{"digest": first.confirmation.digest}]}
    assert eur.check({"name": "t", "arguments": {"amt": "100.00"}}, session=session).outcome.value == "clarify"


# -- declared facts read whole --------------------------------------------------------------------------

ACC = "facts:\n  acc: {key: id, record: {id: id, allowed: {list: id}, limits: {map: money}}}\n"


@pytest.mark.parametrize(("when", "record"), [
    ("{path: intent.s, not_in: {path: 'facts.acc[intent.s].allowed'}}", {"allowed": [123]}),
    ("{value: {count: 'facts.acc[intent.s].allowed'}, gt: 1}", {"allowed": ["1", None, True]}),
    ("{value: {distinct: 'facts.acc[intent.s].allowed'}, gt: 1}", {"allowed": ["1", 1]}),
    ("{value: {sum: 'facts.acc[intent.s].limits'}, gt: 100}", {"limits": {"a": "50", "b": True}}),
])
def test_a_declared_fact_list_or_map_with_an_ill_typed_element_is_a_missing_fact(when: str, record: dict[str, Any]) -> None:
    # before: the list was checked to be a list, its elements not: an id written as the number 123
    # matched (or not) by loose equality, a `true` counted
    g = guard({"s": "id"}, top=ACC, rules=rule(when))
    facts = {"acc": [{"id": "123", "allowed": [], "limits": {}, **record}]}
    outcome, codes, _ = decide(g, {"s": "123"}, facts=facts)
    assert (outcome, codes) == ("escalate", ("missing_fact",))


# -- sizes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [{"n": 2**53}, {"n": -(2**53)}, {"n": 10**5000}, read_json('{"n": ' + "9" * 4000 + "}")])
def test_an_int_beyond_what_json_writes_exactly_is_malformed(args: dict[str, Any]) -> None:
    # before: valid for the model, then the digest could not be written (`session_store_error`)
    outcome, codes, _ = decide(guard({"n": "int"}), args)
    assert (outcome, codes) == ("escalate", ("malformed",))


def test_the_largest_exact_int_is_taken() -> None:
    assert decide(guard({"n": "int"}), {"n": 2**53 - 1})[0] == "allow"


def test_a_map_takes_at_most_1000_entries() -> None:
    # before: no bound: an agent's map of 200000 entries cost a second per decision
    g = guard({"m": {"map": "int"}})
    assert decide(g, {"m": {str(i): i for i in range(1000)}})[0] == "allow"
    assert decide(g, {"m": {str(i): i for i in range(1001)}})[:2] == ("escalate", ("malformed",))


def test_a_budget_in_a_policy_without_checkouts_is_a_located_error() -> None:
    # before: loaded, and never charged: budgets count checkouts, a declared kind's amounts are not
    text = policy({"amount": "money"}, top="session:\n  budgets:\n    - {id: b, amount: '100.00', currency: USD, scope: session}\n")
    message = load_error(text)
    assert "adv.yaml:" in message and "checkout" in message


def test_a_map_key_that_is_not_unicode_text_is_malformed() -> None:
    # before: a lone surrogate passed as a map key, then the digest could not be encoded (`session_store_error`)
    outcome, codes, _ = decide(guard({"m": {"map": "int"}}), read_json('{"m": {"\\ud800": 1}}'))
    assert (outcome, codes) == ("escalate", ("malformed",))
