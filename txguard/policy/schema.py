"""The published JSON Schema of a policy document (and of the intents), and its validation with
located, one-line error messages."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from pydantic import TypeAdapter

from ..checks.spec import CHECKS
from ..core.errors import Diagnostic
from ..core.intents import INTENT_KINDS, Intent
from ..core.paths import render_step
from ..domain.declare import MAX_LIST, SCALARS
from ..domain.domain import ROLES
from .fastschema import Test, Unsupported, compile_schema
from .ir import EXPRESSIONS, OPERATORS
from .load import Located
from .schema_scalars import scalar_forms
from .session import session_schema

_AMOUNT_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
SCHEMA_ID = "https://txguard.dev/schema/policy-v1.json"
API_VERSION = "txguard/v1"
TOOL_KINDS = list(INTENT_KINDS) + ["read"]
_KIND = "^[A-Za-z_][A-Za-z0-9_]*$"
OUTCOMES = ["allow", "clarify", "escalate"]
_ID = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]*$"}


def _condition() -> dict[str, Any]:
    ref = {"$ref": "#/$defs/condition"}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            # A list of conditions; with `for_each`, also one condition applied to each element.
            "all": {"oneOf": [{"type": "array", "items": ref, "minItems": 1}, ref]},
            "any": {"oneOf": [{"type": "array", "items": ref, "minItems": 1}, ref]},
            "not": ref,
            "for_each": {"type": "string"},
            "as": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"},
            "path": {"type": "string"},
            "value": {"$ref": "#/$defs/expr", "description": "the left side as an expression (instead of `path`)"},
            # One entry per operator of the IR's table: its operand's schema and its doc.
            **{name: {**op.schema, "description": op.doc} for name, op in OPERATORS.items()},
            "on_missing": {"enum": ["escalate", True, False]},
            "default": {"type": ["string", "number", "integer", "boolean"],
                        "description": "the value the left side takes when it is not there (a literal of its type)"},
        },
    }


def _expressions() -> dict[str, Any]:
    """An expression written as a mapping: one branch per form of the IR's expression table."""
    return {"oneOf": [
        {"type": "object", "additionalProperties": False, "required": [name, *form.required],
         "properties": dict(form.schema), "description": form.doc}
        for name, form in EXPRESSIONS.items()
    ]}


def policy_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a txguard policy file."""
    tool = {
        "type": "object",
        "additionalProperties": False,
        "required": ["intent"],
        "properties": {
            "intent": {"type": "string", "pattern": _KIND,
                       "description": f"the intent kind: a declared kind, `read`, or a shipped kind ({', '.join(TOOL_KINDS)})"},
            "description": {"type": "string"},
            "fields": {
                "type": "object",
                "description": "intent field (dotted for a nested one) -> the argument path it is read from, or a list "
                               "mapping `{from: <argument list>, fields: {<element field>: <path in each element>}}`",
                "additionalProperties": {
                    "oneOf": [
                        {"type": "string"},
                        {"type": "object", "additionalProperties": False, "required": ["from"],
                         "properties": {"from": {"type": "string", "description": "the argument that holds the list"},
                                        "fields": {"type": "object", "additionalProperties": {"type": "string"},
                                                   "description": "element field -> its path in each entry"}}},
                    ]
                },
            },
            "constants": {"type": "object", "description": "intent fields this tool fixes: an argument that says "
                                                          "otherwise is malformed"},
            "required": {"type": "array", "items": {"type": "string"},
                         "description": "intent fields this tool must fill (optional ones included)"},
            "ignore": {"type": "array", "items": {"type": "string"},
                       "description": "arguments that never reach the intent (a tracing id): never a field the "
                                      "decision reads"},
        },
    }
    rule_checks = [
        {"if": {"required": ["check"], "properties": {"check": {"const": name}}},
         "then": {"properties": {"params": spec.params_schema}}}
        for name, spec in sorted(CHECKS.items())
    ]
    rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {
            "id": _ID,
            "description": {"type": "string"},
            "check": {"enum": sorted(CHECKS)},
            "when": {"$ref": "#/$defs/condition"},
            "kinds": {"type": "array", "items": {"type": "string", "pattern": _KIND}, "minItems": 1},
            "params": {"type": "object"},
            "outcome": {"enum": ["clarify", "escalate"]},
            "route": {"enum": ["human", "refuse"]},
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string"},
            "question": {"type": "string"},
        },
        "allOf": rule_checks,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "txguard policy",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "id", "version"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]*$"},
            "version": {"type": ["string", "integer"]},
            "description": {"type": "string"},
            "extends": {"type": "string"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "tools": {"type": "object", "additionalProperties": tool},
            "defaults": {"type": "object", "propertyNames": {"pattern": _KIND},
                         "additionalProperties": {"enum": OUTCOMES}},
            "categories": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "taxonomy": {"type": "string"},
                    "product_types": {"type": "object", "additionalProperties": {"type": ["integer", "string"]}},
                    "synonyms": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                },
            },
            "audit": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"mask": {"type": "array", "items": {"type": "string"}}},
            },
            "tables": {"type": "object", "description": "lookup tables: `{table: name, keys: [...]}` in a `when` expression",
                       "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                       "additionalProperties": {"type": "object", "minProperties": 1}},
            "rules": {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "routes": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"precedence": {"type": "array", "items": {"enum": ["refuse", "human"]},
                                              "minItems": 2, "maxItems": 2, "uniqueItems": True}},
            },
            "session": session_schema(),
            "imports": {"type": "array", "items": {"type": "string"},
                        "description": "domain files (`apiVersion`, `domain`, `types`, `intents`, `facts`, `request`) "
                                       "whose declarations this policy uses, relative to its folder"},
            "types": {"type": "object", "description": "named types, usable by name in `intents`, `facts` and `request`",
                      "propertyNames": {"pattern": _KIND}, "additionalProperties": {"$ref": "#/$defs/type"}},
            "intents": {"type": "object", "description": "declared intent kinds (docs/policy-guide.md, section 13)",
                        "propertyNames": {"pattern": _KIND}, "additionalProperties": {"$ref": "#/$defs/kind"}},
            "builtin_kinds": {"enum": ["commerce"],
                              "description": "keep the shipped commerce kinds next to the declared `intents`"},
            "facts": {"type": "object", "description": "declared collections of trusted records",
                      "propertyNames": {"pattern": _KIND}, "additionalProperties": {
                          "type": "object", "additionalProperties": False, "required": ["record"],
                          "properties": {"key": {"type": "string", "description": "the record's `id`, `string` or "
                                                 "`int` field a list of records is indexed by"},
                                         "description": {"type": "string"},
                                         "record": {"$ref": "#/$defs/fields", "description": "the record's fields"}}}},
            "undeclared_facts": {"enum": ["ignore", "error"],
                                 "description": "what a collection the policy does not declare does (default: ignore)"},
            "request": {"$ref": "#/$defs/fields", "description": "the fields of the user's request (replaces the "
                                                                 "retail request)"},
        },
        "$defs": {
            "rule": rule,
            "condition": _condition(),
            # In an expression: a string is a path (or `now`), a number a literal.
            "expr": {"anyOf": [{"type": "string"}, {"type": ["integer", "number", "boolean"]},
                               {"$ref": "#/$defs/expression"}]},
            "expression": _expressions(),
            "kind": {"type": "object", "additionalProperties": False, "required": ["fields"], "properties": {
                "description": {"type": "string"},
                "consequential": {"type": "boolean", "description": "needs the user's consent (default true)"},
                "fields": {"$ref": "#/$defs/fields", "description": "field name -> type"},
                "unbound": {"type": "array", "items": {"type": "string"},
                            "description": "field paths consent does not bind: the user never confirms them"},
                "same_length": {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                                "description": "groups of list fields that pair entry by entry (equal lengths)"},
                "roles": {"type": "object", "propertyNames": {"enum": list(ROLES)},
                          "additionalProperties": {"type": "string"},
                          "description": "what built-in checks read of the kind: a field path for each role"},
            }},
            "fields": {"type": "object", "propertyNames": {"pattern": _KIND},
                       "additionalProperties": {"$ref": "#/$defs/type"}},
            "type": {"anyOf": [
                {"type": "string", "pattern": r"^(optional [A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*\??)$",
                 "description": f"a scalar ({', '.join(SCALARS)}) or a type named in `types`; `?` or `optional`: "
                                "may be absent (null)"},
                {"type": "object", "minProperties": 1, "maxProperties": 6, "properties": {
                    "optional": {"type": "boolean", "description": "may be absent or null"},
                    "description": {"type": "string"},
                    "enum": {"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": True,
                             "description": "the allowed strings"},
                    "list": {"$ref": "#/$defs/type", "description": "a list of this type"},
                    "map": {"$ref": "#/$defs/type", "description": "string keys -> values of this type"},
                    "record": {"$ref": "#/$defs/fields", "description": "a record: field name -> type"},
                    "min": {"type": "integer", "minimum": 0, "maximum": 100_000,
                            "description": "a list's least number of entries (default 0)"},
                    "max": {"type": "integer", "minimum": 0, "maximum": 100_000,
                            "description": f"a list's greatest number of entries (default {MAX_LIST})"},
                    "unordered": {"type": "boolean", "description": "a list whose order means nothing (consent "
                                                                    "compares it sorted)"},
                    "default": {"description": "the value of an absent field: a string, boolean, integer, [] or {}"},
                    "one_of": {"type": "array", "items": {"$ref": "#/$defs/type"}, "minItems": 2,
                               "description": "two or more scalar types: a value is the first it reads as"},
                    **scalar_forms(),
                }, "additionalProperties": False},
                {"$ref": "#/$defs/fields", "description": "a record written directly: field name -> type"},
            ]},
            "pathref": {"type": "object", "additionalProperties": False, "required": ["path"],
                        "properties": {"path": {"type": "string"}}},
        },
    }


def intent_schema() -> dict[str, Any]:
    """The JSON Schema of an intent (the discriminated union of every kind)."""
    return TypeAdapter(Intent).json_schema()


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    # No `check_schema` here: meta-validating the schema costs ~100 ms at every start, and the
    # shipped schema is fixed; tests/test_schema.py fails if it is not a valid draft 2020-12 schema.
    schema = policy_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def dotted(path: Any, data: Any = None) -> str:
    """``rules[3](price-cap).params.max``: a path as text, naming the rule id where there is one."""
    out = ""
    for i, p in enumerate(path):
        out += render_step(p, first=not out)
        if i == 1 and path[0] == "rules" and isinstance(p, int) and isinstance(data, dict):
            rules = data.get("rules")
            if isinstance(rules, list) and p < len(rules) and isinstance(rules[p], dict) and "id" in rules[p]:
                out += f"({rules[p]['id']})"
    return out or "(document)"


def _got(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "object": "a mapping",
               "array": "a list", "boolean": "true or false", "null": "null"}


def _message(err: Any) -> tuple[list[Any], str]:
    path = list(err.absolute_path)
    v = err.validator
    got = f"got `{_got(err.instance)}`"
    if v == "type":
        types = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return path, f"expected {' or '.join(str(_TYPE_WORDS.get(t, t)) for t in types)}, {got}"
    if v == "required":
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        return path, f"missing required key `{missing[0] if missing else err.validator_value}`"
    if v == "additionalProperties":
        extra = sorted(k for k in err.instance if k not in (err.schema.get("properties") or {}))
        allowed = ", ".join(sorted(err.schema.get("properties") or {}))
        hint = f"expected one of: {allowed}" if allowed else "no keys are allowed here"
        return path + [extra[0]] if extra else path, f"unknown key `{extra[0] if extra else '?'}` ({hint})"
    if v == "enum":
        return path, f"expected one of {', '.join(f'`{x}`' for x in err.validator_value)}, {got}"
    if v == "const":
        return path, f"expected `{err.validator_value}`, {got}"
    if v == "pattern":
        if err.validator_value == _AMOUNT_PATTERN:
            return path, f"expected a decimal amount such as `\"12.50\"`, {got}"
        return path, f"expected a value matching `{err.validator_value}`, {got}"
    if v in ("minItems", "minProperties"):
        return path, f"expected at least {err.validator_value} entries"
    if v in ("minimum", "maximum"):
        word = "at least" if v == "minimum" else "at most"
        return path, f"expected a number {word} {err.validator_value}, {got}"
    if v == "propertyNames":
        return path, f"key {_got(err.instance)} is not allowed here"
    if v in ("oneOf", "anyOf"):
        amount = any(isinstance(s, dict) and s.get("pattern") == _AMOUNT_PATTERN for s in err.validator_value)
        if amount and all(e.validator == "type" for e in err.context or ()):
            # Neither a string nor an integer (e.g. the float `12.5`): say what an amount is.
            return path, f"expected a decimal amount such as `\"12.50\"`, {got}"
        if err.context:
            # Prefer the branch whose type fits the value: its error says what is wrong inside it.
            fitting = [e for e in err.context if e.validator != "type"] or list(err.context)
            best = jsonschema.exceptions.best_match(fitting)
            if best is not None:
                sub_path, msg = _message(best)
                return path + sub_path[len(path):] if sub_path[: len(path)] == path else path, msg
        return path, f"expected a value of one of the allowed shapes, {got}"
    return path, err.message.splitlines()[0]


DOMAIN_KEYS = ("types", "intents", "facts", "undeclared_facts", "request")


def domain_schema() -> dict[str, Any]:
    """The JSON Schema of a domain file (what a policy ``imports``): the domain keys of a policy."""
    policy = policy_schema()
    props = policy["properties"]
    return {
        "$schema": policy["$schema"], "$id": SCHEMA_ID.replace("policy-v1", "domain-v1"), "title": "txguard domain",
        "type": "object", "additionalProperties": False, "required": ["apiVersion", "domain"],
        "properties": {"apiVersion": props["apiVersion"], "domain": {"type": "string", "pattern": _KIND},
                       "description": {"type": "string"}, **{k: props[k] for k in DOMAIN_KEYS}},
        "$defs": policy["$defs"],
    }


@lru_cache(maxsize=1)
def _domain_validator() -> jsonschema.protocols.Validator:
    schema = domain_schema()
    return jsonschema.validators.validator_for(schema)(schema)


@lru_cache(maxsize=2)
def _pre_check(domain: bool) -> Test | None:
    """The schema of :func:`_validator` (``domain``: of :func:`_domain_validator`) compiled to a plain
    valid-or-not test (:mod:`txguard.policy.fastschema`), or None if it cannot be."""
    try:
        return compile_schema((_domain_validator() if domain else _validator()).schema)
    except Unsupported:
        return None


def validate_domain_document(doc: Located) -> list[Diagnostic]:
    """Every JSON Schema violation of a domain file, located, one line each."""
    return _violations(doc, _domain_validator(), _pre_check(True))


def validate_document(doc: Located) -> list[Diagnostic]:
    """Every JSON Schema violation of ``doc``, located, one line each."""
    return _violations(doc, _validator(), _pre_check(False))


def _violations(doc: Located, validator: jsonschema.protocols.Validator, pre_check: Test | None = None) -> list[Diagnostic]:
    """The violations ``validator`` finds in ``doc``. A document the compiled ``pre_check`` finds
    valid has none (tests/test_compile_fast_schema.py); any other is validated by ``jsonschema``."""
    try:
        if pre_check is not None and pre_check(doc.data):
            return []
    except Exception:  # noqa: BLE001 - what the pre-check cannot judge, jsonschema does
        pass
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for err in validator.iter_errors(doc.data):
        if err.validator in ("if", "allOf"):
            continue
        path, msg = _message(err)
        text = f"{dotted(path, doc.data)}: {msg}"
        key = (tuple(path), text)
        if key in seen:
            continue
        seen.add(key)
        out.append(doc.diagnostic(tuple(path), "txg-schema", text))
    return out
