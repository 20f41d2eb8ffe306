"""A JSON Schema compiled once into plain Python tests that only answer "valid or not".

:func:`compile_schema` turns the policy schema (draft 2020-12, the keywords it uses) into one
function per subschema; validating a 1,000-rule policy with it takes a few milliseconds where
``jsonschema``'s ``iter_errors`` takes hundreds. It is a pre-check, never the judge of wording: a
document it finds valid has no violation, and any other document is validated by ``jsonschema``,
which words every error (:func:`txguard.policy.schema.validate_document`). Each keyword follows
``jsonschema``'s own semantics (``1.0`` is an integer, ``true`` is not ``1`` in ``enum``/``const``,
a keyword tests only the JSON types it applies to); a schema with a keyword it does not know does
not compile (:class:`Unsupported`), and then ``jsonschema`` validates everything.
tests/test_compile_fast_schema.py checks it against ``jsonschema`` on mutated policies.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Test = Callable[[Any], bool]

_ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment", "$schema", "$id", "$defs",
                          "format"})  # `format` asserts nothing without a format checker (the validator has none)


class Unsupported(Exception):
    """The schema uses what this compiler does not implement: validate with ``jsonschema``."""


# -- jsonschema's semantics -------------------------------------------------------------------------------

def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Number)


def _is_integer(x: Any) -> bool:
    return not isinstance(x, bool) and (isinstance(x, int) or (isinstance(x, float) and x.is_integer()))


TYPES: dict[str, Test] = {
    "string": lambda x: isinstance(x, str),
    "integer": _is_integer,
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}
"""Draft 2020-12's types as ``jsonschema`` checks them."""

_TRUE, _FALSE = object(), object()


def _unbool(x: Any) -> Any:
    return _TRUE if x is True else _FALSE if x is False else x


def equal(one: Any, two: Any) -> bool:
    """Equality as ``jsonschema`` tests ``enum`` and ``const``: ``true`` is not ``1``, in lists and mappings too."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(i, j) for i, j in zip(one, two))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(k in two and equal(v, two[k]) for k, v in one.items())
    return bool(_unbool(one) == _unbool(two))


def unique(items: list[Any]) -> bool:
    """No two equal items (:func:`equal`), as ``uniqueItems`` tests them."""
    return all(not equal(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items)))


# -- the compiler -----------------------------------------------------------------------------------------

_OBJECT = frozenset({"properties", "additionalProperties", "required", "propertyNames", "minProperties",
                     "maxProperties"})


def compile_schema(root: Any) -> Test:
    """A test of the whole schema ``root``; raises :class:`Unsupported` for a keyword it does not implement."""
    if not isinstance(root, Mapping):
        raise Unsupported("the schema is not a mapping")
    defs: dict[str, Test] = {}
    building: set[str] = set()
    table = root.get("$defs", {})

    def ref(target: str) -> Test:
        if not target.startswith("#/$defs/") or target[8:] not in table:
            raise Unsupported(f"$ref {target}")
        name = target[8:]
        if name not in defs and name not in building:
            building.add(name)
            defs[name] = build(table[name])
        return lambda x: defs[name](x)  # late bound: a definition may refer to itself

    def build(schema: Any) -> Test:
        if schema is True or (isinstance(schema, Mapping) and not set(schema) - _ANNOTATIONS):
            return lambda x: True
        if schema is False:
            return lambda x: False
        if not isinstance(schema, Mapping):
            raise Unsupported(repr(schema)[:80])
        if schema is not root and ("$id" in schema or "$defs" in schema):
            raise Unsupported("a nested $id or $defs")  # `#/$defs/...` resolves against the root only
        keys = [k for k in schema if k not in _ANNOTATIONS and k not in ("then", "else")]
        tests: list[Test] = []
        if any(k in _OBJECT for k in keys):
            tests.append(_object(schema, build, only_objects=schema.get("type") == "object"))
            keys = [k for k in keys if k not in _OBJECT and not (k == "type" and schema["type"] == "object")]
        tests += [_keyword(key, schema[key], schema, build, ref) for key in keys]
        return _all(tests)

    return build(root)


def _all(tests: list[Test]) -> Test:
    if len(tests) == 1:
        return tests[0]

    def every(x: Any) -> bool:
        for t in tests:
            if not t(x):
                return False
        return True

    return every


def _object(schema: Mapping[str, Any], build: Callable[[Any], Test], only_objects: bool) -> Test:
    """``properties``, ``additionalProperties``, ``required``, ``propertyNames``, ``min/maxProperties``
    (and ``type: object`` when ``only_objects``) in one pass over a mapping's keys."""
    if "patternProperties" in schema:
        raise Unsupported("patternProperties")
    props = {name: build(sub) for name, sub in schema.get("properties", {}).items()}
    extra_schema = schema.get("additionalProperties", True)
    reject = extra_schema is False
    extra = None if reject or extra_schema is True else build(extra_schema)
    names = build(schema["propertyNames"]) if "propertyNames" in schema else None
    required = tuple(schema.get("required", ()))
    least, most = schema.get("minProperties"), schema.get("maxProperties")

    def test(x: Any) -> bool:
        if not isinstance(x, dict):
            return not only_objects
        for name in required:
            if name not in x:
                return False
        for k, v in x.items():
            t = props.get(k)
            if t is not None:
                if not t(v):
                    return False
            elif reject or (extra is not None and not extra(v)):
                return False
            if names is not None and not names(k):
                return False
        return (least is None or len(x) >= least) and (most is None or len(x) <= most)

    return test


def _discriminated(branches: list[Any], build: Callable[[Any], Test]) -> Test | None:
    """``allOf: [{if: {required: [k], properties: {k: {const: "a"}}}, then: ...}, ...]`` with distinct
    string constants: at most one branch applies to a mapping, found by its ``k`` (None: not this form)."""
    key, table = None, {}
    for b in branches:
        cond = b.get("if") if isinstance(b, Mapping) and set(b) <= {"if", "then"} else None
        if not isinstance(cond, Mapping) or set(cond) != {"required", "properties"} or len(cond["required"]) != 1:
            return None
        k = cond["required"][0]
        prop = cond["properties"]
        if key not in (None, k) or set(prop) != {k} or set(prop[k]) != {"const"} or not isinstance(prop[k]["const"], str):
            return None
        key = k
        if prop[k]["const"] in table:
            return None
        table[prop[k]["const"]] = build(b.get("then", True))
    every = _all(list(table.values()))  # a value that is not a mapping satisfies every `if`

    def test(x: Any) -> bool:
        if not isinstance(x, dict):
            return every(x)
        value = x.get(key)
        if not isinstance(value, str):
            return True  # no `if` holds: a constant string equals only a string
        branch = table.get(value)
        return branch is None or branch(x)

    return test

def _keyword(key: str, value: Any, schema: Mapping[str, Any], build: Callable[[Any], Test],
             ref: Callable[[str], Test]) -> Test:
    """The test of one keyword of ``schema`` (but those of :func:`_object`)."""
    if key == "type":
        names = value if isinstance(value, list) else [value]
        if not all(isinstance(t, str) and t in TYPES for t in names):
            raise Unsupported(f"type {value!r}")
        checks = [TYPES[t] for t in names]
        return checks[0] if len(checks) == 1 else (lambda x: any(c(x) for c in checks))
    if key == "$ref":
        return ref(value)
    if key == "pattern":
        search = re.compile(value).search
        return lambda x: not isinstance(x, str) or search(x) is not None
    if key == "items":
        if "prefixItems" in schema or not isinstance(value, Mapping):
            raise Unsupported("items")
        item = build(value)
        return lambda x: not isinstance(x, list) or all(item(v) for v in x)
    if key == "const":
        return lambda x: equal(x, value)
    if key == "enum":
        options = list(value)
        return lambda x: any(equal(o, x) for o in options)
    if key in ("if", "then", "else"):
        cond, then, other = build(value), build(schema.get("then", True)), build(schema.get("else", True))
        return lambda x: then(x) if cond(x) else other(x)
    if key in ("allOf", "anyOf", "oneOf"):
        fast = _discriminated(value, build) if key == "allOf" and value else None
        if fast is not None:
            return fast
        subs = [build(s) for s in value]
        if key == "allOf":
            return _all(subs) if subs else (lambda x: True)
        if key == "anyOf":
            return lambda x: any(t(x) for t in subs)
        return lambda x: sum(1 for t in subs if t(x)) == 1
    return _bound(key, value)


def _bound(key: str, value: Any) -> Test:
    """The size and range keywords."""
    if key == "minItems":
        return lambda x: not isinstance(x, list) or len(x) >= value
    if key == "maxItems":
        return lambda x: not isinstance(x, list) or len(x) <= value
    if key == "minProperties":
        return lambda x: not isinstance(x, dict) or len(x) >= value
    if key == "maxProperties":
        return lambda x: not isinstance(x, dict) or len(x) <= value
    if key == "uniqueItems":
        return lambda x: not value or not isinstance(x, list) or unique(x)
    if key == "minimum":
        return lambda x: not _is_number(x) or not x < value
    if key == "maximum":
        return lambda x: not _is_number(x) or not x > value
    raise Unsupported(key)
