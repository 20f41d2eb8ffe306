"""The JSON Schema of the scalar types a domain declares in their mapping form (``{money: {currency: EUR}}``):
one property per scalar, with its parameters (part of :func:`txguard.policy.schema.policy_schema`)."""

from __future__ import annotations

from typing import Any

from ..domain.declare import SCALARS

_SCALAR_DOCS = {
    "money": "an amount (decimal string, integer or JSON number; never negative) with at most its currency's "
             "decimals; its currency: `currency` below, else the kind's `currency` field, else the policy's",
    "decimal": "an exact decimal number (decimal string, integer or JSON number)",
    "int": "a whole number",
    "string": "a string",
    "id": "an identifier: a string of 1 to 256 characters",
    "bool": "true or false",
    "date": "a calendar date, `2026-05-10`",
    "datetime": "an RFC 3339 datetime with a UTC offset, `2026-05-10T09:30:00+02:00`",
    "duration": "an ISO 8601 duration in weeks, days, hours, minutes, seconds (`P1DT12H`; no years or months)",
    "currency": "an ISO 4217 currency code, `USD`",
    "any": "any value, never checked (only for what no rule reads)",
}


def _bound(what: str, integer: bool) -> dict[str, Any]:
    return {"type": "integer" if integer else ["integer", "number", "string"],
            "description": f"the {what} value allowed (inclusive)" + ("" if integer else "; write decimals as strings")}


def scalar_forms() -> dict[str, Any]:
    """One property per scalar type key of the mapping form (`{money: {currency: EUR}}`): its parameters."""
    params: dict[str, dict[str, Any]] = {
        "money": {"currency": {"type": "string", "description": "an ISO 4217 code, or the path of the kind's "
                                                                "`currency` field that holds the currency"},
                  "min": _bound("least", False), "max": _bound("greatest", False)},
        "decimal": {"min": _bound("least", False), "max": _bound("greatest", False)},
        "int": {"min": _bound("least", True), "max": _bound("greatest", True)},
        "string": {"pattern": {"type": "string", "format": "regex",
                               "description": "a regular expression the value must contain (anchor it with ^...$)"},
                   "min_length": {"type": "integer", "minimum": 0}, "max_length": {"type": "integer", "minimum": 0}},
    }
    return {name: {"type": ["object", "null"], "additionalProperties": False, "properties": params.get(name, {}),
                   "description": _SCALAR_DOCS.get(name, f"a {name}")} for name in SCALARS}
