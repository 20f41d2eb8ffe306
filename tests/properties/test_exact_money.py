"""Invariant 7, exact money: totals equal the sum of the lines exactly; floats and amounts finer
than the currency's exponent are refused at the boundary; no float arithmetic anywhere."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Checkout, Guard, MoneyError, Outcome, parse_amount

from ..helpers import envelope, facts
from .strategies import carts, money

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOTAL_ONLY = Guard.from_text(
    'apiVersion: txguard/v1\nid: total\nversion: "1"\ntools: {checkout: {intent: checkout}}\n'
    "defaults: {checkout: allow}\nrules:\n  - {id: total, check: total}\n")


def decide(args: dict[str, Any], products: dict[str, Any]) -> Any:
    return TOTAL_ONLY.independent().check_envelope(envelope(args, fact_data=facts(products=products)))


@SETTINGS
@given(cart=carts())
def test_total_matches_iff_it_is_the_exact_sum(cart: dict[str, Any]) -> None:
    d = decide(cart["args"], cart["products"])
    if cart["stated"] == cart["sum"]:
        assert d.outcome is Outcome.ALLOW
    else:
        assert d.codes == ("total_mismatch",)


@SETTINGS
@given(cart=carts(), delta=st.sampled_from([-1, 1]))
def test_one_minor_unit_off_is_caught(cart: dict[str, Any], delta: int) -> None:
    wrong = cart["sum"] + delta
    if wrong < 0:
        return
    args = {**cart["args"], "total": money(wrong)}
    assert decide(args, cart["products"]).codes == ("total_mismatch",)


@SETTINGS
@given(cart=carts(), zeros=st.integers(min_value=0, max_value=1))
def test_the_same_amount_written_differently_is_the_same_total(cart: dict[str, Any], zeros: int) -> None:
    # "12.5", "12.50" and (when whole) "12" are the same amount.
    exact = Decimal(cart["sum"]).scaleb(-2)
    text = format(exact.normalize(), "f") if zeros == 0 else format(exact, "f")
    assert decide({**cart["args"], "total": text}, cart["products"]).outcome is Outcome.ALLOW


@SETTINGS
@given(cart=carts(), where=st.sampled_from(["total", "unit_price"]))
def test_a_float_amount_is_read_through_its_shortest_repr(cart: dict[str, Any], where: str) -> None:
    # A host's float is the amount its repr spells: decided exactly as that decimal string.
    args = cart["args"]
    if where == "total":
        as_float = {**args, "total": float(args["total"])}
        as_text = {**args, "total": repr(float(args["total"]))}
    else:
        items = [dict(i) for i in args["items"]]
        items[0]["unit_price"] = float(items[0]["unit_price"])
        as_float = {**args, "items": items}
        as_text = {**args, "items": [{**items[0], "unit_price": repr(items[0]["unit_price"])}, *items[1:]]}
    got, want = decide(as_float, cart["products"]), decide(as_text, cart["products"])
    assert (got.outcome, got.codes, [r.message for r in got.reasons]) == (
        want.outcome, want.codes, [r.message for r in want.reasons])


@SETTINGS
@given(currency=st.sampled_from([("JPY", 0), ("USD", 2), ("BHD", 3)]), cents=st.integers(min_value=0, max_value=10**9))
def test_amounts_finer_than_the_currency_are_rejected(currency: tuple[str, int], cents: int) -> None:
    code, exponent = currency
    fine = money(cents, exponent)
    too_fine = money(cents * 10 + 1, exponent + 1)
    line = {"sku": "S", "product_id": "P", "title": "T", "quantity": 1}
    ok = Checkout.model_validate({"items": [{**line, "unit_price": fine}], "total": fine, "currency": code,
                                  "payment_method_id": "pm"})
    assert ok.total == Decimal(fine)
    d = TOTAL_ONLY.independent().check({"name": "checkout", "arguments": {"items": [{**line, "unit_price": too_fine}],
                                                             "total": too_fine, "currency": code,
                                                             "payment_method_id": "pm"}})
    assert d.codes == ("malformed",)


@SETTINGS
@given(cents=st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=20))
def test_sums_are_exact_where_floats_are_not(cents: list[int]) -> None:
    amounts = [parse_amount(money(c), 2) for c in cents]
    assert sum(amounts, Decimal(0)) == Decimal(sum(cents)).scaleb(-2)


@SETTINGS
@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_parse_amount_reads_a_float_as_its_repr_or_refuses_it(value: float) -> None:
    try:
        got = parse_amount(value)
    except MoneyError:
        assert not math.isfinite(value) or math.copysign(1, value) < 0 or value >= 10**15
        return
    assert got == Decimal(repr(value)) and got >= 0
