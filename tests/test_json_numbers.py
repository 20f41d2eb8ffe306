"""JSON numbers are read exactly: money and confidence given as number literals, as models emit them.

``read_json`` keeps the source text of a number with a fraction or an exponent (a ``JSONNumber``,
a float subclass); money is parsed from that text as from a decimal string, and the confidence is
compared with the policy's floor exactly. Everything else sees the float ``json.loads`` returns.
"""

from __future__ import annotations

import copy
import json
import pickle
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from txguard import Checkout, Guard, MoneyError, Outcome, compile_policy, parse_amount
from txguard.audit import canonical_json
from txguard.core.jsonio import JSONNumber, exact_decimal, number_text, read_json

from .conftest import read_cases
from .helpers import RETAIL, checkout_args, envelope, line

MONEY_KEYS = frozenset({"total", "unit_price", "amount"})
PLAIN = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")  # a plain decimal that is also a JSON number literal
_MARK = "\x00number:"


def _mark(value: Any, key: str | None = None) -> tuple[Any, int]:
    """``value`` with each plain money string under a money key marked for writing as a number."""
    if isinstance(value, dict):
        count, out = 0, {}
        for k, v in value.items():
            out[k], n = _mark(v, k)
            count += n
        return out, count
    if isinstance(value, list):
        pairs = [_mark(v, key) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if key in MONEY_KEYS and isinstance(value, str) and PLAIN.fullmatch(value):
        return _MARK + value, 1
    return value, 0


def as_numbers(arguments: dict[str, Any]) -> tuple[str, int]:
    """The JSON text of ``arguments`` with plain money strings written as JSON number literals
    (``"129.99"`` -> ``129.99``, the same characters), and how many were rewritten."""
    marked, count = _mark(arguments)
    text = json.dumps(marked)
    return re.sub(r'"\\u0000number:([0-9.]+)"', r"\1", text), count


def outcome_of(decision: Any) -> tuple[Any, ...]:
    return (decision.outcome, decision.route, decision.codes,
            tuple(sorted((r.rule, r.code, r.message) for r in decision.reasons)))


@pytest.fixture(scope="module")
def retail() -> Guard:
    return Guard.from_file(RETAIL)


# --- the reader -------------------------------------------------------------------------------

def test_a_fractional_number_keeps_its_text_and_is_the_same_float() -> None:
    value = read_json('{"a": 0.960, "b": 1.5e2, "c": 12, "d": 1e400}')
    assert [type(v) for v in value.values()] == [JSONNumber, JSONNumber, int, JSONNumber]
    assert (value["a"].text, value["b"].text, value["d"].text) == ("0.960", "1.5e2", "1e400")
    assert (value["a"] == 0.96, value["b"] == 150.0, value["d"] == float("inf")) == (True, True, True)
    assert hash(value["a"]) == hash(0.96)


def test_integers_beyond_64_bits_stay_exact_ints() -> None:
    big = 2**64 + 1
    value = read_json(f'{{"n": {big}, "m": -{10**40 + 7}}}')
    assert value == {"n": big, "m": -(10**40 + 7)} and type(value["n"]) is int
    error = "amount `100000000000000000001` has more than 15 digits"
    with pytest.raises(MoneyError, match=error):
        parse_amount(read_json("100000000000000000001"), 2)


def test_duplicate_keys_are_still_refused() -> None:
    with pytest.raises(ValueError, match="duplicate key `total`"):
        read_json('{"total": 1.5, "total": "1.50"}')


@pytest.mark.parametrize("text", ["0.96", "0.960", "1.5e2", "129.99", "0.79999999999999999", "1e-7", "-2.5"])
def test_encoders_write_a_number_as_its_float(text: str) -> None:
    number, plain = read_json(text), float(text)
    doc, plain_doc = {"x": [number, {"y": number}]}, {"x": [plain, {"y": plain}]}
    assert json.dumps(doc) == json.dumps(plain_doc)
    assert json.dumps(doc, sort_keys=True, separators=(",", ":")) == json.dumps(plain_doc, sort_keys=True,
                                                                               separators=(",", ":"))
    assert canonical_json(doc) == canonical_json(plain_doc)  # the audit encoder (orjson)

    class Holder(BaseModel):
        value: dict[str, Any]

    assert Holder(value=doc).model_dump_json() == Holder(value=plain_doc).model_dump_json()
    assert Holder(value=doc).model_dump(mode="json") == Holder(value=plain_doc).model_dump(mode="json")


def test_a_number_survives_copy_and_pickle_with_its_text() -> None:
    number = read_json("0.79999999999999999")
    for copied in (copy.copy(number), copy.deepcopy(number), pickle.loads(pickle.dumps(number))):
        assert isinstance(copied, JSONNumber) and copied.text == number.text and copied == number


def test_the_exact_decimal_of_a_number() -> None:
    assert exact_decimal(read_json("0.79999999999999999")) == Decimal("0.79999999999999999")
    assert str(exact_decimal(read_json("0.960"))) == "0.96"  # the same value: its shortest spelling
    assert exact_decimal(0.1) == Decimal("0.1")  # a host's float: its shortest repr
    assert (number_text(read_json("12.50")), number_text(12.5)) == ("12.50", "12.5")


# --- money ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "want"), [
    ("129.99", "129.99"), ("12.50", "12.50"), ("12.5", "12.5"), ("0.0", "0.0"), ("1.5e2", "150"),
    ("12995E-2", "129.95"), ("0e5", "0"),
])
def test_a_money_number_is_its_text(text: str, want: str) -> None:
    got = parse_amount(read_json(text), 2)
    assert got == Decimal(want) and str(got) == want


def test_a_host_float_is_read_through_its_shortest_repr() -> None:
    assert str(parse_amount(129.99, 2)) == "129.99"
    with pytest.raises(MoneyError, match="amount `0.30000000000000004` has 17 decimals"):
        parse_amount(0.1 + 0.2, 2)


@pytest.mark.parametrize(("value", "fragment"), [
    ("NaN", "total: amount `nan` is not finite"),  # a JSON constant, read as a float
    ("Infinity", "total: amount `inf` is not finite"),
    ("-Infinity", "total: amount `-inf` is not finite"),
    ("-1", "amount `-1` is negative"),
    ("-1.5", "amount `-1.5` is negative"),
    ("-0.0", "amount `-0.0` is negative"),
    ("1.001", "total `1.001` has more decimals than USD allows (2)"),
    ("1e-3", "total `0.001` has more decimals than USD allows (2)"),
    ("1e400", "amount `1e400` has more than 15 digits"),
    ("true", "amount `True` is a bool"),
    ("[1.5]", "amount `[1.5]` is a list"),
])
def test_bad_money_numbers_are_malformed(retail: Guard, value: str, fragment: str) -> None:
    args, _ = as_numbers(checkout_args(line(unit_price="1.00"), total="1.00"))
    text = args.replace('"total": 1.00', f'"total": {value}')
    assert text != args
    d = retail.independent().check_envelope(envelope(text))
    assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed",))
    assert fragment in d.reasons[0].message, d.reasons[0].message


def test_a_checkout_in_numbers_is_decided_as_in_strings(retail: Guard) -> None:
    args = checkout_args(line(unit_price="129.99", quantity=2), total="259.98")
    numbers, count = as_numbers(args)
    assert count == 2 and '"unit_price": 129.99' in numbers and '"total": 259.98' in numbers
    by_text = retail.independent().check_envelope(envelope(json.dumps(args)))
    by_number = retail.independent().check_envelope(envelope(numbers))
    assert outcome_of(by_number) == outcome_of(by_text)
    assert by_number.intent is not None and isinstance(by_number.intent, Checkout)
    assert by_number.intent.total == Decimal("259.98") and str(by_number.intent.items[0].unit_price) == "129.99"


def test_corpus_checkouts_in_numbers_are_decided_as_in_strings(retail_policy: Any) -> None:
    """Every chat-to-buy case, its money strings rewritten as JSON number literals in the argument
    text (as a model sends them): the same outcome, route and reasons as the same text in strings."""
    compared = 0
    differ: list[str] = []
    for case in read_cases("chat-to-buy-dev.jsonl.gz"):
        arguments = case["proposal"].get("arguments")
        if not isinstance(arguments, dict):
            continue
        numbers, count = as_numbers(arguments)
        if not count:
            continue
        decided = []
        for text in (json.dumps(arguments), numbers):
            env = {k: case[k] for k in ("request", "session", "facts") if k in case}
            env["proposal"] = {**case["proposal"], "arguments": text}
            decided.append(outcome_of(Guard(retail_policy).independent().check_envelope(env)))
        compared += 1
        if decided[0] != decided[1]:
            differ.append(case["id"])
    assert compared > 500 and differ == []


# --- confidence -------------------------------------------------------------------------------

def _confidence_decision(guard: Guard, literal: str) -> Any:
    text = json.dumps(checkout_args(confidence=0.5)).replace('"confidence": 0.5', f'"confidence": {literal}')
    return guard.independent().check_envelope(envelope(text))


@pytest.mark.parametrize(("literal", "fires"), [
    ("0.79999999999999999", True),  # below the 0.80 floor: as a binary float it is 0.8 and passed
    ("0.8", False), ("0.80", False), ("8e-1", False), ("0.80000000000000001", False), ("0.7999", True),
])
def test_confidence_is_compared_with_the_floor_exactly(retail: Guard, literal: str, fires: bool) -> None:
    d = _confidence_decision(retail, literal)
    assert ("ambiguity" in d.codes) is fires, d.codes
    if fires:
        message = next(r.message for r in d.reasons if r.code == "ambiguity")
        assert f"confidence {Decimal(literal)} is below 0.8" in message


@pytest.mark.parametrize(("literal", "fires"), [("0.79999999999999999", True), ("0.8", False), ("8e-1", False)])
def test_a_when_condition_compares_a_json_number_by_its_text(literal: str, fires: bool) -> None:
    # The one evaluator's comparisons read a JSON number exactly too (`_num`), not only the
    # built-in ambiguity check: a custom floor on the confidence fires on the text's value.
    text = RETAIL.read_text(encoding="utf-8")
    policy = compile_policy(text.replace("rules:\n", "rules:\n  - {id: sure-enough, kinds: [checkout], "
                                        "when: {path: intent.confidence, lt: \"0.8\"}, outcome: escalate}\n", 1),
                            str(RETAIL))
    d = _confidence_decision(Guard(policy), literal)
    assert ("sure_enough" in d.codes) is fires, d.codes


def test_a_confidence_number_keeps_its_shortest_spelling_in_messages() -> None:
    intent = Checkout.model_validate(read_json(json.dumps(checkout_args()).replace("0.95", "0.950")))
    assert str(intent.confidence) == "0.95"


@pytest.mark.parametrize("literal", ["1.0000000000000001", "-0.0000000000000001", "1e400"])
def test_a_confidence_outside_0_1_by_its_text_is_malformed(retail: Guard, literal: str) -> None:
    d = _confidence_decision(retail, literal)
    assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed",))
    assert "is not a number in [0, 1]" in d.reasons[0].message


# --- property ---------------------------------------------------------------------------------

@st.composite
def decimal_literals(draw: st.DrawFn) -> str:
    """A JSON number literal with a fraction or an exponent (what ``read_json`` keeps as text)."""
    whole = draw(st.integers(min_value=0, max_value=10**18))
    fraction = draw(st.text("0123456789", max_size=25))
    exponent = draw(st.none() | st.integers(min_value=-30, max_value=30))
    text = str(whole) + (f".{fraction}" if fraction else "")
    if exponent is not None:
        text += draw(st.sampled_from(["e", "E"])) + draw(st.sampled_from(["", "+"]) if exponent >= 0 else st.just("")) \
            + str(exponent)
    elif not fraction:
        text += ".0"
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=decimal_literals(), currency=st.sampled_from([("JPY", 0), ("USD", 2), ("BHD", 3), ("CLF", 4)]))
def test_a_decimal_literal_round_trips_through_the_reader_and_the_validator(text: str,
                                                                           currency: tuple[str, int]) -> None:
    code, places = currency
    want = Decimal(text)
    number = read_json(text)
    assert isinstance(number, JSONNumber) and number.text == text and exact_decimal(number) == want
    decimals = max(0, -int(want.as_tuple().exponent))
    args = (f'{{"items": [{{"sku": "S", "product_id": "P", "title": "T", "quantity": 1, "unit_price": {text}}}], '
            f'"total": {text}, "currency": "{code}", "payment_method_id": "pm"}}')
    fits = (want == 0 or want.adjusted() < 15) and decimals <= places
    try:
        intent = Checkout.model_validate(read_json(args))
    except ValueError as exc:
        assert not fits, (text, str(exc))
        return
    assert fits and intent.total == want and intent.items[0].unit_price == want
    assert parse_amount(number, places) == want


# --- consent ----------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["json numbers", "host floats"])
def test_a_confirmation_in_numbers_confirms_the_same_checkout_in_strings(retail: Guard, form: str) -> None:
    args = checkout_args(line(unit_price="129.99", quantity=2), total="259.98")
    if form == "json numbers":
        confirmed: Any = as_numbers(args)[0]
    else:
        confirmed = {**args, "total": 259.98, "items": [{**args["items"][0], "unit_price": 129.99}]}
    env = envelope(args, confirm=False)
    env["session"]["confirmed"] = [{"name": "checkout", "arguments": confirmed}]
    assert "consent" not in retail.independent().check_envelope(env).codes
    other = envelope(args, confirm=False)  # one cent more in the confirmation is another checkout
    other["session"]["confirmed"] = [{"name": "checkout", "arguments": json.dumps(args).replace(
        '"total": "259.98"', '"total": 259.99')}]
    assert "consent" in retail.independent().check_envelope(other).codes
