"""Random declared intent kinds for the declared-domain properties: a type tree (:class:`Ty`), its YAML
declaration, valid values of it, and mutations of a value (each a different action, or the same one).

Values are JSON data; a decimal or an amount is a :class:`Num` (written as a JSON number, read
from its text) or a decimal string. :func:`dump` writes the arguments as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

from hypothesis import strategies as st

from txguard.domain.declare import reserved


@dataclass(frozen=True)
class Num:
    """A JSON number literal (its text)."""

    text: str


@dataclass(frozen=True)
class Ty:
    kind: str
    optional: bool = False
    of: Ty | None = None
    fields: dict[str, Ty] = field(default_factory=dict)
    values: tuple[str, ...] = ()
    unordered: bool = False
    lo: int = 0
    hi: int = 3
    code: str | None = None
    """A money type's own currency code, or ``"currency"`` (the kind's currency field, named explicitly)."""
    pattern: bool = False
    spelling: int = 0
    """Which of the equivalent ways to write an optional scalar: ``x?``, ``optional x``, ``{x: {}, optional: true}``."""


SCALARS = ("money", "decimal", "int", "string", "id", "bool", "date", "datetime", "duration", "currency", "enum")
GROUPS = (("USD", "EUR", "GBP"), ("JPY", "KRW"), ("KWD", "BHD"))
EXPONENT = {c: e for g, e in zip(GROUPS, (2, 0, 3)) for c in g}
ENUM_WORDS = ("economy", "business", "café", "ünïcode", "日本", "a_b", "Z")
NAMES = st.from_regex(r"\A[a-z][a-z0-9_]{0,7}\Z").filter(lambda n: not reserved(n) and n != "currency")


def decl(t: Ty) -> Any:
    """The YAML declaration of ``t``."""
    k = t.kind
    if k in ("list", "map"):
        assert t.of is not None
        out: dict[str, Any] = {k: decl(t.of)}
        if k == "list":
            out.update(min=t.lo, max=t.hi)
            if t.unordered:
                out["unordered"] = True
    elif k == "record":
        out = {"record": {n: decl(s) for n, s in t.fields.items()}}
    elif k == "enum":
        out = {"enum": list(t.values)}
    elif k == "money" and t.code:
        out = {"money": {"currency": t.code}}
    elif k == "int":
        out = {"int": {"min": -5, "max": 10**6}}
    elif k == "string" and t.pattern:
        out = {"string": {"pattern": "^[a-zé]{1,12}$", "max_length": 12}}
    elif t.optional and t.spelling in (0, 1):
        return f"{k}?" if t.spelling == 0 else f"optional {k}"
    else:
        out = {k: {}}
    if t.optional:
        out["optional"] = True
    return out


def types(depth: int = 2) -> st.SearchStrategy[Ty]:
    scalar = st.builds(lambda k, opt, code, values, pattern, spelling: Ty(
        k, opt, code=code if k == "money" else None, values=tuple(values) if k == "enum" else (),
        pattern=pattern, spelling=spelling),
        st.sampled_from(SCALARS), st.booleans(), st.sampled_from([None, None, "JPY", "KWD", "EUR", "currency"]),
        st.lists(st.sampled_from(ENUM_WORDS), min_size=2, max_size=4, unique=True), st.booleans(), st.integers(0, 2))
    if depth == 0:
        return scalar

    def containers(inner: st.SearchStrategy[Ty]) -> st.SearchStrategy[Ty]:
        element = inner.map(lambda t: Ty(**{**t.__dict__, "optional": False}))
        lists = st.builds(lambda of, lo, extra, unordered, opt: Ty("list", opt, of=of, lo=lo, hi=lo + extra, unordered=unordered),
                          element, st.integers(0, 1), st.integers(1, 3), st.booleans(), st.booleans())
        maps = st.builds(lambda of, opt: Ty("map", opt, of=of), element, st.booleans())
        records = st.builds(lambda fs, opt: Ty("record", opt, fields=fs), st.dictionaries(NAMES, inner, min_size=1, max_size=3),
                            st.booleans())
        return lists | maps | records

    return st.deferred(lambda: scalar | containers(types(depth - 1)))


def kinds() -> st.SearchStrategy[tuple[dict[str, Ty], bool]]:
    """A kind's fields and whether it has a ``currency`` field (which a ``"currency"`` money code needs)."""
    return st.tuples(st.dictionaries(NAMES, types(), min_size=1, max_size=5), st.booleans()).map(
        lambda p: (_fix_codes(p[0], p[1]), p[1]))


def _fix_codes(fields: dict[str, Ty], has_currency: bool) -> dict[str, Ty]:
    def fix(t: Ty) -> Ty:
        if t.kind == "money" and t.code == "currency" and not has_currency:
            return Ty(**{**t.__dict__, "code": None})
        if t.of is not None:
            return Ty(**{**t.__dict__, "of": fix(t.of)})
        if t.fields:
            return Ty(**{**t.__dict__, "fields": {n: fix(s) for n, s in t.fields.items()}})
        return t
    return {n: fix(t) for n, t in fields.items()}


# -- values ---------------------------------------------------------------------------------------------

def exponent(t: Ty, currency: str) -> int:
    return EXPONENT[t.code] if t.code not in (None, "currency") else EXPONENT[currency]


def number(draw: st.DrawFn, value: Decimal) -> Any:
    text = format(value, "f")
    return Num(text) if draw(st.booleans()) else text


def value(draw: st.DrawFn, t: Ty, currency: str) -> Any:
    k = t.kind
    if k == "money":
        e = exponent(t, currency)
        return number(draw, Decimal(draw(st.integers(0, 10**7))).scaleb(-e))
    if k == "decimal":
        digits = draw(st.sampled_from([10**6, 10**40]))  # up to 41 digits: past the default context's 28
        return number(draw, Decimal(draw(st.integers(-digits, digits))).scaleb(-draw(st.integers(0, 19))))
    if k == "int":
        return draw(st.integers(-5, 10**6))
    if k == "string":
        return draw(st.text("abcxyzé", min_size=1, max_size=12)) if t.pattern else draw(st.text(max_size=12))
    if k == "id":
        return draw(st.text("ABC123-_é", min_size=1, max_size=10))
    if k == "bool":
        return draw(st.booleans())
    if k == "date":
        return (date(2020, 1, 1) + timedelta(days=draw(st.integers(0, 4000)))).isoformat()
    if k == "datetime":
        return written(draw(instants()), draw(offsets()))
    if k == "duration":
        return f"PT{draw(st.integers(0, 10**6))}S"
    if k == "currency":
        return draw(st.sampled_from([c for g in GROUPS for c in g]))
    if k == "enum":
        return draw(st.sampled_from(t.values))
    assert t.kind in ("list", "map", "record")
    if k == "list":
        assert t.of is not None
        return [value(draw, t.of, currency) for _ in range(draw(st.integers(t.lo, t.hi)))]
    if k == "map":
        assert t.of is not None
        return {key: value(draw, t.of, currency) for key in draw(st.lists(st.text(max_size=4), max_size=3, unique=True))}
    return record(draw, t.fields, currency)


def record(draw: st.DrawFn, fields: dict[str, Ty], currency: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub in fields.items():
        if sub.optional and draw(st.integers(0, 3)) == 0:
            if draw(st.booleans()):
                out[name] = None
            continue
        out[name] = value(draw, sub, currency)
    return out


def instants() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)).map(
        lambda d: d.replace(tzinfo=timezone.utc))


def offsets() -> st.SearchStrategy[timedelta]:
    return st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timedelta(minutes=m))


def written(instant: datetime, offset: timedelta) -> str:
    """``instant`` as RFC 3339 text in UTC ``offset`` (``Z`` for zero, sometimes)."""
    text = instant.astimezone(timezone(offset)).isoformat()
    return text.replace("+00:00", "Z") if offset == timedelta(0) and instant.microsecond % 2 else text


# -- what a value means (two values with one meaning are one action) ----------------------------------------

def meaning(t: Ty, v: Any, unbound: frozenset[str] = frozenset(), dotted: str = "") -> Any:
    """What ``v`` means to consent: equal meanings are one action (``unbound`` dotted paths left out)."""
    if v is None:
        return None
    k = t.kind
    if k in ("money", "decimal"):
        return Decimal(v.text if isinstance(v, Num) else v)  # Decimal equality is exact (normalize() would round)
    if k == "datetime":
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    if k == "list":
        assert t.of is not None
        items = [repr(meaning(t.of, x, unbound, dotted)) for x in v]
        return tuple(sorted(items) if t.unordered else items)
    if k == "map":
        assert t.of is not None
        return tuple(sorted((key, repr(meaning(t.of, x, unbound, dotted))) for key, x in v.items()))
    if k == "record":
        return tuple(sorted((n, repr(meaning(s, v.get(n), unbound, at(dotted, n)))) for n, s in t.fields.items()
                            if at(dotted, n) not in unbound))
    return v


def dump(v: Any) -> str:
    """JSON text of ``v`` (a :class:`Num` as its number literal)."""
    if isinstance(v, Num):
        return v.text
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x) for x in v) + "]"
    return json.dumps(v)


# -- mutations ------------------------------------------------------------------------------------------------

def at(dotted: str, name: str) -> str:
    return f"{dotted}.{name}" if dotted else name


def record_paths(fields: dict[str, Ty], dotted: str = "") -> list[str]:
    """Every dotted field path of a record (through lists and maps), what ``unbound`` may name."""
    out: list[str] = []
    for name, t in fields.items():
        out.append(at(dotted, name))
        while t.of is not None:
            t = t.of
        out.extend(record_paths(t.fields, at(dotted, name)))
    return out


def mutate(draw: st.DrawFn, t: Ty, v: Any, currency: str, unbound: frozenset[str] = frozenset(),
           dotted: str = "") -> tuple[Any, bool]:
    """``v`` changed somewhere, and whether it is still the same action (another spelling of the same
    value, or an ``unordered`` list in another order)."""
    k = t.kind
    if k == "list":
        assert t.of is not None
        options = ["elem"] * bool(v) + ["add"] * (len(v) < t.hi) + ["remove"] * (len(v) > t.lo)
        distinct = [(i, j) for i in range(len(v)) for j in range(i + 1, len(v))
                    if meaning(t.of, v[i], unbound, dotted) != meaning(t.of, v[j], unbound, dotted)]
        options += ["swap"] * bool(distinct)
        how = draw(st.sampled_from(options))
        out = list(v)
        if how == "elem":
            i = draw(st.integers(0, len(v) - 1))
            out[i], same = mutate(draw, t.of, v[i], currency, unbound, dotted)
            return out, same
        if how == "add":
            out.insert(draw(st.integers(0, len(v))), value(draw, t.of, currency))
            return out, False
        if how == "remove":
            del out[draw(st.integers(0, len(v) - 1))]
            return out, False
        i, j = draw(st.sampled_from(distinct))
        out[i], out[j] = out[j], out[i]
        return out, t.unordered
    if k == "map":
        assert t.of is not None
        how = draw(st.sampled_from(["add"] + ["elem", "remove"] * bool(v)))
        entries = dict(v)
        if how == "add":
            entries[draw(st.text(min_size=5, max_size=6))] = value(draw, t.of, currency)
            return entries, False
        key = draw(st.sampled_from(sorted(v)))
        if how == "remove":
            del entries[key]
            return entries, False
        entries[key], same = mutate(draw, t.of, v[key], currency, unbound, dotted)
        return entries, same
    if k == "record":
        return mutate_record(draw, t.fields, v, currency, unbound, dotted)
    return scalar_change(draw, t, v, currency)


def mutate_record(draw: st.DrawFn, fields: dict[str, Ty], v: dict[str, Any], currency: str,
                  unbound: frozenset[str], dotted: str = "") -> tuple[dict[str, Any], bool]:
    name = draw(st.sampled_from(sorted(fields)))
    sub = fields[name]
    out = dict(v)
    if v.get(name) is None:  # an absent optional field given a value
        out[name] = value(draw, sub, currency)
        same = False
    elif sub.optional and draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            out[name] = None
        else:
            del out[name]
        same = False
    else:
        out[name], same = mutate(draw, sub, v[name], currency, unbound, at(dotted, name))
    return out, same or at(dotted, name) in unbound


def scalar_change(draw: st.DrawFn, t: Ty, v: Any, currency: str) -> tuple[Any, bool]:
    k = t.kind
    if k in ("money", "decimal"):
        d = Decimal(v.text if isinstance(v, Num) else v)
        if draw(st.booleans()):  # the same value, written otherwise
            text = format(d, "f")
            if k == "decimal":  # trailing zeros (an amount takes no more places than its currency's)
                text = text + ("0" if "." in text else ".0")
            return (text if isinstance(v, Num) else Num(text)), True
        step = Decimal(1).scaleb(-(exponent(t, currency) if k == "money" else 20))
        wide = Context(prec=100)  # exact: the default context would round a 41-digit decimal
        return number(draw, wide.add(d, step) if k == "decimal" or d + step <= 10**8 else d - step), False
    if k == "int":
        return (v + 1 if v < 10**6 else v - 1), False
    if k == "string":
        return ((v + "a") if len(v) < 12 else v[:-1]) if t.pattern else v + "x", False
    if k == "id":
        return v + "x", False
    if k == "bool":
        return not v, False
    if k == "date":
        return (date.fromisoformat(v) + timedelta(days=1)).isoformat(), False
    if k == "datetime":
        at = datetime.fromisoformat(v.replace("Z", "+00:00"))
        if draw(st.booleans()):  # the same instant in another offset
            return written(at, draw(offsets())), True
        return (at + timedelta(seconds=1)).isoformat(), False
    if k == "duration":
        return f"PT{int(v[2:-1]) + 1}S", False
    if k == "currency":
        group = next(g for g in GROUPS if v in g)
        return draw(st.sampled_from([c for c in group if c != v])), False
    assert k == "enum"
    return draw(st.sampled_from([x for x in t.values if x != v])), False
