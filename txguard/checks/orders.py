"""Built-in checks of the order acted on: ``order_exists``, ``ownership``, ``order_status``,
``same_product`` and ``noop``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.intents import ModifyOrderAddress, ModifyOrderPayment, ModifyUserAddress
from ..core.errors import MissingFact
from . import declared
from .ctx import ORDER, REPLACE, Ctx, ReplaceIntent, _typed, lacks
from .roles import kind_spec
from .spec import ORDER_KINDS, check


@check("order_exists", code="unknown_order", outcome="escalate", kinds=ORDER_KINDS, provides="order")
def _order_exists(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order id is not in the facts."""
    order_id = ctx.read("order_id", ctx.order_id)
    rec = ctx.facts.get("orders", order_id)
    ctx.read("in facts.orders", isinstance(rec, Mapping))
    if rec is None:
        return f"order `{order_id}` does not exist"
    ctx.order()  # present but not a record: a missing fact
    return None


@check("ownership", code="ownership", outcome="escalate", kinds=ORDER_KINDS + ("modify_user_address",),
       needs=frozenset({"order"}), route="refuse", roles=("owner", "order"), any_role=True,
       validate=declared.ownership_problems,
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"collection": {"type": "string"}, "field": {"type": "string"}}})
def _ownership(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order (or the user record) acted on belongs to someone other than the
    authenticated user. Without an authenticated user it does not judge (``authentication`` does)."""
    me = ctx.read("authenticated user", ctx.session.authenticated_user_id)
    if me is None:
        return None
    intent = ctx.intent
    if isinstance(intent, ORDER):
        owner = ctx.order_owner()
        what = f"order `{intent.order_id}`"
    elif isinstance(intent, ModifyUserAddress):
        owner = intent.user_id
        what = "the user record"
    else:
        spec = kind_spec(intent)
        if spec is not None:
            return declared.ownership(ctx, spec, params)
        raise lacks(intent, "user_id")
    if ctx.read("owner", owner) != me:
        return f"{what} belongs to `{owner}`, not to the authenticated user `{me}`"
    return None


def _status_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) for k, v in raw["allowed"].items()}


@check("order_status", code="order_status", outcome="escalate", kinds=ORDER_KINDS, needs=frozenset({"order"}),
       route="refuse",
       params_schema={"type": "object", "additionalProperties": False, "required": ["allowed"], "properties": {
           "allowed": {"type": "object", "propertyNames": {"enum": list(ORDER_KINDS)},
                       "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1}}}},
       compile_params=_status_params)
def _order_status(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order's status is not one of those allowed for the intent kind (an intent
    kind not listed is allowed on no status)."""
    status = ctx.read("status", ctx.order_field("status", str))
    kind = ctx.kind
    allowed = ctx.read("allowed", params.get(kind, []))
    if status not in allowed:
        return f"order status is `{status}`; {kind} needs {' or '.join(f'`{s}`' for s in allowed) or 'a listed status'}"
    return None


def _read_pairs(ctx: Ctx, intent: ReplaceIntent) -> None:
    """Record the replaced and the replacing item ids."""
    if ctx.reads is not None:
        ctx.read("item_ids", list(intent.item_ids))
        ctx.read("new_item_ids", list(intent.new_item_ids))


@check("same_product", code="same_product", outcome="escalate", kinds=("modify_order_items", "exchange_items"),
       needs=frozenset({"order", "lines"}), provides="new_items")
def _same_product(ctx: Ctx, params: Any) -> str | None:
    """Fires when a new item is not a variant of the same product as the item it replaces."""
    intent = ctx.replace_intent()
    _read_pairs(ctx, intent)
    for old, new in zip(intent.item_ids, intent.new_item_ids):
        line = ctx.order_line(old)
        if line is None:
            raise MissingFact(f"item `{old}` is not in order `{intent.order_id}`: its product is unknown")
        pid = str(line["product_id"])
        if ctx.variant(pid, new) is None:
            return f"`{new}` is not a variant of product `{pid}` (the product of `{old}`)"
    return None


def _noop_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"address": raw.get("address", False)}


@check("noop", code="noop", outcome="clarify",
       kinds=("modify_order_items", "exchange_items", "modify_order_payment", "modify_order_address", "modify_user_address"),
       needs=frozenset({"order"}),
       question="This would change nothing. What would you like to change?",
       params_schema={"type": "object", "additionalProperties": False, "properties": {"address": {"type": "boolean"}}},
       compile_params=_noop_params)
def _noop(ctx: Ctx, params: Any) -> str | None:
    """Fires when the change changes nothing: a new item equal to the one it replaces, a payment
    change to the method already used, or (with ``address: true``) an address equal to the current."""
    intent = ctx.intent
    if isinstance(intent, REPLACE):
        _read_pairs(ctx, intent)
        same = [o for o, n in zip(intent.item_ids, intent.new_item_ids) if o == n]
        if same:
            return f"item {', '.join(same)} would be replaced by itself"
    elif isinstance(intent, ModifyOrderPayment):
        pm = ctx.read("payment_method_id", intent.payment_method_id)
        if ctx.read("original method", ctx.original_method()) == pm:
            return "the order is already paid with that method"
    elif ctx.read("address", params["address"]):
        if isinstance(intent, ModifyOrderAddress):
            what, record = f"order `{intent.order_id}`", ctx.order()
        elif isinstance(intent, ModifyUserAddress):
            what, record = f"user `{intent.user_id}`", ctx.user(intent.user_id)
        else:
            raise lacks(intent, "address")
        current = ctx.read("current address", _typed(record.get("address"), Mapping, what, "address"))
        new = ctx.read("new address", intent.address.model_dump())
        if all(_typed(current.get(k), str, what, f"address.{k}") == v for k, v in new.items()):
            return "the address is already that one"
    return None
