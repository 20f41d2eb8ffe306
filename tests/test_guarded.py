"""Guarded tools: the developer's function runs only on allow; otherwise a typed Blocked result."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from txguard import (
    CompiledPolicy,
    AsyncGuardedTool,
    Blocked,
    Guard,
    GuardedTool,
    Outcome,
    Proposal,
    ToolBlocked,
    UsageError,
    compile_file,
    render_confirmation,
)
from txguard.adapters import from_openai_chat

ROOT = Path(__file__).resolve().parent.parent
CATALOG = json.loads((ROOT / "examples" / "catalog" / "catalog.json").read_text(encoding="utf-8"))

LINE = {"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1, "unit_price": "270.91"}
CART: dict[str, Any] = {"items": [LINE], "currency": "USD", "total": "270.91",
                        "payment_method_id": "credit_card_6177109", "confidence": 0.93}


@pytest.fixture(scope="module")
def _policy() -> CompiledPolicy:
    return compile_file(ROOT / "policies" / "retail.yaml")


@pytest.fixture
def guard(_policy: CompiledPolicy) -> Guard:
    """Each test's own guard: its single-use ledger is not shared with another test."""
    return Guard(_policy)


def new_context(confirmed: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "request": {"text": "a black drip coffee maker", "product_type": "Coffee Maker", "budget": "300", "quantity": 1},
        "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": confirmed if confirmed is not None else []},
        "facts": CATALOG,
    }


class Shop:
    """The developer's own tool functions; records what really ran."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []

    def place_order(self, items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                    confidence: float | None = None) -> str:
        self.orders.append({"items": items, "total": total, "payment_method_id": payment_method_id})
        return f"order #{len(self.orders)} placed: {total} {currency}"

    async def place_order_async(self, items: list[dict[str, Any]], currency: str, total: str,
                                payment_method_id: str, confidence: float | None = None) -> str:
        await asyncio.sleep(0)
        return self.place_order(items, currency, total, payment_method_id, confidence)


def test_allowed_call_runs_the_function_and_returns_its_result(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    assert isinstance(checkout, GuardedTool)
    assert checkout(**CART) == "order #1 placed: 270.91 USD"
    assert shop.orders == [{"items": [LINE], "total": "270.91", "payment_method_id": "credit_card_6177109"}]
    assert checkout.last_decision is not None and checkout.last_decision.outcome is Outcome.ALLOW


def test_positional_arguments_are_checked_by_parameter_name(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    result = checkout(CART["items"], "USD", "270.91", "credit_card_6177109", 0.93)
    assert result == "order #1 placed: 270.91 USD"


def test_missing_consent_returns_blocked_with_the_confirmation_to_show(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context())
    result = checkout(**CART)
    assert isinstance(result, Blocked)
    assert shop.orders == []
    assert result.outcome is Outcome.CLARIFY
    assert result.tool == "checkout"
    assert result.proposal == {"name": "checkout", "arguments": CART}
    assert "consent" in result.decision.codes
    assert result.confirmation is not None
    assert [(l.sku, l.quantity, l.unit_price) for l in result.confirmation.lines] == [("2115393569", 1, "270.91")]
    assert result.questions and result.route is None
    assert render_confirmation(result.confirmation) in result.message
    assert "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD" in result.message


def test_escalation_returns_blocked_with_the_route(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context())
    espresso = {"sku": "3714494375", "product_id": "4354588079", "title": "Espresso Machine", "quantity": 1,
                "unit_price": "2709.83"}
    result = checkout([espresso], "USD", "2709.83", "credit_card_6177109", 0.9)
    assert isinstance(result, Blocked)
    assert shop.orders == []
    assert result.outcome is Outcome.ESCALATE
    assert result.route == "human"
    assert result.questions == () and result.confirmation is None
    assert result.reasons[0].message in result.message


def test_on_block_raise_raises_tool_blocked_carrying_the_result(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context(), on_block="raise")
    with pytest.raises(ToolBlocked) as info:
        checkout(**CART)
    assert info.value.blocked.outcome is Outcome.CLARIFY
    assert "clarify" in str(info.value)
    assert shop.orders == []


def test_decorator_form_and_default_tool_name(guard: Guard) -> None:
    ctx = new_context()
    ran: list[str] = []

    @guard.tool(context=ctx)
    def checkout(**arguments: Any) -> str:
        ran.append("checkout")
        return "done"

    blocked = checkout(**CART)
    assert isinstance(blocked, Blocked) and blocked.tool == "checkout" and ran == []
    ctx["session"]["confirmed"].append({"name": "checkout", "arguments": CART})
    assert checkout(**CART) == "done" and ran == ["checkout"]


def test_confirmation_round_trip(guard: Guard) -> None:
    """clarify -> the host shows the confirmation -> the user's explicit yes is recorded -> allowed."""
    shop = Shop()
    ctx = new_context()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=ctx)
    first = checkout(**CART)
    assert isinstance(first, Blocked) and first.confirmation is not None
    # The user taps "Confirm" on the host's trusted screen; the host (never the model) records it.
    ctx["session"]["confirmed"].append({"digest": first.confirmation.digest})
    assert checkout(**CART) == "order #1 placed: 270.91 USD"
    # The agent then changes the cart: the confirmation no longer covers it.
    changed = dict(CART, items=[dict(LINE, quantity=2)], total="541.82")
    again = checkout(**changed)
    assert isinstance(again, Blocked) and again.outcome is Outcome.CLARIFY
    assert "consent" in again.decision.codes
    assert again.confirmation is not None and again.confirmation.digest != first.confirmation.digest
    assert len(shop.orders) == 1


def test_context_may_be_a_function_read_at_every_call(guard: Guard) -> None:
    calls: list[int] = []

    def context() -> dict[str, Any]:
        calls.append(1)
        return new_context([{"name": "checkout", "arguments": CART}])

    checkout = guard.wrap(Shop().place_order, tool="checkout", context=context)
    checkout(**CART)
    checkout(**CART)
    assert len(calls) == 2


def test_dispatch_decides_the_raw_proposal_of_an_adapter(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    good = from_openai_chat({"id": "call_1", "type": "function", "function": {"name": "checkout", "arguments": json.dumps(CART)}})
    assert checkout.dispatch(good) == "order #1 placed: 270.91 USD"
    truncated = from_openai_chat({"id": "call_2", "type": "function",
                                  "function": {"name": "checkout", "arguments": json.dumps(CART)[:50]}})
    blocked = checkout.dispatch(truncated)
    assert isinstance(blocked, Blocked) and blocked.decision.codes == ("malformed",)
    assert blocked.route == "refuse"
    assert len(shop.orders) == 1


def test_dispatch_accepts_a_proposal_model_and_refuses_anything_else(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    assert checkout.dispatch(Proposal(name="checkout", arguments=CART)) == "order #1 placed: 270.91 USD"
    for junk in (None, "checkout", ["checkout", CART]):
        blocked = checkout.dispatch(junk)
        assert isinstance(blocked, Blocked) and blocked.decision.codes == ("malformed",)
    assert len(shop.orders) == 1


def test_dispatch_never_runs_a_proposal_for_another_tool(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    blocked = checkout.dispatch({"name": "add_to_cart", "arguments": CART})
    assert isinstance(blocked, Blocked) and blocked.outcome is Outcome.ESCALATE
    assert shop.orders == []


def test_a_call_that_does_not_fit_the_function_is_refused_not_run(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    blocked = checkout(**CART, coupon="FREE")  # type: ignore[call-arg]
    assert isinstance(blocked, Blocked) and blocked.decision.codes == ("malformed",)
    assert shop.orders == []


def test_async_function_gives_an_async_guarded_tool(guard: Guard) -> None:
    shop = Shop()
    ctx = new_context()
    checkout = guard.wrap(shop.place_order_async, tool="checkout", context=ctx)
    assert isinstance(checkout, AsyncGuardedTool)
    blocked = asyncio.run(checkout(**CART))
    assert isinstance(blocked, Blocked) and shop.orders == []
    assert blocked.confirmation is not None
    ctx["session"]["confirmed"].append({"digest": blocked.confirmation.digest})
    assert asyncio.run(checkout(**CART)) == "order #1 placed: 270.91 USD"
    # the confirmation was used by order #1: a second order needs the user's confirmation again
    assert isinstance(asyncio.run(checkout.dispatch({"name": "checkout", "arguments": json.dumps(CART)})), Blocked)
    ctx["session"]["confirmed"].append({"digest": blocked.confirmation.digest, "nonce": "second"})
    assert asyncio.run(checkout.dispatch({"name": "checkout", "arguments": json.dumps(CART)})) == "order #2 placed: 270.91 USD"


def test_async_on_block_raise(guard: Guard) -> None:
    checkout = guard.wrap(Shop().place_order_async, tool="checkout", context=new_context(), on_block="raise")
    with pytest.raises(ToolBlocked):
        asyncio.run(checkout(**CART))


def test_bad_usage_is_a_usage_error(guard: Guard) -> None:
    with pytest.raises(UsageError):
        guard.wrap(Shop().place_order, on_block="ignore")  # type: ignore[call-overload]
    checkout = guard.wrap(Shop().place_order, tool="checkout", context=lambda: ["not", "a", "mapping"])  # type: ignore[arg-type,return-value]
    with pytest.raises(UsageError):
        checkout(**CART)


def test_wrapper_keeps_the_function_metadata(guard: Guard) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout")
    assert checkout.__name__ == "place_order"
    assert checkout.tool == "checkout"


class DefaultingShop:
    """A tool whose parameters have defaults the agent never sends: who is paid, where it ships."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def place_order(self, items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                    confidence: float | None = None, merchant: str = "other-shop",
                    shipping_address: dict[str, str] | None = None) -> str:
        self.runs.append({"merchant": merchant, "shipping_address": shipping_address})
        return f"paid {merchant}"

    async def place_order_async(self, items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                                confidence: float | None = None, merchant: str = "other-shop",
                                shipping_address: dict[str, str] | None = None) -> str:
        return self.place_order(items, currency, total, payment_method_id, confidence, merchant, shipping_address)


@pytest.mark.parametrize("how", ["call", "dispatch", "dispatch_text", "async_call", "async_dispatch"])
def test_defaults_are_decided_in_every_path_so_consent_to_a_cart_does_not_pay_another_merchant(
        guard: Guard, how: str) -> None:
    shop = DefaultingShop()
    # The user confirmed the cart as the agent sent it: no merchant, no address.
    context = new_context([{"name": "checkout", "arguments": CART}])
    fn = shop.place_order_async if how.startswith("async") else shop.place_order
    checkout: Any = guard.wrap(fn, tool="checkout", context=context)
    run = {
        "call": lambda: checkout(**CART),
        "dispatch": lambda: checkout.dispatch({"name": "checkout", "arguments": CART}),
        "dispatch_text": lambda: checkout.dispatch({"name": "checkout", "arguments": json.dumps(CART)}),
        "async_call": lambda: asyncio.run(checkout(**CART)),
        "async_dispatch": lambda: asyncio.run(checkout.dispatch({"name": "checkout", "arguments": CART})),
    }[how]
    blocked = run()
    # The function would run with merchant `other-shop`: that is what is decided, and it was never confirmed.
    assert isinstance(blocked, Blocked) and blocked.outcome is Outcome.CLARIFY
    assert blocked.proposal["arguments"]["merchant"] == "other-shop"
    assert blocked.confirmation is not None and blocked.confirmation.merchant == "other-shop"
    assert shop.runs == []
    # Once the user confirms exactly that, the function runs with exactly the confirmed values.
    context["session"]["confirmed"].append({"digest": blocked.confirmation.digest})
    assert run() == "paid other-shop"
    assert shop.runs == [{"merchant": "other-shop", "shipping_address": None}]


@pytest.mark.parametrize(("proposal", "message"), [
    ({"name": "add_to_cart", "arguments": CART},
     "the tool call could not be read: a call of tool `add_to_cart` was dispatched to `checkout`"),
    ({"arguments": CART}, "the tool call could not be read: the proposal names no tool (dispatched to `checkout`)"),
    ({"name": 7, "arguments": CART},
     "the tool call could not be read: the proposal's tool name is a int, not a string (dispatched to `checkout`)"),
    ({"name": "checkout", "arguments": {**CART, "coupon": "FREE"}},
     "the tool call could not be read: the arguments do not match `checkout`: got an unexpected keyword argument 'coupon'"),
])
def test_dispatch_says_why_a_call_is_refused(guard: Guard, proposal: dict[str, Any], message: str) -> None:
    shop = Shop()
    checkout = guard.wrap(shop.place_order, tool="checkout", context=new_context([{"name": "checkout", "arguments": CART}]))
    blocked = checkout.dispatch(proposal)
    assert isinstance(blocked, Blocked)
    assert [(r.code, r.message) for r in blocked.reasons] == [("malformed", message)]
    assert shop.orders == []


def test_variadic_parameters_receive_exactly_what_was_decided() -> None:
    reads = Guard.from_text('apiVersion: txguard/v1\nid: reads\nversion: "1"\n'
                            "tools:\n  lookup: {intent: read}\ndefaults: {read: allow}\n")

    def everything(first: int, *rest: int, flag: bool = False, **extra: Any) -> Any:
        return first, rest, flag, extra

    lookup: Any = reads.wrap(everything, tool="lookup")
    assert lookup(1, 2, 3, extra=4) == (1, (2, 3), False, {"extra": 4})
    assert lookup.last_decision.intent.arguments == {"first": 1, "rest": [2, 3], "flag": False, "extra": 4}
    assert lookup.dispatch({"name": "lookup", "arguments": {"first": 1, "extra": 4}}) == (1, (), False, {"extra": 4})
    # A keyword that would land in **extra under a parameter's name is ambiguous: refused, not run.
    blocked = lookup(1, 2, rest=5)
    assert isinstance(blocked, Blocked) and blocked.reasons[0].message == (
        "the tool call could not be read: keyword argument `rest` of `lookup` has the name of a parameter")
