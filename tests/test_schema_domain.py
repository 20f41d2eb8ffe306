"""The published JSON Schema helps an editor with the declared-domain keys: each has a description,
and what the compiler refuses the schema refuses too (in the editor, before a load)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from txguard import compile_policy
from txguard.core.errors import PolicyError
from txguard.domain.declare import SCALARS
from txguard.policy.schema import policy_schema

SCHEMA = policy_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _policy(kind: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "txguard/v1", "id": "p", "version": "1", "intents": {"k": kind}}


def test_every_declared_domain_key_is_described() -> None:
    props = SCHEMA["properties"]
    for key in ("imports", "types", "intents", "builtin_kinds", "facts", "undeclared_facts", "request"):
        assert props[key].get("description"), key
    kind = SCHEMA["$defs"]["kind"]["properties"]
    for key in ("consequential", "fields", "unbound", "same_length", "roles"):
        assert kind[key].get("description"), key
    form = SCHEMA["$defs"]["type"]["anyOf"][1]["properties"]
    for key in (*SCALARS, "enum", "list", "map", "record", "one_of", "min", "max", "unordered", "default", "optional"):
        assert form[key].get("description"), key
    tool = props["tools"]["additionalProperties"]["properties"]
    for key in ("fields", "constants", "required", "ignore"):
        assert tool[key].get("description"), key


@pytest.mark.parametrize("fields", [
    {"a": "optional money?"},                  # the compiler reads neither `optional money?` ...
    {"a": {"int": {"minimum": 0}}},            # ... nor a parameter an int does not take
    {"a": {"money": {"pattern": 5}}},
    {"a": {"list": "id", "max": -1}},
    {"a": {"list": "id", "min": "1"}},
])
def test_what_the_compiler_refuses_the_schema_refuses(fields: dict[str, Any]) -> None:
    doc = _policy({"fields": fields})
    assert list(VALIDATOR.iter_errors(doc))
    with pytest.raises(PolicyError):
        compile_policy(_yaml(doc), "p.yaml")


def test_a_role_must_be_one_the_checks_know() -> None:
    assert list(VALIDATOR.iter_errors(_policy({"fields": {"total": "money"}, "roles": {"price": "total"}})))
    assert not list(VALIDATOR.iter_errors(_policy({"fields": {"total": "money"}, "roles": {"amount": "total"}})))


@pytest.mark.parametrize("fields", [
    {"a": "optional money", "b": "money?", "c": {"money": {"currency": "EUR", "min": "1.00", "max": 500}}},
    {"a": {"string": {"pattern": "^[A-Z]+$", "max_length": 3}, "optional": True, "description": "code"}},
    {"a": {"list": {"flight_no": "id", "date": "date"}, "min": 1, "max": 9, "unordered": True}},
    {"a": {"int": None, "default": 0}, "b": {"date": {}}, "c": {"one_of": ["int", "string"]}},
    {"date": "date", "money": "money"},      # a record written directly whose fields are named like types
])
def test_what_the_compiler_reads_the_schema_accepts(fields: dict[str, Any]) -> None:
    doc = _policy({"fields": fields})
    assert not list(VALIDATOR.iter_errors(doc))
    compile_policy(_yaml(doc), "p.yaml")


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)
