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

from ._conditions import ConditionError, MissingFact
from ._consent import bind
from ._context import Facts, Request, Session
from ._intents import CONSEQUENTIAL_KINDS, INTENT_KINDS, Checkout, LineItem
from ._money import currency_exponent, fact_amount, format_amount, parse_amount
from ._taxonomy import normalise

if TYPE_CHECKING:
    from ._compile import CompiledPolicy


class Ctx:
    """Everything a check may read for one decision. Built once per decision."""

    __slots__ = ("intent", "request", "session", "facts", "now", "policy", "proposal", "arguments", "cache",
                 "consent_keys", "_products", "_variants", "_prices")

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
        # Several checks read the same catalog records; the facts do not change during a decision.
        self._products: dict[str, Mapping[str, Any] | None] = {}
        self._variants: dict[tuple[str, str], Mapping[str, Any] | None] = {}
        self._prices: dict[tuple[str, str], Decimal | None] = {}

    # -- facts helpers ---------------------------------------------------------------------
    def order(self) -> Mapping[str, Any]:
        order_id = getattr(self.intent, "order_id")
        rec = self.facts.get("orders", order_id)
        if not isinstance(rec, Mapping):
            raise MissingFact(f"order `{order_id}` is not in facts.orders")
        return rec

    def user(self, user_id: str) -> Mapping[str, Any]:
        rec = self.facts.get("users", user_id)
        if not isinstance(rec, Mapping):
            raise MissingFact(f"user `{user_id}` is not in facts.users")
        return rec

    def acting_user_id(self) -> str:
        """The authenticated user, or the owner of the order the intent names."""
        uid = self.session.authenticated_user_id
        if uid is not None:
            return uid
        if hasattr(self.intent, "order_id"):
            owner = self.order().get("user_id")
            if isinstance(owner, str):
                return owner
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

    def product(self, product_id: str) -> Mapping[str, Any] | None:
        if product_id in self._products:
            return self._products[product_id]
        rec = self.facts.get("products", product_id)
        found = rec if isinstance(rec, Mapping) else None
        self._products[product_id] = found
        return found

    def variant(self, product_id: str, sku: str) -> Mapping[str, Any] | None:
        key = (product_id, sku)
        if key in self._variants:
            return self._variants[key]
        product = self.product(product_id)
        rec = None
        if product is not None:
            variants = product.get("variants")
            rec = variants.get(sku) if isinstance(variants, Mapping) else None
        found = rec if isinstance(rec, Mapping) else None
        self._variants[key] = found
        return found

    def catalog_price(self, product_id: str, sku: str) -> Decimal | None:
        """The variant's catalog price, or None if the variant or its price is not in the facts."""
        key = (product_id, sku)
        if key in self._prices:
            return self._prices[key]
        var = self.variant(product_id, sku)
        price = fact_amount(var["price"]) if var is not None and "price" in var else None
        self._prices[key] = price
        return price

    def variant_anywhere(self, sku: str) -> tuple[str, Mapping[str, Any]] | None:
        """Find a variant by id in any product of the facts: (product_id, variant)."""
        index = self.cache.get("variant_index")
        if index is None:
            index = {}
            for pid, product in self.facts.collection("products").items():
                variants = product.get("variants") if isinstance(product, Mapping) else None
                if isinstance(variants, Mapping):
                    for vid, var in variants.items():
                        index.setdefault(vid, (pid, var))
            self.cache["variant_index"] = index
        found = index.get(sku)
        return found if found is not None else None

    def order_lines(self) -> list[Mapping[str, Any]]:
        items = self.order().get("items")
        if not isinstance(items, list):
            raise MissingFact(f"order `{getattr(self.intent, 'order_id')}` has no items record")
        return [i for i in items if isinstance(i, Mapping)]

    def catalog_total(self) -> Decimal | None:
        """Sum of quantity x catalog price over the cart lines, or None if a line is not in the catalog
        or the cart is not in the catalog's currency (amounts in two currencies are never mixed)."""
        if "catalog_total" not in self.cache:
            total: Decimal | None = Decimal(0)
            if getattr(self.intent, "currency", None) != self.policy.currency:
                total = None
            for line in getattr(self.intent, "items", ()) if total is not None else ():
                price = self.catalog_price(line.product_id, line.sku)
                if price is None:
                    total = None
                    break
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
        product = self.product(line.product_id)
        if product is not None and isinstance(product.get("name"), str):
            return str(product["name"])
        return line.category or line.title


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


def _money(amount: Decimal, currency: str) -> str:
    return format_amount(amount, currency)


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

def _price_cap_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "max": _caps(raw.get("max", {})),
        "per_category": {normalise(cat): _caps(c) for cat, c in raw.get("per_category", {}).items()},
    }


@check("price_cap", code="price_cap", outcome="escalate", kinds=("checkout", "refund"),
       params_schema={"type": "object", "additionalProperties": False, "required": ["max"],
                      "properties": {"max": _CAPS, "per_category": {"type": "object", "additionalProperties": _CAPS}}},
       compile_params=_price_cap_params)
def _price_cap(ctx: Ctx, params: Any) -> str | None:
    """Fires when the amount exceeds the cap for its currency (or no cap exists for the currency).

    For a checkout the amount is the larger of the stated total and the catalog total, so an
    understated total cannot slip under the cap. ``per_category`` caps the lines of one category.
    """
    intent = ctx.intent
    currency = getattr(intent, "currency")
    amount = ctx.exposure() if isinstance(intent, Checkout) else getattr(intent, "amount")
    cap = params["max"].get(currency)
    if cap is None:
        return f"no price cap is configured for {currency}: amounts in it are not allowed"
    if amount > cap:
        return f"amount {_money(amount, currency)} is over the cap of {_money(cap, currency)}"
    if params["per_category"] and isinstance(intent, Checkout):
        sums: dict[str, Decimal] = {}
        for line in intent.items:
            cat = normalise(ctx.line_category(line))
            price = ctx.catalog_price(line.product_id, line.sku)
            unit = max(line.unit_price, price) if price is not None else line.unit_price
            sums[cat] = sums.get(cat, Decimal(0)) + unit * line.quantity
        for cat, caps in sorted(params["per_category"].items()):
            if cat in sums:
                ccap = caps.get(currency)
                if ccap is None:
                    return f"no {cat} cap is configured for {currency}"
                if sums[cat] > ccap:
                    return f"{cat} lines total {_money(sums[cat], currency)}, over the cap of {_money(ccap, currency)}"
    return None


@check("budget", code="budget", outcome="clarify", kinds=("checkout",),
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
        return f"total {_money(amount, currency)} is over the user's budget of {_money(budget, currency)}"
    return None


@check("total", code="total_mismatch", outcome="escalate", kinds=("checkout",))
def _total(ctx: Ctx, params: Any) -> str | None:
    """Fires when the stated total is not exactly the sum of quantity x unit price."""
    intent = ctx.intent
    assert isinstance(intent, Checkout)
    lines = sum((l.unit_price * l.quantity for l in intent.items), Decimal(0))
    if lines != intent.total:
        return (f"stated total {_money(intent.total, intent.currency)} is not the sum of the lines "
                f"{_money(lines, intent.currency)}")
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
    have = Counter(str(i.get("item_id")) for i in ctx.order_lines())
    want = Counter(getattr(intent, "item_ids"))
    missing = want - have
    if missing:
        return f"item {', '.join(sorted(missing))} is not (or not that many times) in order {getattr(intent, 'order_id')}"
    return None


def _new_variants(ctx: Ctx) -> list[tuple[str, Mapping[str, Any] | None]]:
    """For each new item id: (id, variant record or None)."""
    out = []
    for new in getattr(ctx.intent, "new_item_ids"):
        found = ctx.variant_anywhere(new)
        out.append((new, found[1] if found else None))
    return out


@check("availability", code="availability", outcome="escalate",
       kinds=_CART + ("modify_order_items", "exchange_items"), needs=frozenset({"lines"}))
def _availability(ctx: Ctx, params: Any) -> str | None:
    """Fires when a variant to be bought (or swapped in) is not available."""
    intent = ctx.intent
    if hasattr(intent, "items"):
        bad = [l.sku for l in intent.items if (ctx.variant(l.product_id, l.sku) or {}).get("available") is not True]
    else:
        bad = [new for new, var in _new_variants(ctx) if var is not None and var.get("available") is not True]
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
        var = ctx.variant(line.product_id, line.sku)
        if var is None:
            continue
        price = ctx.catalog_price(line.product_id, line.sku)
        if price is None:
            raise MissingFact(f"variant `{line.sku}` has no price in the catalog")
        if price != line.unit_price:
            return (f"{line.sku}: the agent says {_money(line.unit_price, currency)}, "
                    f"the catalog says {_money(price, currency)}")
        if params["compare_title"]:
            name = (ctx.product(line.product_id) or {}).get("name")
            if isinstance(name, str) and name != line.title:
                return f"{line.sku}: the agent calls it `{line.title}`, the catalog `{name}`"
    return None


# -- what the user asked for -------------------------------------------------------------------------

def _category_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"match": raw.get("match", "exact")}


@check("category", code="category", outcome="clarify", kinds=_CART,
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


@check("ambiguity", code="ambiguity", outcome="clarify", kinds=_CART,
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
        product = ctx.product(line.product_id) or {}
        variants = (product.get("variants") or {}).values()
        available: list[Mapping[str, Any]] | None = None  # listed only when an option must be pinned
        for opt in needed:
            if opt in ctx.request.options:
                chosen = ((product.get("variants") or {}).get(line.sku) or {}).get("options", {}).get(opt)
                if chosen is not None and chosen != ctx.request.options[opt]:
                    return f"the user asked for {opt} `{ctx.request.options[opt]}`; {line.sku} has `{chosen}`"
                continue
            if available is None:
                available = [v for v in variants if isinstance(v, Mapping) and v.get("available")]
            values = {str((v.get("options") or {}).get(opt)) for v in available}
            if len(values) > 1:
                return f"the user did not say which {opt} ({', '.join(sorted(values))})"
    return None


# -- payment -----------------------------------------------------------------------------------------

@check("payment_method", code="payment_method", outcome="escalate",
       kinds=("checkout", "modify_order_payment", "modify_order_items", "exchange_items"))
def _payment_method(ctx: Ctx, params: Any) -> str | None:
    """Fires when the payment method is not one of the acting user's (the authenticated user, or
    the order's owner when nobody is authenticated)."""
    pm = getattr(ctx.intent, "payment_method_id")
    if pm not in ctx.payment_methods():
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
    if intent.kind == "modify_order_payment":  # type: ignore[attr-defined]
        history = ctx.order().get("payment_history") or []
        if not history:
            raise MissingFact(f"order `{getattr(intent, 'order_id')}` has no payment history")
        return fact_amount(history[0].get("amount"))
    if intent.kind in ("modify_order_items", "exchange_items"):  # type: ignore[attr-defined]
        lines = {str(i.get("item_id")): i for i in ctx.order_lines()}
        diff = Decimal(0)
        for old, (new, var) in zip(getattr(intent, "item_ids"), _new_variants(ctx)):
            if var is None or old not in lines:
                raise MissingFact(f"price of `{new if var is None else old}` is not in the facts")
            diff += fact_amount(var.get("price")) - fact_amount(lines[old].get("price"))
        return max(diff, Decimal(0))
    return Decimal(0)


@check("balance", code="balance", outcome="escalate",
       kinds=("checkout", "modify_order_payment", "modify_order_items", "exchange_items"), needs=frozenset({"order"}))
def _balance(ctx: Ctx, params: Any) -> str | None:
    """Fires when a gift card (or any method with a ``balance``) pays and its balance is below the
    amount due: a checkout's total; a payment change's original payment; for item changes, the sum
    of new minus old prices when positive."""
    pm = getattr(ctx.intent, "payment_method_id")
    method = ctx.payment_methods().get(pm)
    if not isinstance(method, Mapping) or "balance" not in method:
        return None
    due = _amount_due(ctx)
    balance = fact_amount(method["balance"])
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
    history = ctx.order().get("payment_history") or []
    if not history:
        raise MissingFact(f"order `{getattr(ctx.intent, 'order_id')}` has no payment history")
    if history[0].get("payment_method_id") == pm:
        return None
    if params["allow_gift_cards"]:
        method = ctx.payment_methods().get(pm)
        if isinstance(method, Mapping) and method.get("source") == params["gift_card_source"]:
            return None
    return f"refund to `{pm}`: neither the original payment method nor one of the user's gift cards"


# -- orders --------------------------------------------------------------------------------------------

@check("order_exists", code="unknown_order", outcome="escalate", kinds=_ORDER_KINDS, provides="order")
def _order_exists(ctx: Ctx, params: Any) -> str | None:
    """Fires when the order id is not in the facts."""
    order_id = getattr(ctx.intent, "order_id")
    if not isinstance(ctx.facts.get("orders", order_id), Mapping):
        return f"order `{order_id}` does not exist"
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
        owner = ctx.order().get("user_id")
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
    status = ctx.order().get("status")
    allowed = params.get(ctx.intent.kind, [])  # type: ignore[attr-defined]
    if status not in allowed:
        return f"order status is `{status}`; {ctx.intent.kind} needs {' or '.join(f'`{s}`' for s in allowed) or 'a listed status'}"  # type: ignore[attr-defined]
    return None


@check("same_product", code="same_product", outcome="escalate", kinds=("modify_order_items", "exchange_items"),
       needs=frozenset({"order"}))
def _same_product(ctx: Ctx, params: Any) -> str | None:
    """Fires when a new item is not a variant of the same product as the item it replaces."""
    lines = {str(i.get("item_id")): i for i in ctx.order_lines()}
    for old, new in zip(getattr(ctx.intent, "item_ids"), getattr(ctx.intent, "new_item_ids")):
        line = lines.get(old)
        if line is None:
            continue  # not in the order: item_exists judges that
        pid = str(line.get("product_id"))
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
        history = ctx.order().get("payment_history") or []
        if history and history[0].get("payment_method_id") == getattr(intent, "payment_method_id"):
            return "the order is already paid with that method"
    elif params["address"]:
        current = (ctx.order() if kind == "modify_order_address" else ctx.user(getattr(intent, "user_id"))).get("address")
        new = getattr(intent, "address").model_dump()
        if isinstance(current, Mapping) and all(current.get(k, "") == v for k, v in new.items()):
            return "the address is already that one"
    return None
