"""Invariant 3, price cap: a checkout whose total (stated or at catalog prices) exceeds the cap is
never allowed; at or under the cap the cap alone never blocks it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome

from ..helpers import RETAIL, envelope, facts
from .strategies import carts, money

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RETAIL_GUARD = Guard.from_file(RETAIL)


@lru_cache(maxsize=64)
def cap_only(cap: str) -> Guard:
    return Guard.from_text(
        'apiVersion: txguard/v1\nid: cap\nversion: "1"\ntools: {checkout: {intent: checkout}}\n'
        f'defaults: {{checkout: allow}}\nrules:\n  - {{id: cap, check: price_cap, params: {{max: {{USD: "{cap}"}}}}}}\n')


@SETTINGS
@given(cart=carts(), cap_cents=st.integers(min_value=0, max_value=500_000))
def test_the_cap_decides_exactly_on_the_larger_total(cart: dict[str, Any], cap_cents: int) -> None:
    guard = cap_only(money(cap_cents))
    d = guard.independent().check_envelope(envelope(cart["args"], fact_data=facts(products=cart["products"])))
    exposure = max(cart["stated"], cart["catalog"])
    if exposure > cap_cents:
        assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("price_cap",))
    else:
        assert d.outcome is Outcome.ALLOW


@SETTINGS
@given(cart=carts())
def test_the_retail_policy_never_allows_over_1000(cart: dict[str, Any]) -> None:
    d = RETAIL_GUARD.independent().check_envelope(envelope(cart["args"], fact_data=facts(products=cart["products"])))
    if max(cart["stated"], cart["catalog"]) > 100_000:
        assert d.outcome is Outcome.ESCALATE
        assert "price_cap" in d.codes
    if d.outcome is Outcome.ALLOW:
        assert max(cart["stated"], cart["catalog"]) <= 100_000


@lru_cache(maxsize=256)
def per_category_only(caps: tuple[tuple[str, str], ...]) -> Guard:
    per_category = ", ".join(f'"{cat}": {{USD: "{cap}"}}' for cat, cap in caps)
    return Guard.from_text(
        'apiVersion: txguard/v1\nid: cap\nversion: "1"\ntools: {checkout: {intent: checkout}}\n'
        'defaults: {checkout: allow}\nrules:\n  - {id: cap, check: price_cap, params: '
        f'{{max: {{USD: "100000000"}}, per_category: {{{per_category}}}}}}}\n')


@SETTINGS
@given(cart=carts(), listed=st.dictionaries(st.sampled_from(["thing 0", "thing 1", "thing 2", "default"]),
                                            st.integers(min_value=0, max_value=300_000), max_size=4))
def test_no_category_is_left_uncapped(cart: dict[str, Any], listed: dict[str, int]) -> None:
    # Each generated line is its own category (`Thing i`); a category the caps do not list is held
    # to `default`, and with no `default` the checkout is never allowed.
    # a cached guard, decided on as an independent world (single use: the same cart may come twice)
    guard = per_category_only(tuple(sorted((cat, money(cents)) for cat, cents in listed.items()))).independent()
    d = guard.check_envelope(envelope(cart["args"], fact_data=facts(products=cart["products"])))
    over = False
    for item in cart["args"]["items"]:
        pid, sku = item["product_id"], item["sku"]
        catalog = round(cart["products"][pid]["variants"][sku]["price"] * 100)
        line_cents = max(catalog, round(float(item["unit_price"]) * 100)) * item["quantity"]
        cap = listed.get(item["title"].lower(), listed.get("default"))
        over = over or cap is None or line_cents > cap
    assert d.outcome is (Outcome.ESCALATE if over else Outcome.ALLOW), (listed, d.codes)
