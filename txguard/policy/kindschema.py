"""A kind's argument schema: the JSON Schema of an intent's fields exactly as the guard validates
them. A shipped kind's is pydantic's schema with the money, currency and confidence validators
described as they behave, ``$defs`` inlined, titles and defaults dropped. A declared kind's (a
policy's ``intents:``) is written from its declaration, each type as the strict readers of
:mod:`txguard.domain.models` take it: amounts as decimal strings at their currency's exponent,
decimals as numbers, dates, datetimes (with their offset) and durations by exact patterns.

An amount whose currency is a field of the intent carries the internal marker :data:`MONEY_MARK`
naming that field, so that :mod:`txguard.policy.tooldefs` can make its pattern exact when a tool
fixes the currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from ..core.intents import INTENT_MODELS, Amount, Confidence, Currency
from ..core.money import CURRENCY_EXPONENTS, MAX_INTEGER_DIGITS
from ..domain.declare import FieldType
from ..domain.domain import BUILTIN, Domain, KindSpec


MONEY_MARK = "x-txguard-money"
"""Internal marker on an amount's schema: the path of the currency field that sets its exponent.
Removed from every schema this module returns."""


def money_pattern(exponent: int | None) -> str:
    decimals = r"(\.[0-9]+)?" if exponent is None else "" if exponent == 0 else r"(\.[0-9]{1,%d})?" % exponent
    return r"^[0-9]{1,%d}%s$" % (MAX_INTEGER_DIGITS, decimals)


def money_description(currency: str | None) -> str:
    head = ('An amount of money as a decimal string such as "12.50": digits, at most one point, no sign, '
            f"no exponent, no thousands separator, at most {MAX_INTEGER_DIGITS} digits before the point")
    if currency is None:
        return (head + "; at most as many digits after the point as the currency's ISO 4217 exponent "
                "allows (2 for USD and EUR, 0 for JPY, 3 for KWD).")
    exponent = CURRENCY_EXPONENTS[currency]
    return head + (f"; no decimals ({currency})." if exponent == 0
                   else f"; at most {exponent} digits after the point ({currency}).")


def _validator(annotated: Any) -> Any:
    """The before-validator function of ``Annotated[T, BeforeValidator(f)]``."""
    return get_args(annotated)[1].func


_AMOUNT, _CURRENCY, _CONFIDENCE = _validator(Amount), _validator(Currency), _validator(Confidence)


class _WireSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, with the validators that decide what the guard accepts described as
    they behave (pydantic shows the ``Decimal`` underneath them: a number or any string)."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        func = schema["function"]["function"]
        if func is _AMOUNT:
            return {"type": "string", "pattern": money_pattern(None), "description": money_description(None),
                    MONEY_MARK: "currency"}
        if func is _CURRENCY:
            return {"type": "string", "enum": sorted(CURRENCY_EXPONENTS),
                    "description": "An ISO 4217 currency code such as USD."}
        if func is _CONFIDENCE:
            return {"type": "number", "minimum": 0, "maximum": 1,
                    "description": "How sure the agent is that this is what the user asked for, from 0 to 1."}
        return super().function_before_schema(schema)


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    """``node`` with every ``$ref`` to ``$defs`` replaced by its target, and titles and defaults
    dropped (the models are not recursive)."""
    if isinstance(node, list):
        return [_inline(x, defs) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        rest = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **_inline(rest, defs)}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("title", "default", "$defs"):
            continue
        if key == "description" and isinstance(value, str):
            out[key] = value.replace("``", "`")  # the docstrings' reST literals, as Markdown
        elif key == "properties":
            out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
        else:
            out[key] = _inline(value, defs)
    return out


def model_argument_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model``'s fields as the guard validates them, ``$defs`` inlined."""
    raw = model.model_json_schema(schema_generator=_WireSchema)
    schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    return schema


def intent_argument_schema(kind: str, domain: Domain = BUILTIN) -> dict[str, Any]:
    """The argument schema of intent ``kind`` in ``domain`` (a shipped kind by default).

    It still carries the ``kind`` property; :func:`~txguard.policy.tooldefs.tool_argument_schema` removes it.
    """
    spec = domain.specs.get(kind)
    if spec is not None:
        return declared_schema(spec)
    return model_argument_schema(domain.models[kind] if kind in domain.models else INTENT_MODELS[kind])


def strip_marks(node: Any) -> Any:
    """``node`` without the internal :data:`MONEY_MARK` markers."""
    if isinstance(node, list):
        return [strip_marks(x) for x in node]
    if isinstance(node, dict):
        return {k: strip_marks(v) for k, v in node.items() if k != MONEY_MARK}
    return node


def kind_schemas(domain: Domain) -> dict[str, dict[str, Any]]:
    """``{kind: the JSON Schema of its fields}`` for every intent kind of ``domain`` (a policy's
    declared kinds and, when it keeps them, the shipped ones), ``kind`` included."""
    return {kind: strip_marks(intent_argument_schema(kind, domain)) for kind in domain.kinds}


# -- declared kinds ---------------------------------------------------------------------------------

_YEAR = r"(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (r"(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
              r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_DATE = f"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP}-02-29)"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_N = "[0-9]{1,6}"  # at most 999999 of a unit: no sum of them overflows a timedelta
_DAYS = f"(?:{_N}W(?:{_N}D)?|{_N}D)"
_HMS = f"(?:{_N}H(?:{_N}M)?(?:{_N}S)?|{_N}M(?:{_N}S)?|{_N}S)"

DATE_PATTERN = f"^{_DATE}$"
"""A calendar date as the guard reads it: ``YYYY-MM-DD``, a day that exists (leap years included)."""
DATETIME_PATTERN = f"^{_DATE}T{_TIME}{_OFFSET}$"
"""A datetime as the guard reads it: RFC 3339 with seconds, at most 6 fractional digits and an offset."""
DURATION_PATTERN = f"^P(?:{_DAYS}(?:T{_HMS})?|T{_HMS})$"
"""An ISO 8601 duration in weeks, days, hours, minutes and seconds (no years or months)."""


def _number(value: Decimal) -> int | float:
    """A bound as a JSON number (an integer when it is whole)."""
    return int(value) if value == value.to_integral_value() else float(value)


def _money(tp: FieldType, currency: tuple[str, bool] | None) -> dict[str, Any]:
    code, is_path = currency if currency is not None else (None, False)
    fixed = code if not is_path and code in CURRENCY_EXPONENTS else None
    out: dict[str, Any] = {"type": "string",
                           "pattern": money_pattern(CURRENCY_EXPONENTS[fixed] if fixed else None),
                           "description": money_description(fixed)}
    if is_path:
        out[MONEY_MARK] = code
    bounds = [f"{word} {value}" for word, value in (("at least", tp.minimum), ("at most", tp.maximum)) if value is not None]
    if bounds:
        out["description"] += f" The amount is {' and '.join(bounds)}."
    return out


def _bounded(out: dict[str, Any], tp: FieldType) -> dict[str, Any]:
    if tp.minimum is not None:
        out["minimum"] = _number(tp.minimum)
    if tp.maximum is not None:
        out["maximum"] = _number(tp.maximum)
    return out


def type_schema(tp: FieldType, spec: KindSpec | None = None, steps: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON Schema of one declared type (``spec`` and ``steps``: where an amount finds its currency)."""
    k = tp.kind
    out: dict[str, Any]
    if k == "money":
        out = _money(tp, spec.currency_of(steps) if spec is not None else None)
    elif k == "decimal":
        out = _bounded({"type": "number", "description": "An exact decimal number (a JSON number such as 1.5), "
                                                         "at most 60 digits and 60 decimal places."}, tp)
    elif k == "int":
        out = _bounded({"type": "integer"}, tp)
    elif k == "string":
        out = {"type": "string"}
        for key, value in (("pattern", tp.pattern), ("minLength", tp.min_length), ("maxLength", tp.max_length)):
            if value is not None:
                out[key] = value
    elif k == "id":
        out = {"type": "string", "minLength": 1, "maxLength": 256}
    elif k == "bool":
        out = {"type": "boolean"}
    elif k == "currency":
        out = {"type": "string", "enum": sorted(CURRENCY_EXPONENTS), "description": "An ISO 4217 currency code such as USD."}
    elif k == "date":
        out = {"type": "string", "format": "date", "pattern": DATE_PATTERN,
               "description": "A calendar date, YYYY-MM-DD."}
    elif k == "datetime":
        out = {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN,
               "description": "A date and time with its UTC offset, such as 2026-01-31T09:30:00+01:00 (or Z)."}
    elif k == "duration":
        out = {"type": "string", "format": "duration", "pattern": DURATION_PATTERN,
               "description": "An ISO 8601 duration in weeks, days, hours, minutes and seconds, such as P1D or "
                              "PT36H (no years or months)."}
    elif k == "enum":
        out = {"type": "string", "enum": list(tp.values)}
    elif k == "list":
        assert tp.of is not None
        out = {"type": "array", "items": type_schema(tp.of, spec, steps + ("[]",)), "minItems": tp.min_length or 0}
        if tp.max_length is not None:
            out["maxItems"] = tp.max_length
    elif k == "map":
        assert tp.of is not None
        out = {"type": "object", "additionalProperties": type_schema(tp.of, spec, steps + ("{}",))}
    else:
        out = {"type": "object",
               "properties": {name: type_schema(sub, spec, steps + (name,)) for name, sub in tp.fields.items()},
               "required": [name for name, sub in tp.fields.items() if not sub.optional],
               "additionalProperties": False}
    if tp.description:
        out["description"] = tp.description + (" " + out["description"] if "description" in out else "")
    if tp.optional:
        described = {"description": out.pop("description")} if "description" in out else {}
        return {"anyOf": [out, {"type": "null"}], **described}
    return out


def declared_schema(spec: KindSpec) -> dict[str, Any]:
    """The argument schema of a declared kind, from its declaration."""
    schema = type_schema(spec.fields, spec)
    schema["properties"] = {"kind": {"const": spec.name, "type": "string"}, **schema["properties"]}
    if spec.description:
        schema["description"] = spec.description
    return schema
