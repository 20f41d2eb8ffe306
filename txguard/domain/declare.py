"""Type declarations: the YAML a policy writes for an intent's fields, a fact record or the request,
parsed into a :class:`FieldType` tree with located errors.

A type is a name, optionally suffixed ``?`` or prefixed ``optional`` (YAML's ``{...}`` flow style does
not take a plain ``money?``: write ``"money?"`` or ``optional money`` there)::

    money  decimal  int  string  id  bool  date  datetime  duration  currency

or a mapping with exactly one *type key* and the modifiers that type takes::

    {int: {min: 0, max: 20}}            {decimal: {min: 0, max: 1}}
    {money: {currency: currency}}       {money: {currency: EUR, max: "500"}}
    {string: {pattern: "^[A-Z]{2}[0-9]+$", max_length: 12}}
    {enum: [economy, business]}
    {list: id, min: 1, max: 9, unordered: true}
    {map: string}                       {record: {name: string, ...}}

Every mapping form takes ``optional: true`` and ``description: ...``. Any other mapping is a record
written directly (``{flight_no: id, date: date}``: a field may be named like a type); a record that
could be read as a typed form (one field named ``list``, ``map``, ``enum`` ...) is written
``{record: {...}}``. Field names pydantic reserves (``kind``, ``_*``, ``model_*``, ``json``, ``copy``,
``schema`` ...: see :data:`RESERVED`) are refused.

Values are bounded whatever the declaration says: a list has at most ``max`` (default
:data:`MAX_LIST`) elements, a map at most :data:`MAX_LIST` entries, an int at most 2**53 - 1 in
absolute value (what JSON writes exactly), a decimal at most 60 digits and places.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from ..core.money import CURRENCY_EXPONENTS

Where = tuple[str | int, ...]
Report = Callable[[Where, str, str], None]

SCALARS = ("money", "decimal", "int", "string", "id", "bool", "date", "datetime", "duration", "currency", "any")
"""The type names a field may be written as (each optionally suffixed ``?``)."""
CONTAINERS = ("enum", "list", "map", "record", "one_of")
TYPE_KEYS = frozenset(SCALARS + CONTAINERS)
COMMON = frozenset({"optional", "description", "default"})
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()
"""A field with no ``default``: required unless optional (then absent is null)."""
SCALAR_PARAMS: dict[str, frozenset[str]] = {
    "money": frozenset({"currency", "min", "max"}),
    "decimal": frozenset({"min", "max"}),
    "int": frozenset({"min", "max"}),
    "string": frozenset({"pattern", "min_length", "max_length"}),
}
LIST_KEYS = frozenset({"min", "max", "unordered"})
MAX_LIST = 1000
"""The most elements a declared list takes when it names no ``max``."""
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CODE = re.compile(r"^[A-Z]{3}$")
RESERVED = frozenset(n for n in dir(BaseModel) if not n.startswith("_")) | {"Config", "kind"}
"""Field names a generated model cannot hold as fields: pydantic's own attributes (a field named
``model_extra`` would be read, and bound by consent, as the model's property), ``Config`` and
``kind``. Names starting with ``_`` or ``model_`` are reserved too."""


def reserved(name: str) -> bool:
    return name in RESERVED or name.startswith(("_", "model_"))


@dataclass(frozen=True)
class FieldType:
    """One declared type. ``of`` is a list's or map's element type, ``fields`` a record's fields."""

    kind: str
    optional: bool = False
    description: str | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    values: tuple[str, ...] = ()
    of: FieldType | None = None
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    options: tuple[FieldType, ...] = ()
    """The alternatives of a ``one_of`` (scalars: a value is the first one it reads as)."""
    unordered: bool = False
    default: Any = NO_DEFAULT
    """A value the field takes when absent (the field is then not required, and not nullable)."""
    currency: str | None = None
    """A money field's currency: an ISO 4217 code, or the dotted path (from the record's root) of
    the ``currency`` field that holds it; None: the kind's ``currency`` field, else the policy's."""

    def __str__(self) -> str:
        inner = f"[{self.of}]" if self.of is not None else f"({', '.join(self.values)})" if self.values else ""
        return f"{self.kind}{inner}{'?' if self.optional else ''}"


def parse_type(raw: Any, at: Where, report: Report, named: Mapping[str, FieldType] | None = None) -> FieldType | None:
    """The :class:`FieldType` of ``raw`` written at ``at``; problems go to ``report`` (None then).
    ``named`` are the types the policy's ``types:`` section declares, usable by name."""
    named = named or {}
    if isinstance(raw, str):
        name, optional = (raw[:-1], True) if raw.endswith("?") else (raw, False)
        if name.startswith("optional ") and not optional:
            name, optional = name[len("optional "):].strip(), True
        if name in SCALARS:
            return FieldType(name, optional)
        if name in named:
            return replace(named[name], optional=optional or named[name].optional)
        hint = f"; for a list write `{{list: {name}}}`" if name in CONTAINERS else ""
        report(at, "txg-type", f"`{raw}` is not a type (expected one of: {', '.join(list(SCALARS) + sorted(named))}, optionally "
                               f"followed by `?`, or a mapping such as `{{list: id}}`){hint}")
        return None
    if not isinstance(raw, Mapping) or not raw:
        report(at, "txg-type", f"a type is a name such as `money` or a mapping such as `{{list: id}}`, got "
                               f"{'an empty mapping' if isinstance(raw, Mapping) else repr(raw)}")
        return None
    keys = [k for k in raw if k in TYPE_KEYS]
    if len(keys) != 1 or not _typed(str(keys[0]), raw):
        return _record(raw, at, report, optional=False, description=None, named=named)
    kind = str(keys[0])
    optional = raw.get("optional", False)
    description = raw.get("description")
    if not isinstance(optional, bool):
        report(at + ("optional",), "txg-type", "`optional` is true or false")
        return None
    if description is not None and not isinstance(description, str):
        report(at + ("description",), "txg-type", "`description` is a string")
        return None
    allowed = COMMON | {kind} | (LIST_KEYS if kind == "list" else frozenset())
    extra = [k for k in raw if k not in allowed]
    if extra:
        report(at + (extra[0],), "txg-type", f"`{extra[0]}` is not a key of a {kind} type (expected: "
                                             f"{', '.join(sorted(allowed))})")
        return None
    arg = raw[kind]
    tp = _typed_form(kind, arg, raw, at, report, optional, description, named)
    if tp is None or "default" not in raw:
        return tp
    return _with_default(tp, raw["default"], at + ("default",), report)


def _with_default(tp: FieldType, value: Any, at: Where, report: Report) -> FieldType | None:
    """``tp`` with a default value, which must be one the type accepts (checked with the generated model)."""
    if tp.optional:
        report(at, "txg-type", "a field is `optional` (absent is null) or has a `default`, not both")
        return None
    ok = (isinstance(value, str) and tp.kind in ("string", "id", "enum") and (not tp.values or value in tp.values)
          or isinstance(value, bool) and tp.kind == "bool"
          or isinstance(value, int) and not isinstance(value, bool) and tp.kind == "int"
          or isinstance(value, list) and not value and tp.kind == "list" and not tp.min_length
          or isinstance(value, Mapping) and not value and tp.kind == "map")
    if not ok:
        report(at, "txg-type", f"`default` must be a value of the field's type ({tp.kind}; a list's default is `[]`, "
                               "a map's `{}`)")
        return None
    return replace(tp, default=tuple(value) if isinstance(value, list) else MappingProxyType({}) if isinstance(value, Mapping) else value)


def _typed_form(kind: str, arg: Any, raw: Mapping[str, Any], at: Where, report: Report, optional: bool,
                description: str | None, named: Mapping[str, FieldType]) -> FieldType | None:
    if kind in SCALARS:
        return _scalar(kind, arg, at + (kind,), report, optional, description)
    if kind == "enum":
        if (not isinstance(arg, list) or not arg or not all(isinstance(v, str) and v for v in arg)
                or len(set(arg)) != len(arg)):
            report(at + ("enum",), "txg-type", "an enum lists its values: distinct non-empty strings, at least one")
            return None
        return FieldType("enum", optional, description, values=tuple(arg))
    if kind == "one_of":
        opts = [parse_type(o, at + ("one_of", i), report, named) for i, o in enumerate(arg)] if isinstance(arg, list) else []
        if len(opts) < 2 or any(o is None or o.kind not in SCALARS or o.optional for o in opts):
            report(at + ("one_of",), "txg-type", "`one_of` lists two or more scalar types (not optional ones)")
            return None
        return FieldType("one_of", optional, description, options=tuple(o for o in opts if o is not None))
    if kind == "record":
        if not isinstance(arg, Mapping) or not arg:
            report(at + ("record",), "txg-type", "a record maps field names to types, at least one")
            return None
        return _record(arg, at + ("record",), report, optional, description, named)
    of = parse_type(arg, at + (kind,), report, named)
    if of is None:
        return None
    if kind == "map":
        return FieldType("map", optional, description, of=of)
    lo, hi = raw.get("min", 0), raw.get("max", MAX_LIST)
    for key, value in (("min", lo), ("max", hi)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            report(at + (key,), "txg-type", f"a list's `{key}` is a whole number from 0 to 100000")
            return None
    if lo > hi:
        report(at + ("min",), "txg-type", f"a list's `min` ({lo}) is above its `max` ({hi})")
        return None
    unordered = raw.get("unordered", False)
    if not isinstance(unordered, bool):
        report(at + ("unordered",), "txg-type", "`unordered` is true or false")
        return None
    return FieldType("list", optional, description, min_length=lo, max_length=hi, of=of, unordered=unordered)


def parse_record(raw: Any, at: Where, report: Report, named: Mapping[str, FieldType] | None = None) -> FieldType | None:
    """The record type of a mapping of field names to types written at ``at`` (a kind's ``fields``, a
    fact collection's ``record``, the ``request``)."""
    if not isinstance(raw, Mapping):
        report(at, "txg-type", "expected a mapping of field names to types")
        return None
    return _record(raw, at, report, optional=False, description=None, named=named)


def _typed(kind: str, raw: Mapping[str, Any]) -> bool:
    """Whether a mapping is a typed form (``{list: id, max: 3}``) rather than a record written
    directly (``{date: date, flight_no: id}``): its keys are the type key and that type's modifiers,
    and a scalar type key holds parameters (a mapping or nothing), not a type."""
    allowed = COMMON | {kind} | (LIST_KEYS if kind == "list" else frozenset())
    if any(k not in allowed for k in raw):
        return False
    return kind not in SCALARS or raw[kind] is None or isinstance(raw[kind], Mapping)


def _record(raw: Mapping[str, Any], at: Where, report: Report, optional: bool,
            description: str | None, named: Mapping[str, FieldType] | None = None) -> FieldType | None:
    fields: dict[str, FieldType] = {}
    ok = True
    for name, sub in raw.items():
        if name in ("True", "False"):  # YAML 1.1 reads `on`, `off`, `yes`, `no` as booleans
            report(at + (str(name),), "txg-type", f"`{name}` is not a field name: YAML reads `on`, `off`, `yes` and "
                                                  "`no` as true or false; quote the name (`\"on\": bool`)")
            ok = False
            continue
        if not isinstance(name, str) or not IDENT.match(name):
            report(at + (str(name),), "txg-type", f"`{name}` is not a field name (letters, digits and `_`, not "
                                                  "starting with a digit)")
            ok = False
            continue
        if reserved(name):
            report(at + (name,), "txg-type", f"`{name}` is a reserved name (`kind`, names starting with `_` or "
                                             "`model_`, and the attributes of pydantic models such as `json`, "
                                             "`copy`, `schema`): name the field otherwise and map the tool's "
                                             "argument to it with `fields:`")
            ok = False
            continue
        tp = parse_type(sub, at + (name,), report, named)
        if tp is None:
            ok = False
        else:
            fields[name] = tp
    return FieldType("record", optional, description, fields=fields) if ok else None


def _scalar(kind: str, arg: Any, at: Where, report: Report, optional: bool, description: str | None) -> FieldType | None:
    params = SCALAR_PARAMS.get(kind, frozenset())
    if arg is None or arg == {}:
        arg = {}
    if not isinstance(arg, Mapping):
        report(at, "txg-type", f"the parameters of a {kind} are a mapping"
                               + (f" of {', '.join(sorted(params))}" if params else " (it takes none: write `{}`)"))
        return None
    extra = [k for k in arg if k not in params]
    if extra:
        report(at + (str(extra[0]),), "txg-type", f"`{extra[0]}` is not a parameter of a {kind}"
                                                  + (f" (expected: {', '.join(sorted(params))})" if params else ""))
        return None
    out: dict[str, Any] = {}
    for key in ("min", "max"):
        if key in arg:
            value = _number(arg[key], integer=kind == "int")
            if value is None:
                report(at + (key,), "txg-type", f"`{key}` of a {kind} is {'a whole number' if kind == 'int' else 'a number'}"
                                                + (" (a decimal string such as \"12.50\", or a number)" if kind != "int" else ""))
                return None
            out["minimum" if key == "min" else "maximum"] = value
    if out.get("minimum") is not None and out.get("maximum") is not None and out["minimum"] > out["maximum"]:
        report(at + ("min",), "txg-type", f"`min` ({out['minimum']}) is above `max` ({out['maximum']})")
        return None
    if kind == "string":
        for key in ("min_length", "max_length"):
            if key in arg:
                v = arg[key]
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    report(at + (key,), "txg-type", f"`{key}` is a whole number, 0 or more")
                    return None
                out[key] = v
        if "pattern" in arg:
            pattern = arg["pattern"]
            try:
                if not isinstance(pattern, str):
                    raise re.error("not a string")
                re.compile(pattern)
            except re.error as exc:
                report(at + ("pattern",), "txg-type", f"`pattern` is not a regular expression ({exc})")
                return None
            try:  # the validator runs patterns on a linear-time engine: no look-around, no backreferences
                TypeAdapter(Annotated[str, Field(pattern=pattern)])
            except Exception as exc:  # noqa: BLE001 - pydantic's SchemaError: the engine cannot run it
                detail = str(exc).strip().splitlines()[-1].strip()[:160]
                report(at + ("pattern",), "txg-type", "`pattern` uses a construct the validator's regular expressions "
                                                      f"do not have (look-around, backreferences): {detail}")
                return None
            out["pattern"] = pattern
    if kind == "money" and "currency" in arg:
        cur = arg["currency"]
        if not isinstance(cur, str) or not (_CODE.match(cur) and cur in CURRENCY_EXPONENTS
                                            or all(IDENT.match(p) for p in cur.split("."))):
            report(at + ("currency",), "txg-type", f"`currency` is an ISO 4217 code such as USD or the path of the "
                                                   f"field that holds the currency, got `{cur}`")
            return None
        out["currency"] = cur
    return FieldType(kind, optional, description, **out)


def _number(value: Any, integer: bool) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if integer:
        return Decimal(value) if isinstance(value, int) else None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str) and re.match(r"^-?[0-9]+(\.[0-9]+)?$", value):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def parse_named(raw: Any, at: Where, report: Report) -> dict[str, FieldType]:
    """The ``types:`` section: each named type may use the ones declared before it."""
    named: dict[str, FieldType] = {}
    if not isinstance(raw, Mapping):
        return named
    for name, sub in raw.items():
        if not isinstance(name, str) or not IDENT.match(name) or name in TYPE_KEYS:
            report(at + (str(name),), "txg-type", f"`{name}` cannot name a type (an identifier that is not a type key)")
            continue
        tp = parse_type(sub, at + (name,), report, named)
        if tp is not None:
            named[name] = tp
    return named


def leaves(tp: FieldType, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], FieldType]]:
    """Every scalar leaf of ``tp`` with its path of field names (``[]`` for a list's elements, ``{}``
    for a map's values)."""
    if tp.kind == "record":
        out: list[tuple[tuple[str, ...], FieldType]] = []
        for name, sub in tp.fields.items():
            out.extend(leaves(sub, prefix + (name,)))
        return out
    if tp.kind in ("list", "map") and tp.of is not None:
        return leaves(tp.of, prefix + ("[]" if tp.kind == "list" else "{}",))
    return [(prefix, tp)]


def leaf_steps(tp: FieldType, dotted: str) -> tuple[str, ...]:
    """The leaf path of a dotted field path, with a ``[]`` step for each list and a ``{}`` step for
    each map it crosses (``flights.price`` -> ``("flights", "[]", "price")``); as far as it resolves."""
    out: list[str] = []
    cur: FieldType | None = tp
    for part in dotted.split("."):
        while cur is not None and cur.kind in ("list", "map"):
            out.append("[]" if cur.kind == "list" else "{}")
            cur = cur.of
        if cur is None or cur.kind != "record" or part not in cur.fields:
            break
        out.append(part)
        cur = cur.fields[part]
    return tuple(out)


def resolve(tp: FieldType, dotted: str) -> FieldType | None:
    """The type at a dotted field path (``flights.cabin`` goes through a list's elements), or None."""
    cur: FieldType | None = tp
    for part in dotted.split("."):
        while cur is not None and cur.kind in ("list", "map"):
            cur = cur.of
        if cur is None or cur.kind != "record" or part not in cur.fields:
            return None
        cur = cur.fields[part]
    return cur
