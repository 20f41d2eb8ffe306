"""The built-in checks' fast readers (``checks/ctx.py``) read exactly what the reference readers read.

Differential: ``plain_amount`` (a catalog price that is a plain float or int) gives the very
``Decimal`` ``fact_amount`` gives (same value, same exponent: ``287.79``, ``1e-7``, ``5e+20``) and
leaves everything else (bools, negatives, NaN, infinities, strings such as ``"7"``, ``JSONNumber``
with a longer text, ``Decimal``) to the reference, which words the error; on hostile catalogs a
decision's catalog price, exposure and every built-in check decide and word alike whether the
catalog was read through the fast reader or not.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.checks import ctx as ctx_module
from txguard.core.errors import MissingFact, MoneyError
from txguard.core.jsonio import JSONNumber
from txguard.core.money import fact_amount
from txguard.engine.case import Case
from txguard.engine.rules import run_rules

from .helpers import CARD, RETAIL, USER, Box, checkout_args, envelope, line
from .helpers import facts as helper_facts

CLOCK = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)

GUARD = Guard.from_file(RETAIL)

prices = st.one_of(
    st.floats(), st.integers(), st.integers(-2**80, 2**80), st.booleans(), st.none(),
    st.sampled_from([287.79, 0.1, 1e-7, 5e20, -0.0, 0.0, 120.0, 1e308, math.inf, -math.inf, math.nan]),
    st.sampled_from(["7", "120.00", "-1", "NaN", "1e400"]),
    st.sampled_from(["120.0", "120.00", "1.20e2", "0.79999999999999999", "1e400"]).map(JSONNumber),
    st.sampled_from([Decimal("120.00"), Decimal("-0"), Decimal("NaN")]),
)


def reference(value: Any) -> tuple[str, str]:
    try:
        return "amount", str(fact_amount(value))
    except MoneyError as exc:
        return "error", str(exc)


@settings(max_examples=1000, deadline=None)
@given(prices)
def test_plain_amount_is_fact_amount_or_leaves_it_to_the_reference(value: Any) -> None:
    fast = ctx_module.plain_amount(value)
    if fast is not None:
        assert type(value) in (float, int)
        assert reference(value) == ("amount", str(fast))
    elif type(value) in (float, int):
        assert reference(value)[0] == "error"  # only an invalid plain number is left to the reference


def _decide(price: Any, monkeypatch: pytest.MonkeyPatch | None) -> tuple[Any, ...]:
    env = envelope(checkout_args(line(quantity=2)))
    env["facts"]["products"]["P-COF"]["variants"]["S-COF-1"]["price"] = price
    if monkeypatch is not None:
        monkeypatch.setattr(ctx_module, "plain_amount", lambda value: None)  # every price through the reference
    d = GUARD.independent().check_envelope(env)
    return d.outcome, d.reasons, d.route, d.questions, d.confirmation


@settings(max_examples=200, deadline=None)
@given(prices)
def test_a_decision_reads_a_catalog_price_alike_with_and_without_the_fast_reader(value: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        slow = _decide(value, mp)
    assert _decide(value, None) == slow


# -- the Ctx readers against their former bodies ------------------------------------------------------

class RefCtx(ctx_module.Ctx):
    """The readers as they were before their fast paths: the oracle."""

    __slots__ = ()

    def order_field(self, key: str, kind: Any) -> Any:
        return ctx_module._typed(self.order().get(key), kind, f"order `{self.order_id}`", key)

    def payment_method(self, method_id: str) -> Any:
        rec = self.payment_methods().get(method_id)
        if rec is None:
            return None
        what = f"payment method `{method_id}`"
        rec = ctx_module._typed(rec, Mapping, what, None)
        ctx_module._typed(rec.get("source"), str, what, "source")
        return rec

    def product(self, product_id: str) -> Any:
        if product_id in self._products:
            return self._products[product_id]
        rec = self.facts.get("products", product_id)
        found = None if rec is None else ctx_module._typed(rec, Mapping, f"product `{product_id}`", None)
        self._products[product_id] = found
        return found

    def variants(self, product_id: str) -> Any:
        product = self.product(product_id)
        if product is None:
            return None
        return ctx_module._typed(product.get("variants"), Mapping, f"product `{product_id}`", "variants")

    def variant(self, product_id: str, sku: str) -> Any:
        key = (product_id, sku)
        if key in self._variants:
            return self._variants[key]
        variants = self.variants(product_id)
        rec = None if variants is None else variants.get(sku)
        found = None if rec is None else ctx_module._typed(rec, Mapping, f"variant `{sku}` of product `{product_id}`", None)
        self._variants[key] = found
        return found

    def available(self, product_id: str, sku: str, var: Any) -> bool:
        return bool(ctx_module._typed(var.get("available"), bool, f"variant `{sku}` of product `{product_id}`", "available"))

    def options(self, product_id: str, sku: str, var: Any) -> Any:
        return ctx_module._typed(var.get("options", {}), Mapping, f"variant `{sku}` of product `{product_id}`", "options")

    def catalog_price(self, product_id: str, sku: str) -> Any:
        key = (product_id, sku)
        if key in self._prices:
            return self._prices[key]
        var = self.variant(product_id, sku)
        price = None if var is None else ctx_module._amount(var.get("price"), f"variant `{sku}` of product `{product_id}`", "price")
        self._prices[key] = price
        return price

    def line_category(self, line: Any) -> str:
        product = self.product(line.product_id)
        if product is None:
            raise MissingFact(f"product `{line.product_id}` is not in the catalog: its type is unknown")
        return str(ctx_module._typed(product.get("name"), str, f"product `{line.product_id}`", "name"))


JUNK: list[Any] = [None, 1, "x", True, 0, [], ["a"], {}, 120.0, -1.0, math.nan, "120.00", Decimal("120.00"),
                   JSONNumber("120.0"), OrderedDict(a=1), "\ud800", 2**80]
SPOTS = [("products", "P-COF"), ("products", "P-COF", "variants"), ("products", "P-COF", "name"),
         ("products", "P-COF", "variants", "S-COF-1"), ("products", "P-COF", "variants", "S-COF-1", "available"),
         ("products", "P-COF", "variants", "S-COF-1", "options"), ("products", "P-COF", "variants", "S-COF-1", "price"),
         ("users", USER, "payment_methods", CARD), ("users", USER, "payment_methods", CARD, "source"),
         ("users", USER, "payment_methods"), ("orders",)]
POLICY = GUARD.policy


def _rules(facts: dict[str, Any], make: type[ctx_module.Ctx], args: dict[str, Any], request: Any) -> Any:
    env = envelope(args, fact_data=facts, request=request)
    case = Case.read(POLICY, env["proposal"], env.get("request"), env["session"], env["facts"], lambda: CLOCK)
    m = case.mapped
    if case.problem is not None or case.context is not None or m.intent is None or m.kind is None:
        return "no rules", case.problem  # the facts themselves are refused: no reader runs
    ctx = make(m.intent, case.req, case.ses, case.fac, CLOCK, POLICY, m.prop, m.arguments, None)  # type: ignore[arg-type]
    return run_rules(POLICY.by_kind[m.kind], ctx)


@settings(max_examples=400, deadline=None)
@given(spot=st.sampled_from(SPOTS), junk=st.sampled_from(JUNK), box=st.booleans(),
       request=st.sampled_from([None, {"product_type": "Coffee Maker", "budget": "100.00", "quantity": 2},
                                {"category": "Kitchen", "options": {"color": "red"}}]))
def test_the_readers_decide_as_their_former_bodies_on_hostile_facts(spot: tuple[str, ...], junk: Any, box: bool,
                                                                    request: Any) -> None:
    facts = helper_facts()
    at = facts
    for key in spot[:-1]:
        at = at[key]
    at[spot[-1]] = Box(at[spot[-1]]) if box and isinstance(at.get(spot[-1]), dict) else junk
    args = checkout_args(line(quantity=2), line(sku="S-COF-2", unit_price="150.50"))
    assert _rules(facts, ctx_module.Ctx, args, request) == _rules(copy.deepcopy(facts), RefCtx, args, request)
