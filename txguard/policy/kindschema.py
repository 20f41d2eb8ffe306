"""A kind's argument schema: the JSON Schema of an intent's fields exactly as the guard validates
them (pydantic's schema with the money, currency and confidence validators described as they
behave, ``$defs`` inlined, titles and defaults dropped). An amount carries the internal marker
:data:`MONEY_MARK` naming its currency field, so that :mod:`txguard.policy.tooldefs` can make its
pattern exact when a tool fixes the currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from ..core.intents import INTENT_MODELS, Amount, Confidence, Currency
from ..core.money import CURRENCY_EXPONENTS, MAX_INTEGER_DIGITS


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


def intent_argument_schema(kind: str) -> dict[str, Any]:
    """The argument schema of intent ``kind`` (a built-in kind today; a declared one later).

    It still carries the ``kind`` property; :func:`tool_argument_schema` removes it.
    """
    return model_argument_schema(INTENT_MODELS[kind])
