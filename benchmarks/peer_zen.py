"""ZEN decision engine (``zen-engine``, GoRules' Rust engine): a JDM decision graph.

The language: a JSON Decision Model graph, here input -> one decision table -> output. The table's
hit policy is ``collect`` (every matching row contributes a row of outputs), its one input
column holds a ZEN expression per rule (the column has no field, so each cell is a whole boolean
expression over the input), and its output is the rule's reason code; the adapter maps codes to
clarify or escalate. ZEN's expression language has arrays, ``map``/``some``/``sum`` and ``null``,
so more of the rules live in the table than in Cedar or AGT: the sum of the lines, the units
ordered, every line's product type against the one asked for, the card against the user's cards.

What the adapter does in Python, because ZEN cannot on the raw documents: parse and validate the
raw call, look the skus up in the catalog (price, title, availability, the catalog total), match
the confirmations against the cart (consent) and canonicalise product types
(``peer_common.derive``). Money is integer cents, like the other peers.

Measured trait of zen-engine 2.1.3's binding: ``ZenDecision.evaluate`` starts an OS thread (and
an event loop: ``clone3``, ``epoll_create1``, ``eventfd2`` under ``strace``) for every call and
waits for it. With the benchmark pinned to one core, the caller and that thread share it, and on
a loaded machine a call often waits for a scheduler time slice: the ZEN rows' p50 then jumps
between about 0.2 and 3 ms from run to run (``peers.py --no-pin`` lets the thread run on another
core; compare the two runs before reading the ZEN ratios).

``build(plain, extras)`` returns ``(adapter, engine, to_input)``; ``engine(input)`` is the
engine-only row (the graph is compiled once with ``create_decision``).
"""

from __future__ import annotations

import json
from typing import Any

from peer_common import RULES, Derived, Extra, derive, verdict

RULE_EXPRESSIONS = {
    "authentication": "user_id == null",
    "consent": "consent == false",
    "price_cap": "exposure > 100000",
    "missing_fact": "methods == null",
    "payment_method": "methods != null and not (payment_method_id in methods)",
    "balance": "balance != null and balance < exposure",
    "unknown_item": "known == false",
    "availability": "known and unavailable",
    "catalog_mismatch": "known and catalog_mismatch",
    "total_mismatch": "sum(map(lines, #.unit * #.quantity)) != total",
    "budget": "budget != null and exposure > budget",
    "category": "wanted != null and some(lines, #.product_type != wanted)",
    "quantity": "wanted_quantity != null and sum(map(lines, #.quantity)) != wanted_quantity",
    "ambiguity": "confidence < 0.8",
}

FIELD = {"total": "total", "pm": "payment_method_id", "first_quantity": "lines[0].quantity"}
OP = {"gt": ">", "eq": "=="}


def graph(extras: list[Extra]) -> dict[str, Any]:
    """The JDM graph of the retail rules plus ``extras``."""
    assert list(RULE_EXPRESSIONS) == [code for code, _p, _o in RULES]
    rows = [{"_id": code, "rule": expr, "code": json.dumps(code)} for code, expr in RULE_EXPRESSIONS.items()]
    for e in extras:
        value = json.dumps(e.value)
        rows.append({"_id": e.code, "rule": f"{FIELD[e.field]} {OP[e.op]} {value}", "code": json.dumps(e.code)})
    table = {
        "hitPolicy": "collect",
        "inputs": [{"id": "rule", "name": "Rule"}],
        "outputs": [{"id": "code", "name": "Reason code", "field": "code"}],
        "rules": rows,
        "outputPath": "fired",
    }
    return {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {"id": "rules", "type": "decisionTableNode", "name": "Retail rules", "position": {"x": 300, "y": 0},
             "content": table},
            {"id": "decision", "type": "outputNode", "name": "Decision", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "type": "edge", "sourceId": "request", "targetId": "rules"},
            {"id": "e2", "type": "edge", "sourceId": "rules", "targetId": "decision"},
        ],
    }


def to_input(d: Derived) -> dict[str, Any]:
    return {
        "user_id": d.user_id,
        "consent": d.consent,
        "exposure": d.exposure,
        "total": d.total,
        "known": d.known,
        "unavailable": d.unavailable,
        "catalog_mismatch": d.catalog_mismatch,
        "payment_method_id": d.pm,
        "methods": d.methods,
        "balance": d.balance,
        "budget": d.budget,
        "wanted": d.wanted,
        "wanted_quantity": d.wanted_quantity,
        "confidence": d.confidence,
        "lines": [{"unit": u, "quantity": q, "product_type": t} for u, q, t in zip(d.unit_cents, d.quantities, d.got)],
    }


def build(plain: Any, extras: list[Extra]) -> tuple[Any, Any, Any]:
    import zen

    decision = zen.ZenEngine().create_decision(json.dumps(graph(extras)))
    codes = {code for code, _p, _o in RULES} | {e.code for e in extras}

    def engine(inp: dict[str, Any]) -> tuple[str, list[str]]:
        fired = [row["code"] for row in decision.evaluate(inp)["result"]["fired"]]
        if not codes.issuperset(fired):
            raise RuntimeError(f"zen: unknown codes {fired}")
        return verdict(fired)

    def adapter(call: Any, request: Any, session: Any, facts: Any) -> tuple[str, list[str]]:
        d = derive(plain, call, request, session, facts)
        if isinstance(d, tuple):
            return d
        return engine(to_input(d))

    return adapter, engine, to_input
