"""Custom rule conditions: ``all`` / ``any`` / ``not`` / ``for_each`` over typed comparisons.

::

    when:
      all:
        - {path: intent.total, gt: "500.00"}
        - {path: intent.payment_method_id, in: {path: "facts.users[session.authenticated_user_id].payment_methods"}}
        - for_each: intent.items
          as: line
          any: [{path: line.quantity, gt: 10}]

Operands are literals or ``{path: ...}`` references. Numbers compare exactly as ``Decimal``.
A path into the facts that finds nothing is a missing fact: the rule escalates (fail closed)
unless the comparison says ``on_missing: false`` or ``on_missing: true``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..core.paths import MISSING, Any_, Path, PathSyntaxError, check_path, compile_path, parse_path

Predicate = Callable[[Mapping[str, Any]], bool]
COMPARATORS = ("eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "exists")


class MissingFact(Exception):
    """A fact the decision needs is not in the facts: the rule escalates with ``missing_fact``."""


class ConditionError(Exception):
    """A comparison could not be evaluated (e.g. ``gt`` between a word and a number)."""


def _num(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    return value


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):  # intent amounts already are: skip the conversions
        return value
    value = _num(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _equal(a: Any, b: Any) -> bool:
    a, b = _num(a), _num(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        da, db = _as_decimal(a), _as_decimal(b)
        return da is not None and db is not None and da == db
    return bool(a == b)


def _member(value: Any, container: Any) -> bool:
    if isinstance(container, Mapping):
        return isinstance(value, (str, int)) and value in container
    if isinstance(container, (list, tuple, set, frozenset)):
        return any(_equal(value, c) for c in container)
    raise ConditionError(f"`in` needs a list or a mapping, got {type(container).__name__}")


class ConditionCompiler:
    """Compiles condition data into predicates, collecting located problems."""

    def __init__(self, kinds: list[str], report: Callable[[tuple[str | int, ...], str], None]) -> None:
        self.kinds = kinds
        self.report = report

    def compile(self, cond: Any, at: tuple[str | int, ...], bound: dict[str, Any] | None = None) -> Predicate:
        bound = bound or {}
        if not isinstance(cond, dict):
            self.report(at, "a condition is a mapping")
            return lambda env: True
        if "all" in cond or "any" in cond:
            key = "all" if "all" in cond else "any"
            if "for_each" in cond:
                return self._for_each(cond, at, bound, key)
            if not isinstance(cond[key], list):
                self.report(at + (key,), f"`{key}` takes a list of conditions (a single condition only with `for_each`)")
                return lambda env: True
            parts = [self.compile(c, at + (key, i), bound) for i, c in enumerate(cond[key])]
            if key == "all":
                return lambda env: all(p(env) for p in parts)
            return lambda env: any(p(env) for p in parts)
        if "not" in cond:
            inner = self.compile(cond["not"], at + ("not",), bound)
            return lambda env: not inner(env)
        if "path" in cond:
            return self._comparison(cond, at, bound)
        self.report(at, "expected one of `all`, `any`, `not`, `for_each` or a comparison with `path`")
        return lambda env: True

    def _path(self, text: Any, at: tuple[str | int, ...], bound: dict[str, Any]) -> tuple[Path | None, list[Any]]:
        if not isinstance(text, str):
            self.report(at, f"expected a path string, got `{text!r}`")
            return None, []
        try:
            path = parse_path(text)
        except PathSyntaxError as exc:
            self.report(at, str(exc))
            return None, []
        types, problems = check_path(path, _roots(self.kinds, bound))
        for p in problems:
            self.report(at, p)
        return (None if problems else path), types

    def _for_each(self, cond: dict[str, Any], at: tuple[str | int, ...], bound: dict[str, Any], key: str) -> Predicate:
        path, types = self._path(cond["for_each"], at + ("for_each",), bound)
        name = cond.get("as", "item")
        elem: Any = Any_
        for tp in types:
            elem = _element_type(tp)
        where = at if isinstance(cond[key], list) else at + (key,)
        inner = self.compile(element_condition(cond, key), where, {**bound, name: elem})
        if path is None:
            return lambda env: True
        get = compile_path(path)

        def pred(env: Mapping[str, Any]) -> bool:
            seq = get(env)
            if seq is MISSING:
                raise MissingFact(f"`{path.text}` is not in the facts")
            if isinstance(seq, Mapping):
                seq = list(seq.values())
            if not isinstance(seq, (list, tuple)):
                raise ConditionError(f"`{path.text}` is not a list")
            results = (inner({**env, name: x}) for x in seq)
            return all(results) if key == "all" else any(results)

        return pred

    def _comparison(self, cond: dict[str, Any], at: tuple[str | int, ...], bound: dict[str, Any]) -> Predicate:
        ops = [k for k in cond if k in COMPARATORS]
        if len(ops) != 1:
            self.report(at, f"a comparison has exactly one of: {', '.join(COMPARATORS)}")
            return lambda env: True
        op = ops[0]
        path, _ = self._path(cond["path"], at + ("path",), bound)
        on_missing = cond.get("on_missing", "escalate")
        operand = cond[op]
        get_operand: Callable[[Mapping[str, Any]], Any]
        literal_number: Decimal | None = None  # a literal operand's number, read once for gt/ge/lt/le
        if isinstance(operand, dict) and set(operand) == {"path"}:
            opath, _ = self._path(operand["path"], at + (op, "path"), bound)
            get_operand = compile_path(opath) if opath else (lambda env: MISSING)
        else:
            literal = [_num(x) for x in operand] if isinstance(operand, list) else _num(operand)
            get_operand = lambda env: literal  # noqa: E731
            literal_number = _as_decimal(literal)
        if path is None:
            return lambda env: True
        get = compile_path(path)
        text = path.text
        if op == "exists":
            wanted = bool(operand)

            def exists(env: Mapping[str, Any]) -> bool:
                value = get(env)
                return (value is not MISSING and value is not None) == wanted

            return exists

        def pred(env: Mapping[str, Any]) -> bool:
            return compare(op, get(env), get_operand(env), on_missing, text, literal_number)

        return pred


def element_condition(cond: Mapping[str, Any], key: str) -> Any:
    """The condition a ``for_each`` applies to each element.

    ``all``/``any`` hold one condition, or a list read as everywhere else: with ``all`` every
    element satisfies every condition; with ``any`` some element satisfies some condition.
    """
    body = cond[key]
    return {key: body} if isinstance(body, list) else body


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _equal,
    "ne": lambda a, b: not _equal(a, b),
    "in": _member,
    "not_in": lambda a, b: not _member(a, b),
}
_ORDER: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le,
}


def compare(op: str, value: Any, other: Any, on_missing: Any, text: str, fixed: Decimal | None = None) -> bool:
    """One comparison on already-fetched values: the semantics evaluation and ``explain`` share.

    A value that is not there (a path into the facts that finds nothing, or ``null`` on either
    side of ``gt``/``ge``/``lt``/``le``) is decided by ``on_missing``: escalate (the default,
    :class:`MissingFact`), or the boolean given. ``fixed`` is a literal operand's number, read once.
    """
    ordering = op in _ORDER
    if value is MISSING or other is MISSING or (ordering and (value is None or other is None)):
        if on_missing == "escalate":
            found = value is None or other is None
            raise MissingFact(f"`{text}` has no value to compare" if found else f"`{text}` is not in the facts")
        return on_missing is True
    if not ordering:
        return _TESTS[op](value, other)
    a, b = _as_decimal(value), (fixed if fixed is not None else _as_decimal(other))
    if a is None or b is None:
        raise ConditionError(f"`{text}` {op} `{other}`: both sides must be numbers")
    return _ORDER[op](a, b)


def _roots(kinds: list[str], bound: dict[str, Any]) -> dict[str, list[Any]]:
    from ..core.paths import root_types

    return root_types(kinds, bound)


def _element_type(tp: Any) -> Any:
    import typing

    from ..core.paths import ListOf, MapOf, _unwrap

    tp = _unwrap(tp)
    if isinstance(tp, (ListOf, MapOf)):
        return tp.value
    if typing.get_origin(tp) in (tuple, list):
        return typing.get_args(tp)[0]
    return Any_
