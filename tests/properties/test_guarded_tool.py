"""Property: a guarded tool runs its function on `allow` and on nothing else."""

from __future__ import annotations

import asyncio
import inspect
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


# -- any default of a guarded function is part of what was decided --------------------------------

READS = Guard.from_text('apiVersion: txguard/v1\nid: reads\nversion: "1"\n'
                        "tools:\n  lookup: {intent: read}\ndefaults: {read: allow}\n")
plain = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                     max_leaves=8)


@st.composite
def signatures_and_calls(draw: st.DrawFn) -> tuple[inspect.Signature, tuple[Any, ...], dict[str, Any]]:
    """A function signature with drawn defaults, and a call of it that leaves some defaults out."""
    n_pos, n_kw = draw(st.integers(0, 4)), draw(st.integers(0, 3))
    required = draw(st.integers(0, n_pos))
    params, args, kwargs = [], [], {}
    for i in range(n_pos):
        name = f"p{i}"
        default = inspect.Parameter.empty if i < required else draw(plain)
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default))
        if i < required or draw(st.booleans()):
            value = draw(plain)
            if not kwargs and len(args) == i and draw(st.booleans()):
                args.append(value)
            else:
                kwargs[name] = value
    for i in range(n_kw):
        name = f"k{i}"
        has_default = draw(st.booleans())
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                        default=draw(plain) if has_default else inspect.Parameter.empty))
        if not has_default or draw(st.booleans()):
            kwargs[name] = draw(plain)
    return inspect.Signature(params), tuple(args), kwargs


@settings(max_examples=200, deadline=None)
@given(signatures_and_calls(), st.sampled_from(["call", "dispatch", "dispatch_text", "async_call", "async_dispatch"]))
def test_the_function_receives_exactly_the_decided_arguments_defaults_included(
        drawn: tuple[inspect.Signature, tuple[Any, ...], dict[str, Any]], how: str) -> None:
    signature, args, kwargs = drawn
    received: list[dict[str, Any]] = []

    def record(*a: Any, **kw: Any) -> str:
        # What the function really receives, by parameter name, without filling in any default.
        received.append(dict(signature.bind(*a, **kw).arguments))
        return "ran"

    async def record_async(*a: Any, **kw: Any) -> str:
        return record(*a, **kw)

    fn: Any = record_async if how.startswith("async") else record
    fn.__signature__ = signature
    tool: Any = READS.wrap(fn, tool="lookup")
    by_name = dict(signature.bind(*args, **kwargs).arguments)
    result = {
        "call": lambda: tool(*args, **kwargs),
        "dispatch": lambda: tool.dispatch({"name": "lookup", "arguments": by_name}),
        "dispatch_text": lambda: tool.dispatch({"name": "lookup", "arguments": json.dumps(by_name)}),
        "async_call": lambda: asyncio.run(tool(*args, **kwargs)),
        "async_dispatch": lambda: asyncio.run(tool.dispatch({"name": "lookup", "arguments": by_name})),
    }[how]()
    assert result == "ran"
    decided = tool.last_decision.intent.arguments
    # Every parameter reached the function explicitly, and with exactly the value decided.
    assert received == [decided]
    assert set(decided) == set(signature.parameters)
    for name, param in signature.parameters.items():
        assert decided[name] == by_name.get(name, param.default)
