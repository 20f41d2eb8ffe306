"""The faster reading of a raw case against the reference it replaces (differential properties).

Each fast path of the read (the reused JSON decoder and its duplicate-key hook, the digits-after-the-
point of an amount read from its text, the plain-string case of an amount, the ``dict`` shortcuts of
the facts, session and arguments checks) must give what the reference gives, value, type and
exponent alike, or raise the same error with the same words, on generated, malformed and
adversarial inputs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from txguard.core.context import MALFORMED_TOKEN_ENTRY, Facts, Proposal, Session
from txguard.core.errors import MoneyError
from txguard.core.intents import Checkout, _amount, _currency, places
from txguard.core.jsonio import DuplicateKeyError, JSONNumber, read_json
from txguard.core.money import currency_exponent, parse_amount

# -- JSON -----------------------------------------------------------------------------------------


def _reference_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def reference_read_json(text: str | bytes | bytearray) -> Any:
    """``read_json`` as it was: ``json.loads`` with a per-pair duplicate check, per call."""
    return json.loads(text, object_pairs_hook=_reference_unique, parse_float=JSONNumber)


def outcome(read: Any, text: Any) -> tuple[str, Any]:
    try:
        return "ok", read(text)
    except (ValueError, RecursionError, TypeError) as exc:
        return "error", (type(exc), str(exc), getattr(exc, "key", None))


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down, the same JSON number texts and the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, JSONNumber):
        return bool(a.text == b.text)
    if isinstance(a, float) and a != a:
        return bool(b != b)
    if isinstance(a, Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    return bool(a == b)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def json_texts(draw: st.DrawFn) -> str:
    """JSON text, sometimes made invalid or given a repeated key, a BOM, odd numbers or whitespace."""
    text = json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    how = draw(st.sampled_from(["as is", "dup", "bom", "junk", "number", "space", "cut"]))
    if how == "dup":
        key = json.dumps(draw(st.text(max_size=3)))
        value = draw(st.sampled_from(["1", '"x"', "0.10", "{}", "[]", "null", "1e400", "-0.0"]))
        inner = draw(st.sampled_from(["", f', {key}: 2', f', "a": {{{key}: 1, {key}: {value}}}']))
        text = f'{{{key}: {value}{inner}, {key}: {value}}}'
    elif how == "bom":
        text = "\ufeff" + text
    elif how == "junk":
        text = text + draw(st.sampled_from(["x", "}", " 1", "NaN", ",", "\x00"]))
    elif how == "number":
        text = draw(st.sampled_from(["0.79999999999999999", "1e400", "-0", "1.0", "0.960", "9.6e-1", "NaN",
                                     "Infinity", "-Infinity", "1" * 40, "1E+2", "01", ".5", "5."]))
    elif how == "space":
        text = draw(st.sampled_from([" ", "\n", "\t", "\r"])) + text + draw(st.sampled_from([" ", "\n", ""]))
    elif how == "cut" and len(text) > 1:
        text = text[: draw(st.integers(0, len(text) - 1))]
    return text


@settings(max_examples=400, deadline=None)
@given(json_texts())
@example('{"a": 1, "a": 2}')
@example('{"a": {"b": 1, "b": 2}, "a": 3}')
@example('[{"k": 1}, {"k": 1, "j": 2, "k": 3}]')
@example("\ufeff{}")
@example('{"x": 0.79999999999999999}')
@example('"\\ud800"')
@example("[" * 5000 + "]" * 5000)
def test_read_json_is_the_reference(text: str) -> None:
    for given_text in (text, text.encode("utf-8", "surrogatepass"), bytearray(text.encode("utf-8", "surrogatepass"))):
        kind, got = outcome(read_json, given_text)
        ref_kind, want = outcome(reference_read_json, given_text)
        assert kind == ref_kind, (given_text, got, want)
        assert same(got, want) if kind == "ok" else got == want


def test_read_json_refuses_a_repeated_key_by_its_first_repetition() -> None:
    with pytest.raises(DuplicateKeyError) as info:
        read_json('{"b": 1, "a": 1, "b": 2, "a": 2}')
    assert info.value.key == "b"
    with pytest.raises(ValueError, match="BOM"):
        read_json("\ufeff{}")


# -- amounts ----------------------------------------------------------------------------------------

finite_decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    lambda sign, digits, exp: Decimal((sign, tuple(digits), exp)),
    st.integers(0, 1), st.lists(st.integers(0, 9), min_size=1, max_size=30), st.integers(-40, 40))


@settings(max_examples=500, deadline=None)
@given(finite_decimals)
@example(Decimal("1E-7"))
@example(Decimal("1E+2"))
@example(Decimal("-0.00"))
@example(Decimal("0E-10"))
@example(Decimal("123456789012345678901234567890.5"))
def test_places_is_the_exponent(amount: Decimal) -> None:
    assert places(amount) == -amount.as_tuple().exponent  # type: ignore[operator]


def test_places_of_a_non_finite_decimal_raises_as_before() -> None:
    for value in (Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("sNaN")):
        with pytest.raises(TypeError):
            places(value)


def _reference_amount(value: Any) -> Decimal:
    try:
        return parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


amount_inputs = (st.from_regex(r"-?[0-9]{0,22}(\.[0-9]{0,4})?([eE][+-]?[0-9])?", fullmatch=True)
                 | st.text(alphabet="0123456789.-+eE _٣١\u00a0", max_size=25) | st.text(max_size=6)
                 | st.integers() | st.booleans() | st.floats() | st.decimals() | st.none()
                 | st.builds(JSONNumber, st.sampled_from(["0.1", "1e400", "0.79999999999999999", "2.50"])))


@settings(max_examples=500, deadline=None)
@given(amount_inputs)
@example("1" * 16)
@example("1" * 15 + ".5")
@example("０.5")
@example("1.")
@example(".5")
def test_amount_is_parse_amount(value: Any) -> None:
    got, want = outcome(_amount, value), outcome(_reference_amount, value)
    assert got[0] == want[0], (value, got, want)
    assert same(got[1], want[1]) if got[0] == "ok" else got[1] == want[1]


class _StrKind(str):
    pass


def _reference_currency(value: Any) -> str:
    try:
        currency_exponent(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return str(value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["USD", "JPY", "KWD", "usd", "XXX", "", "EUR "]) | st.text(max_size=4)
       | st.builds(_StrKind, st.sampled_from(["USD", "x"])) | st.integers() | st.none() | st.booleans())
def test_currency_is_the_reference(value: Any) -> None:
    got, want = outcome(_currency, value), outcome(_reference_currency, value)
    assert got[0] == want[0] and got[1] == want[1] and type(got[1]) is type(want[1])


@pytest.mark.parametrize("value", [_StrKind("12.50"), _StrKind("x"), "12.50", "1e2"])
def test_amount_of_a_str_subclass_takes_the_reference(value: str) -> None:
    got, want = outcome(_amount, value), outcome(_reference_amount, value)
    assert got[0] == want[0] and (same(got[1], want[1]) if got[0] == "ok" else got[1] == want[1])


def test_a_checkout_reads_its_amounts_and_exponents_as_before() -> None:
    line = {"sku": "s", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "1.10"}
    intent = Checkout.model_validate({"items": [line], "total": "1.10", "currency": "USD", "payment_method_id": "m"})
    assert intent.total.as_tuple().exponent == -2 and intent.items[0].unit_price.as_tuple().exponent == -2
    def checkout(total: str, price: str, currency: str) -> Checkout:
        return Checkout.model_validate({"items": [dict(line, unit_price=price)], "total": total,
                                        "currency": currency, "payment_method_id": "m"})
    assert checkout("1.123", "0.100", "KWD").items[0].unit_price.as_tuple().exponent == -3
    for total, price, currency, where in (("1.105", "1", "USD", "total"), ("1.1", "1", "JPY", "total"),
                                          ("1", "0.1234", "KWD", "items[0].unit_price"),
                                          ("1", "1E-7", "USD", "total")):
        if price == "1E-7":  # an exponent is not a plain decimal string: refused before any exponent check
            with pytest.raises(ValueError, match="not a plain non-negative decimal"):
                checkout(total, price, currency)
            continue
        amount = total if where == "total" else price
        with pytest.raises(ValueError, match=re.escape(f"{where} `{amount}` has more decimals than {currency} allows")):
            checkout(total, price, currency)


# -- dict shortcuts ---------------------------------------------------------------------------------

class _Records(Mapping[str, Any]):
    def __init__(self, data: dict[str, Any]) -> None:
        self._d = data

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Any:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


@pytest.mark.parametrize("wrap", [dict, MappingProxyType, _Records])
def test_facts_accept_any_mapping_and_refuse_the_rest(wrap: Any) -> None:
    facts = Facts(wrap({"orders": wrap({"#W1": {"status": "pending"}})}))
    assert facts.get("orders", "#W1") == {"status": "pending"}
    with pytest.raises(TypeError, match="facts.orders must be a mapping of records, got list"):
        Facts(wrap({"orders": [1]}))
    with pytest.raises(TypeError, match="facts must be a mapping of collections, got list"):
        Facts([])  # type: ignore[arg-type]


@pytest.mark.parametrize("wrap", [dict, MappingProxyType, _Records])
def test_a_bad_token_entry_confirms_nothing_whatever_mapping_it_is(wrap: Any) -> None:
    session = Session.model_validate({"confirmed": [wrap({"token": 5}), {"name": "checkout", "arguments": {}}]})
    assert session.confirmed[0].token == MALFORMED_TOKEN_ENTRY and session.confirmed[1].name == "checkout"


@pytest.mark.parametrize("arguments", [MappingProxyType({"order_id": "#W1"}), _Records({"order_id": "#W1"})])
def test_tool_arguments_take_any_mapping(arguments: Any) -> None:
    from txguard import Guard

    policy = Guard.from_file("policies/tau-retail.yaml").policy
    name = next(n for n, t in policy.tools.items() if t.kind == "cancel_order")
    tool, args = policy.tool_arguments(Proposal(name=name, arguments=arguments))
    assert args is arguments and tool.kind == "cancel_order"
    bad: Any
    for bad in ([], 5, "[1]"):
        with pytest.raises(Exception, match="arguments must be a JSON object"):
            policy.tool_arguments(Proposal(name=name, arguments=bad))


# -- the proposal -----------------------------------------------------------------------------------

def _slots(model: Any) -> tuple[Any, ...]:
    return (type(model), model.__dict__, list(model.__dict__), [type(v) for v in model.__dict__.values()],
            model.__pydantic_fields_set__, [type(k) for k in model.__pydantic_fields_set__],
            model.__pydantic_extra__, model.__pydantic_private__)


proposal_values = st.none() | st.booleans() | st.integers() | st.text(max_size=4) | st.builds(_StrKind, st.text(max_size=3)) \
    | st.sampled_from(["\ud800", "checkout", "", "{\"a\": 1}"]) | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2)


@st.composite
def proposals(draw: st.DrawFn) -> Any:
    keys = draw(st.lists(st.sampled_from(["name", "arguments", "extra", "kind", _StrKind("name"), 0]), max_size=3,
                         unique_by=str))
    data = {k: draw(proposal_values) for k in keys}
    if not all(isinstance(k, str) for k in keys):
        return data
    wrap: Any = draw(st.sampled_from([dict, MappingProxyType, _Records]))
    return wrap(data)


@settings(max_examples=400, deadline=None)
@given(proposals())
@example({"name": "checkout", "arguments": "{}"})
@example({"name": "checkout"})
@example({"name": "\ud800", "arguments": None})
@example({"name": _StrKind("x"), "arguments": {}})
@example({"arguments": {}})
@example({"name": "x", "arguments": {}, "extra": 1})
def test_read_proposal_is_model_validate(value: Any) -> None:
    from txguard.core.context import read_proposal

    got, want = outcome(read_proposal, value), outcome(Proposal.model_validate, value)
    assert got[0] == want[0], (value, got, want)
    if got[0] == "ok":
        assert _slots(got[1]) == _slots(want[1])
        assert got[1] == want[1] and got[1].arguments is want[1].arguments
    else:
        assert got[1] == want[1]
