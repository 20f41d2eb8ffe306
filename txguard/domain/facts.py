"""Declared facts at decision time: the records a host passes, read against their declaration.

* A declared collection may be given as a mapping ``{key: record}`` or as a list of records; a list is
  indexed by the collection's ``key`` field. A key that two records claim, or a record whose ``key``
  field disagrees with the key it is filed under, is ambiguous: looking it up finds nothing
  (``missing_fact``), never one of the two.
* A collection the policy does not declare is ignored, or refused (``undeclared_facts: error``).
* A value a ``when`` path reads from declared facts must have its declared type: an ill-typed value
  is a hole in the records (``missing_fact``), never read as something else.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from ..core.errors import MissingFact
from ..core.money import brief
from ..core.paths import MISSING, Getter, ListOf, MapOf, Path
from ..policy import types as T
from ..policy.ir import _as_decimal

if typing.TYPE_CHECKING:
    from .domain import Domain


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
            for record in coll:
                key = record.get(spec.key, MISSING) if isinstance(record, Mapping) else MISSING
                if key is MISSING or not isinstance(key, (str, int)) or isinstance(key, bool):
                    continue  # a record without a usable key cannot be looked up
                indexed[key] = MISSING if key in indexed else record
            out = dict(raw) if out is None else out
            out[name] = indexed
        elif type(coll) is dict or isinstance(coll, Mapping):
            key = spec.key  # plain dicts tested before the (slower) abstract Mapping check
            bad = [k for k, r in coll.items() if (type(r) is dict or isinstance(r, Mapping)) and key in r and r[key] != k]
            if bad:
                out = dict(raw) if out is None else out
                out[name] = {k: (MISSING if k in bad else r) for k, r in coll.items()}
    return raw if out is None else out


def typed_getter(get: Getter, path: Path, types: list[Any]) -> Getter:
    """``get`` that turns a value of the wrong declared type into a :class:`MissingFact`."""
    checks = [c for c in (_checker(t) for t in types) if c is not None]
    if not checks or len(checks) != len(types):
        return get
    text = path.text

    def read(env: Mapping[str, Any]) -> Any:
        value = get(env)
        if value is MISSING or value is None:
            return value
        for ok, _what in checks:
            if ok(value):
                return value
        raise MissingFact(f"`{text}` is `{brief(value)}` in the facts, not {checks[0][1]}")

    return read


def _checker(tp: Any) -> tuple[Any, str] | None:
    """(test, description) of a declared fact type, from the layout ``check_path`` walks."""
    if isinstance(tp, ListOf):
        return (lambda v: isinstance(v, (list, tuple))), "a list"
    if isinstance(tp, (MapOf, dict)):
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


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and _as_decimal(value) is not None


def _reads(value: Any, kind: str) -> bool:
    try:
        T.read_temporal(value, kind)
    except (T.ValueTypeError, ValueError, OverflowError):
        return False
    return True
