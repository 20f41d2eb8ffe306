"""A hypothesis strategy of the values valid against a JSON Schema, for the subset of JSON Schema
txguard's tool definitions emit (:mod:`txguard.policy.tooldefs`, :mod:`txguard.policy.kindschema`).
Any other keyword fails the test that meets it, so a new one is added here on purpose."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

_KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
             "description", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
             "format"}
"""``format`` is only ever emitted beside a ``pattern`` that says the same exactly."""

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
_json_values = st.recursive(_json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                            max_leaves=8)


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against ``schema``, for the subset of JSON Schema the module emits (any other
    keyword fails the test, so a new one is added here on purpose)."""
    unknown = set(schema) - _KEYWORDS
    assert not unknown, f"the generator does not know {sorted(unknown)}"
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(b) for b in schema["anyOf"]])
    kind = schema.get("type")
    if kind is None:
        return _json_values
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        whole = st.integers(None if lo is None else math.ceil(lo), None if hi is None else math.floor(hi))
        return whole | st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    if kind == "string":
        shortest: int = schema.get("minLength", 0)
        longest: int | None = schema.get("maxLength")
        if "pattern" in schema:
            def fits(text: str) -> bool:
                return len(text) >= shortest and (longest is None or len(text) <= longest)

            return st.from_regex(schema["pattern"], fullmatch=True).filter(fits)
        return st.text(min_size=shortest, max_size=max(shortest, min(longest or 12, 12)))
    if kind == "array":
        lo = schema.get("minItems", 0)
        return st.lists(from_schema(schema.get("items", {})), min_size=lo, max_size=max(lo, min(schema.get("maxItems", 3), 3)))
    assert kind == "object", schema
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fixed = st.fixed_dictionaries({k: from_schema(v) for k, v in props.items() if k in required},
                                  optional={k: from_schema(v) for k, v in props.items() if k not in required})
    if schema.get("additionalProperties") is False:
        return fixed
    if isinstance(schema.get("additionalProperties"), dict):  # a map: any keys, values of one schema
        values = st.dictionaries(st.text(max_size=6).filter(lambda k: k not in props),
                                 from_schema(schema["additionalProperties"]), max_size=3)
        return st.tuples(fixed, values).map(lambda t: {**t[1], **t[0]})
    extra = st.dictionaries(st.text(max_size=6).filter(lambda k: k not in props), _json_values, max_size=3)
    return st.tuples(fixed, extra).map(lambda t: {**t[1], **t[0]})
