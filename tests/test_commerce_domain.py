"""The shipped commerce domain (``policies/domains/commerce.yaml``) and the engine's typed models of
the ten retail kinds are one declaration: models generated from the YAML accept and refuse exactly
what the typed models do and bind the same fields; the declared facts layout types every path as
the engine's layout does; a shipped kind declared otherwise is refused."""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from txguard import Guard
from txguard.core.errors import PolicyError
from txguard.core.intents import INTENT_MODELS
from txguard.core.paths import FACTS_SCHEMA, ListOf, MapOf
from txguard.domain.digest import bound_fields
from txguard.domain.domain import build_domain, path_schema, shipped_specs
from txguard.domain.declare import parse_named, parse_type
from txguard.policy import types as T
from txguard.policy.compile import compile_policy

ROOT = Path(__file__).resolve().parent.parent
COMMERCE = ROOT / "policies" / "domains" / "commerce.yaml"
DATA = yaml.safe_load(COMMERCE.read_text(encoding="utf-8"))


def test_the_package_ships_the_same_commerce_domain() -> None:
    assert (ROOT / "txguard" / "data" / "domains" / "commerce.yaml").read_bytes() == COMMERCE.read_bytes()


def test_the_shipped_domain_declares_every_shipped_kind() -> None:
    assert sorted(DATA["intents"]) == sorted(INTENT_MODELS)
    assert sorted(shipped_specs()) == sorted(INTENT_MODELS)


def _generated() -> dict[str, type[BaseModel]]:
    """The ten kinds as the YAML alone generates them (renamed, so that they are declared kinds)."""
    data = {"types": DATA["types"], "intents": {f"x_{k}": v for k, v in DATA["intents"].items()}}
    problems: list[str] = []
    domain = build_domain(data, "USD", lambda at, code, msg: problems.append(f"{at}: {msg}"))
    assert problems == []
    return {k[2:]: domain.models[k] for k in data["intents"]}


GENERATED = _generated()

LINE = {"sku": "S1", "product_id": "P1", "title": "Kettle", "quantity": 2, "unit_price": "19.99"}
ADDRESS = {"address1": "1 Main St", "city": "Springfield", "state": "IL", "country": "USA", "zip": "62701"}
VALID: dict[str, dict[str, Any]] = {
    "checkout": {"items": [LINE, {**LINE, "sku": "S2", "category": "Kitchen"}], "total": "79.96", "currency": "USD",
                 "payment_method_id": "pm1", "merchant": "shop", "shipping_address": ADDRESS, "confidence": 0.9,
                 "alternatives": [{"product_id": "P2"}]},
    "add_to_cart": {"items": [LINE], "currency": "USD"},
    "cancel_order": {"order_id": "#W1", "reason": "no longer needed"},
    "modify_order_items": {"order_id": "#W1", "item_ids": ["a", "b"], "new_item_ids": ["c", "d"], "payment_method_id": "pm"},
    "modify_order_address": {"order_id": "#W1", "address": ADDRESS},
    "modify_order_payment": {"order_id": "#W1", "payment_method_id": "pm"},
    "return_items": {"order_id": "#W1", "item_ids": ["a"], "payment_method_id": "pm"},
    "exchange_items": {"order_id": "#W1", "item_ids": ["a"], "new_item_ids": ["b"], "payment_method_id": "pm"},
    "refund": {"order_id": "#W1", "amount": "5.5", "currency": "USD", "payment_method_id": "pm", "reason": "late"},
    "modify_user_address": {"user_id": "u1", "address": {**ADDRESS, "address2": "Apt 2"}},
}
ODD_VALUES = st.sampled_from([
    None, "", "x", "12.345", "-1", "1e3", "NaN", 0, 1, -1, 10**7, 1.5, True, [], {}, ["a"], [LINE], [LINE] * 3,
    {"product_id": "P"}, ADDRESS, "USD", "JPY", "XXX", "2026-01-01", Decimal("0.5"), 0.79999999999999999, " " * 300,
])


def _mutations(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    base = VALID[kind]
    paths = [(k,) for k in base] + [("extra",)] + [(k, 0, f) for k, v in base.items() if isinstance(v, list)
                                                   and v and isinstance(v[0], dict) for f in list(v[0]) + ["extra"]]
    return st.lists(st.tuples(st.sampled_from(paths), ODD_VALUES | st.just(DELETE)), max_size=3).map(
        lambda changes: _apply(base, changes))


DELETE = object()


def _apply(base: dict[str, Any], changes: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for path, value in changes:
        cur: Any = out
        for step in path[:-1]:
            if isinstance(cur, dict) and step in cur:
                cur = cur[step]
            elif isinstance(cur, list) and isinstance(step, int) and step < len(cur):
                cur = cur[step]
            else:
                break
        else:
            if isinstance(cur, dict):
                if value is DELETE:
                    cur.pop(path[-1], None)
                else:
                    cur[path[-1]] = copy.deepcopy(value)
    return out


def _outcome(model: type[BaseModel], data: dict[str, Any]) -> tuple[bool, Any]:
    try:
        intent = model.model_validate(data)
    except ValidationError:
        return False, None
    return True, intent


@pytest.mark.parametrize("kind", sorted(INTENT_MODELS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_models_accept_refuse_and_bind_as_the_typed_models(kind: str, data: st.DataObject) -> None:
    args = data.draw(_mutations(kind))
    ok_typed, typed = _outcome(INTENT_MODELS[kind], args)
    ok_gen, gen = _outcome(GENERATED[kind], args)
    assert ok_typed == ok_gen, (kind, args)
    if ok_typed:
        want = bound_fields(typed)
        got = bound_fields(gen)
        assert {**got, "kind": kind} == want


def test_the_declared_facts_type_every_path_as_the_engines_layout() -> None:
    named = parse_named(DATA.get("types"), ("types",), lambda *a: None)

    def walk(engine: Any, declared: Any, where: str) -> None:
        if isinstance(engine, dict):
            assert isinstance(declared, dict) and sorted(declared) == sorted(engine), where
            for k in engine:
                walk(engine[k], declared[k], f"{where}.{k}")
        elif isinstance(engine, (ListOf, MapOf)):
            assert type(declared) is type(engine), where
            walk(engine.value, declared.value, f"{where}[]")
        else:
            assert T.classify(declared, "facts").kind == T.classify(engine, "facts").kind, where

    for name, coll in DATA["facts"].items():
        record = parse_type({"record": coll["record"]}, ("facts", name), lambda *a: None, named)
        assert record is not None
        walk(FACTS_SCHEMA[name].value, path_schema(record, f"facts.{name}"), f"facts.{name}")


def test_a_shipped_kind_declared_otherwise_is_refused_where_it_is_written() -> None:
    text = ("apiVersion: txguard/v1\nid: t\nversion: 1\nbuiltin_kinds: commerce\nintents:\n  refund:\n"
            "    fields: {order_id: id, amount: money, currency: currency, payment_method_id: id}\n")
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "t.yaml")
    (diag,) = info.value.diagnostics
    assert str(diag).startswith("t.yaml:7:5: txg-type: intents.refund: `refund` is a shipped kind")
    # Without the shipped kinds the name is the policy's own: a declared kind like any other.
    own = compile_policy(text.replace("builtin_kinds: commerce\n", ""), "t.yaml")
    assert own.domain.models["refund"] is not INTENT_MODELS["refund"] and "refund" in own.domain.specs


def test_a_policy_importing_commerce_decides_as_the_shipped_retail_policy(retail_guard: Guard) -> None:
    proposal = {"name": "checkout", "arguments": {**VALID["checkout"], "shipping_address": None}}
    imported = Guard.from_file(ROOT / "policies" / "retail.yaml")
    assert imported.policy.document.get("imports") is None  # merged away: the domain is in `domain`
    assert sorted(imported.policy.domain.models) == sorted(INTENT_MODELS)
    assert imported.check(proposal).outcome == retail_guard.check(proposal).outcome
