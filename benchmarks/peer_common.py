"""What every peer's adapter shares: the Python a user writes around a rule engine, and the rules.

A peer engine (AGT's ``PolicyEvaluator``, Cedar, ZEN) decides on values, not on a raw tool call:
someone has to parse the call's JSON arguments, validate them, look the skus up in the catalog,
match the session's confirmations against the cart (the consent binding: every line's sku,
product, quantity and unit price, the total, the payment method, the merchant and the address)
and put the request's product type through the synonym table. None of the three languages can do
the catalog lookup or the consent matching on the raw documents, so the adapter does them, as a
user would, with the same code as the hand-written baseline (``PlainRetail`` of ``decide.py``):
the peers and the baseline pay the same for that part, and the rows differ by the engine.

``derive`` is that shared part: raw call + request, session and facts -> either a finished
decision (``malformed`` / ``unknown_tool``, decided before any rule, like the guard) or the
``Derived`` values the rules compare (money in integer cents: Cedar has no decimals beyond
``decimal()``'s four places, and cents compare exactly everywhere). Each peer turns those into
its own input (``to_<peer>`` in its module: the rest of the adapter) and its answer, a set of
fired reason codes, back into outcome + codes with ``verdict``.

``RULES`` is the retail policy's rules as (code, position, outcome); ``EXTRA`` the generated
rules that bring every contender to 100 rules (``extra_rules``), each one comparison on the cart
that no real case trips (a total over 20,000 USD and more, a blocked payment method id, a first
line of more than 50 units), so the 100-rule rows decide every case as the retail ones do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from decide import PlainRetail

# (reason code, position of its rule in policies/retail.yaml, outcome). payment-method reports
# missing_fact when the user's payment methods are not in the facts.
RULES: tuple[tuple[str, int, str], ...] = (
    ("authentication", 0, "clarify"),
    ("consent", 1, "clarify"),
    ("price_cap", 2, "escalate"),
    ("missing_fact", 3, "escalate"),
    ("payment_method", 3, "escalate"),
    ("balance", 4, "escalate"),
    ("unknown_item", 5, "escalate"),
    ("availability", 6, "escalate"),
    ("catalog_mismatch", 7, "escalate"),
    ("total_mismatch", 8, "escalate"),
    ("budget", 9, "clarify"),
    ("category", 10, "clarify"),
    ("quantity", 11, "clarify"),
    ("ambiguity", 12, "clarify"),
)
RETAIL_RULES = 13  # rules of policies/retail.yaml
TOTAL_RULES = 100  # the large rows: retail's 13 plus 87 generated


@dataclass(frozen=True)
class Extra:
    """One generated rule: ``field`` (a Derived attribute) ``op`` (``gt`` or ``eq``) ``value``."""

    code: str
    field: str
    op: str
    value: int | str


def extra_rules(n: int = TOTAL_RULES - RETAIL_RULES) -> list[Extra]:
    out = []
    for i in range(n):
        code = f"extra_{i:03d}"
        if i % 3 == 0:
            out.append(Extra(code, "total", "gt", (20000 + i) * 100))  # cents
        elif i % 3 == 1:
            out.append(Extra(code, "pm", "eq", f"pm-blocked-{i}"))
        else:
            out.append(Extra(code, "first_quantity", "gt", 50 + i))
    return out


def extras_as_txguard(extras: list[Extra]) -> list[dict[str, Any]]:
    """The same rules as txguard ``when`` rules (escalate, code = the rule's id)."""
    path = {"total": "intent.total", "pm": "intent.payment_method_id", "first_quantity": "intent.items[0].quantity"}
    rules = []
    for e in extras:
        value: Any = f"{Decimal(e.value) / 100:.2f}" if e.field == "total" else e.value
        rules.append({"id": e.code, "kinds": ["checkout"], "outcome": "escalate", "code": e.code,
                      "when": {"path": path[e.field], e.op: value}})
    return rules


POSITION = {code: (pos, outcome) for code, pos, outcome in RULES}


def verdict(fired: set[str] | list[str]) -> tuple[str, list[str]]:
    """Fired reason codes -> (outcome, codes in policy order), as the guard reports them."""
    if not fired:
        return "allow", []
    order = sorted(fired, key=lambda c: POSITION[c][0] if c in POSITION else RETAIL_RULES + int(c[6:]))
    escalate = any(POSITION.get(c, (0, "escalate"))[1] == "escalate" for c in fired)
    return ("escalate" if escalate else "clarify"), order


@dataclass
class Derived:
    """The values the rules compare, computed by the adapter from one raw case."""

    user_id: str | None
    consent: bool
    total: int                 # cents
    exposure: int              # cents: the larger of the stated total and the total at catalog prices
    lines_sum: int             # cents: sum of unit price x quantity
    unit_cents: list[int]      # each line's unit price, cents
    quantities: list[int]      # each line's quantity
    known: bool                # every sku is a variant of its product
    unavailable: bool | None   # some variant is out of stock (None when a sku is unknown)
    catalog_mismatch: bool | None
    pm: str
    methods: list[str] | None  # the user's payment method ids (None: not in the facts)
    balance: int | None        # cents, when the payment method has a balance
    budget: int | None         # cents (rounded down: exposure > budget either way)
    wanted: str | None         # canonical product type asked for
    got: list[str]             # canonical product type of each line
    units: int
    wanted_quantity: int | None
    confidence: float
    first_quantity: int


def _cents(d: Decimal) -> int:
    c = d * 100
    if c != c.to_integral_value():
        raise ValueError(f"not a whole number of cents: {d}")
    return int(c)


def derive(plain: PlainRetail, call: Mapping[str, Any], request: Mapping[str, Any] | None,
           session: Mapping[str, Any] | None, facts: Mapping[str, Any] | None) -> Derived | tuple[str, list[str]]:
    """Parse, validate, look up, match: a finished decision, or the values for the engine."""
    args, cart, refused = plain.read_call(call)
    if refused is not None:
        return refused
    lines, total, pm, _merchant, _address, conf = cart
    request, session, facts = request or {}, session or {}, facts or {}
    products, users = facts.get("products", {}), facts.get("users", {})
    user_id = session.get("authenticated_user_id")
    consent = False
    mine = None
    for c in session.get("confirmed", ()):
        if c.get("name") != "checkout":
            continue
        if c.get("arguments") == args:
            consent = True
            break
        other = plain._cart(c.get("arguments"))
        if other is not None:
            mine = mine or plain._binding(cart)
            if plain._binding(other) == mine:
                consent = True
                break
    variants = [(products.get(pid) or {}).get("variants", {}).get(sku) for sku, pid, _t, _q, _u in lines]
    known = all(v is not None for v in variants)
    unavailable = mismatch = None
    catalog = None
    if known:
        unavailable = not all(v.get("available") for v in variants)
        mismatch = any(Decimal(repr(v["price"])) != unit or products[pid].get("name") != title
                       for (_s, pid, title, _q, unit), v in zip(lines, variants))
        catalog = sum((Decimal(repr(v["price"])) * q for v, (_s, _p, _t, q, _u) in zip(variants, lines)), Decimal(0))
    exposure = total if catalog is None else max(total, catalog)
    methods = (users.get(user_id) or {}).get("payment_methods") if user_id is not None else None
    balance = None
    if isinstance(methods, dict) and pm in methods and "balance" in methods[pm]:
        balance = _cents(Decimal(repr(methods[pm]["balance"])))
    budget = request.get("budget")
    wanted = request.get("product_type")
    return Derived(
        user_id=user_id,
        consent=consent,
        total=_cents(total),
        exposure=_cents(exposure),
        lines_sum=_cents(sum((u * q for _s, _p, _t, q, u in lines), Decimal(0))),
        unit_cents=[_cents(u) for _s, _p, _t, _q, u in lines],
        quantities=[q for _s, _p, _t, q, _u in lines],
        known=known,
        unavailable=unavailable,
        catalog_mismatch=mismatch,
        pm=pm,
        methods=list(methods) if isinstance(methods, dict) else None,
        balance=balance,
        budget=None if budget is None else int((Decimal(budget) * 100).to_integral_value(rounding="ROUND_FLOOR")),
        wanted=None if wanted is None else plain.canonical(wanted),
        got=[plain.canonical((products.get(pid) or {}).get("name") or title) for _s, pid, title, _q, _u in lines],
        units=sum(q for _s, _p, _t, q, _u in lines),
        wanted_quantity=request.get("quantity"),
        confidence=float(conf),
        first_quantity=lines[0][3],
    )
