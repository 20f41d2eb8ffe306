"""Differential: the compiled schema pre-check (``txguard.policy.fastschema``) accepts exactly what
``jsonschema`` accepts, on shipped policies and domain files mutated with wrong types, bools for
ints, huge ints, floats, NaN, missing and extra keys, unicode and nested junk; and
``validate_document`` words the same errors with the pre-check as without it."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard.checks.spec import CHECKS
from txguard.policy import schema as schema_module
from txguard.policy.fastschema import TYPES, Unsupported, compile_schema, equal, unique
from txguard.policy.load import Located, load_yaml
from txguard.policy.schema import _domain_validator, _validator, _violations, validate_document

ROOT = Path(__file__).resolve().parent.parent


def _documents(domain: bool) -> list[dict[str, Any]]:
    out = []
    for path in sorted((ROOT / "policies").rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and ("domain" in data) == domain and ("id" in data or domain):
            out.append(data)
    return out


POLICIES = _documents(False)
DOMAINS = _documents(True)
POLICY_CHECK = compile_schema(_validator().schema)
DOMAIN_CHECK = compile_schema(_domain_validator().schema)


def _schema_keys(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from _schema_keys(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _schema_keys(item)


KEYS = sorted(set(_schema_keys(_validator().schema))) + ["", "é", "x" * 70, "1", "checkout"]
WORDS = ["", "NaN", "nan", "Infinity", "1.0", "12.50", "12.5.0", "-1", "USD", "usd", "EURO", "checkout", "read",
         "escalate", "clarify", "allow", "human", "refuse", "intent.total", "facts.users[x]", "txguard/v1",
         "txguard/v2", "é", "a b", "_x", "9x", "commerce", "money", "int?", "optional int", "P1D", "x" * 300,
         *sorted(CHECKS)]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(min_value=2**63, max_value=2**200),
    st.integers(max_value=-(2**63)), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0**70, float("nan")]), st.sampled_from(WORDS), st.text(max_size=8),
)
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=3), max_leaves=6)


def _spots(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every value under ``data``."""
    items: Any = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        yield data, key
        yield from _spots(value, path + (key,))


def _values(data: Any) -> list[Any]:
    return [c[k] for c, k in _spots(data)]


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    """A shipped document with one to four values replaced (by junk, a value found elsewhere in it,
    an empty one), keys deleted, added or renamed, list items dropped or repeated."""
    data = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        spots = list(_spots(data))
        if not spots:
            break
        parent, key = draw(st.sampled_from(spots))
        op = draw(st.sampled_from(["junk", "junk", "elsewhere", "delete", "add", "rename", "repeat", "check", "empty"]))
        if op == "junk":
            parent[key] = draw(JUNK)
        elif op == "elsewhere":
            parent[key] = copy.deepcopy(draw(st.sampled_from(_values(data))))
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(JUNK | st.sampled_from(_values(data))))
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
        elif op == "repeat" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif op == "empty":
            parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else 0
        elif op == "check" and isinstance(parent[key], dict):
            parent[key]["check"] = draw(st.sampled_from(sorted(CHECKS)))
    return data


def _agree(data: Any, domain: bool) -> None:
    validator = _domain_validator() if domain else _validator()
    fast = (DOMAIN_CHECK if domain else POLICY_CHECK)(data)
    assert fast == validator.is_valid(data), data
    doc = Located("p.yaml", data)
    assert _violations(doc, validator, None) == _violations(doc, validator, DOMAIN_CHECK if domain else POLICY_CHECK)


MANY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.data_too_large])


@MANY
@given(mutated(POLICIES))
def test_mutated_policies_are_judged_alike(data: Any) -> None:
    _agree(data, False)


@MANY
@given(mutated(DOMAINS + [{k: v for k, v in p.items() if k in schema_module.DOMAIN_KEYS} | {
    "apiVersion": "txguard/v1", "domain": "d"} for p in POLICIES]))
def test_mutated_domain_files_are_judged_alike(data: Any) -> None:
    _agree(data, True)


@settings(max_examples=300, deadline=None)
@given(JUNK)
def test_junk_documents_and_rules_are_judged_alike(junk: Any) -> None:
    _agree(junk, False)
    _agree({**POLICIES[0], "rules": [junk]}, False)
    _agree({**POLICIES[0], "rules": [{"id": "r", "when": junk}]}, False)
    _agree({**POLICIES[0], "rules": [{"id": "r", "check": "price_cap", "params": junk}]}, False)


@pytest.mark.parametrize("data", POLICIES)
def test_shipped_policies_pass_the_pre_check(data: dict[str, Any]) -> None:
    assert POLICY_CHECK(data) and _validator().is_valid(data)


@settings(max_examples=300, deadline=None)
@given(SCALARS | JUNK, SCALARS | JUNK)
def test_equality_and_types_are_jsonschemas(one: Any, two: Any) -> None:
    from jsonschema import _utils  # the semantics the pre-check mirrors

    assert equal(one, two) == _utils.equal(one, two)
    checker = jsonschema.Draft202012Validator.TYPE_CHECKER
    for name, test in TYPES.items():
        assert test(one) == checker.is_type(one, name), (name, one)
    items = [one, two, one] if not (isinstance(one, float) and math.isnan(one)) else [one, two]
    assert unique(items) == _utils.uniq(items) or any(isinstance(x, float) and math.isnan(x) for x in items)


@pytest.mark.parametrize("schema", [
    {"patternProperties": {"^x": {}}}, {"not": {}}, {"prefixItems": [{}]}, {"type": "any"}, {"items": False},
    {"$ref": "#/definitions/x"}, {"multipleOf": 2}, {"dependentRequired": {}},
    {"properties": {"a": {"$id": "https://x/y", "$defs": {"z": {}}, "$ref": "#/$defs/z"}}},
])
def test_a_keyword_it_does_not_know_is_left_to_jsonschema(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        compile_schema(schema)


def test_without_the_pre_check_the_same_errors_are_worded(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "policies" / "retail.yaml").read_text(encoding="utf-8").replace("check: budget", "check: 7")
    doc, errors = load_yaml(text, "retail.yaml")
    assert doc is not None and not errors
    with_pre_check = validate_document(doc)
    assert with_pre_check and "rules[" in with_pre_check[0].message
    monkeypatch.setattr(schema_module, "_pre_check", lambda domain: None)
    assert validate_document(doc) == with_pre_check
