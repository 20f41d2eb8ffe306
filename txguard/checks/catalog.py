"""Built-in checks of what is bought: ``item_exists``, ``availability``, ``catalog_price`` (the
catalog), and ``category``, ``quantity``, ``ambiguity`` (what the user asked for)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..core.money import format_amount
from ..core.intents import LineItem
from ..core.jsonio import exact_decimal
from ..core.paths import MISSING
from ..core.taxonomy import normalise
from ..core.errors import MissingFact
from . import declared, declared_items
from .ctx import CART, ITEMS, Ctx, _typed
from .roles import kind_spec
from .spec import CART_KINDS, check

# -- the catalog -----------------------------------------------------------------------------------


@check("item_exists", code="unknown_item", outcome="escalate",
       kinds=CART_KINDS + ("return_items", "exchange_items", "modify_order_items"),
       provides="lines", needs=frozenset({"order"}), roles=("lines",), validate=declared_items.item_exists_problems,
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"collection": {"type": "string"}, "key": {"type": "string"}}})
def _item_exists(ctx: Ctx, params: Any) -> str | None:
    """Cart lines: each sku is a variant of its product in the catalog. Order changes: the item ids
    (with multiplicity) are all items of the order."""
    intent = ctx.intent
    spec = kind_spec(intent) if not isinstance(intent, CART) and not isinstance(intent, ITEMS) else None
    if spec is not None:
        return declared_items.item_exists(ctx, spec, params)
    if isinstance(intent, CART):
        found = [(l, ctx.variant(l.product_id, l.sku)) for l in intent.items]
        if ctx.reads is not None:
            ctx.read("lines", [{"sku": l.sku, "product_id": l.product_id, "in catalog": v is not None} for l, v in found])
        bad = [l.sku for l, v in found if v is None]
        if bad:
            return f"sku {', '.join(bad)} is not a variant of the product named in the catalog"
        return None
    items = ctx.items_intent()
    if ctx.reads is not None:
        ctx.read("item_ids", list(items.item_ids))
    have = Counter(str(i["item_id"]) for i in ctx.order_lines())
    if ctx.reads is not None:
        ctx.read("order items", [str(x.get("item_id")) for x in ctx.order_lines()])
    want = Counter(items.item_ids)
    missing = want - have
    if missing:
        return f"item {', '.join(sorted(missing))} is not (or not that many times) in order {items.order_id}"
    return None


@check("availability", code="availability", outcome="escalate",
       kinds=CART_KINDS + ("modify_order_items", "exchange_items"), needs=frozenset({"lines", "order", "new_items"}))
def _availability(ctx: Ctx, params: Any) -> str | None:
    """Fires when a variant to be bought (or swapped in) is not available."""
    intent = ctx.intent
    if isinstance(intent, CART):
        wanted = [(l.product_id, l.sku, ctx.variant(l.product_id, l.sku)) for l in intent.items]
        label, key = "lines", "sku"
    else:
        wanted = [(str((ctx.order_line(old) or {}).get("product_id")), new, var)
                  for old, (new, var) in zip(ctx.replace_intent().item_ids, ctx.new_variants())]
        label, key = "new items", "item_id"
    if ctx.reads is not None:
        ctx.read(label, [{key: sku, "available": (var or {}).get("available", MISSING)} for _, sku, var in wanted])
    bad = [sku for pid, sku, var in wanted if var is None or not ctx.available(pid, sku, var)]
    if bad:
        return f"variant {', '.join(bad)} is not available"
    return None


def _catalog_params(raw: dict[str, Any]) -> dict[str, Any]:
    if "collection" in raw:  # a declared lookup (see checks/declared_items.py)
        return {"compare_title": False, "collection": raw["collection"], "key": raw.get("key"),
                "price": raw.get("price"), "fact_price": raw.get("fact_price", raw.get("price"))}
    return {"compare_title": raw.get("compare_title", True)}


@check("catalog_price", code="catalog_mismatch", outcome="escalate", kinds=CART_KINDS, needs=frozenset({"lines"}),
       params_schema={"type": "object", "additionalProperties": False,
                      "properties": {"compare_title": {"type": "boolean"}, "collection": {"type": "string"},
                                     "key": {"type": "string"}, "price": {"type": "string"},
                                     "fact_price": {"type": "string"}}},
       compile_params=_catalog_params, roles=("lines",), validate=declared_items.catalog_price_problems)
def _catalog_price(ctx: Ctx, params: Any) -> str | None:
    """Fires when a line's unit price differs from the catalog price (or its title from the
    product name, with ``compare_title``), or the cart is not in the catalog's currency."""
    spec = kind_spec(ctx.intent) if not isinstance(ctx.intent, CART) else None
    if spec is not None:
        return declared_items.catalog_price(ctx, spec, params)
    cart = ctx.cart()
    currency = ctx.read("cart currency", cart.currency)
    if ctx.read("policy currency", ctx.policy.currency) != currency:
        return f"the cart is in {currency}; the catalog prices are in {ctx.policy.currency}"
    compare_title = ctx.read("compare_title", params["compare_title"])
    rows: list[dict[str, Any]] | None = ctx.read("lines", []) if ctx.reads is not None else None
    for line in cart.items:
        price = ctx.catalog_price(line.product_id, line.sku)
        if price is None:
            raise MissingFact(f"variant `{line.sku}` of product `{line.product_id}` is not in the catalog: "
                              "its price is unknown")
        if rows is not None:
            rows.append({"sku": line.sku, "agent price": line.unit_price, "catalog price": price, "agent title": line.title})
        if price != line.unit_price:
            return (f"{line.sku}: the agent says {format_amount(line.unit_price, currency)}, "
                    f"the catalog says {format_amount(price, currency)}")
        if compare_title:
            name = ctx.line_category(line)
            if rows is not None:
                rows[-1]["catalog name"] = name
            if name != line.title:
                return f"{line.sku}: the agent calls it `{line.title}`, the catalog `{name}`"
    return None


# -- what the user asked for -------------------------------------------------------------------------

def _category_params(raw: dict[str, Any]) -> dict[str, Any]:
    return {"match": raw.get("match", "exact")}


@check("category", code="category", outcome="clarify", kinds=CART_KINDS, needs=frozenset({"lines"}),
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
    product_type = ctx.read("request.product_type", ctx.request.product_type)
    category = ctx.read("request.category", ctx.request.category)
    wanted = product_type if product_type is not None else category
    if wanted is None:
        return None
    match = ctx.read("match", params["match"])
    cats = ctx.policy.categories
    rows: list[dict[str, Any]] | None = ctx.read("lines", []) if ctx.reads is not None else None
    for line in ctx.cart().items:
        got = ctx.line_category(line)
        if rows is not None:
            rows.append({"sku": line.sku, "product type": got})
        if isinstance(wanted, str) and cats.canonical(got) == cats.canonical(wanted):
            continue
        want_node, got_node = cats.node(wanted), cats.node(got)
        if match == "exact":
            if product_type is None and want_node is not None and want_node == got_node:
                continue
        elif want_node is not None and got_node is not None and cats.taxonomy.is_within(got_node, want_node):
            continue
        return f"{line.sku} is a `{got}`; the user asked for `{wanted}`"
    return None


@check("quantity", code="quantity", outcome="clarify", kinds=CART_KINDS, roles=("quantity",),
       validate=declared.request_problems("quantity", ("int",)),
       question="You asked for a different quantity. How many do you want?")
def _quantity(ctx: Ctx, params: Any) -> str | None:
    """Fires when the user named a quantity and the cart holds a different number of units."""
    spec = kind_spec(ctx.intent) if not isinstance(ctx.intent, CART) else None
    if spec is not None:
        return declared_items.quantity(ctx, spec, params)
    want = ctx.read("request.quantity", ctx.request.quantity)
    if want is None:
        return None
    got = ctx.read("cart units", sum(l.quantity for l in ctx.cart().items))
    if got != want:
        return f"the cart holds {got} units; the user asked for {want}"
    return None


def _exact(number: Any) -> Decimal:
    """The floor as an exact Decimal: a number read from JSON text by its text, a float by its
    shortest repr (``0.8`` is 0.8); the agent's confidence is compared with it exactly."""
    return exact_decimal(number) if isinstance(number, float) else Decimal(str(number))


def _ambiguity_params(raw: dict[str, Any]) -> dict[str, Any]:
    floor = raw.get("min_confidence")
    return {
        "min_confidence": None if floor is None else _exact(floor),
        "max_alternatives": raw.get("max_alternatives"),
        "required_options": {normalise(k): list(v) for k, v in raw.get("required_options", {}).items()},
    }


def _ambiguity_implies(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Lint: only a confidence floor on both: floor ``a`` at or above floor ``b`` fires whenever ``b`` does."""
    if a["max_alternatives"] is None and b["max_alternatives"] is None and not a["required_options"] \
            and not b["required_options"] and a["min_confidence"] is not None and b["min_confidence"] is not None:
        return bool(a["min_confidence"] >= b["min_confidence"])
    return False


@check("ambiguity", code="ambiguity", outcome="clarify", kinds=CART_KINDS, needs=frozenset({"lines"}),
       question="I am not sure this is what you meant. Can you tell me more about what you want?",
       params_schema={"type": "object", "additionalProperties": False, "properties": {
           "min_confidence": {"type": "number", "minimum": 0, "maximum": 1},
           "max_alternatives": {"type": "integer", "minimum": 0},
           "required_options": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
       compile_params=_ambiguity_params, implies=_ambiguity_implies, roles=("confidence", "candidates"),
       any_role=True, validate=declared_items.ambiguity_problems)
def _ambiguity(ctx: Ctx, params: Any) -> str | None:
    """Fires when the agent is unsure (confidence below ``min_confidence``; a missing confidence
    counts as unsure), when it weighed more than ``max_alternatives`` other products, or when the
    user did not pin an option listed in ``required_options`` for the product type and the
    catalog's available variants differ on it."""
    spec = kind_spec(ctx.intent) if not isinstance(ctx.intent, CART) else None
    if spec is not None:
        return declared_items.ambiguity(ctx, spec, params)
    cart = ctx.cart()
    conf = ctx.read("confidence", cart.confidence)
    floor = ctx.read("min_confidence", params["min_confidence"])
    if floor is not None and (conf is None or conf < floor):
        return f"the agent's confidence {conf if conf is not None else 'was not given'} is below {floor}"
    alts = cart.alternatives
    ctx.read("alternatives", len(alts))
    limit = ctx.read("max_alternatives", params["max_alternatives"])
    if limit is not None and len(alts) > limit:
        return f"the agent weighed {len(alts)} other products: the choice is ambiguous"
    required = params["required_options"]
    if required and ctx.reads is not None:
        ctx.read("required_options", required)
        ctx.read("request.options", dict(ctx.request.options))
    for line in cart.items:
        message = _pinned(ctx, line, required.get(normalise(ctx.line_category(line)), []) if required else [])
        if message is not None:
            return message
    return None


def _pinned(ctx: Ctx, line: LineItem, needed: list[str]) -> str | None:
    """Why the line's options listed in ``needed`` are not pinned down by the user, or None."""
    if not needed:
        return None
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
