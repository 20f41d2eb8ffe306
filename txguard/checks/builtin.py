"""Built-in checks for the commerce domain.

Each check is a pure function ``(ctx, params) -> message | None``: a message when the rule fires.
A check that needs a record absent from the facts raises :class:`MissingFact` (the rule escalates
with ``missing_fact``). Each check declares the intent kinds it applies to by default, its default
reason code, outcome and question, the JSON Schema of its parameters, and the preconditions it
provides to or needs from other checks (``order``: the order exists; ``lines``: every cart line
names a catalog variant), so that a check whose precondition already failed is not judged again.

The facts layout is wire format v1 (``users``, ``orders``, ``products`` as in the tau2-bench
retail database): see ``FACTS_SCHEMA`` in ``_paths``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..policy.conditions import ConditionError, MissingFact
from ..consent.binding import bind
from ..core.context import Facts, Request, Session
from ..core.intents import CONSEQUENTIAL_KINDS, INTENT_KINDS, Checkout, LineItem
from ..core.errors import MoneyError
from ..core.money import currency_exponent, fact_amount, format_amount, parse_amount
from ..core.taxonomy import normalise

if TYPE_CHECKING:
    from ..policy.compile import CompiledPolicy


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

    def read(self, label: str, value: Any) -> Any:
        """``value``, recorded under ``label`` when the decision is traced: a check declares what it
        reads where it reads it, so a trace shows the values the check really used."""
        if self.reads is not None:
            self.reads[label] = value
        return value

    # -- facts helpers ---------------------------------------------------------------------
    # Trusted records are read strictly: a record a check needs that is absent where it must be,
    # ill-typed or ambiguous raises MissingFact (the rule escalates with `missing_fact`). A helper
    # never falls back to the agent's own claim or to a default value.
    def order(self) -> Mapping[str, Any]:
        order_id = getattr(self.intent, "order_id")
        rec = self.facts.get("orders", order_id)
        if not isinstance(rec, Mapping):
            raise MissingFact(f"order `{order_id}` is not in facts.orders" if rec is None
                              else f"order `{order_id}` in facts.orders is not a record")
        return rec

    def order_field(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """A field of the order the intent names, of the given type, or MissingFact."""
        value = self.order().get(key)
        return _typed(value, kind, f"order `{getattr(self.intent, 'order_id')}`", key)

    def order_owner(self) -> str:
        return str(self.order_field("user_id", str))

    def first_payment(self) -> Mapping[str, Any]:
        """The first entry of the order's payment history (the original payment)."""
        history = self.order_field("payment_history", list)
        if not history:
            raise MissingFact(f"order `{getattr(self.intent, 'order_id')}` has no payment history")
        return _typed(history[0], Mapping, f"order `{getattr(self.intent, 'order_id')}`", "payment_history[0]")  # type: ignore[no-any-return]

    def original_method(self) -> str:
        """The payment method id of the order's original payment."""
        return str(_typed(self.first_payment().get("payment_method_id"), str,
                          f"order `{getattr(self.intent, 'order_id')}`", "payment_history[0].payment_method_id"))

    def user(self, user_id: str) -> Mapping[str, Any]:
        rec = self.facts.get("users", user_id)
        if not isinstance(rec, Mapping):
            raise MissingFact(f"user `{user_id}` is not in facts.users" if rec is None
                              else f"user `{user_id}` in facts.users is not a record")
        return rec

    def acting_user_id(self) -> str:
        """The authenticated user, or the owner of the order the intent names (never the agent's
        claim of who it acts for when the intent names an order)."""
        uid = self.session.authenticated_user_id
        if uid is not None:
            return uid
        if hasattr(self.intent, "order_id"):
            return self.order_owner()
        if hasattr(self.intent, "user_id"):
            return str(getattr(self.intent, "user_id"))
        raise MissingFact("no authenticated user and no order owner to act for")

    def payment_methods(self) -> Mapping[str, Any]:
        methods = self.cache.get("payment_methods")
        if methods is None:
            methods = self.user(self.acting_user_id()).get("payment_methods")
            if not isinstance(methods, Mapping):
                raise MissingFact(f"user `{self.acting_user_id()}` has no payment_methods record")
            self.cache["payment_methods"] = methods
        return methods

    def payment_method(self, method_id: str) -> Mapping[str, Any] | None:
        """One of the acting user's payment methods (None if it is not one of theirs). A method
        record must be a mapping with a string ``source``."""
        rec = self.payment_methods().get(method_id)
        if rec is None:
            return None
        what = f"payment method `{method_id}`"
        rec = _typed(rec, Mapping, what, None)
        _typed(rec.get("source"), str, what, "source")
        return rec  # type: ignore[no-any-return]

    def product(self, product_id: str) -> Mapping[str, Any] | None:
        """A catalog product, or None if the catalog has no record under that id."""
        if product_id in self._products:
            return self._products[product_id]
        rec = self.facts.get("products", product_id)
        found = None if rec is None else _typed(rec, Mapping, f"product `{product_id}`", None)
        self._products[product_id] = found
        return found

    def variants(self, product_id: str) -> Mapping[str, Any] | None:
        """A product's variants by id, or None if the product is not in the catalog."""
        product = self.product(product_id)
        if product is None:
            return None
        return _typed(product.get("variants"), Mapping, f"product `{product_id}`", "variants")  # type: ignore[no-any-return]

    def variant(self, product_id: str, sku: str) -> Mapping[str, Any] | None:
        """A variant of a product, or None if the catalog does not list it under that product."""
        key = (product_id, sku)
        if key in self._variants:
            return self._variants[key]
        variants = self.variants(product_id)
        rec = None if variants is None else variants.get(sku)
        found = None if rec is None else _typed(rec, Mapping, f"variant `{sku}` of product `{product_id}`", None)
        self._variants[key] = found
        return found

    def available(self, product_id: str, sku: str, var: Mapping[str, Any]) -> bool:
        """A variant's ``available`` flag: a boolean, or MissingFact."""
        return bool(_typed(var.get("available"), bool, f"variant `{sku}` of product `{product_id}`", "available"))

    def options(self, product_id: str, sku: str, var: Mapping[str, Any]) -> Mapping[str, Any]:
        """A variant's options (an absent ``options`` is none; any other non-mapping is a hole)."""
        opts = var.get("options", {})
        return _typed(opts, Mapping, f"variant `{sku}` of product `{product_id}`", "options")  # type: ignore[no-any-return]

    def catalog_price(self, product_id: str, sku: str) -> Decimal | None:
        """The variant's catalog price, or None if the catalog does not list the variant. A listed
        variant without a valid price is a hole (MissingFact)."""
        key = (product_id, sku)
        if key in self._prices:
            return self._prices[key]
        var = self.variant(product_id, sku)
        price = None if var is None else _amount(var.get("price"), f"variant `{sku}` of product `{product_id}`", "price")
        self._prices[key] = price
        return price

    def order_lines(self) -> list[Mapping[str, Any]]:
        """The order's items: each a record with a string ``item_id`` and ``product_id``."""
        if "order_lines" not in self.cache:
            order = f"order `{getattr(self.intent, 'order_id')}`"
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
            raise MissingFact(f"order `{getattr(self.intent, 'order_id')}` lists item `{item_id}` twice, differently")
        return found[0]

    def new_variants(self) -> list[tuple[str, Mapping[str, Any] | None]]:
        """For each replacement item id: (id, its variant record in the product of the item it
        replaces, or None if that product has no such variant or the old item is not in the order)."""
        out = []
        for old, new in zip(getattr(self.intent, "item_ids"), getattr(self.intent, "new_item_ids")):
            line = self.order_line(old)
            out.append((new, None if line is None else self.variant(str(line["product_id"]), new)))
        return out

    def catalog_total(self) -> Decimal | None:
        """Sum of quantity x catalog price over the cart lines, or None if the cart is not in the
        catalog's currency (amounts in two currencies are never mixed). A line the catalog does not
        list has no trusted price: MissingFact."""
        if "catalog_total" not in self.cache:
            total: Decimal | None = Decimal(0)
            if getattr(self.intent, "currency", None) != self.policy.currency:
                total = None
            for line in getattr(self.intent, "items", ()) if total is not None else ():
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
            stated = getattr(self.intent, "total", None)
            if stated is None:
                stated = sum((l.unit_price * l.quantity for l in self.intent.items), Decimal(0))  # type: ignore[attr-defined]
            catalog = self.catalog_total()
            self.cache["exposure"] = stated if catalog is None else max(stated, catalog)
        return self.cache["exposure"]  # type: ignore[no-any-return]

    def line_category(self, line: LineItem) -> str:
        """A cart line's product type: its catalog product's name (the agent's title and category
        are claims, never used in its place)."""
        product = self.product(line.product_id)
        if product is None:
            raise MissingFact(f"product `{line.product_id}` is not in the catalog: its type is unknown")
        return str(_typed(product.get("name"), str, f"product `{line.product_id}`", "name"))


def _typed(value: Any, kind: type | tuple[type, ...], record: str, key: str | None) -> Any:
    """``value`` if it is of ``kind`` (a bool is not an int, a str not a list), else MissingFact."""
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    if not ok:
        what = f"{record}: `{key}`" if key is not None else record
        if value is None:
            raise MissingFact(f"{what} is not in the facts" if key is not None else f"{record} is not in the facts")
        raise MissingFact(f"{what} in the facts is a {type(value).__name__}, not a {_type_name(kind)}")
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", bool: "boolean", list: "list", Mapping: "record"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _amount(value: Any, record: str, key: str) -> Decimal:
    """A money amount of a trusted record, or MissingFact (absent, not a number, negative, NaN)."""
    if value is None:
        raise MissingFact(f"{record}: `{key}` is not in the facts")
    try:
        return fact_amount(value)
    except MoneyError as exc:
        raise MissingFact(f"{record}: `{key}` is not a valid amount ({exc})") from None


CheckFn = Callable[[Ctx, Any], "str | None"]


@dataclass(frozen=True)
class CheckSpec:
    """A built-in check and its defaults."""

    name: str
    fn: CheckFn
    code: str
    outcome: str
    kinds: tuple[str, ...]
    question: str | None = None
    params_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "additionalProperties": False})
    compile_params: Callable[[dict[str, Any]], Any] = lambda p: p
    provides: str | None = None
    needs: frozenset[str] = frozenset()
    route: str = "human"
    doc: str = ""


CHECKS: dict[str, CheckSpec] = {}

PRECONDITIONS = ("order", "lines", "method", "new_items")
"""What checks provide to each other, in the order they are judged (each needs only earlier ones):
the order exists; every cart line (or replaced item) is in the catalog (or the order); the payment
method is one of the user's; every replacement is a variant of the replaced item's product."""

GIFT_CARD = "gift_card"
"""The ``source`` of a payment method that must carry a ``balance`` (the tau2-bench retail layout)."""

_CART = ("checkout", "add_to_cart")
_ORDER_KINDS = ("cancel_order", "modify_order_items", "modify_order_address", "modify_order_payment",
                "return_items", "exchange_items", "refund")
_AMOUNT = {"oneOf": [{"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}, {"type": "integer", "minimum": 0}]}
_CAPS = {"type": "object", "propertyNames": {"pattern": "^[A-Z]{3}$"}, "additionalProperties": _AMOUNT, "minProperties": 1}


def check(name: str, **kw: Any) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = CheckSpec(name=name, fn=fn, doc=(fn.__doc__ or "").strip(), **kw)
        return fn
    return register


def _caps(raw: Mapping[str, Any]) -> dict[str, Decimal]:
    return {cur: parse_amount(v, currency_exponent(cur)) for cur, v in raw.items()}


# -- identity and consent ------------------------------------------------------------------------

@check("authentication", code="authentication", outcome="clarify", kinds=INTENT_KINDS,
       question="Please sign in (or confirm your identity) before I do this.")
def _authentication(ctx: Ctx, params: Any) -> str | None:
    """Fires when no user is authenticated in the session."""
    if ctx.session.authenticated_user_id is None:
        return "no authenticated user in this session"
    return None


@check("consent", code="consent", outcome="clarify", kinds=tuple(sorted(CONSEQUENTIAL_KINDS)),
       question="Please confirm exactly this action on the confirmation screen.")
def _consent(ctx: Ctx, params: Any) -> str | None:
    """Fires unless the session holds an unexpired confirmation of exactly this intent.

    A confirmation binds the intent's consequential fields (see DESIGN, consent, and ``_consent``):
    a confirmed proposal is mapped through the same tool mapping and compared by its bound fields;
    a digest or a verified consent token is compared with the intent's digest.
    """
    proposal = ctx.proposal if ctx.arguments is not None else None  # None: an intent given validated
    return bind(ctx.policy, ctx.intent, ctx.session.confirmed, ctx.now, proposal=proposal,
                arguments=ctx.arguments, keys=ctx.consent_keys, first=True).problem


# -- money -----------------------------------------------------------------------------------------

DEFAULT_CATEGORY = "default"
"""The key of ``price_cap.per_category`` that caps every category the mapping does not list."""


def _price_cap_params(raw: dict[str, Any]) -> dict[str, Any]:
    if "per_category" not in raw:
        return {"max": _caps(raw.get("max", {})), "default": None, "per_category": None}
    per_category = {normalise(cat): _caps(c) for cat, c in raw["per_category"].items()}
    return {
        "max": _caps(raw.get("max", {})),
        "default": per_category.pop(DEFAULT_CATEGORY, None),
        "per_category": per_category,  # given, even empty: every category is capped
    }


@check("price_cap", code="price_cap", outcome="escalate", kinds=("checkout", "refund"), needs=frozenset({"lines"}),
       params_schema={"type": "object", "additionalProperties": False, "required": ["max"],
                      "properties": {"max": _CAPS, "per_category": {"type": "object", "additionalProperties": _CAPS}}},
       compile_params=_price_cap_params)
def _price_cap(ctx: Ctx, params: Any) -> str | None:
    """Fires when the amount exceeds the cap for its currency (or no cap exists for the currency).

    For a checkout the amount is the larger of the stated total and the catalog total, so an
    understated total cannot slip under the cap. ``per_category`` caps the lines of each category
    it lists; a category it does not list falls to its ``default`` cap, and without a ``default``
    the rule fires (an unlisted category is never left uncapped).
    """
    intent = ctx.intent
    currency = getattr(intent, "currency")
    amount = ctx.exposure() if isinstance(intent, Checkout) else getattr(intent, "amount")
    cap = params["max"].get(currency)
    if cap is None:
        return f"no price cap is configured for {currency}: amounts in it are not allowed"
    if amount > cap:
        return f"amount {format_amount(amount, currency)} is over the cap of {format_amount(cap, currency)}"
    if params["per_category"] is not None and isinstance(intent, Checkout):
        sums: dict[str, Decimal] = {}
        for line in intent.items:
            cat = normalise(ctx.line_category(line))
            price = ctx.catalog_price(line.product_id, line.sku)
            if price is None:
                raise MissingFact(f"variant `{line.sku}` of product `{line.product_id}` is not in the catalog: "
                                  "its price is unknown")
            unit = max(line.unit_price, price)
            sums[cat] = sums.get(cat, Decimal(0)) + unit * line.quantity
        for cat, total in sorted(sums.items()):
            caps = params["per_category"].get(cat, params["default"])
            if caps is None:
                return f"no per-category cap covers `{cat}` (it is not listed and there is no `default`)"
            ccap = caps.get(currency)
            if ccap is None:
                return f"no {cat} cap is configured for {currency}"
            if total > ccap:
                return f"{cat} lines total {format_amount(total, currency)}, over the cap of {format_amount(ccap, currency)}"
    return None


@check("budget", code="budget", outcome="clarify", kinds=("checkout",), needs=frozenset({"lines"}),
       question="This costs more than the budget you gave. Do you want to go ahead anyway, or shall I look for something cheaper?")
def _budget(ctx: Ctx, params: Any) -> str | None:
    """Fires when the user stated a budget and the checkout costs more (equal is fine)."""
    budget = ctx.request.budget
    if budget is None:
        return None
    currency = getattr(ctx.intent, "currency")
    bcur = ctx.request.currency or ctx.policy.currency
    if bcur != currency:
        return f"the budget is in {bcur} and the cart in {currency}: they cannot be compared"
    amount = ctx.exposure()
    if amount > budget:
        return f"total {format_amount(amount, currency)} is over the user's budget of {format_amount(budget, currency)}"
    return None


@check("total", code="total_mismatch", outcome="escalate", kinds=("checkout",))
def _total(ctx: Ctx, params: Any) -> str | None:
    """Fires when the stated total is not exactly the sum of quantity x unit price."""
    intent = ctx.intent
    assert isinstance(intent, Checkout)
    lines = sum((l.unit_price * l.quantity for l in intent.items), Decimal(0))
    if lines != intent.total:
        return (f"stated total {format_amount(intent.total, intent.currency)} is not the sum of the lines "
                f"{format_amount(lines, intent.currency)}")
    return None


# -- the catalog -----------------------------------------------------------------------------------

@check("item_exists", code="unknown_item", outcome="escalate", kinds=_CART + ("return_items", "exchange_items", "modify_order_items"),
       provides="lines", needs=frozenset({"order"}))
def _item_exists(ctx: Ctx, params: Any) -> str | None:
    """Cart lines: each sku is a variant of its product in the catalog. Order changes: the item ids
    (with multiplicity) are all items of the order."""
    intent = ctx.intent
    if hasattr(intent, "items"):
        bad = [l.sku for l in intent.items if ctx.variant(l.product_id, l.sku) is None]
        if bad:
            return f"sku {', '.join(bad)} is not a variant of the product named in the catalog"
        return None
    have = Counter(str(i["item_id"]) for i in ctx.order_lines())
    want = Counter(getattr(intent, "item_ids"))
    missing = want - have
    if missing:
        return f"item {', '.join(sorted(missing))} is not (or not that many times) in order {getattr(intent, 'order_id')}"
    return None


@check("availability", code="availability", outcome="escalate",
       kinds=_CART + ("modify_order_items", "exchange_items"), needs=frozenset({"lines", "order", "new_items"}))
def _availability(ctx: Ctx, params: Any) -> str | None:
    """Fires when a variant to be bought (or swapped in) is not available."""
    intent = ctx.intent
    if hasattr(intent, "items"):
        wanted = [(l.product_id, l.sku, ctx.variant(l.product_id, l.sku)) for l in intent.items]
    else:
        wanted = [(str((ctx.order_line(old) or {}).get("product_id")), new, var)
                  for old, (new, var) in zip(getattr(intent, "item_ids"), ctx.new_variants())]
    bad = [sku for pid, sku, var in wanted if var is None or not ctx.available(pid, sku, var)]
    if bad:
        return f"variant {', '.join(bad)} is not available"
    return None


def _catalog_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"compare_title": raw.get("compare_title", True)}


@check("catalog_price", code="catalog_mismatch", outcome="escalate", kinds=_CART, needs=frozenset({"lines"}),
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"compare_title": {"type": "boolean"}}},
       compile_params=_catalog_params)
def _catalog_price(ctx: Ctx, params: Any) -> str | None:
    """Fires when a line's unit price differs from the catalog price (or its title from the
    product name, with ``compare_title``), or the cart is not in the catalog's currency."""
    intent = ctx.intent
    currency = getattr(intent, "currency")
    if currency != ctx.policy.currency:
        return f"the cart is in {currency}; the catalog prices are in {ctx.policy.currency}"
    for line in intent.items:  # type: ignore[attr-defined]
        price = ctx.catalog_price(line.product_id, line.sku)
        if price is None:
            raise MissingFact(f"variant `{line.sku}` of product `{line.product_id}` is not in the catalog: "
                              "its price is unknown")
        if price != line.unit_price:
            return (f"{line.sku}: the agent says {format_amount(line.unit_price, currency)}, "
                    f"the catalog says {format_amount(price, currency)}")
        if params["compare_title"]:
            name = ctx.line_category(line)
            if name != line.title:
                return f"{line.sku}: the agent calls it `{line.title}`, the catalog `{name}`"
    return None


# -- what the user asked for -------------------------------------------------------------------------

def _category_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"match": raw.get("match", "exact")}


@check("category", code="category", outcome="clarify", kinds=_CART, needs=frozenset({"lines"}),
       question="This is not the kind of product you asked for. Should I look again?",
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"match": {"enum": ["exact", "within"]}}},
       compile_params=_category_params)
def _category(ctx: Ctx, params: Any) -> str | None:
    """Fires when a line's product is not the product type or category the user asked for.

    ``match: exact`` (the default) wants the same product type (after synonyms) or, for a
    taxonomy request, the same taxonomy node; ``match: within`` accepts the requested taxonomy
    node or any node below it. A product's type is its catalog name (the agent's title is not
    trusted). Note that ``within`` lets an Espresso Machine through for a Coffee Maker request.
    """
    wanted = ctx.request.product_type if ctx.request.product_type is not None else ctx.request.category
    if wanted is None:
        return None
    cats = ctx.policy.categories
    for line in ctx.intent.items:  # type: ignore[attr-defined]
        got = ctx.line_category(line)
        if isinstance(wanted, str) and cats.canonical(got) == cats.canonical(wanted):
            continue
        want_node, got_node = cats.node(wanted), cats.node(got)
        if params["match"] == "exact":
            if ctx.request.product_type is None and want_node is not None and want_node == got_node:
                continue
        elif want_node is not None and got_node is not None and cats.taxonomy.is_within(got_node, want_node):
            continue
        return f"{line.sku} is a `{got}`; the user asked for `{wanted}`"
    return None


@check("quantity", code="quantity", outcome="clarify", kinds=_CART,
       question="You asked for a different quantity. How many do you want?")
def _quantity(ctx: Ctx, params: Any) -> str | None:
    """Fires when the user named a quantity and the cart holds a different number of units."""
    want = ctx.request.quantity
    if want is None:
        return None
    got = sum(l.quantity for l in ctx.intent.items)  # type: ignore[attr-defined]
    if got != want:
        return f"the cart holds {got} units; the user asked for {want}"
    return None


def _ambiguity_params(raw: dict[str, Any]) -> dict[str, Any]:
    floor = raw.get("min_confidence")
    return {
        "min_confidence": None if floor is None else Decimal(str(floor)),
        "max_alternatives": raw.get("max_alternatives"),
        "required_options": {normalise(k): list(v) for k, v in raw.get("required_options", {}).items()},
    }


@check("ambiguity", code="ambiguity", outcome="clarify", kinds=_CART, needs=frozenset({"lines"}),
       question="I am not sure this is what you meant. Can you tell me more about what you want?",
       params_schema={"type": "object", "additionalProperties": False, "properties": {
           "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
           "max_alternatives": {"type": "integer", "minimum": 0},
           "required_options": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
       compile_params=_ambiguity_params)
def _ambiguity(ctx: Ctx, params: Any) -> str | None:
    """Fires when the agent is unsure (confidence below ``min_confidence``; a missing confidence
    counts as unsure), when it weighed more than ``max_alternatives`` other products, or when the
    user did not pin an option listed in ``required_options`` for the product type and the
    catalog's available variants differ on it."""
    intent = ctx.intent
    floor = params["min_confidence"]
    conf = getattr(intent, "confidence", None)
    if floor is not None and (conf is None or conf < floor):
        return f"the agent's confidence {conf if conf is not None else 'was not given'} is below {floor}"
    limit = params["max_alternatives"]
    alts = getattr(intent, "alternatives", ())
    if limit is not None and len(alts) > limit:
        return f"the agent weighed {len(alts)} other products: the choice is ambiguous"
    required = params["required_options"]
    for line in intent.items:  # type: ignore[attr-defined]
        needed = required.get(normalise(ctx.line_category(line)), []) if required else []
        if not needed:
            continue
        pid = line.product_id
        if ctx.variant(pid, line.sku) is None:
            raise MissingFact(f"variant `{line.sku}` of product `{pid}` is not in the catalog: its options are unknown")
        variants = ctx.variants(pid) or {}
        available: list[Mapping[str, Any]] | None = None  # listed only when an option must be pinned
        for opt in needed:
            if opt in ctx.request.options:
                var = ctx.variant(pid, line.sku)
                chosen = None if var is None else ctx.options(pid, line.sku, var).get(opt)
                if chosen is not None and chosen != ctx.request.options[opt]:
                    return f"the user asked for {opt} `{ctx.request.options[opt]}`; {line.sku} has `{chosen}`"
                continue
            if available is None:
                available = []
                for vid, v in variants.items():
                    v = _typed(v, Mapping, f"variant `{vid}` of product `{pid}`", None)
                    if ctx.available(pid, vid, v):
                        available.append(ctx.options(pid, vid, v))
            values = {str(o.get(opt)) for o in available}
            if len(values) > 1:
                return f"the user did not say which {opt} ({', '.join(sorted(values))})"
    return None


# -- payment -----------------------------------------------------------------------------------------

@check("payment_method", code="payment_method", outcome="escalate",
       kinds=("checkout", "modify_order_payment", "modify_order_items", "exchange_items"), provides="method")
def _payment_method(ctx: Ctx, params: Any) -> str | None:
    """Fires when the payment method is not one of the acting user's (the authenticated user, or
    the order's owner when nobody is authenticated)."""
    pm = getattr(ctx.intent, "payment_method_id")
    if ctx.payment_method(pm) is None:
        return f"payment method `{pm}` is not one of user `{ctx.acting_user_id()}`'s"
    return None


def _amount_due(ctx: Ctx) -> Decimal:
    """The amount a payment method must cover, in the catalog's currency (balances are kept in it)."""
    intent = ctx.intent
    currency = getattr(intent, "currency", ctx.policy.currency)
    if currency != ctx.policy.currency:
        raise ConditionError(f"the amount is in {currency} and balances in {ctx.policy.currency}: no rate to compare them")
    if isinstance(intent, Checkout):
        return ctx.exposure()
    order = f"order `{getattr(intent, 'order_id', '')}`"
    if intent.kind == "modify_order_payment":  # type: ignore[attr-defined]
        return _amount(ctx.first_payment().get("amount"), order, "payment_history[0].amount")
    if intent.kind in ("modify_order_items", "exchange_items"):  # type: ignore[attr-defined]
        diff = Decimal(0)
        for old, (new, var) in zip(getattr(intent, "item_ids"), ctx.new_variants()):
            line = ctx.order_line(old)
            if var is None or line is None:
                raise MissingFact(f"price of `{new if var is None else old}` is not in the facts")
            pid = str(line["product_id"])
            diff += (_amount(var.get("price"), f"variant `{new}` of product `{pid}`", "price")
                     - _amount(line.get("price"), order, f"item `{old}`.price"))
        return max(diff, Decimal(0))
    return Decimal(0)


@check("balance", code="balance", outcome="escalate",
       kinds=("checkout", "modify_order_payment", "modify_order_items", "exchange_items"),
       needs=frozenset({"order", "lines", "new_items", "method"}))
def _balance(ctx: Ctx, params: Any) -> str | None:
    """Fires when a gift card (or any method with a ``balance``) pays and its balance is below the
    amount due: a checkout's total; a payment change's original payment; for item changes, the sum
    of new minus old prices when positive. A gift card without a valid ``balance``, or a method
    that is not the user's, is a missing fact."""
    pm = getattr(ctx.intent, "payment_method_id")
    method = ctx.payment_method(pm)
    if method is None:
        raise MissingFact(f"payment method `{pm}` is not one of user `{ctx.acting_user_id()}`'s: its balance is unknown")
    if "balance" not in method and method["source"] != GIFT_CARD:
        return None
    balance = _amount(method.get("balance"), f"payment method `{pm}`", "balance")
    due = _amount_due(ctx)
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
    pm = getattr(ctx.intent, "payment_method_id")
    if ctx.original_method() == pm:
        return None
    if params["allow_gift_cards"]:
        method = ctx.payment_method(pm)
        if method is not None and method["source"] == params["gift_card_source"]:
            return None
    return f"refund to `{pm}`: neither the original payment method nor one of the user's gift cards"


# -- orders --------------------------------------------------------------------------------------------

@check("order_exists", code="unknown_order", outcome="escalate", kinds=_ORDER_KINDS, provides="order")
def _order_exists(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order id is not in the facts."""
    order_id = getattr(ctx.intent, "order_id")
    if ctx.facts.get("orders", order_id) is None:
        return f"order `{order_id}` does not exist"
    ctx.order()  # present but not a record: a missing fact
    return None


@check("ownership", code="ownership", outcome="escalate", kinds=_ORDER_KINDS + ("modify_user_address",),
       needs=frozenset({"order"}), route="refuse")
def _ownership(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order (or the user record) acted on belongs to someone other than the
    authenticated user. Without an authenticated user it does not judge (``authentication`` does)."""
    me = ctx.session.authenticated_user_id
    if me is None:
        return None
    if hasattr(ctx.intent, "order_id"):
        owner = ctx.order_owner()
        what = f"order `{getattr(ctx.intent, 'order_id')}`"
    else:
        owner = getattr(ctx.intent, "user_id")
        what = "the user record"
    if owner != me:
        return f"{what} belongs to `{owner}`, not to the authenticated user `{me}`"
    return None


def _status_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) for k, v in raw["allowed"].items()}


@check("order_status", code="order_status", outcome="escalate", kinds=_ORDER_KINDS, needs=frozenset({"order"}),
       route="refuse",
       params_schema={"type": "object", "additionalProperties": False, "required": ["allowed"], "properties": {
           "allowed": {"type": "object", "propertyNames": {"enum": list(_ORDER_KINDS)},
                       "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1}}}},
       compile_params=_status_params)
def _order_status(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order's status is not one of those allowed for the intent kind (an intent
    kind not listed is allowed on no status)."""
    status = ctx.order_field("status", str)
    allowed = params.get(ctx.intent.kind, [])  # type: ignore[attr-defined]
    if status not in allowed:
        return f"order status is `{status}`; {ctx.intent.kind} needs {' or '.join(f'`{s}`' for s in allowed) or 'a listed status'}"  # type: ignore[attr-defined]
    return None


@check("same_product", code="same_product", outcome="escalate", kinds=("modify_order_items", "exchange_items"),
       needs=frozenset({"order", "lines"}), provides="new_items")
def _same_product(ctx: Ctx, params: Any) -> str | None:
    """Fires when a new item is not a variant of the same product as the item it replaces."""
    for old, new in zip(getattr(ctx.intent, "item_ids"), getattr(ctx.intent, "new_item_ids")):
        line = ctx.order_line(old)
        if line is None:
            raise MissingFact(f"item `{old}` is not in order `{getattr(ctx.intent, 'order_id')}`: its product is unknown")
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
    kind = intent.kind  # type: ignore[attr-defined]
    if kind in ("modify_order_items", "exchange_items"):
        same = [o for o, n in zip(getattr(intent, "item_ids"), getattr(intent, "new_item_ids")) if o == n]
        if same:
            return f"item {', '.join(same)} would be replaced by itself"
    elif kind == "modify_order_payment":
        if ctx.original_method() == getattr(intent, "payment_method_id"):
            return "the order is already paid with that method"
    elif params["address"]:
        what = f"order `{getattr(intent, 'order_id')}`" if kind == "modify_order_address" else f"user `{getattr(intent, 'user_id')}`"
        record = ctx.order() if kind == "modify_order_address" else ctx.user(getattr(intent, "user_id"))
        current = _typed(record.get("address"), Mapping, what, "address")
        new = getattr(intent, "address").model_dump()
        if all(_typed(current.get(k), str, what, f"address.{k}") == v for k, v in new.items()):
            return "the address is already that one"
    return None
