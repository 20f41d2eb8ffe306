"""Static types of ``when`` expressions, computed when a policy loads, and the strict readers of
the values they stand for (dates, datetimes, durations).

A path's type comes from the schemas :func:`txguard.core.paths.check_path` walks (the intent
models, ``Request``, ``Session``, the facts layout); a literal's from what is written. Kinds::

    int  decimal  money  string  bool  datetime  date  duration  list  map  record  null  any

``any`` is a value the schemas do not type (free-form facts): it is checked when the rule runs.
A ``money`` type carries its :class:`Currency`: a code known at load (a money literal), or the path
that holds it at run time (an intent's amount is in ``intent.currency``, the request's budget in
``request.currency``), or none (unknown).
"""

from __future__ import annotations

import re
import types as _pytypes
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Union

from pydantic import BaseModel

from ..core.intents import Amount
from ..core.paths import Any_, Getter, ListOf, MapOf, Path, compile_path, parse_path

NUMERIC = frozenset({"int", "decimal", "money"})
TEMPORAL = frozenset({"datetime", "date", "duration"})


@dataclass(frozen=True, slots=True)
class Currency:
    """The currency of a money value: a code known at load, or the path that holds it at run time."""

    code: str | None = None
    path: Path | None = None
    get: Getter | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.code or (self.path.text if self.path is not None else "?")


def currency_at(text: str) -> Currency:
    path = parse_path(text)
    return Currency(None, path, compile_path(path))


@dataclass(frozen=True, slots=True)
class MoneyIn:
    """Marks a declared amount's annotation with its currency: an ISO 4217 ``code``, or the absolute
    ``path`` of the field that holds it (``intent.currency``)."""

    code: str | None = None
    path: str | None = None

    def currency(self) -> Currency:
        return Currency(self.code) if self.code else currency_at(self.path) if self.path else Currency()


@dataclass(frozen=True, slots=True)
class Type:
    kind: str
    currency: Currency | None = None
    values: tuple[str, ...] = ()
    """An enum's values (a ``string`` that takes only these)."""

    def __str__(self) -> str:
        return f"money ({self.currency.text})" if self.kind == "money" and self.currency else self.kind


ANY = Type("any")
INT = Type("int")
DECIMAL = Type("decimal")
STRING = Type("string")
BOOL = Type("bool")
DATETIME = Type("datetime")
DATE = Type("date")
DURATION = Type("duration")
NULL = Type("null")


def group(t: Type) -> str:
    """Types of one group compare with each other: numbers, each temporal kind, strings, ..."""
    return "number" if t.kind in NUMERIC else t.kind


def unify(ts: list[Type]) -> Type:
    """One type for values that may have any of ``ts`` (a path over several intent kinds)."""
    if not ts:
        return ANY
    first = ts[0]
    if all(t == first for t in ts):
        return first
    if all(t.kind in ("int", "decimal") for t in ts):
        return DECIMAL
    if all(t.kind == "string" for t in ts):
        values = set().union(*(t.values for t in ts))
        return STRING if any(not t.values for t in ts) else Type("string", values=tuple(sorted(values)))
    return ANY


def classify(tp: Any, root: str) -> Type:
    """The static type of a schema type reached by a path from ``root``."""
    while True:
        if tp is Amount or tp == Amount:
            where = {"intent": "intent.currency", "request": "request.currency"}.get(root)
            return Type("money", currency_at(where) if where else None)
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            marker = next((m for m in tp.__metadata__ if isinstance(m, MoneyIn)), None)
            if marker is not None:
                return Type("money", marker.currency())
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, _pytypes.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
            return unify([classify(a, root) for a in args])
        break
    if tp is Any_ or tp is Any:
        return ANY
    simple = {bool: BOOL, int: INT, Decimal: DECIMAL, str: STRING, datetime: DATETIME, date: DATE, timedelta: DURATION}
    if isinstance(tp, type) and tp in simple:
        return simple[tp]
    if origin is typing.Literal:
        if all(isinstance(a, str) for a in typing.get_args(tp)):
            return Type("string", values=tuple(typing.get_args(tp)))
        return ANY
    if isinstance(tp, ListOf) or origin in (tuple, list):
        return Type("list")
    if isinstance(tp, MapOf) or origin is dict:
        return Type("map")
    if isinstance(tp, dict) or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return Type("record")
    return ANY


def is_amount_field(model: Any, name: str) -> bool:
    """Whether field ``name`` of a pydantic model is an amount (:data:`Amount`)."""
    model = _strip(model)
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or name not in model.model_fields:
        return False
    info = model.model_fields[name]
    amount_meta = typing.get_args(Amount)[1:]
    if info.annotation is not None and _strip(info.annotation) == Amount:
        return True
    return _strip(info.annotation) is Decimal and any(m in amount_meta for m in info.metadata)


def declared_money(model: Any, name: str) -> MoneyIn | None:
    """The currency marker of field ``name`` of a declared kind's (or record's) model, if an amount."""
    marks = getattr(_strip(model), "__txguard_money__", None)
    return marks.get(name) if isinstance(marks, dict) else None


def _strip(tp: Any) -> Any:
    """``tp`` without ``Optional``."""
    while typing.get_origin(tp) in (Union, _pytypes.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            return tp
        tp = args[0]
    return tp


def literal_type(value: Any) -> Type:
    """The type of a literal as written (a float has already become a ``Decimal``)."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, Decimal):
        return DECIMAL
    if isinstance(value, str):
        return STRING
    if isinstance(value, datetime):
        return DATETIME
    if isinstance(value, date):
        return DATE
    if isinstance(value, timedelta):
        return DURATION
    if isinstance(value, (list, tuple)):
        return Type("list")
    if isinstance(value, dict):
        return Type("map")
    return ANY


# -- strict readers ----------------------------------------------------------------------------------

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$")
"""An offset's minutes are 00-59: ``fromisoformat`` alone reads ``+05:75`` as 6h15m."""
_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")


class ValueTypeError(ValueError):
    """A value is not of the type its use needs (a datetime without an offset, ...)."""


def read_datetime(value: Any) -> datetime:
    """An aware datetime from a datetime or an RFC 3339 string with an offset; never assumes UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueTypeError(f"datetime `{value.isoformat()}` has no UTC offset")
        return value
    if isinstance(value, str):
        if _DATETIME.match(value):
            try:
                return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
            except ValueError:
                pass
            raise ValueTypeError(f"`{value}` is not a valid datetime")
        if _NAIVE.match(value):
            raise ValueTypeError(f"datetime `{value}` has no UTC offset (write `Z` or `+hh:mm`)")
    raise ValueTypeError(f"`{value}` is not a datetime (expected e.g. `2026-01-31T09:30:00+01:00`)")


def read_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueTypeError(f"`{value}` is not a date (expected e.g. `2026-01-31`)")


def is_duration_text(value: str) -> bool:
    """Whether ``value`` is written as an ISO 8601 duration (``PT3H``, ``-P1D``), not a datetime or date."""
    return value[1:2] == "P" if value[:1] == "-" else value[:1] == "P"


def read_duration(value: Any) -> timedelta:
    """A duration from a timedelta or an ISO 8601 duration in weeks, days, hours, minutes and
    seconds (``P1D``, ``PT36H``); years and months have no fixed length and are refused."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m and value not in ("P", "PT") and not value.endswith("T"):
            n = {k: int(v) for k, v in m.groupdict().items() if v is not None}
            return timedelta(weeks=n.get("w", 0), days=n.get("d", 0), hours=n.get("h", 0),
                             minutes=n.get("m", 0), seconds=n.get("s", 0))
    raise ValueTypeError(f"`{value}` is not a duration (expected e.g. `P1D`, `PT36H`; years and months "
                         "have no fixed length)")


def read_temporal(value: Any, kind: str) -> Any:
    if kind == "datetime":
        return read_datetime(value)
    if kind == "date":
        return read_date(value)
    return read_duration(value)


def temporal_kind_of_text(text: str) -> str | None:
    """``datetime`` or ``date`` when ``text`` is written as one (strictly), else None."""
    if _DATETIME.match(text):
        return "datetime"
    if _DATE.match(text):
        return "date"
    return None
