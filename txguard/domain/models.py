"""Declared types -> pydantic models: what validates a declared intent kind's fields or the request.

A generated model is frozen, refuses unknown fields and reads every value strictly: amounts through
the same validator as the built-in kinds (decimal strings, integers, JSON numbers read from their
text; never negative, never NaN), decimals exactly, datetimes only with a UTC offset, durations as
ISO 8601 without years or months. After the fields, every amount is checked against the exponent of
its currency and every ``same_length`` group of lists is checked for equal lengths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model, model_validator

from ..core.intents import Amount, Currency, Id, places
from ..core.jsonio import exact_decimal
from ..core.paths import is_mapping
from ..core.money import CURRENCY_EXPONENTS, brief
from ..policy.types import MoneyIn, read_date, read_datetime, read_duration
from .declare import MAX_LIST, NO_DEFAULT, FieldType

_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=False)


def _decimal(value: Any) -> Decimal:
    """An exact decimal: a JSON number from its text, a host's float through its shortest repr, an int
    or a plain decimal string (no exponent, no NaN)."""
    if isinstance(value, bool):
        raise ValueError(f"`{brief(value)}` is not a number")
    if isinstance(value, float):
        result = exact_decimal(value)
    elif isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, str) and value and len(value) <= 64 and all(c in "0123456789.-" for c in value) \
            and value.count(".") <= 1 and value.lstrip("-") and "-" not in value[1:] and value[-1] != "." \
            and value.lstrip("-")[0] != ".":
        result = Decimal(value)
    else:
        raise ValueError(f"`{brief(value)}` is not a number (a decimal string such as \"1.5\" or a number)")
    if not result.is_finite():
        raise ValueError(f"`{brief(value)}` is not a finite number")
    if result:
        # `plain(result).as_tuple()` without building the plain decimal: its digits are these without
        # the trailing zeros, its exponent this one plus their count
        _, digits, exponent = result.as_tuple()
        n = len(digits)
        while n > 1 and digits[n - 1] == 0:
            n -= 1
        exponent = int(exponent) + len(digits) - n
        if n > MAX_DIGITS or not -MAX_DIGITS <= exponent <= MAX_DIGITS - n:
            raise ValueError(f"`{brief(value)}` is out of range (a decimal has at most {MAX_DIGITS} digits, written "
                             "without an exponent)")
    return result


MAX_INT = 2**53 - 1
"""The largest declared int (in absolute value): an I-JSON integer, written exactly by every JSON reader."""
MAX_DIGITS = 60
"""A declared decimal's most significant digits and places: what expressions compute exactly."""


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros, exactly (``Decimal.normalize`` rounds to the context's 28
    digits and flushes tiny values to zero)."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or not any(digits):
        return Decimal(0) if isinstance(exponent, int) else value
    n = len(digits)
    while n > 1 and digits[n - 1] == 0:
        n -= 1
    return Decimal((sign, digits[:n], exponent + len(digits) - n))


def _text(value: str) -> str:
    """A map key that is Unicode text (a lone surrogate cannot be written in the consent digest)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"map key `{brief(value)}` is not Unicode text") from None
    return value


_Key = Annotated[StrictStr, AfterValidator(_text)]


def _strict(reader: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        try:
            result = reader(value)  # ValueTypeError is a ValueError: pydantic reports its message
            if isinstance(result, datetime):
                result.astimezone(timezone.utc)  # an instant the UTC calendar holds (binding writes it so)
        except OverflowError:
            raise ValueError(f"`{brief(value)}` is out of range") from None
        return result
    return read


def _instant(value: Any) -> datetime:
    """A datetime with an offset that is an instant on the UTC time line (year 1 at +01:00 is not)."""
    result = read_datetime(value)
    try:
        result.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"`{brief(value)}` is outside the range of datetimes in UTC") from None
    return result


def _bounds(tp: FieldType) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tp.minimum is not None:
        out["ge"] = int(tp.minimum) if tp.kind == "int" else tp.minimum
    if tp.maximum is not None:
        out["le"] = int(tp.maximum) if tp.kind == "int" else tp.maximum
    return out


MoneyFor = Callable[[tuple[str, ...]], "MoneyIn | None"]


def annotation(tp: FieldType, name: str, models: dict[str, type[BaseModel]], steps: tuple[str, ...] = (),
               money_for: MoneyFor | None = None) -> Any:
    """The pydantic annotation of a declared type (not yet optional); records become models named
    ``name`` (collected in ``models``). ``steps`` is the type's leaf path from the root record and
    ``money_for`` the currency of the amount at a leaf path (marked on the annotation and on the
    record model's ``__txguard_money__``, which is what gives a ``when`` path its money type)."""
    k = tp.kind
    if k == "money":
        marker = money_for(steps) if money_for is not None else None
        ann: Any = Amount
        if _bounds(tp):
            ann = Annotated[ann, Field(**_bounds(tp))]
        if marker is not None:
            ann = Annotated[ann, marker]  # nested Annotated flattens: the validator, the bounds, the marker
        return ann
    if k == "decimal":
        return Annotated[Decimal, BeforeValidator(_decimal), Field(**_bounds(tp))]
    if k == "int":  # within what JSON (and the consent digest's JCS) writes exactly
        b = _bounds(tp)
        return Annotated[StrictInt, Field(ge=max(b.get("ge", -MAX_INT), -MAX_INT), le=min(b.get("le", MAX_INT), MAX_INT))]
    if k == "string":
        if tp.pattern is None and tp.min_length is None and tp.max_length is None:
            return StrictStr
        return Annotated[StrictStr, Field(pattern=tp.pattern, min_length=tp.min_length, max_length=tp.max_length)]
    if k == "id":
        return Id
    if k == "bool":
        return StrictBool
    if k == "currency":
        return Currency
    if k == "date":
        return Annotated[date, BeforeValidator(_strict(read_date))]
    if k == "datetime":
        return Annotated[datetime, BeforeValidator(_instant)]
    if k == "duration":
        return Annotated[timedelta, BeforeValidator(_strict(read_duration))]
    if k == "any":
        return Any
    if k == "one_of":
        return Union[tuple(annotation(o, name, models, steps, money_for) for o in tp.options)]
    if k == "enum":
        return Literal[tp.values]
    if k == "list":
        assert tp.of is not None
        inner = optional(tp.of, annotation(tp.of, f"{name}[]", models, steps + ("[]",), money_for))
        return Annotated[tuple[inner, ...], Field(min_length=tp.min_length, max_length=tp.max_length)]  # type: ignore[valid-type]
    if k == "map":
        assert tp.of is not None
        inner = optional(tp.of, annotation(tp.of, f"{name}{{}}", models, steps + ("{}",), money_for))
        return Annotated[dict[_Key, inner], Field(max_length=MAX_LIST)]  # type: ignore[valid-type]
    return record_model(tp, name, models, steps=steps, money_for=money_for)


def optional(tp: FieldType, ann: Any) -> Any:
    return Optional[ann] if tp.optional else ann


def record_model(tp: FieldType, name: str, models: dict[str, type[BaseModel]], *,
                 kind: str | None = None, validator: Callable[[BaseModel], None] | None = None,
                 steps: tuple[str, ...] = (), money_for: MoneyFor | None = None) -> type[BaseModel]:
    """A frozen model of a record type; ``kind`` adds the ``kind`` literal of an intent kind and
    ``validator`` runs on the whole model after its fields."""
    fields: dict[str, Any] = {}
    if kind is not None:
        fields["kind"] = (Literal[kind], kind)
    money: dict[str, MoneyIn] = {}
    for fname, sub in tp.fields.items():
        ann = optional(sub, annotation(sub, f"{name}.{fname}", models, steps + (fname,), money_for))
        marker = money_for(steps + (fname,)) if sub.kind == "money" and money_for is not None else None
        if marker is not None:
            money[fname] = marker
        if sub.description:
            ann = Annotated[ann, Field(description=sub.description)]
        if sub.optional:
            fields[fname] = (ann, None)
        elif sub.default is NO_DEFAULT:
            fields[fname] = (ann, ...)
        else:  # a map's `{}` is a fresh dict per model (the declaration keeps a read-only one)
            fields[fname] = (ann, Field(default_factory=dict) if isinstance(sub.default, Mapping) else sub.default)
    validators: dict[str, Any] = {}
    if validator is not None:
        def _after(self: BaseModel) -> BaseModel:
            validator(self)
            return self
        validators["_declared"] = model_validator(mode="after")(_after)
    model = create_model(name, __config__=_CONFIG, __doc__=tp.description, __validators__=validators,
                         **fields)
    model.__txguard_money__ = money  # type: ignore[attr-defined]
    models[name] = model
    return model


# -- what runs after the fields ---------------------------------------------------------------------------

def walk(value: Any, steps: tuple[str, ...], label: str = "", absent: bool = False) -> Iterator[tuple[str, Any]]:
    """The values at a leaf path (``[]`` steps go through each element, ``{}`` through each value),
    with their rendered location (``flights[0].price``). An absent value (None) is skipped, or
    yielded as None with ``absent`` (where it is absent: the optional field, or its record)."""
    if value is None:
        if absent:
            yield label, None
        return
    if not steps:
        yield label, value
        return
    head, rest = steps[0], steps[1:]
    if head == "[]":
        for i, elem in enumerate(value):
            yield from walk(elem, rest, f"{label}[{i}]", absent)
    elif head == "{}":
        for key, elem in value.items():
            yield from walk(elem, rest, f"{label}[{key!r}]", absent)
    else:
        yield from walk(getattr(value, head, None) if not isinstance(value, Mapping) else value.get(head),
                        rest, f"{label}.{head}" if label else head, absent)


def money_checker(money: list[tuple[tuple[str, ...], str, bool]],
                  same_length: list[tuple[str, ...]], *, compiled: bool = True) -> Callable[[BaseModel], None] | None:
    """The after-validator of a kind: each amount (leaf path, currency code or currency path, whether
    the currency is a path) within its currency's exponent; each group of lists equally long.

    ``compiled`` (the default): the paths are compiled once and a model that passes is not walked
    with locations; one that does not (or that the fast pass cannot read) goes to the reference
    check, which raises the located error. ``compiled=False`` is that reference
    (``tests/properties/test_bound_compiled.py`` checks the two agree)."""
    if not money and not same_length:
        return None

    def check(model: BaseModel) -> None:
        for steps, currency, is_path in money:
            code = currency
            if is_path:
                found = [v for _, v in walk(model, tuple(currency.split(".")))]
                if len(found) != 1 or not isinstance(found[0], str):
                    amounts = [where for where, _ in walk(model, steps)]
                    if amounts:  # an amount in no currency means nothing: refuse it, never read it as any
                        raise ValueError(f"{amounts[0]} is an amount but `{currency}` gives no currency")
                    continue
                code = found[0]
            exponent = CURRENCY_EXPONENTS.get(code)
            if exponent is None:
                raise ValueError(f"`{currency}`: `{code}` is not an ISO 4217 currency")
            for where, amount in walk(model, steps):
                if isinstance(amount, Decimal) and -amount.as_tuple().exponent > exponent:  # type: ignore[operator]
                    raise ValueError(f"{where} `{amount}` has more decimals than {code} allows ({exponent})")
        for group in same_length:
            sizes = [(name, len(getattr(model, name) or ())) for name in group]
            if len({n for _, n in sizes}) > 1:
                first, *others = sizes
                raise ValueError(f"{first[0]} has {first[1]} entries but "
                                 + " and ".join(f"{name} has {n}" for name, n in others))
    if not compiled:
        return check

    paths = [(collector(steps), CURRENCY_EXPONENTS.get(currency) if not is_path else None,
              collector(tuple(currency.split("."))) if is_path else None) for steps, currency, is_path in money]

    def passes(model: BaseModel) -> bool:
        """The same checks, without rendering a location per value: True when every one passes."""
        for amounts_of, exponent, currency_of in paths:
            if currency_of is not None:
                found: list[Any] = []
                currency_of(model, found)
                if len(found) != 1 or not isinstance(found[0], str):
                    amounts: list[Any] = []
                    amounts_of(model, amounts)
                    if amounts:
                        return False
                    continue
                exponent = CURRENCY_EXPONENTS.get(found[0])
            if exponent is None:
                return False
            amounts = []
            amounts_of(model, amounts)
            for amount in amounts:
                if isinstance(amount, Decimal) and places(amount) > exponent:
                    return False
        for group in same_length:
            if len({len(getattr(model, name) or ()) for name in group}) > 1:
                return False
        return True

    def fast(model: BaseModel) -> None:
        try:
            if passes(model):
                return
        except Exception:  # noqa: BLE001 - the reference says what is wrong, in its own words
            pass
        check(model)  # raises the located error (or finds nothing wrong after all)
    return fast


def collector(steps: tuple[str, ...]) -> Callable[[Any, list[Any]], None]:
    """A function appending the values :func:`walk` yields at ``steps``, in its order, without their
    locations (compiled once per leaf path)."""
    if not steps:
        def leaf(value: Any, out: list[Any]) -> None:
            if value is not None:
                out.append(value)
        return leaf
    head, rest = steps[0], collector(steps[1:])
    if head == "[]":
        def each(value: Any, out: list[Any]) -> None:
            if value is not None:
                for elem in value:
                    rest(elem, out)
        return each
    if head == "{}":
        def each_value(value: Any, out: list[Any]) -> None:
            if value is not None:
                for _, elem in value.items():
                    rest(elem, out)
        return each_value

    def field(value: Any, out: list[Any]) -> None:
        if value is not None:
            rest(getattr(value, head, None) if not (type(value) is dict or is_mapping(value)) else value.get(head), out)
    return field
