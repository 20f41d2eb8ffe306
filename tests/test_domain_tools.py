"""The tools of txguard on a declared domain (a policy with `intents:`): tool definitions and kind
schemas, and the differential properties that tie them to the guard's generated models.

- what the emitted schema admits, the guard accepts (but for the cross-field rules JSON Schema
  cannot say, each named);
- what the schema refuses, the guard refuses, for every type's boundary values;
- the exact date, datetime and duration patterns agree with the guard's strict readers.

The other tools (lint, docs, fmt, test, explain, validate, audit replay, session rules) are in
tests/test_domain_tools_cli.py.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import CompiledPolicy, compile_file, compile_policy
from txguard.policy.kindschema import (DATE_PATTERN, DATETIME_PATTERN, DURATION_PATTERN, intent_argument_schema,
                                       kind_schemas)
from txguard.policy.tooldefs import argument_schemas, strict_compatible, tool_definitions
from txguard.policy.tools import ProposalError
from txguard.policy.types import read_date, read_datetime, read_duration

from .helpers import ROOT
from .json_schema_strategy import from_schema

DATA = ROOT / "tests" / "data"
RICH, FLIGHTS = DATA / "domain-rich.yaml", DATA / "flights.yaml"


@lru_cache(maxsize=None)
def _policy(path: str) -> CompiledPolicy:
    return compile_file(path)


@lru_cache(maxsize=None)
def _schemas(path: str) -> dict[str, dict[str, Any]]:
    schemas = argument_schemas(_policy(path))
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    return schemas


TOOLS = [(str(p), t) for p in (RICH, FLIGHTS) for t in _policy(str(p)).tools]

# What JSON Schema cannot say of a declared kind (see txguard/policy/tooldefs.py), by tool: an amount
# outside its declared bounds, an amount finer than a currency sent in the same call, lists of a
# `same_length` group of different lengths, a decimal of more than 60 digits or places (a JSON
# number such as 2.2e-311: the schema bounds a number's value, not its precision).
BOUND = re.compile(r"^amount: Input should be (less|greater) than or equal to")
EXPONENT = re.compile(r"has more decimals than [A-Z]{3} allows")
PAIRS = re.compile(r"legs has \d+ entries but owners has \d+")
DIGITS = re.compile(r"is out of range \(a decimal has at most 60 digits")
ALLOWED = {"send": [BOUND, EXPONENT, PAIRS, DIGITS], "send_usd": [BOUND, PAIRS, DIGITS], "jot": [EXPONENT, DIGITS]}


# -- what the schema admits, the guard accepts -----------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.sampled_from(TOOLS).flatmap(lambda pt: st.tuples(st.just(pt), from_schema(_schemas(pt[0])[pt[1]]))))
def test_arguments_valid_against_a_declared_kind_tool_schema_are_accepted(drawn: tuple[tuple[str, str], Any]) -> None:
    (path, tool), arguments = drawn
    assert jsonschema.Draft202012Validator(_schemas(path)[tool]).is_valid(arguments)  # the generator keeps to it
    try:
        _policy(path).tools[tool].build(json.loads(json.dumps(arguments)))
    except ProposalError as exc:
        assert exc.code == "malformed"
        assert any(p.search(exc.message) for p in ALLOWED.get(tool, [])), (tool, arguments, exc.message)


# -- what the schema refuses, the guard refuses ----------------------------------------------------

VALID = {"currency": "USD", "amount": "12.50", "fee": "300", "tip": None, "rate": "0.5", "at": "2026-01-31T09:30:00+01:00",
         "day": "2024-02-29", "hold": "P1W2DT3H4M5S", "tags": {"a": "b"}, "ref": "AB12", "mode": "instant",
         "legs": [{"to": "acct-1", "share": 100}], "owners": ["o1"], "memo": "hi", "address": {"city": "Lyon"}}
VALID["rate"] = 0.5

REFUSED: list[tuple[str, Any]] = [
    ("day", "2023-02-29"), ("day", "2100-02-29"), ("day", "2024-13-01"), ("day", "2024-1-01"), ("day", "0000-01-01"),
    ("day", "2024-04-31"), ("day", "2024-02-29T00:00:00Z"),
    ("at", "2026-01-31T09:30:00"), ("at", "2026-01-31T24:00:00Z"), ("at", "2026-01-31T09:60:00Z"),
    ("at", "2026-01-31T09:30:60Z"), ("at", "2026-01-31 09:30:00Z"), ("at", "2026-01-31T09:30:00+24:00"),
    ("at", "2026-01-31T09:30Z"), ("at", "2026-01-31T09:30:00.1234567Z"), ("at", "2026-02-30T09:30:00Z"),
    ("hold", "P1Y"), ("hold", "P1M"), ("hold", "P"), ("hold", "PT"), ("hold", "P1DT"), ("hold", "PT1.5S"),
    ("hold", "1D"), ("hold", "-P1D"),
    ("rate", 1.6), ("rate", -0.1), ("rate", "abc"), ("rate", True),
    ("ref", "ab12"), ("ref", "AB12345"), ("ref", ""), ("mode", "fast"), ("currency", "usd"), ("currency", "XXY"),
    ("legs", []), ("legs", [{"to": "a", "share": 1}] * 5), ("legs", [{"to": "a", "share": 0}]),
    ("legs", [{"to": "", "share": 1}]), ("legs", [{"to": "a", "share": 1, "extra": 1}]), ("legs", [{"to": "a"}]),
    ("owners", ["o"] * 5), ("amount", "-1"), ("amount", "1e3"), ("amount", "1,000"), ("amount", ""),
    ("amount", "1234567890123456"), ("fee", "1.5"), ("tags", {"a": 1}), ("tags", ["a"]), ("memo", 5),
    ("address", {"city": "Lyon", "extra": 1}), ("address", {"zip": "1"}), ("tip", "0.5.1"),
]


@pytest.mark.parametrize(("field", "value"), REFUSED, ids=[f"{f}={v!r}"[:40] for f, v in REFUSED])
def test_values_the_schema_refuses_the_guard_refuses(field: str, value: Any) -> None:
    schema = _schemas(str(RICH))["send"]
    tool = _policy(str(RICH)).tools["send"]
    jsonschema.Draft202012Validator(schema).validate(VALID)
    tool.build(VALID)  # the base is accepted by both
    bad = dict(copy.deepcopy(VALID), **{field: value})
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
    with pytest.raises(ProposalError) as exc:
        tool.build(bad)
    assert exc.value.code == "malformed" and field in exc.value.message


def test_an_argument_the_mapping_does_not_name_or_a_missing_one_is_refused_by_both() -> None:
    schema, tool = _schemas(str(RICH))["send"], _policy(str(RICH)).tools["send"]
    for bad in ({**VALID, "zzz": 1}, {k: v for k, v in VALID.items() if k != "hold"}):
        assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
        with pytest.raises(ProposalError):
            tool.build(bad)


# -- the patterns are the readers ------------------------------------------------------------------

def _accepts(reader: Any, text: str) -> bool:
    try:
        reader(text)
    except ValueError:
        return False
    return True


_D2 = "[0-9]{2}"
NEAR_DATES = st.from_regex(r"\A[0-9]{4}-(0[0-9]|1[0-3])-([0-3][0-9])\Z") | st.from_regex(rf"\A[0-9]{{4}}-{_D2}-{_D2}\Z")
NEAR_DATETIMES = st.tuples(NEAR_DATES, st.from_regex(r"\AT([01][0-9]|2[0-5]):[0-6][0-9]:[0-6][0-9](\.[0-9]{1,7})?\Z"),
                           st.sampled_from(["", "Z", "z"]) | st.from_regex(r"\A[+-]([01][0-9]|2[0-5]):[0-6][0-9]\Z")
                           ).map("".join)
NEAR_DURATIONS = st.from_regex(r"\AP([0-9]{1,6}[YMWD]){0,3}(T([0-9]{1,6}[HMS]){0,3})?\Z")


@settings(max_examples=600, deadline=None)
@given(NEAR_DATES)
def test_the_date_pattern_is_the_guard_reader(text: str) -> None:
    assert bool(re.fullmatch(DATE_PATTERN[1:-1], text)) == _accepts(read_date, text), text


@settings(max_examples=600, deadline=None)
@given(NEAR_DATETIMES)
def test_the_datetime_pattern_is_the_guard_reader(text: str) -> None:
    assert bool(re.fullmatch(DATETIME_PATTERN[1:-1], text)) == _accepts(read_datetime, text), text


@settings(max_examples=600, deadline=None)
@given(NEAR_DURATIONS)
def test_the_duration_pattern_is_the_guard_reader(text: str) -> None:
    # The pattern takes at most 6 digits a unit (no sum overflows); within that, it is the reader.
    assert bool(re.fullmatch(DURATION_PATTERN[1:-1], text)) == _accepts(read_duration, text), text


# -- the schemas, seen whole -----------------------------------------------------------------------

def test_a_declared_kind_schema_types_every_field_as_the_guard_reads_it() -> None:
    schema = intent_argument_schema("transfer", _policy(str(RICH)).domain)
    props = schema["properties"]
    assert schema["description"] == "Move money between accounts." and schema["additionalProperties"] is False
    assert props["kind"] == {"const": "transfer", "type": "string"} and "kind" not in schema["required"]
    assert props["amount"]["x-txguard-money"] == "currency"  # its currency is the `currency` field
    assert props["amount"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]+)?$" and "at most 5000" in props["amount"]["description"]
    assert props["fee"]["pattern"] == r"^[0-9]{1,15}$" and "x-txguard-money" not in props["fee"]  # fixed: JPY
    assert props["tip"]["anyOf"][1] == {"type": "null"} and "tip" not in schema["required"]
    assert props["rate"] == {"type": "number", "minimum": 0, "maximum": 1.5, "description": props["rate"]["description"]}
    assert props["legs"]["minItems"] == 1 and props["legs"]["maxItems"] == 4
    assert props["legs"]["items"]["properties"]["share"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["ref"] == {"type": "string", "pattern": "^[A-Z]{2}[0-9]{1,4}$", "maxLength": 6}
    assert props["mode"] == {"type": "string", "enum": ["instant", "standard"]}
    assert (props["day"]["format"], props["at"]["format"], props["hold"]["format"]) == ("date", "date-time", "duration")
    assert sorted(schema["required"]) == sorted(set(props) - {"kind", "tip", "memo", "address"})


def test_the_tool_mapping_renames_and_fixes_declared_fields() -> None:
    schema = _schemas(str(RICH))["send_usd"]
    props = schema["properties"]
    assert "amount" not in props and props["value"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$"  # USD fixed
    assert props["tip"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$" and "tip" in schema["required"]  # required: not null
    assert props["currency"]["const"] == "USD" and props["mode"]["const"] == "instant"
    assert "currency" not in schema["required"] and "mode" not in schema["required"]
    assert props["meta"]["properties"]["reference"]["pattern"] == "^[A-Z]{2}[0-9]{1,4}$" and "meta" in schema["required"]
    element = props["splits"]["items"]
    assert sorted(element["properties"]) == ["account", "share"] and sorted(element["required"]) == ["account", "share"]
    assert props["trace"] == {"description": "Not read by the guard: any value."}
    assert _schemas(str(RICH))["jot_eur"]["properties"]["price"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
    assert "(EUR)" in _schemas(str(RICH))["jot_eur"]["properties"]["price"]["description"]
    assert _schemas(str(RICH))["jot"]["properties"]["price"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]+)?$"
    assert "x-txguard" not in json.dumps(_schemas(str(RICH))) + json.dumps(kind_schemas(_policy(str(RICH)).domain))
    built = _policy(str(RICH)).tools["send_usd"].build(
        {**{k: v for k, v in VALID.items() if k not in ("amount", "ref", "legs", "currency", "mode")},
         "tip": "1.25", "value": "9.99", "meta": {"reference": "ZZ9"}, "splits": [{"account": "a1", "share": 5}],
         "trace": [1, 2]})
    assert (str(built.amount), built.ref, built.legs[0].to, built.currency) == ("9.99", "ZZ9", "a1", "USD")  # type: ignore[attr-defined]


def test_tool_definitions_describe_a_declared_kind_in_each_format() -> None:
    policy = _policy(str(FLIGHTS))
    for fmt in ("openai", "anthropic", "mcp"):
        defs = tool_definitions(policy, fmt)  # type: ignore[arg-type]
        assert len(defs) == 2
    (book,) = tool_definitions(policy, "anthropic", ["book_reservation"])
    assert book["description"].startswith("Book flights for passengers. Checked by txguard")
    assert "intent `book_flight`" in book["description"]
    assert book["input_schema"]["properties"]["passenger_ids"]["maxItems"] == 9
    (cancel,) = tool_definitions(policy, "openai", ["cancel_reservation"])
    assert cancel["function"]["description"].startswith("Intent `cancel_booking`.")
    assert cancel["function"]["strict"] is strict_compatible(cancel["function"]["parameters"]) is False  # id lengths
    assert not strict_compatible(_schemas(str(RICH))["send"])  # a map and optional fields


def test_a_policy_keeping_the_shipped_kinds_has_both_schemas() -> None:
    text = FLIGHTS.read_text(encoding="utf-8").replace("currency: USD\n", "currency: USD\nbuiltin_kinds: commerce\n", 1)
    text = text.replace("tools:\n", "tools:\n  cancel_pending_order: {intent: cancel_order}\n", 1)
    # With the shipped kinds, the shipped request (their checks read it): the flights' own is dropped here.
    text = re.sub(r"\nrequest:\n(  .*\n)+", "\n", text)
    policy = compile_policy(text, "flights-and-shop.yaml")
    kinds = kind_schemas(policy.domain)
    assert {"book_flight", "cancel_booking", "checkout", "cancel_order"} <= set(kinds)
    assert kinds["checkout"]["properties"]["kind"] == {"const": "checkout", "type": "string"}
    assert "x-txguard" not in json.dumps(kinds)
    schemas = argument_schemas(policy)
    assert schemas["cancel_pending_order"]["required"] == ["order_id"]
    assert schemas["book_reservation"]["properties"]["bags"]["maximum"] == 20
