"""Property: a guarded tool runs its function on `allow` and on nothing else."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from txguard import Blocked, Guard, Outcome

ROOT = Path(__file__).resolve().parents[2]
CATALOG = json.loads((ROOT / "examples" / "catalog" / "catalog.json").read_text(encoding="utf-8"))
GUARD = Guard.from_file(ROOT / "policies" / "retail.yaml")

VARIANTS = [(pid, p["name"], v["item_id"], f"{v['price']:.2f}")
            for pid, p in sorted(CATALOG["products"].items()) for v in p["variants"].values()]
AVAILABLE = [v for v in VARIANTS if CATALOG["products"][v[0]]["variants"][v[2]]["available"]]
USER = "chen_smith_8425"
# Mostly the user's own card and PayPal; sometimes their small gift card or someone else's card.
METHODS = ["credit_card_6177109", "paypal_9175769"] * 4 + ["gift_card_4796172", "credit_card_0000000"]

junk = st.none() | st.integers(-5, 5) | st.text(max_size=6) | st.floats(allow_nan=True)


@st.composite
def carts(draw: st.DrawFn) -> dict[str, Any]:
    """Checkout arguments: mostly honest carts from the catalog, with drawn lies and corruptions."""
    lines = []
    pool = draw(st.sampled_from([AVAILABLE] * 9 + [VARIANTS]))
    for pid, name, sku, price in draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2)):
        quantity = draw(st.sampled_from([1, 1, 1, 2]))
        if draw(st.integers(0, 9)) == 0:
            price = draw(st.sampled_from(["1.00", "99.99", price + "1", "-5"]))
        lines.append({"sku": sku, "product_id": pid, "title": name, "quantity": quantity, "unit_price": price})
    cents = 0
    for line in lines:
        try:
            cents += round(float(line["unit_price"]) * 100) * int(line["quantity"])
        except ValueError:
            pass
    cart: dict[str, Any] = {"items": lines, "currency": "USD", "total": f"{cents // 100}.{cents % 100:02d}",
                            "payment_method_id": draw(st.sampled_from(METHODS)),
                            "confidence": draw(st.sampled_from([0.95, 0.95, 0.85, 0.8, 0.5]))}
    if draw(st.integers(0, 9)) == 0:
        cart[draw(st.sampled_from(sorted(cart)))] = draw(junk)
    return cart


@st.composite
def situations(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    cart = draw(carts())
    product = draw(st.sampled_from(sorted({name for _, name, _, _ in VARIANTS})))
    items = cart["items"]
    title = items[0]["title"] if isinstance(items, list) and items and isinstance(items[0], dict) else product
    request = {"product_type": draw(st.sampled_from([title, title, title, product])),
               "budget": draw(st.sampled_from([None, None, "100", "500", "5000"])),
               "quantity": draw(st.sampled_from([None, None, 1, 2]))}
    confirmed = draw(st.sampled_from(["exact", "exact", "exact", "none", "other"]))
    session = {"authenticated_user_id": draw(st.sampled_from([USER] * 5 + [None])),
               "confirmed": [] if confirmed == "none" else
               [{"name": "checkout", "arguments": cart if confirmed == "exact" else draw(carts())}]}
    return cart, {"request": request, "session": session, "facts": CATALOG}


def _decide(cart: dict[str, Any], context: dict[str, Any]) -> Outcome:
    return GUARD.independent().check({"name": "checkout", "arguments": cart}, **context).outcome


@settings(max_examples=300, deadline=None)
@given(situations())
def test_sync_tool_runs_exactly_on_allow(situation: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cart, context = situation
    ran: list[dict[str, Any]] = []

    def place_order(**arguments: Any) -> str:
        ran.append(arguments)
        return "placed"

    result = GUARD.independent().wrap(place_order, tool="checkout", context=context)(**cart)
    outcome = _decide(cart, context)
    event(outcome.value)
    if outcome is Outcome.ALLOW:
        assert result == "placed" and ran == [cart]
    else:
        assert ran == []
        assert isinstance(result, Blocked) and result.outcome is outcome


@settings(max_examples=100, deadline=None)
@given(situations(), st.sampled_from(["dict", "json", "truncated"]))
def test_async_dispatch_runs_exactly_on_allow(situation: tuple[dict[str, Any], dict[str, Any]], form: str) -> None:
    cart, context = situation
    ran: list[dict[str, Any]] = []

    async def place_order(**arguments: Any) -> str:
        ran.append(arguments)
        return "placed"

    text = json.dumps(cart)
    arguments: Any = {"dict": cart, "json": text, "truncated": text[: len(text) // 2]}[form]
    tool = GUARD.independent().wrap(place_order, tool="checkout", context=context)
    result = asyncio.run(tool.dispatch({"name": "checkout", "arguments": arguments}))
    outcome = GUARD.independent().check({"name": "checkout", "arguments": arguments}, **context).outcome
    if form == "truncated":
        assert outcome is Outcome.ESCALATE
    if outcome is Outcome.ALLOW:
        assert result == "placed" and ran == [cart]
    else:
        assert ran == [] and isinstance(result, Blocked)


def test_the_generator_reaches_every_outcome() -> None:
    """Guard against a vacuous property: honest confirmed carts are allowed, others are not."""
    seen = set()
    for pid, name, sku, price in VARIANTS[:60]:
        cart = {"items": [{"sku": sku, "product_id": pid, "title": name, "quantity": 1, "unit_price": price}],
                "currency": "USD", "total": price, "payment_method_id": METHODS[1], "confidence": 0.95}
        for confirmed in ([], [{"name": "checkout", "arguments": cart}]):
            ctx = {"request": {"product_type": name}, "session": {"authenticated_user_id": USER, "confirmed": confirmed},
                   "facts": CATALOG}
            seen.add(_decide(cart, ctx))
    assert seen == {Outcome.ALLOW, Outcome.CLARIFY, Outcome.ESCALATE}
