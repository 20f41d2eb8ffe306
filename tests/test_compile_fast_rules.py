"""Differential: the rules stage, which parses and type-checks each path once per policy (a cache
shared by every ``when``, keyed by the kinds and the path's text, bypassed inside a ``for_each``
that binds a name), compiles exactly what it compiles with every path checked afresh: the same IR
(locations, types, modes, literals) and the same located errors, in the same order."""

from __future__ import annotations

import dataclasses
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard.core.errors import PolicyError
from txguard.core.paths import Path as TxPath
from txguard.policy import rules as rules_module
from txguard.policy.compile import compile_policy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from decide import generated_policy  # noqa: E402

RETAIL = yaml.safe_load((ROOT / "policies" / "retail.yaml").read_text(encoding="utf-8"))


def shape(value: Any) -> Any:
    """A comparable picture of compiled IR: dataclasses field by field, functions by kind only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, shape(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, TxPath):
        return ("path", value.text)
    if isinstance(value, (list, tuple)):
        return tuple(shape(v) for v in value)
    if isinstance(value, dict):
        return tuple((repr(k), shape(v)) for k, v in value.items())
    if isinstance(value, (frozenset, set)):
        return tuple(sorted(repr(v) for v in value))
    if callable(value):
        return "fn"
    if isinstance(value, (str, int, float, bool, Decimal)) or value is None:
        return (type(value).__name__, repr(value))
    return (type(value).__name__, "" if "object at 0x" in repr(value) else repr(value))


def _uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `when` parsed with a cache of its own: each path parsed and type-checked afresh."""
    original = rules_module.parse_condition  # type: ignore[attr-defined]

    def fresh(*args: Any, **kwargs: Any) -> Any:
        kwargs["cache"] = None
        return original(*args, **kwargs)

    monkeypatch.setattr(rules_module, "parse_condition", fresh)


def _compiled(text: str) -> Any:
    try:
        policy = compile_policy(text, str(ROOT / "policies" / "p.yaml"), ROOT / "policies")
    except PolicyError as exc:
        return ("error", [(d.line, d.column, d.code, d.message) for d in exc.diagnostics])
    return ("ok", shape(policy.rules), {k: [r.id for r in v] for k, v in policy.by_kind.items()})


def _agree(text: str) -> None:
    cached = _compiled(text)
    with pytest.MonkeyPatch.context() as mp:
        _uncached(mp)
        assert _compiled(text) == cached


PATHS = ["intent.total", "intent.items[0].quantity", "intent.currency", "intent.merchant", "intent.confidence",
         "intent.payment_method_id", "facts.users[session.authenticated_user_id].payment_methods",
         "facts.products[intent.items[0].product_id].variants[intent.items[0].sku].price", "session.authenticated_user_id",
         "line.quantity", "line.unit_price", "intent.total.x", "intent.nope", "facts.nope[intent.total]", "bad path[",
         "intent.items", "item.sku", "request.budget", "intent.address.city", "intent.order_id", 7, None]
VALUES = st.one_of(st.sampled_from(["100", "20.00", "USD", "EUR", "blocked", "2026-05-10", "now", "x"]), st.integers(-2, 600),
                   st.booleans(), st.none(), st.sampled_from([1.5, [1, 2], ["USD"], {"path": "intent.total"},
                                                              {"path": "line.quantity"}, {"path": "nope"}]))
OPS = ["gt", "ge", "lt", "le", "eq", "ne", "in", "not_in", "exists"]


FINE = [("intent.total", "gt", "100"), ("intent.total", "le", "20.00"), ("intent.items[0].quantity", "gt", 5),
        ("intent.currency", "ne", "USD"), ("intent.merchant", "eq", "blocked"), ("intent.confidence", "lt", "0.1"),
        ("intent.payment_method_id", "not_in", {"path": "facts.users[session.authenticated_user_id].payment_methods"}),
        ("facts.products[intent.items[0].product_id].variants[intent.items[0].sku].price", "gt", "9000"),
        ("session.authenticated_user_id", "exists", True), ("intent.total", "gt", {"path": "intent.items[0].quantity"})]
"""Comparisons a checkout rule may make (the generated rules below mostly make these: the IR is compared)."""


@st.composite
def condition(draw: st.DrawFn, depth: int = 0, fine: bool = False) -> Any:
    kind = draw(st.sampled_from(["cmp", "cmp", "cmp", "all", "any", "not", "for_each"] if depth < 2 else ["cmp"]))
    if fine:
        if kind == "for_each":
            return {"for_each": "intent.items", "as": "line", "any": [{"path": "line.quantity", "gt": draw(VALUES.filter(
                lambda v: isinstance(v, int) and not isinstance(v, bool)))}, draw(condition(depth + 1, True))]}
        if kind == "cmp":
            path, op, value = draw(st.sampled_from(FINE))
            return {"path": path, op: value}
        if kind == "not":
            return {"not": draw(condition(depth + 1, True))}
        return {kind: [draw(condition(depth + 1, True)) for _ in range(draw(st.integers(1, 3)))]}
    if kind == "cmp":
        op = draw(st.sampled_from(OPS))
        cond = {"path": draw(st.sampled_from(PATHS)), op: True if op == "exists" else draw(VALUES)}
        if draw(st.integers(0, 5)) == 0:
            cond["on_missing"] = draw(st.sampled_from(["escalate", True, False]))
        return cond
    if kind == "not":
        return {"not": draw(condition(depth + 1))}
    if kind == "for_each":
        return {"for_each": draw(st.sampled_from(["intent.items", "intent.total", "facts.users", "nope"])),
                "as": draw(st.sampled_from(["line", "item", "intent", "session"])),
                draw(st.sampled_from(["all", "any"])): [draw(condition(depth + 1)) for _ in range(draw(st.integers(1, 2)))]}
    return {kind: [draw(condition(depth + 1)) for _ in range(draw(st.integers(1, 3)))]}


@st.composite
def policy_text(draw: st.DrawFn) -> str:
    doc = dict(RETAIL)
    extra = []
    fine = draw(st.integers(0, 3)) > 0
    for i in range(draw(st.integers(1, 6))):
        rule: dict[str, Any] = {"id": f"r{i}", "when": draw(condition(fine=fine))}
        kinds = ["checkout"] if fine else draw(st.sampled_from([None, ["checkout"], ["add_to_cart"],
                                                                ["checkout", "add_to_cart"], ["read"]]))
        if kinds is not None:
            rule["kinds"] = kinds
        extra.append(rule)
    doc["rules"] = list(RETAIL["rules"]) + extra
    return yaml.safe_dump(doc, sort_keys=False)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_text())
def test_generated_rules_compile_alike(text: str) -> None:
    _agree(text)


@pytest.mark.parametrize("text", [generated_policy(60), generated_policy(60, spread=True)])
def test_generated_policies_compile_alike(text: str) -> None:
    _agree(text)
    assert _compiled(text)[0] == "ok"


def test_a_bound_name_shadowing_a_root_is_not_read_from_the_cache() -> None:
    # `intent.total` is checked for the kinds first; inside the for_each, `intent` is a line item.
    doc = dict(RETAIL)
    doc["rules"] = list(RETAIL["rules"]) + [
        {"id": "a", "kinds": ["checkout"], "when": {"path": "intent.total", "gt": "1"}},
        {"id": "b", "kinds": ["checkout"], "when": {"for_each": "intent.items", "as": "intent",
                                                     "any": [{"path": "intent.total", "gt": "1"}]}},
    ]
    result = _compiled(yaml.safe_dump(doc, sort_keys=False))
    assert result[0] == "error" and any("intent.total" in message for *_, message in result[1])
    _agree(yaml.safe_dump(doc, sort_keys=False))
