"""Built-in checks of how it is paid: ``payment_method``, ``balance`` and ``refund_destination``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..core.intents import AddToCart, Checkout, ModifyOrderPayment, Refund
from ..core.paths import MISSING
from ..core.errors import ConditionError, MissingFact
from . import declared
from .ctx import ORDER, PAID, REPLACE, Ctx, _amount
from .roles import kind_spec
from .spec import check

GIFT_CARD = "gift_card"
"""The ``source`` of a payment method that must carry a ``balance`` (the tau2-bench retail layout)."""

_PAID_KINDS = ("checkout", "modify_order_payment", "modify_order_items", "exchange_items")


def _read_methods(ctx: Ctx) -> None:
    """Record who acts and their payment methods (once ``ctx.payment_methods()`` has been read)."""
    if ctx.reads is not None:
        ctx.read("acting user", ctx.acting_user_id())
        ctx.read("user's methods", sorted(ctx.payment_methods()))


@check("payment_method", code="payment_method", outcome="escalate", kinds=_PAID_KINDS, provides="method",
       roles=("payment",), validate=declared.payment_problems,
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"collection": {"type": "string"}, "field": {"type": "string"}}})
def _payment_method(ctx: Ctx, params: Any) -> str | None:
    """Fires when the payment method is not one of the acting user's (the authenticated user, or
    the order's owner when nobody is authenticated)."""
    spec = kind_spec(ctx.intent) if not isinstance(ctx.intent, PAID) else None
    if spec is not None:
        return declared.payment_method(ctx, spec, params)
    pm = ctx.read("payment_method_id", ctx.paid_intent().payment_method_id)
    method = ctx.payment_method(pm)
    _read_methods(ctx)
    if method is None:
        return f"payment method `{pm}` is not one of user `{ctx.acting_user_id()}`'s"
    return None


def _amount_due(ctx: Ctx) -> Decimal:
    """The amount a payment method must cover, in the catalog's currency (balances are kept in it)."""
    intent = ctx.intent
    currency = intent.currency if isinstance(intent, (Checkout, AddToCart, Refund)) else ctx.policy.currency
    if currency != ctx.policy.currency:
        raise ConditionError(f"the amount is in {currency} and balances in {ctx.policy.currency}: no rate to compare them")
    if isinstance(intent, Checkout):
        return ctx.exposure()
    order = f"order `{intent.order_id if isinstance(intent, ORDER) else ''}`"
    if isinstance(intent, ModifyOrderPayment):
        return _amount(ctx.first_payment().get("amount"), order, "payment_history[0].amount")
    if isinstance(intent, REPLACE):
        diff = Decimal(0)
        for old, (new, var) in zip(intent.item_ids, ctx.new_variants()):
            line = ctx.order_line(old)
            if var is None or line is None:
                raise MissingFact(f"price of `{new if var is None else old}` is not in the facts")
            pid = str(line["product_id"])
            diff += (_amount(var.get("price"), f"variant `{new}` of product `{pid}`", "price")
                     - _amount(line.get("price"), order, f"item `{old}`.price"))
        return max(diff, Decimal(0))
    return Decimal(0)


@check("balance", code="balance", outcome="escalate", kinds=_PAID_KINDS,
       needs=frozenset({"order", "lines", "new_items", "method"}))
def _balance(ctx: Ctx, params: Any) -> str | None:
    """Fires when a gift card (or any method with a ``balance``) pays and its balance is below the
    amount due: a checkout's total; a payment change's original payment; for item changes, the sum
    of new minus old prices when positive. A gift card without a valid ``balance``, or a method
    that is not the user's, is a missing fact."""
    pm = ctx.read("payment_method_id", ctx.paid_intent().payment_method_id)
    method = ctx.payment_method(pm)
    _read_methods(ctx)
    if method is None:
        raise MissingFact(f"payment method `{pm}` is not one of user `{ctx.acting_user_id()}`'s: its balance is unknown")
    ctx.read("balance", method.get("balance", MISSING))
    if "balance" not in method and method["source"] != GIFT_CARD:
        return None
    balance = _amount(method.get("balance"), f"payment method `{pm}`", "balance")
    due = ctx.read("amount due", _amount_due(ctx))
    if balance < due:
        return f"`{pm}` has a balance of {balance} but {due} is due"
    return None


def _refund_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"allow_gift_cards": raw.get("allow_gift_cards", True), "gift_card_source": raw.get("gift_card_source", "gift_card")}


@check("refund_destination", code="refund_method", outcome="escalate", kinds=("return_items", "refund"),
       needs=frozenset({"order"}),
       params_schema={"type": "object", "additionalProperties": False, "properties": {
           "allow_gift_cards": {"type": "boolean"}, "gift_card_source": {"type": "string"}}},
       compile_params=_refund_params)
def _refund_destination(ctx: Ctx, params: Any) -> str | None:
    """Fires unless the refund goes to the order's original payment method (the first entry of its
    payment history) or, with ``allow_gift_cards``, to a gift card of the acting user."""
    pm = ctx.read("payment_method_id", ctx.paid_intent().payment_method_id)
    if ctx.read("original method", ctx.original_method()) == pm:
        return None
    if ctx.read("allow_gift_cards", params["allow_gift_cards"]):
        method = ctx.payment_method(pm)
        _read_methods(ctx)
        if method is not None and method["source"] == params["gift_card_source"]:
            return None
    return f"refund to `{pm}`: neither the original payment method nor one of the user's gift cards"
