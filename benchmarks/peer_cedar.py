"""Cedar (``cedarpy``, the Python binding of the Rust Cedar engine).

The language: ``permit`` / ``forbid`` policies over a request (principal, action, resource,
context) and an entity graph, validated against a schema; a request is allowed when some permit
matches and no forbid does, and the answer names the policies that decided it.

The retail rules are one ``forbid`` each (annotated ``@id`` with the rule's reason code) plus one
``permit`` for checkout, so a Deny lists every rule that fired; the adapter maps codes to
clarify or escalate (Cedar has two answers, not three). The signed-in user is the principal, a
``User`` entity carrying the ids of their payment methods (``payment_methods`` is absent when the
facts do not say: the ``missing_fact`` rule). Money is integer cents (``Long``): Cedar's
``decimal`` has four places and no arithmetic, and the confidence is in basis points, rounded
down (``x < 0.80`` exactly when ``floor(x * 10000) < 8000``).

What the adapter does in Python, because Cedar cannot: parse and validate the raw call, look the
skus up in the catalog (price, title, availability, the catalog total), match the confirmations
against the cart (consent) and canonicalise product types (``peer_common.derive``), and sum the
lines (Cedar has no fold over a set). The rules themselves, including every comparison of two
values (exposure with the budget and the gift card's balance, the sum of the lines with the
total, the card with the user's cards, each line's product type with the one asked for), are in
Cedar. Policies and schema are parsed once (``PolicySet``, ``Schema``); the entities change with
every request, so they are passed as a list and parsed by each call.

``build(plain, extras)`` returns ``(adapter, engine, to_request)``; ``engine(request, entities)``
is the engine-only row.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from peer_common import RULES, Derived, Extra, derive, verdict

SCHEMA = """
entity User { payment_methods?: Set<String> };
entity Store;
action checkout appliesTo {
  principal: [User],
  resource: [Store],
  context: {
    authenticated: Bool, consent: Bool,
    exposure: Long, total: Long, lines_sum: Long,
    known: Bool, unavailable: Bool, catalog_mismatch: Bool,
    payment_method_id: String, balance?: Long, budget?: Long,
    wanted?: String, product_types: Set<String>,
    units: Long, wanted_quantity?: Long, confidence_bp: Long, first_quantity: Long,
  }
};
"""

_ON = 'forbid (principal, action == Action::"checkout", resource)'

POLICIES = f"""
@id("authentication") {_ON} unless {{ context.authenticated }};
@id("consent") {_ON} unless {{ context.consent }};
@id("price_cap") {_ON} when {{ context.exposure > 100000 }};
@id("missing_fact") {_ON} unless {{ principal has payment_methods }};
@id("payment_method") {_ON} when {{
  principal has payment_methods && !principal.payment_methods.contains(context.payment_method_id) }};
@id("balance") {_ON} when {{ context has balance && context.balance < context.exposure }};
@id("unknown_item") {_ON} unless {{ context.known }};
@id("availability") {_ON} when {{ context.known && context.unavailable }};
@id("catalog_mismatch") {_ON} when {{ context.known && context.catalog_mismatch }};
@id("total_mismatch") {_ON} when {{ context.lines_sum != context.total }};
@id("budget") {_ON} when {{ context has budget && context.exposure > context.budget }};
@id("category") {_ON} when {{ context has wanted && !([context.wanted].containsAll(context.product_types)) }};
@id("quantity") {_ON} when {{ context has wanted_quantity && context.units != context.wanted_quantity }};
@id("ambiguity") {_ON} when {{ context.confidence_bp < 8000 }};
@id("checkout") permit (principal, action == Action::"checkout", resource);
"""

FIELD = {"total": "total", "pm": "payment_method_id", "first_quantity": "first_quantity"}
OP = {"gt": ">", "eq": "=="}


def policies(extras: list[Extra]) -> str:
    out = [POLICIES]
    for e in extras:
        value = f'"{e.value}"' if isinstance(e.value, str) else str(e.value)
        out.append(f'@id("{e.code}") {_ON} when {{ context.{FIELD[e.field]} {OP[e.op]} {value} }};')
    return "\n".join(out)


_BP = Decimal(10000)


def to_request(d: Derived) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Cedar request and entities of one case."""
    context: dict[str, Any] = {
        "authenticated": d.user_id is not None,
        "consent": d.consent,
        "exposure": d.exposure,
        "total": d.total,
        "lines_sum": d.lines_sum,
        "known": d.known,
        "unavailable": bool(d.unavailable),
        "catalog_mismatch": bool(d.catalog_mismatch),
        "payment_method_id": d.pm,
        "product_types": d.got,
        "units": d.units,
        "confidence_bp": int((Decimal(repr(d.confidence)) * _BP).to_integral_value(rounding=ROUND_FLOOR)),
        "first_quantity": d.first_quantity,
    }
    if d.balance is not None:
        context["balance"] = d.balance
    if d.budget is not None:
        context["budget"] = d.budget
    if d.wanted is not None:
        context["wanted"] = d.wanted
    if d.wanted_quantity is not None:
        context["wanted_quantity"] = d.wanted_quantity
    principal = {"type": "User", "id": d.user_id if d.user_id is not None else ""}
    attrs: dict[str, Any] = {} if d.methods is None else {"payment_methods": d.methods}
    entities = [{"uid": principal, "attrs": attrs, "parents": []}]
    request = {"principal": principal, "action": {"type": "Action", "id": "checkout"},
               "resource": {"type": "Store", "id": "retail"}, "context": context}
    return request, entities


def build(plain: Any, extras: list[Extra]) -> tuple[Any, Any, Any]:
    import cedarpy

    policy_set = cedarpy.PolicySet.from_str(policies(extras))
    schema = cedarpy.Schema.from_str(SCHEMA)
    codes = {code for code, _p, _o in RULES} | {e.code for e in extras}

    def engine(request: dict[str, Any], entities: list[dict[str, Any]]) -> tuple[str, list[str]]:
        result = cedarpy.is_authorized(request, policy_set, entities, schema)
        if result.diagnostics.errors:
            raise RuntimeError(f"cedar: {result.diagnostics.errors}")  # fail closed, loudly
        if result.allowed:
            return "allow", []
        fired = [result.diagnostics.id_annotations_by_reason.get(r, r) for r in result.diagnostics.reasons]
        if not fired or not codes.issuperset(fired):
            raise RuntimeError(f"cedar: denied by {fired}")
        return verdict(fired)

    def adapter(call: Any, request: Any, session: Any, facts: Any) -> tuple[str, list[str]]:
        d = derive(plain, call, request, session, facts)
        if isinstance(d, tuple):
            return d
        return engine(*to_request(d))

    return adapter, engine, to_request
