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
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


from ..core.intents import Amount
from ..core.paths import Any_, Getter, Path, PathSyntaxError, check_path, compile_path, parse_path, root_types
from ..domain.facts import keyed_getter, typed_getter
from . import types as T
from .ir import (
    OPERATORS,
    All,
    AnyOf,
    Compare,
    ConditionError,
    Expr,
    ForEach,
    Lit,
    Loc,
    MissingFact,
    Node,
    Not,
    Operator,
    PathKey,
    Ref,
    _as_decimal,
    _num,
)

from ..core.paths import element_type
from .exprs import _BAD, ExprParser, Locate, Report, _a, _brief
from .tables import table_problems

__all__ = ["ConditionError", "MissingFact", "parse_condition", "table_problems"]

_TRUE = All(())
"""What a condition with a problem parses to: the policy does not compile anyway."""


def parse_condition(cond: Any, at: PathKey, kinds: list[str], report: Report, locate: Locate, *,
                    tables: Mapping[str, Any] | None = None, currency: str = "USD", domain: Any = None,
                    cache: dict[tuple[Any, ...], Any] | None = None) -> Node:
    """The IR of the condition data ``cond`` written at document path ``at``.

    ``report(path, message[, code])`` receives each problem; ``locate(path)`` gives each node its
    Loc. ``tables`` are the policy's ``tables:``; ``currency`` its currency (of money literals).
    ``cache``, shared by the conditions of one policy (same ``domain``), keeps what depends only on
    the kinds and a path's text: the root types, and each path parsed and type-checked outside a
    ``for_each`` (:func:`root_types` builds the declared facts' layout afresh each time).
    """
    parser = _Parser(kinds, report, locate, tables or {}, currency, domain)
    if cache is not None:
        parser.cache = cache
    return parser.parse(cond, at, {})


class _Parser(ExprParser):
    def __init__(self, kinds: list[str], report: Report, locate: Locate, tables: Mapping[str, Any], currency: str,
                 domain: Any = None) -> None:
        self.kinds = kinds
        self.domain = domain
        self._report = report
        self.locate = locate
        self.tables = tables
        self.currency = currency
        self.count = 0
        """How many problems were reported so far."""
        self.cache: dict[tuple[Any, ...], Any] = {}
        """What depends only on the kinds and a path's text (see :func:`parse_condition`)."""

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
        if "path" in cond or "value" in cond:
            return self._comparison(cond, at, bound)
        self.report(at, "expected one of `all`, `any`, `not`, `for_each` or a comparison with `path` or `value`")
        return _TRUE

    # -- paths -------------------------------------------------------------------------------------

    def _path(self, text: Any, at: PathKey, bound: dict[str, Any]) -> tuple[Path | None, list[Any]]:
        if not isinstance(text, str):
            self.report(at, f"expected a path string, got `{text!r}`")
            return None, []
        key = ("path", tuple(self.kinds), text)
        found: tuple[Path | None, list[Any], list[str]] | None = None if self._binds(bound) else self.cache.get(key)
        if found is None:
            try:
                parsed = parse_path(text)
            except PathSyntaxError as exc:
                found = (None, [], [str(exc)])
            else:
                found = (parsed, *check_path(parsed, self._roots(bound)))
            if not self._binds(bound):
                self.cache[key] = found
        path, types, problems = found
        for p in problems:
            self.report(at, p)
        return (None if problems else path), list(types)

    @staticmethod
    def _binds(bound: dict[str, Any]) -> bool:
        """Whether a ``for_each`` binds a name here (a path's types then depend on it)."""
        return any(not name.startswith("$") for name in bound)

    def _roots(self, bound: dict[str, Any]) -> dict[str, list[Any]]:
        # root_types(kinds, bound, domain), with the unbound roots built once per list of kinds:
        # the bound names are added over them exactly as root_types adds them.
        key = ("roots", tuple(self.kinds))
        base = self.cache.get(key)
        if base is None:
            base = self.cache[key] = root_types(self.kinds, None, self.domain)
        roots = dict(base)
        for name, tp in bound.items():
            if not name.startswith("$"):
                roots[name] = [tp]
        return roots

    def getter(self, path: Path, types: list[Any], bound: dict[str, Any]) -> Getter:
        """The path's getter; a path into declared facts reads its declared type or finds a missing fact."""
        get = compile_path(path)
        if self.domain is not None and self.domain.facts is not None and self._root(path, bound) == "facts":
            if path.root == "facts":
                get = keyed_getter(get, path, self.domain)
            return typed_getter(get, path, types)
        return get

    def _type(self, path: Path, types: list[Any], bound: dict[str, Any]) -> T.Type:
        """The static type of a checked path: an amount field of a model (pydantic keeps its
        validator apart from the annotation) is money."""
        if self._binds(bound):
            return self._type_of(path, types, bound)
        key = ("type", tuple(self.kinds), path.text)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self._type_of(path, types, bound)
        return found

    def _type_of(self, path: Path, types: list[Any], bound: dict[str, Any]) -> T.Type:
        root = self._root(path, bound)
        if path.steps and path.steps[-1].op == "attr":
            parents, problems = check_path(Path(path.text, path.root, path.steps[:-1]),
                                           self._roots(bound))
            name = str(path.steps[-1].name)
            declared = [T.declared_money(p, name) for p in parents]
            if not problems and declared and all(d is not None for d in declared):
                return T.unify([T.Type("money", d.currency()) for d in declared if d is not None])
            found = [T.is_amount_field(p, name) for p in parents]
            if not problems and found and all(found):
                return T.classify(Amount, root)
        return T.unify([T.classify(t, root) for t in types])

    def _bind(self, bound: dict[str, Any], name: str, path: Path, types: list[Any]) -> dict[str, Any]:
        elem: Any = Any_
        for tp in types:
            elem = element_type(tp)
        return {**bound, name: elem, "$origin:" + name: self._root(path, bound)}

    def _for_each(self, cond: dict[str, Any], at: PathKey, bound: dict[str, Any], key: str) -> Node:
        path, types = self._path(cond["for_each"], at + ("for_each",), bound)
        name = cond.get("as", "item")
        inner = self._bind(bound, name, path, types) if path is not None else {**bound, name: Any_}
        # `all`/`any` hold one condition, or a list read as everywhere else: with `all` every
        # element satisfies every condition; with `any` some element satisfies some condition.
        body_data = cond[key]
        where = at if isinstance(body_data, list) else at + (key,)
        body = self.parse({key: body_data} if isinstance(body_data, list) else body_data, where, inner)
        if path is None:
            return _TRUE
        quantifier: typing.Literal["all", "any"] = "all" if key == "all" else "any"
        return ForEach(path, name, quantifier, body, self.getter(path, types, bound), self.locate(at))

    # -- comparisons -------------------------------------------------------------------------------

    def _comparison(self, cond: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Node:
        ops = [k for k in cond if k in OPERATORS]
        if len(ops) != 1:
            self.report(at, f"a comparison has exactly one of: {', '.join(OPERATORS)}")
            return _TRUE
        if ("path" in cond) == ("value" in cond):
            self.report(at, "a comparison has exactly one of `path` or `value`")
            return _TRUE
        op = OPERATORS[ops[0]]
        before = self.count
        if "path" in cond:
            lpath, ltypes = self._path(cond["path"], at + ("path",), bound)
            left: Expr = (Ref(lpath, self.getter(lpath, ltypes, bound), self._type(lpath, ltypes, bound),
                              self.locate(at + ("path",))) if lpath is not None else _BAD)
        else:
            left = self.expr(cond["value"], at + ("value",), bound)
        raw = cond[op.name]
        where = at + (op.name,)
        if isinstance(raw, dict) or (raw == "now" and "now" not in bound):
            right = self.expr(raw, where, bound)  # `now` is the clock here too (the text: `{lit: now}`)
        else:
            value = [_num(x) for x in raw] if isinstance(raw, list) else _num(raw)
            if any(isinstance(v, Decimal) and not v.is_finite() for v in (value if isinstance(value, list) else [value])):
                # `.nan` / `.inf`: NaN raised at decide time (check_error), infinity compared as a number
                self.report(at + (op.name,), f"`{raw!r}` is not a finite number"[:200])
                return _TRUE
            right = Lit(raw, value, _as_decimal(value), T.literal_type(value), self.locate(where))
        if self.count > before:
            return _TRUE
        right, mode, currencies = self._typecheck(op, left, right, where)
        if isinstance(right, Lit) and op.name in ("eq", "ne", "in", "not_in") and isinstance(left, Ref):
            types = ltypes if "path" in cond else check_path(left.path, self._roots(bound))[0]
            self._enum_fits(types, right, where)
        if self.count > before:
            return _TRUE
        on_missing = cond.get("on_missing", "escalate")
        default = None
        if "default" in cond:
            raw_default = cond["default"]
            if raw_default is None or isinstance(raw_default, (dict, list)):
                self.report(at + ("default",), "`default` is a literal value of the left side's type", "txg-type")
                return _TRUE
            value = _num(raw_default)
            lit = Lit(raw_default, value, _as_decimal(value), T.literal_type(value), self.locate(at + ("default",)))
            typed, _, _ = self._typecheck(OPERATORS["eq"], left, lit, at + ("default",))
            if self.count > before:
                return _TRUE
            default = typed.value if isinstance(typed, Lit) else value
        parent = None
        if default is not None and type(left) is Ref and left.path is not None and left.path.steps:
            up = Path(left.path.text, left.path.root, left.path.steps[:-1])
            parent = compile_path(up)
            if self.domain is not None and self.domain.facts is not None and up.root == "facts":
                parent = keyed_getter(parent, up, self.domain)  # a record filed under another key is not there
        return Compare(left, op, right, on_missing, self.locate(at), mode, currencies, default, parent)

    def _typecheck(self, op: Operator, left: Expr, right: Expr, at: PathKey) -> tuple[Expr, str, tuple[T.Currency, ...]]:
        """The operand (a literal read as the left side's type), the comparison's mode and the
        currencies to check equal at run time; reports an ill-typed comparison."""
        lt, rt = left.type, right.type
        if op.presence:
            return right, "plain", ()
        name = op.name
        if name in ("startswith", "endswith", "ieq", "ine"):
            for side, t in (("left side", lt), ("operand", rt)):
                if t.kind not in ("string", "any"):
                    self.problem(at, f"`{name}` compares strings, but the {side} is {_a(t)}")
            return right, "plain", ()
        if name in ("in", "not_in"):
            if isinstance(right, Lit):
                if isinstance(right.value, list) and lt.kind in T.TEMPORAL:
                    # read as the left side's values: a date never equals its text
                    items: list[Any] = []
                    for i, item in enumerate(right.value):
                        try:
                            items.append(None if item is None else T.read_temporal(item, lt.kind))
                        except (ValueError, OverflowError) as exc:  # ValueTypeError is a ValueError
                            self.problem(at + (i,), f"{str(exc)[:160]}: the left side is {_a(lt)}")
                    return Lit(right.raw, items, None, right.type, right.loc), "plain", ()
                if isinstance(right.value, list):
                    for i, item in enumerate(right.value):
                        self._literal_fits(lt, item, at + (i,), name)
                elif not isinstance(right.value, Mapping):
                    self.problem(at, f"`{name}` takes a list, got `{right.raw}`")
            elif rt.kind not in ("list", "map", "any"):
                self.problem(at, f"`{name}` takes a list or a mapping, but the operand is {_a(rt)}")
            return right, "plain", ()
        # eq / ne / gt / ge / lt / le
        if isinstance(right, Lit) and rt.kind in ("string", "int", "decimal", "bool", "list", "map", "null"):
            kind = lt.kind if lt.kind in T.TEMPORAL else None
            if kind is None and op.orders and isinstance(right.value, str) and lt.kind in ("string", "any"):
                kind = T.temporal_kind_of_text(right.value)
            if kind is not None:
                if right.value is None and not op.orders:
                    return right, "plain", ()
                try:
                    value = T.read_temporal(right.value, kind)
                except T.ValueTypeError as exc:
                    self.problem(at, f"{exc}: the left side is {_a(lt)}")
                    return right, "plain", ()
                return Lit(right.raw, value, None, T.Type(kind), right.loc), kind, ()
            self._literal_fits(lt, right.value, at, name)
            return right, "plain", ()
        # two expressions (or a typed literal)
        gl, gr = T.group(lt), T.group(rt)
        if "any" not in (gl, gr) and gl != gr and not ({gl, gr} <= {"number", "string"} and not op.orders):
            self.problem(at, f"`{name}` compares {_a(lt)} with {_a(rt)}")
            return right, "plain", ()
        if op.orders and gl not in ("number", "datetime", "date", "duration", "any", "string"):
            self.problem(at, f"`{name}` orders numbers, datetimes, dates or durations, not {_a(lt)}")
        mode = next((g for g in (gl, gr) if g in T.TEMPORAL), "plain")
        if mode == "plain" and op.orders and gl in ("any", "string") and gr in ("any", "string"):
            mode = "auto"  # two untyped values: numbers, or datetimes/dates if that is what they hold
        return right, mode, self._currencies([lt, rt], at)

    def _enum_fits(self, types: list[Any], right: Lit, at: PathKey) -> None:
        """A literal compared with an enum path (``eq``, ``ne``, ``in``, ``not_in``): each value is one of the
        enum's (a typo would make the rule never, or always, fire)."""
        values = _enum_values(types)
        if values is None:
            return
        items = right.value if isinstance(right.value, list) else [right.value]
        for i, item in enumerate(items):
            if item is not None and (not isinstance(item, str) or item not in values):
                self.problem(at + ((i,) if isinstance(right.value, list) else ()),
                             f"`{_brief(item)}` is not a value of the enum ({', '.join(sorted(values))})")

    def _literal_fits(self, lt: T.Type, value: Any, at: PathKey, name: str) -> None:
        """A literal compared with a value of type ``lt``: report what can never be compared."""
        if value is None:
            if OPERATORS[name].orders:
                return  # null counts as missing: `on_missing` decides, as documented
            return
        # A string or an untyped value ordered against a word is left to run time, as always.
        if lt.kind in T.NUMERIC:
            if isinstance(value, bool) or _as_decimal(value) is None:
                what = "an amount" if lt.kind == "money" else "a number"
                self.problem(at, f"`{_brief(value)}` is not {what}: the left side is {_a(lt)}")
        elif lt.kind == "bool" and not isinstance(value, bool):
            self.problem(at, f"`{_brief(value)}` is not true or false: the left side is {_a(lt)}")
        elif lt.kind == "string" and isinstance(value, (bool, list, dict)):
            self.problem(at, f"`{_brief(value)}` is not a string: the left side is {_a(lt)}")
        elif lt.values and value not in lt.values:  # an enum: a value it never takes cannot match
            self.problem(at, f"`{_brief(value)}` is not a value of the left side's enum (one of: {', '.join(lt.values)})")


def _enum_values(types: list[Any]) -> frozenset[str] | None:
    """The values of a path whose every schema type is an enum (a string ``Literal``), else None."""
    values: set[str] = set()
    for tp in types:
        tp = T._strip(tp)
        while typing.get_origin(tp) is typing.Annotated:
            tp = T._strip(typing.get_args(tp)[0])
        args = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()
        if not args or not all(isinstance(a, str) for a in args):
            return None
        values.update(args)
    return frozenset(values) if values else None


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
