"""Built-in checks of how much: ``price_cap``, ``budget`` and ``total``."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..core.money import format_amount
from ..core.intents import Checkout, Refund
from ..core.paths import MISSING
from ..core.taxonomy import normalise
from ..core.errors import MissingFact
from . import declared
from .ctx import Ctx, lacks
from .roles import kind_spec
from .spec import CAPS_SCHEMA, caps, check

DEFAULT_CATEGORY = "default"
"""The key of ``price_cap.per_category`` that caps every category the mapping does not list."""


def _price_cap_params(raw: dict[str, Any]) -> dict[str, Any]:
    if "per_category" not in raw:
        return {"max": caps(raw.get("max", {})), "default": None, "per_category": None}
    per_category = {normalise(cat): caps(c) for cat, c in raw["per_category"].items()}
    return {
        "max": caps(raw.get("max", {})),
        "default": per_category.pop(DEFAULT_CATEGORY, None),
        "per_category": per_category,  # given, even empty: every category is capped
    }


def _cap_implies(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Lint: cap ``a`` is exceeded (or missing) whenever cap ``b`` is: ``a`` caps fewer currencies
    (every other one is missing, so fires) and each no higher."""
    if a["per_category"] or b["per_category"]:
        return False
    if not set(a["max"]) <= set(b["max"]):
        return False
    return all(b["max"][cur] >= cap for cur, cap in a["max"].items())


def _cap_currencies(p: Mapping[str, Any]) -> frozenset[str]:
    """Lint: every currency the caps name."""
    caps = [p["max"], *(p["per_category"] or {}).values()] + ([p["default"]] if p["default"] else [])
    return frozenset(cur for c in caps for cur in c)


@check("price_cap", code="price_cap", outcome="escalate", kinds=("checkout", "refund"), needs=frozenset({"lines"}),
       params_schema={"type": "object", "additionalProperties": False, "required": ["max"],
                      "properties": {"max": CAPS_SCHEMA, "per_category": {"type": "object", "additionalProperties": CAPS_SCHEMA}}},
       compile_params=_price_cap_params, implies=_cap_implies, currencies=_cap_currencies,
       roles=("amount",), validate=declared.price_cap_problems)
def _price_cap(ctx: Ctx, params: Any) -> str | None:
    """Fires when the amount exceeds the cap for its currency (or no cap exists for the currency).

    For a checkout the amount is the larger of the stated total and the catalog total, so an
    understated total cannot slip under the cap. ``per_category`` caps the lines of each category
    it lists; a category it does not list falls to its ``default`` cap, and without a ``default``
    the rule fires (an unlisted category is never left uncapped).
    """
    intent = ctx.intent
    if not isinstance(intent, (Checkout, Refund)):
        spec = kind_spec(intent)
        if spec is not None:
            return declared.price_cap(ctx, spec, params)
        raise lacks(intent, "currency")
    currency = ctx.read("currency", intent.currency)
    amount = ctx.read("amount", ctx.exposure() if isinstance(intent, Checkout) else intent.amount)
    cap = params["max"].get(currency)
    ctx.read("cap", MISSING if cap is None else cap)
    if ctx.reads is not None and isinstance(intent, Checkout):
        ctx.read("stated total", intent.total)
        ctx.read("catalog total", ctx.catalog_total())  # computed (and cached) by exposure()
    if cap is None:
        return f"no price cap is configured for {currency}: amounts in it are not allowed"
    if amount > cap:
        return f"amount {format_amount(amount, currency)} is over the cap of {format_amount(cap, currency)}"
    if params["per_category"] is not None and isinstance(intent, Checkout):
        ctx.read("per-category caps", params["per_category"])
        ctx.read("default category cap", params["default"])
        sums: dict[str, Decimal] = {}
        for line in intent.items:
            cat = normalise(ctx.line_category(line))
            price = ctx.catalog_price(line.product_id, line.sku)
            if price is None:
                raise MissingFact(f"variant `{line.sku}` of product `{line.product_id}` is not in the catalog: "
                                  "its price is unknown")
            unit = max(line.unit_price, price)
            sums[cat] = sums.get(cat, Decimal(0)) + unit * line.quantity
        ctx.read("category totals", sums)
        for cat, total in sorted(sums.items()):
            caps_ = params["per_category"].get(cat, params["default"])
            if caps_ is None:
                return f"no per-category cap covers `{cat}` (it is not listed and there is no `default`)"
            ccap = caps_.get(currency)
            if ccap is None:
                return f"no {cat} cap is configured for {currency}"
            if total > ccap:
                return f"{cat} lines total {format_amount(total, currency)}, over the cap of {format_amount(ccap, currency)}"
    return None


@check("budget", code="budget", outcome="clarify", kinds=("checkout",), needs=frozenset({"lines"}),
       roles=("amount",), validate=declared.request_problems("budget", ("money",)),
       question="This costs more than the budget you gave. Do you want to go ahead anyway, or shall I look for something cheaper?")
def _budget(ctx: Ctx, params: Any) -> str | None:
    """Fires when the user stated a budget and the checkout costs more (equal is fine)."""
    spec = kind_spec(ctx.intent) if not isinstance(ctx.intent, Checkout) else None
    if spec is not None:
        return declared.budget(ctx, spec, params)
    budget = ctx.read("request.budget", ctx.request.budget)
    if budget is None:
        return None
    currency = ctx.read("cart currency", ctx.cart().currency)
    bcur = ctx.read("budget currency", ctx.request.currency or ctx.policy.currency)
    if bcur != currency:
        return f"the budget is in {bcur} and the cart in {currency}: they cannot be compared"
    amount = ctx.read("amount", ctx.exposure())
    if amount > budget:
        return f"total {format_amount(amount, currency)} is over the user's budget of {format_amount(budget, currency)}"
    return None


@check("total", code="total_mismatch", outcome="escalate", kinds=("checkout",))
def _total(ctx: Ctx, params: Any) -> str | None:
    """Fires when the stated total is not exactly the sum of quantity x unit price."""
    intent = ctx.intent
    assert isinstance(intent, Checkout)
    stated = ctx.read("stated total", intent.total)
    lines = ctx.read("sum of lines", sum((l.unit_price * l.quantity for l in intent.items), Decimal(0)))
    if lines != stated:
        return (f"stated total {format_amount(stated, intent.currency)} is not the sum of the lines "
                f"{format_amount(lines, intent.currency)}")
    return None
