"""The context of one decision: everything a check may read, and strict readers of the facts.

A check reads the intent through typed accessors (:meth:`Ctx.cart`, :meth:`Ctx.order_intent`, ...)
that narrow the intent union to the concrete models of ``core/intents.py``, and the trusted facts
through helpers that raise :class:`MissingFact` for a record that is absent where it must be,
ill-typed or ambiguous. :meth:`Ctx.read` records the values a check reads when a decision is
traced (explain) and costs one test otherwise.

A declared intent kind has no typed accessor: a check reads it through the fields its ``roles``
name, and the declared facts by their declaration (:mod:`txguard.checks.roles`).

The facts layout is wire format v1 (``users``, ``orders``, ``products`` as in the tau2-bench
retail database): see ``FACTS_SCHEMA`` in ``core/paths``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ..core.context import Facts, Request, Session
from ..core.intents import (
    AddToCart,
    CancelOrder,
    Checkout,
    ExchangeItems,
    LineItem,
    ModifyOrderAddress,
    ModifyOrderItems,
    ModifyOrderPayment,
    ModifyUserAddress,
    ReadOnly,
    Refund,
    ReturnItems,
)
from ..core.errors import MissingFact
from .typed import _amount, _typed, plain_amount

__all__ = ["CART", "ITEMS", "KNOWN", "ORDER", "PAID", "REPLACE", "Ctx", "_amount", "_typed", "lacks", "plain_amount"]

if TYPE_CHECKING:
    from ..policy.compile import CompiledPolicy

CartIntent = Checkout | AddToCart
"""Intents that carry cart lines (``items``) and a ``currency``."""
OrderIntent = (CancelOrder | ModifyOrderItems | ExchangeItems | ModifyOrderAddress | ModifyOrderPayment
               | ReturnItems | Refund)
"""Intents that name an order (``order_id``)."""
ReplaceIntent = ModifyOrderItems | ExchangeItems
"""Intents that replace order items (``item_ids`` -> ``new_item_ids``)."""
ItemsIntent = ModifyOrderItems | ExchangeItems | ReturnItems
"""Intents that name order items (``item_ids``)."""
PaidIntent = Checkout | ModifyOrderItems | ExchangeItems | ModifyOrderPayment | ReturnItems | Refund
"""Intents that name a payment method (``payment_method_id``)."""

CART = (Checkout, AddToCart)
ORDER = (CancelOrder, ModifyOrderItems, ExchangeItems, ModifyOrderAddress, ModifyOrderPayment, ReturnItems, Refund)
REPLACE = (ModifyOrderItems, ExchangeItems)
ITEMS = (ModifyOrderItems, ExchangeItems, ReturnItems)
KNOWN = CART + ORDER + (ModifyUserAddress, ReadOnly)
PAID = (Checkout, ModifyOrderItems, ExchangeItems, ModifyOrderPayment, ReturnItems, Refund)

_T = TypeVar("_T")


def lacks(intent: object, name: str) -> AttributeError:
    """The error reading a field the intent's kind does not have (as pydantic words it)."""
    return AttributeError(f"{type(intent).__name__!r} object has no attribute {name!r}")


class Ctx:
    """Everything a check may read for one decision. Built once per decision."""

    __slots__ = ("intent", "request", "session", "facts", "now", "policy", "proposal", "arguments", "cache",
                 "consent_keys", "reads", "_products", "_variants", "_prices")

    def __init__(
        self,
        intent: BaseModel,
        request: Request,
        session: Session,
        facts: Facts,
        now: datetime,
        policy: CompiledPolicy,
        proposal: Any,
        arguments: Mapping[str, Any] | None = None,
        consent_keys: Mapping[str, bytes] | None = None,
    ) -> None:
        self.intent = intent
        self.request = request
        self.session = session
        self.facts = facts
        self.now = now
        self.policy = policy
        self.proposal = proposal
        self.arguments = arguments  # the proposal's arguments as parsed (None for an intent given validated)
        self.cache: dict[str, Any] = {}
        self.consent_keys = consent_keys  # {key id: key} that consent tokens are verified with
        self.reads: dict[str, Any] | None = None
        """When tracing (explain), the values the running check reads, by label; else None."""
        # Several checks read the same catalog records; the facts do not change during a decision.
        self._products: dict[str, Mapping[str, Any] | None] = {}
        self._variants: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._prices: dict[tuple[str, str], Decimal | None] = {}

    def read(self, label: str, value: _T) -> _T:
        """``value``, recorded under ``label`` when the decision is traced: a check declares what it
        reads where it reads it, so a trace shows the values the check really used."""
        if self.reads is not None:
            self.reads[label] = value
        return value

    # -- the intent, typed -----------------------------------------------------------------
    # A check applies only to the kinds its spec lists (the compiler refuses others), so a
    # narrowing below fails only on a misuse: with the AttributeError reading the field would raise.
    def cart(self) -> CartIntent:
        """The intent, as one with cart lines."""
        intent = self.intent
        if isinstance(intent, CART):
            return intent
        raise lacks(intent, "items")

    def order_intent(self) -> OrderIntent:
        """The intent, as one that names an order."""
        intent = self.intent
        if isinstance(intent, ORDER):
            return intent
        raise lacks(intent, "order_id")

    def replace_intent(self) -> ReplaceIntent:
        """The intent, as one that replaces order items by new ones."""
        intent = self.intent
        if isinstance(intent, REPLACE):
            return intent
        raise lacks(intent, "item_ids")

    def items_intent(self) -> ItemsIntent:
        """The intent, as one that names order items."""
        intent = self.intent
        if isinstance(intent, ITEMS):
            return intent
        raise lacks(intent, "item_ids")

    def paid_intent(self) -> PaidIntent:
        """The intent, as one that names a payment method."""
        intent = self.intent
        if isinstance(intent, PAID):
            return intent
        raise lacks(intent, "payment_method_id")

    @property
    def order_id(self) -> str:
        """The order the intent names."""
        return self.order_intent().order_id

    @property
    def kind(self) -> str:
        """The intent's kind (``read`` for a read-only tool's)."""
        intent = self.intent
        if isinstance(intent, KNOWN):
            return intent.kind
        raise lacks(intent, "kind")

    # -- facts helpers ---------------------------------------------------------------------
    # Trusted records are read strictly: a record a check needs that is absent where it must be,
    # ill-typed or ambiguous raises MissingFact (the rule escalates with `missing_fact`). A helper
    # never falls back to the agent's own claim or to a default value.
    def order(self) -> Mapping[str, Any]:
        order_id = self.order_id
        rec = self.facts.get("orders", order_id)
        if type(rec) is not dict and not isinstance(rec, Mapping):
            raise MissingFact(f"order `{order_id}` is not in facts.orders" if rec is None
                              else f"order `{order_id}` in facts.orders is not a record")
        return rec

    def order_field(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """A field of the order the intent names, of the given type, or MissingFact."""
        value = self.order().get(key)
        if type(value) is kind or (kind is Mapping and type(value) is dict):
            return value  # what _typed returns, without building the label of its error
        return _typed(value, kind, f"order `{self.order_id}`", key)

    def order_owner(self) -> str:
        return str(self.order_field("user_id", str))

    def first_payment(self) -> Mapping[str, Any]:
        """The first entry of the order's payment history (the original payment)."""
        history = self.order_field("payment_history", list)
        if not history:
            raise MissingFact(f"order `{self.order_id}` has no payment history")
        return _typed(history[0], Mapping, f"order `{self.order_id}`", "payment_history[0]")  # type: ignore[no-any-return]

    def original_method(self) -> str:
        """The payment method id of the order's original payment."""
        return str(_typed(self.first_payment().get("payment_method_id"), str,
                          f"order `{self.order_id}`", "payment_history[0].payment_method_id"))

    def user(self, user_id: str) -> Mapping[str, Any]:
        rec = self.facts.get("users", user_id)
        if type(rec) is not dict and not isinstance(rec, Mapping):
            raise MissingFact(f"user `{user_id}` is not in facts.users" if rec is None
                              else f"user `{user_id}` in facts.users is not a record")
        return rec

    def acting_user_id(self) -> str:
        """The authenticated user, or the owner of the order the intent names (never the agent's
        claim of who it acts for when the intent names an order)."""
        uid = self.session.authenticated_user_id
        if uid is not None:
            return uid
        if isinstance(self.intent, ORDER):
            return self.order_owner()
        if isinstance(self.intent, ModifyUserAddress):
            return self.intent.user_id
        raise MissingFact("no authenticated user and no order owner to act for")

    def payment_methods(self) -> Mapping[str, Any]:
        methods = self.cache.get("payment_methods")
        if methods is None:
            methods = self.user(self.acting_user_id()).get("payment_methods")
            if type(methods) is not dict and not isinstance(methods, Mapping):
                raise MissingFact(f"user `{self.acting_user_id()}` has no payment_methods record")
            self.cache["payment_methods"] = methods
        return methods

    def payment_method(self, method_id: str) -> Mapping[str, Any] | None:
        """One of the acting user's payment methods (None if it is not one of theirs). A method
        record must be a mapping with a string ``source``."""
        rec = self.payment_methods().get(method_id)
        if rec is None:
            return None
        if type(rec) is dict and type(rec.get("source")) is str:
            return rec  # what the reference below returns, without building the label of its error
        what = f"payment method `{method_id}`"
        rec = _typed(rec, Mapping, what, None)
        _typed(rec.get("source"), str, what, "source")
        return rec  # type: ignore[no-any-return]

    def product(self, product_id: str) -> Mapping[str, Any] | None:
        """A catalog product, or None if the catalog has no record under that id."""
        try:
            return self._products[product_id]
        except KeyError:
            pass
        rec = self.facts.get("products", product_id)
        found = None if rec is None else rec if type(rec) is dict else _typed(rec, Mapping, f"product `{product_id}`", None)
        self._products[product_id] = found
        return found

    def variants(self, product_id: str) -> Mapping[str, Any] | None:
        """A product's variants by id, or None if the product is not in the catalog."""
        product = self.product(product_id)
        if product is None:
            return None
        variants = product.get("variants")
        if type(variants) is dict:
            return variants
        return _typed(variants, Mapping, f"product `{product_id}`", "variants")  # type: ignore[no-any-return]

    def variant(self, product_id: str, sku: str) -> Mapping[str, Any] | None:
        """A variant of a product, or None if the catalog does not list it under that product."""
        key = (product_id, sku)
        try:
            return self._variants[key]
        except KeyError:
            pass
        variants = self.variants(product_id)
        rec = None if variants is None else variants.get(sku)
        found = (None if rec is None else rec if type(rec) is dict
                 else _typed(rec, Mapping, f"variant `{sku}` of product `{product_id}`", None))
        self._variants[key] = found
        return found

    def available(self, product_id: str, sku: str, var: Mapping[str, Any]) -> bool:
        """A variant's ``available`` flag: a boolean, or MissingFact."""
        flag = var.get("available")
        if type(flag) is bool:
            return flag
        return bool(_typed(flag, bool, f"variant `{sku}` of product `{product_id}`", "available"))

    def options(self, product_id: str, sku: str, var: Mapping[str, Any]) -> Mapping[str, Any]:
        """A variant's options (an absent ``options`` is none; any other non-mapping is a hole)."""
        opts = var.get("options", {})
        if type(opts) is dict:
            return opts
        return _typed(opts, Mapping, f"variant `{sku}` of product `{product_id}`", "options")  # type: ignore[no-any-return]

    def catalog_price(self, product_id: str, sku: str) -> Decimal | None:
        """The variant's catalog price, or None if the catalog does not list the variant. A listed
        variant without a valid price is a hole (MissingFact)."""
        key = (product_id, sku)
        try:
            return self._prices[key]
        except KeyError:
            pass
        var = self.variant(product_id, sku)
        if var is None:
            price = None
        else:
            value = var.get("price")
            price = plain_amount(value)  # the usual plain float or int, read as fact_amount reads it
            if price is None:
                price = _amount(value, f"variant `{sku}` of product `{product_id}`", "price")
        self._prices[key] = price
        return price

    def order_lines(self) -> list[Mapping[str, Any]]:
        """The order's items: each a record with a string ``item_id`` and ``product_id``."""
        if "order_lines" not in self.cache:
            order = f"order `{self.order_id}`"
            items = self.order_field("items", list)
            lines = []
            for n, item in enumerate(items):
                item = _typed(item, Mapping, order, f"items[{n}]")
                _typed(item.get("item_id"), str, order, f"items[{n}].item_id")
                _typed(item.get("product_id"), str, order, f"items[{n}].product_id")
                lines.append(item)
            self.cache["order_lines"] = lines
        return self.cache["order_lines"]  # type: ignore[no-any-return]

    def order_line(self, item_id: str) -> Mapping[str, Any] | None:
        """The order's line for an item id (None if the order has none). Two lines with one item id
        but different products or prices are ambiguous (MissingFact)."""
        found = [l for l in self.order_lines() if l["item_id"] == item_id]
        if not found:
            return None
        if any(l.get("product_id") != found[0].get("product_id") or l.get("price") != found[0].get("price")
               for l in found[1:]):
            raise MissingFact(f"order `{self.order_id}` lists item `{item_id}` twice, differently")
        return found[0]

    def new_variants(self) -> list[tuple[str, Mapping[str, Any] | None]]:
        """For each replacement item id: (id, its variant record in the product of the item it
        replaces, or None if that product has no such variant or the old item is not in the order)."""
        intent = self.replace_intent()
        out = []
        for old, new in zip(intent.item_ids, intent.new_item_ids):
            line = self.order_line(old)
            out.append((new, None if line is None else self.variant(str(line["product_id"]), new)))
        return out

    def catalog_total(self) -> Decimal | None:
        """Sum of quantity x catalog price over the cart lines, or None if the cart is not in the
        catalog's currency (amounts in two currencies are never mixed). A line the catalog does not
        list has no trusted price: MissingFact."""
        if "catalog_total" not in self.cache:
            intent = self.intent
            currency = intent.currency if isinstance(intent, (Checkout, AddToCart, Refund)) else None
            total: Decimal | None = None if currency != self.policy.currency else Decimal(0)
            for line in intent.items if isinstance(intent, CART) and total is not None else ():
                price = self.catalog_price(line.product_id, line.sku)
                if price is None:
                    raise MissingFact(f"variant `{line.sku}` of product `{line.product_id}` is not in the catalog: "
                                      "its price is unknown")
                assert total is not None
                total += price * line.quantity
            self.cache["catalog_total"] = total
        return self.cache["catalog_total"]  # type: ignore[no-any-return]

    def exposure(self) -> Decimal:
        """The most this checkout can cost: the larger of the stated and the catalog total."""
        if "exposure" not in self.cache:
            cart = self.cart()
            stated = cart.total if isinstance(cart, Checkout) else sum((l.unit_price * l.quantity for l in cart.items), Decimal(0))
            catalog = self.catalog_total()
            self.cache["exposure"] = stated if catalog is None else max(stated, catalog)
        return self.cache["exposure"]  # type: ignore[no-any-return]

    def line_category(self, line: LineItem) -> str:
        """A cart line's product type: its catalog product's name (the agent's title and category
        are claims, never used in its place)."""
        product = self.product(line.product_id)
        if product is None:
            raise MissingFact(f"product `{line.product_id}` is not in the catalog: its type is unknown")
        name = product.get("name")
        if type(name) is str:
            return name
        return str(_typed(name, str, f"product `{line.product_id}`", "name"))
