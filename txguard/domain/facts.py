"""Declared facts at decision time: the records a host passes, read against their declaration.

* A declared collection may be given as a mapping ``{key: record}`` or as a list of records; a list is
  indexed by the collection's ``key`` field. A key that two records claim, or a record whose ``key``
  field disagrees with the key it is filed under, is ambiguous: looking it up finds nothing
  (``missing_fact``), never one of the two. A listed record without a usable key is found by no lookup
  and is a hole in a read of the whole collection, never skipped.
* A collection the policy does not declare is ignored, or refused (``undeclared_facts: error``).
* A value a ``when`` path reads from declared facts must have its declared type: an ill-typed value
  is a hole in the records (``missing_fact``), never read as something else.
"""

from __future__ import annotations

import typing
from decimal import Decimal
from collections.abc import Mapping
from typing import Any

from ..core.errors import MissingFact
from ..core.money import brief
from ..core.paths import MISSING, Getter, ListOf, MapOf, Path, compile_path
from ..policy import types as T
from ..policy.ir import _as_decimal

if typing.TYPE_CHECKING:
    from .domain import Domain


class _Unlisted:
    """The slot of a listed record no key lookup can find (no usable key, or a key two records claim)."""

    __slots__ = ("position",)

    def __init__(self, position: int) -> None:
        self.position = position

    def __repr__(self) -> str:
        return f"<record [{self.position}] without a key of its own>"


class UndeclaredFacts(ValueError):
    """The host passed a collection the policy refuses (``undeclared_facts: error``)."""


def read_facts(domain: Domain, raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` as the policy's declared facts read it (the same mapping when nothing needs indexing)."""
    decl = domain.facts
    if decl is None:
        return raw
    out: dict[str, Any] | None = None
    for name, coll in raw.items():
        spec = decl.get(name)
        if spec is None:
            if domain.undeclared_facts == "error":
                raise UndeclaredFacts(f"facts.{name} is not a collection the policy declares "
                                      f"(it declares: {', '.join(sorted(decl)) or 'none'})")
            continue
        if spec.key is None:
            continue
        if type(coll) is not dict and isinstance(coll, (list, tuple)):
            indexed: dict[Any, Any] = {}
            texts: dict[str, Any] = {}  # `7` and `"7"` claim one key (a mapping's keys are all text)
            for i, record in enumerate(coll):
                key = record.get(spec.key, MISSING) if isinstance(record, Mapping) else MISSING
                usable = key is not MISSING and isinstance(key, (str, int)) and not isinstance(key, bool)
                if not usable or str(key) in texts:
                    # No lookup finds it, but a read of the whole collection (`for_each`, `count`) still
                    # meets it, as a hole (missing_fact), never as a record that is not there.
                    if usable:
                        indexed[texts[str(key)]] = MISSING  # the first claim; this one is its own slot below
                    indexed[_Unlisted(i)] = MISSING
                    continue
                texts[str(key)] = key
                indexed[key] = record
            out = dict(raw) if out is None else out
            out[name] = indexed
        # A mapping is read as it is: a record filed under a key its `key` field disagrees with is found
        # by no lookup (:func:`keyed_getter`), judged when a rule looks it up, not by a scan of every record.
    return raw if out is None else out


def keyed_getter(get: Getter, path: Path, domain: Domain) -> Getter:
    """``get`` for a path that looks a record up in a declared collection with a ``key``: a record whose
    ``key`` field disagrees with the key it is filed under is ambiguous, and the path finds nothing."""
    steps = path.steps
    decl = domain.facts or {}
    if len(steps) < 2 or steps[0].op != "attr" or steps[1].op not in ("key", "ref"):
        return get
    coll = decl.get(str(steps[0].name))
    if coll is None or coll.key is None:
        return get
    field = coll.key
    record_get = compile_path(Path(path.text, path.root, steps[:2]))
    key_get = compile_path(steps[1].ref) if steps[1].ref is not None else None
    fixed = steps[1].name

    def read(env: Mapping[str, Any]) -> Any:
        record = record_get(env)
        if isinstance(record, Mapping) and field in record:
            key = key_get(env) if key_get is not None else fixed
            if record[field] != (str(key) if isinstance(key, Decimal) else key):
                return MISSING
        return get(env)

    return read


def typed_getter(get: Getter, path: Path, types: list[Any]) -> Getter:
    """``get`` that turns a value of the wrong declared type into a :class:`MissingFact`."""
    checks = [c for c in (_checker(t) for t in types) if c is not None]
    if not checks or len(checks) != len(types):
        return get
    text = path.text
    # A record, list or map does not say here whether it is optional; a scalar does (``Optional``).
    nullable = any(isinstance(t, (dict, ListOf, MapOf)) or type(None) in typing.get_args(t) for t in types)

    def read(env: Mapping[str, Any]) -> Any:
        value = get(env)
        if value is None and not nullable:
            return MISSING  # `null` where the declaration allows none is a hole, read as if absent
        if value is MISSING or value is None:
            return value
        for ok, _what in checks:
            if ok(value):
                return value
        raise MissingFact(f"`{text}` is `{brief(value)}` in the facts, not {checks[0][1]}")

    return read


def _checker(tp: Any) -> tuple[Any, str] | None:
    """(test, description) of a declared fact type, from the layout ``check_path`` walks."""
    if isinstance(tp, ListOf):  # read whole (`in`, `count`, `distinct` ...): every element of its type too
        elem = _element(tp.value)
        return (lambda v: isinstance(v, (list, tuple)) and (elem is None or all(map(elem, v))),
                "a list of " + _what(tp.value))
    if isinstance(tp, MapOf):
        elem = _element(tp.value)
        return (lambda v: isinstance(v, Mapping) and (elem is None or all(map(elem, v.values()))),
                "a map of " + _what(tp.value))
    if isinstance(tp, dict):
        return (lambda v: isinstance(v, Mapping)), "a record"
    origin = typing.get_origin(T._strip(tp))
    inner = T._strip(tp)
    if origin is typing.Annotated:
        inner_origin = typing.get_origin(typing.get_args(inner)[0])
        if inner_origin is typing.Literal:
            inner = typing.get_args(inner)[0]
    if typing.get_origin(inner) is typing.Literal:
        values = typing.get_args(inner)
        return (lambda v: isinstance(v, str) and v in values), f"one of {', '.join(map(str, values))}"
    t = T.classify(tp, "facts")
    kind = t.kind
    if kind in ("int",):
        return (lambda v: isinstance(v, int) and not isinstance(v, bool)), "a whole number"
    if kind in ("decimal", "money"):
        return _is_number, "a number"
    if kind == "string":
        return (lambda v: isinstance(v, str)), "a string"
    if kind == "bool":
        return (lambda v: isinstance(v, bool)), "true or false"
    if kind in T.TEMPORAL:
        return (lambda v: _reads(v, kind)), f"a {kind}"
    return None


def _element(tp: Any) -> Any:
    """The test of one element of a declared list or map (None: any value passes)."""
    found = _checker(tp)
    if found is None:
        return None
    ok, nullable = found[0], type(None) in typing.get_args(tp)
    return lambda v: (nullable if v is None else ok(v))


def _what(tp: Any) -> str:
    found = _checker(tp)
    return found[1] if found is not None else "values"


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and _as_decimal(value) is not None


def _reads(value: Any, kind: str) -> bool:
    try:
        T.read_temporal(value, kind)
    except (T.ValueTypeError, ValueError, OverflowError):
        return False
    return True
