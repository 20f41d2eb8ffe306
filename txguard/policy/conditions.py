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

:func:`parse_condition` parses the condition data once into the located IR of
:mod:`txguard.policy.ir` (type-checking every path), collecting located problems.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ..core.paths import Any_, ListOf, MapOf, Path, PathSyntaxError, _unwrap, check_path, compile_path, parse_path, root_types
from .ir import (
    OPERATORS,
    All,
    AnyOf,
    Compare,
    ConditionError,
    ForEach,
    Lit,
    Loc,
    MissingFact,
    Node,
    Not,
    PathKey,
    Ref,
    _as_decimal,
    _num,
)

__all__ = ["ConditionError", "MissingFact", "parse_condition"]

Report = Callable[[PathKey, str], None]
Locate = Callable[[PathKey], Loc]

_TRUE = All(())
"""What a condition with a problem parses to: the policy does not compile anyway."""


def parse_condition(cond: Any, at: PathKey, kinds: list[str], report: Report, locate: Locate) -> Node:
    """The IR of the condition data ``cond`` written at document path ``at``.

    ``report(path, message)`` receives each problem; ``locate(path)`` gives each node its Loc.
    """
    return _Parser(kinds, report, locate).parse(cond, at, {})


class _Parser:
    def __init__(self, kinds: list[str], report: Report, locate: Locate) -> None:
        self.kinds = kinds
        self.report = report
        self.locate = locate

    def parse(self, cond: Any, at: PathKey, bound: dict[str, Any]) -> Node:
        if not isinstance(cond, dict):
            self.report(at, "a condition is a mapping")
            return _TRUE
        if "all" in cond or "any" in cond:
            key = "all" if "all" in cond else "any"
            if "for_each" in cond:
                return self._for_each(cond, at, bound, key)
            if not isinstance(cond[key], list):
                self.report(at + (key,), f"`{key}` takes a list of conditions (a single condition only with `for_each`)")
                return _TRUE
            parts = tuple(self.parse(c, at + (key, i), bound) for i, c in enumerate(cond[key]))
            return All(parts, self.locate(at)) if key == "all" else AnyOf(parts, self.locate(at))
        if "not" in cond:
            return Not(self.parse(cond["not"], at + ("not",), bound), self.locate(at))
        if "path" in cond:
            return self._comparison(cond, at, bound)
        self.report(at, "expected one of `all`, `any`, `not`, `for_each` or a comparison with `path`")
        return _TRUE

    def _path(self, text: Any, at: PathKey, bound: dict[str, Any]) -> tuple[Path | None, list[Any]]:
        if not isinstance(text, str):
            self.report(at, f"expected a path string, got `{text!r}`")
            return None, []
        try:
            path = parse_path(text)
        except PathSyntaxError as exc:
            self.report(at, str(exc))
            return None, []
        types, problems = check_path(path, root_types(self.kinds, bound))
        for p in problems:
            self.report(at, p)
        return (None if problems else path), types

    def _for_each(self, cond: dict[str, Any], at: PathKey, bound: dict[str, Any], key: str) -> Node:
        path, types = self._path(cond["for_each"], at + ("for_each",), bound)
        name = cond.get("as", "item")
        elem: Any = Any_
        for tp in types:
            elem = _element_type(tp)
        # `all`/`any` hold one condition, or a list read as everywhere else: with `all` every
        # element satisfies every condition; with `any` some element satisfies some condition.
        body_data = cond[key]
        where = at if isinstance(body_data, list) else at + (key,)
        body = self.parse({key: body_data} if isinstance(body_data, list) else body_data, where, {**bound, name: elem})
        if path is None:
            return _TRUE
        quantifier: typing.Literal["all", "any"] = "all" if key == "all" else "any"
        return ForEach(path, name, quantifier, body, compile_path(path), self.locate(at))

    def _comparison(self, cond: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Node:
        ops = [k for k in cond if k in OPERATORS]
        if len(ops) != 1:
            self.report(at, f"a comparison has exactly one of: {', '.join(OPERATORS)}")
            return _TRUE
        op = OPERATORS[ops[0]]
        path, _ = self._path(cond["path"], at + ("path",), bound)
        raw = cond[op.name]
        operand: Lit | Ref | None
        if isinstance(raw, dict) and set(raw) == {"path"}:
            opath, _ = self._path(raw["path"], at + (op.name, "path"), bound)
            operand = Ref(opath, compile_path(opath)) if opath is not None else None
        else:
            value = [_num(x) for x in raw] if isinstance(raw, list) else _num(raw)
            if any(isinstance(v, Decimal) and not v.is_finite() for v in (value if isinstance(value, list) else [value])):
                # `.nan` / `.inf`: NaN raised at decide time (check_error), infinity compared as a number
                self.report(at + (op.name,), f"`{raw!r}` is not a finite number"[:200])
                return _TRUE
            operand = Lit(raw, value, _as_decimal(value))
        if path is None or operand is None:
            return _TRUE
        on_missing = cond.get("on_missing", "escalate")
        return Compare(path, op, operand, on_missing, compile_path(path), self.locate(at))


def _element_type(tp: Any) -> Any:
    tp = _unwrap(tp)
    if isinstance(tp, (ListOf, MapOf)):
        return tp.value
    if typing.get_origin(tp) in (tuple, list):
        return typing.get_args(tp)[0]
    return Any_


def located_keys(data: Any, at: PathKey, locate: Locate) -> dict[PathKey, Loc]:
    """The Loc of every key and item under ``data`` (written at ``at``), by its path below ``at``."""
    out: dict[PathKey, Loc] = {}

    def visit(value: Any, sub: PathKey) -> None:
        if isinstance(value, Mapping):
            items: Any = value.items()
        elif isinstance(value, list):
            items = enumerate(value)
        else:
            return
        for k, v in items:
            out[sub + (k,)] = locate(at + sub + (k,))
            visit(v, sub + (k,))

    visit(data, ())
    return out
