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
from typing import Any

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from ..core.errors import MoneyError
from ..core.money import currency_exponent
from ..core.paths import Any_, ListOf, MapOf, Path, PathSyntaxError, _unwrap, check_path, compile_path, parse_path, root_types
from . import types as T
from .ir import (
    EXPRESSIONS,
    OPERATORS,
    Aggregate,
    All,
    AnyOf,
    Arith,
    Compare,
    ConditionError,
    Expr,
    ForEach,
    Lit,
    Loc,
    MissingFact,
    Node,
    Not,
    Now,
    Operator,
    PathKey,
    Ref,
    TableLookup,
    _as_decimal,
    _num,
)

__all__ = ["ConditionError", "MissingFact", "parse_condition"]

Report = Callable[..., None]
"""``report(path, message, code="txg-path")``: a located problem (``txg-type`` for an ill-typed
literal or expression)."""
Locate = Callable[[PathKey], Loc]

_TRUE = All(())
"""What a condition with a problem parses to: the policy does not compile anyway."""


def parse_condition(cond: Any, at: PathKey, kinds: list[str], report: Report, locate: Locate, *,
                    tables: Mapping[str, Any] | None = None, currency: str = "USD") -> Node:
    """The IR of the condition data ``cond`` written at document path ``at``.

    ``report(path, message[, code])`` receives each problem; ``locate(path)`` gives each node its
    Loc. ``tables`` are the policy's ``tables:``; ``currency`` its currency (of money literals).
    """
    return _Parser(kinds, report, locate, tables or {}, currency).parse(cond, at, {})


_BAD: Expr = Lit(None, None)
"""What an expression with a problem parses to (the policy does not compile anyway)."""

_DURATION_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_AGGREGATES = ("count", "sum", "min", "max", "distinct")
_ARITH = ("add", "sub", "mul", "div")


class _Parser:
    def __init__(self, kinds: list[str], report: Report, locate: Locate, tables: Mapping[str, Any], currency: str) -> None:
        self.kinds = kinds
        self._report = report
        self.locate = locate
        self.tables = tables
        self.currency = currency
        self.count = 0
        """How many problems were reported so far."""

    def report(self, at: PathKey, message: str, code: str = "txg-path") -> None:
        self.count += 1
        self._report(at, message, code)

    def problem(self, at: PathKey, message: str, code: str = "txg-type") -> None:
        self.report(at, message, code)

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
        try:
            path = parse_path(text)
        except PathSyntaxError as exc:
            self.report(at, str(exc))
            return None, []
        types, problems = check_path(path, root_types(self.kinds, {k: v for k, v in bound.items() if not k.startswith("$")}))
        for p in problems:
            self.report(at, p)
        return (None if problems else path), types

    def _type(self, path: Path, types: list[Any], bound: dict[str, Any]) -> T.Type:
        """The static type of a checked path: an amount field of a model (pydantic keeps its
        validator apart from the annotation) is money."""
        root = self._root(path, bound)
        if path.steps and path.steps[-1].op == "attr":
            parents, problems = check_path(Path(path.text, path.root, path.steps[:-1]),
                                           root_types(self.kinds, {k: v for k, v in bound.items() if not k.startswith("$")}))
            name = str(path.steps[-1].name)
            found = [T.is_amount_field(p, name) for p in parents]
            if not problems and found and all(found):
                return T.classify(T.Amount, root)
        return T.join([T.classify(t, root) for t in types])

    def _root(self, path: Path, bound: dict[str, Any]) -> str:
        """The root a path's values come from (a bound name: the root of the list it ranges over)."""
        return str(bound.get("$origin:" + path.root, path.root))

    def _bind(self, bound: dict[str, Any], name: str, path: Path, types: list[Any]) -> dict[str, Any]:
        elem: Any = Any_
        for tp in types:
            elem = _element_type(tp)
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
        return ForEach(path, name, quantifier, body, compile_path(path), self.locate(at))

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
            left: Expr = (Ref(lpath, compile_path(lpath), self._type(lpath, ltypes, bound),
                              self.locate(at + ("path",))) if lpath is not None else _BAD)
        else:
            left = self.expr(cond["value"], at + ("value",), bound)
        raw = cond[op.name]
        where = at + (op.name,)
        if isinstance(raw, dict) or (raw == "now" and "now" not in bound):
            right = self.expr(raw, where, bound)  # `now` is the clock here too (the text: `{lit: now}`)
        else:
            value = [_num(x) for x in raw] if isinstance(raw, list) else _num(raw)
            right = Lit(raw, value, _as_decimal(value), T.literal_type(value), self.locate(where))
        if self.count > before:
            return _TRUE
        right, mode, currencies = self._typecheck(op, left, right, where)
        if self.count > before:
            return _TRUE
        on_missing = cond.get("on_missing", "escalate")
        return Compare(left, op, right, on_missing, self.locate(at), mode, currencies)

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

    def _literal_fits(self, lt: T.Type, value: Any, at: PathKey, name: str) -> None:
        """A literal compared with a value of type ``lt``: report what can never be compared."""
        if value is None:
            if OPERATORS[name].orders:
                return  # null counts as missing: `on_missing` decides, as documented
            return
        orders = OPERATORS[name].orders if name in OPERATORS else False
        if lt.kind in T.NUMERIC or (orders and lt.kind in ("string", "any")):
            if isinstance(value, bool) or _as_decimal(value) is None:
                what = "an amount" if lt.kind == "money" else "a number"
                self.problem(at, f"`{_brief(value)}` is not {what}: the left side is {_a(lt)}"
                             if lt.kind in T.NUMERIC else f"`{name}` orders numbers, datetimes or dates: `{_brief(value)}` is none of them")
        elif lt.kind == "bool" and not isinstance(value, bool):
            self.problem(at, f"`{_brief(value)}` is not true or false: the left side is {_a(lt)}")
        elif lt.kind == "string" and isinstance(value, (bool, list, dict)):
            self.problem(at, f"`{_brief(value)}` is not a string: the left side is {_a(lt)}")

    def _currencies(self, ts: list[T.Type], at: PathKey) -> tuple[T.Currency, ...]:
        """The money currencies among ``ts``: two different codes known at load are an error; any
        currency known only at run time is returned, to be checked equal when it runs."""
        curs = [t.currency for t in ts if t.kind == "money" and t.currency is not None]
        codes = sorted({c.code for c in curs if c.code is not None})
        if len(codes) > 1:
            self.problem(at, f"mixes money in {' and '.join(codes)}: amounts in different currencies never combine")
            return ()
        if len({c for c in curs}) <= 1:
            return ()
        return tuple(dict.fromkeys(curs))

    # -- expressions -------------------------------------------------------------------------------

    def expr(self, data: Any, at: PathKey, bound: dict[str, Any]) -> Expr:
        loc = self.locate(at)
        if isinstance(data, str):
            if data == "now" and "now" not in bound:
                return Now(loc=loc)
            path, types = self._path(data, at, bound)
            if path is None:
                return _BAD
            return Ref(path, compile_path(path), self._type(path, types, bound), loc)
        if isinstance(data, (bool, int, float)) or data is None:
            value = _num(data) if isinstance(data, float) else data
            return Lit(data, value, _as_decimal(value), T.literal_type(value), loc)
        if not isinstance(data, dict):
            self.problem(at, f"expected an expression (a path, a number or a mapping such as `{{add: [a, b]}}`), got `{_brief(data)}`",
                         "txg-path")
            return _BAD
        heads = [k for k in data if k in EXPRESSIONS]
        if len(heads) != 1:
            self.problem(at, f"an expression has exactly one of: {', '.join(EXPRESSIONS)}", "txg-path")
            return _BAD
        head = heads[0]
        form = EXPRESSIONS[head]
        extra = sorted(set(data) - set(form.schema))
        missing = [k for k in form.required if k not in data]
        if extra or missing:
            self.problem(at, f"`{head}` takes {', '.join(f'`{k}`' for k in form.schema)}"
                         + (f", not `{extra[0]}`" if extra else f"; `{missing[0]}` is missing"), "txg-path")
            return _BAD
        method: Callable[[dict[str, Any], PathKey, dict[str, Any]], Expr] = getattr(self, "_x_" + head, self._x_duration_unit)
        return method(data, at, bound)

    def _x_path(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self.expr(data["path"], at + ("path",), bound) if data["path"] != "now" else self._bad(at, "`now` is not a path")

    def _bad(self, at: PathKey, message: str) -> Expr:
        self.problem(at, message)
        return _BAD

    def _x_lit(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        raw = data["lit"]
        value = [_num(x) for x in raw] if isinstance(raw, list) else _num(raw)
        return Lit(raw, value, _as_decimal(value), T.literal_type(value), self.locate(at))

    def _x_decimal(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        raw = data["decimal"]
        value = None if isinstance(raw, bool) else _as_decimal(raw)
        if value is None:
            return self._bad(at + ("decimal",), f"`{_brief(raw)}` is not a decimal number")
        return Lit(data, value, value, T.DECIMAL, self.locate(at))

    def _x_money(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        code = data.get("currency", self.currency)
        amount = _as_decimal(data["money"]) if not isinstance(data["money"], bool) else None
        try:
            exponent = currency_exponent(code)
        except MoneyError as exc:
            return self._bad(at + ("currency",), str(exc))
        if amount is None:
            return self._bad(at + ("money",), f"`{_brief(data['money'])}` is not an amount")
        if -amount.as_tuple().exponent > exponent:  # type: ignore[operator]
            return self._bad(at + ("money",), f"`{amount}` has more decimals than {code} allows ({exponent})")
        return Lit(data, amount, amount, T.Type("money", T.Currency(code)), self.locate(at))

    def _temporal(self, data: dict[str, Any], at: PathKey, kind: str) -> Expr:
        try:
            value = T.read_temporal(data[kind], kind)
        except T.ValueTypeError as exc:
            return self._bad(at + (kind,), str(exc))
        return Lit(data, value, None, T.Type(kind), self.locate(at))

    def _x_datetime(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._temporal(data, at, "datetime")

    def _x_date(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._temporal(data, at, "date")

    def _x_duration(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._temporal(data, at, "duration")

    def _x_duration_unit(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        (unit,) = [k for k in data if k in _DURATION_UNITS]
        n = data[unit]
        if not isinstance(n, int) or isinstance(n, bool):
            return self._bad(at + (unit,), f"`{unit}` takes a whole number, got `{_brief(n)}`")
        return Lit(data, timedelta(**{unit: n}), None, T.DURATION, self.locate(at))

    # arithmetic

    def _arith(self, op: str, args: list[Expr], at: PathKey, places: int | None = None) -> Expr:
        types = [a.type for a in args]
        kinds = [t.kind for t in types]
        where = at + (op,)
        if any(k in ("string", "bool", "list", "map", "record", "null") for k in kinds):
            bad = next(t for t in types if t.kind in ("string", "bool", "list", "map", "record", "null"))
            return self._bad(where, f"`{op}` computes on numbers, amounts, datetimes and durations, not {_a(bad)}")
        temporal = [k for k in kinds if k in T.TEMPORAL]
        numeric = [k for k in kinds if k in T.NUMERIC]
        if temporal and numeric and not (op == "mul" and temporal == ["duration"]):
            return self._bad(where, f"`{op}` mixes {' and '.join(sorted(set(temporal)))} with a number")
        loc = self.locate(at)
        if temporal:
            result = self._time_type(op, kinds, where)
            if result is None:
                return _BAD
            return Arith(op, tuple(args), result, "time", (), places, loc)
        if "any" in kinds:
            return Arith(op, tuple(args), T.ANY, "any", (), places, loc)
        money = [t for t in types if t.kind == "money"]
        result_type: T.Type
        if op == "mul" and len(money) > 1:
            return self._bad(where, "`mul` multiplies at most one amount (an amount times an amount is not money)")
        if op == "div" and types[1].kind == "money" and types[0].kind != "money":
            return self._bad(where, "`div` of a number by an amount is not money")
        before = self.count
        currencies = self._currencies(types, where)
        if self.count > before:
            return _BAD
        if money:
            known = next((t.currency for t in money if t.currency is not None and t.currency.code is not None),
                         money[0].currency)
            result_type = T.Type("money", known)
            if op == "div" and len(money) == 2:
                result_type = T.DECIMAL
        elif all(k == "int" for k in kinds) and op in ("add", "sub", "mul"):
            result_type = T.INT
        else:
            result_type = T.DECIMAL
        if op == "round" and result_type.kind == "int":
            result_type = T.INT
        return Arith(op, tuple(args), result_type, "number", currencies, places, loc)

    def _time_type(self, op: str, kinds: list[str], at: PathKey) -> T.Type | None:
        points = [k for k in kinds if k in ("datetime", "date")]
        if op == "add":
            if len(points) <= 1 and all(k in ("duration", "any") or k in points for k in kinds):
                if not points:
                    return T.DURATION
                if points[0] == "date":
                    return T.DATE
                return T.DATETIME
        elif op == "sub" and len(kinds) == 2:
            a, b = kinds
            if a in ("datetime", "date") and b in (a, "any"):
                return T.DURATION
            if a in ("datetime", "date", "any") and b == "duration":
                return T.Type(a) if a != "any" else T.ANY
            if a == "duration" and b in ("duration", "any"):
                return T.DURATION
            if a == "any" and b in ("datetime", "date"):
                return T.DURATION
        elif op == "mul" and kinds.count("duration") == 1 and all(k in ("duration", "int", "any") for k in kinds):
            return T.DURATION
        self.problem(at, f"`{op}` cannot compute on {', '.join(kinds)}")
        return None

    def _operands(self, data: dict[str, Any], op: str, at: PathKey, bound: dict[str, Any]) -> list[Expr]:
        return [self.expr(x, at + (op, i), bound) for i, x in enumerate(data[op])]

    def _x_add(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._arith("add", self._operands(data, "add", at, bound), at)

    def _x_sub(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._arith("sub", self._operands(data, "sub", at, bound), at)

    def _x_mul(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._arith("mul", self._operands(data, "mul", at, bound), at)

    def _x_div(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._arith("div", self._operands(data, "div", at, bound), at)

    def _x_round(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        arg = self.expr(data["round"], at + ("round",), bound)
        places = data["places"]
        if not isinstance(places, int) or isinstance(places, bool) or not 0 <= places <= 18:
            return self._bad(at + ("places",), "`places` is a whole number from 0 to 18")
        if arg.type.kind not in T.NUMERIC | {"any"}:
            return self._bad(at + ("round",), f"`round` rounds a number, not {_a(arg.type)}")
        return self._arith("round", [arg], at, places)

    # aggregates

    def _aggregate(self, fn: str, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        path, types = self._path(data[fn], at + (fn,), bound)
        if path is None:
            return _BAD
        seq_type = self._type(path, types, bound)
        if seq_type.kind not in ("list", "map", "any"):
            return self._bad(at + (fn,), f"`{fn}` ranges over a list or a mapping, but `{path.text}` is {_a(seq_type)}")
        name = data.get("as", "item")
        inner = self._bind(bound, name, path, types)
        where = self.parse(data["where"], at + ("where",), inner) if "where" in data else None
        of = self.expr(data["of"], at + ("of",), inner) if "of" in data else None
        elem_type = of.type if of is not None else T.join([T.classify(_element_type(t), self._root(path, bound)) for t in types])
        result: T.Type
        if fn in ("count", "distinct"):
            result = T.INT
        elif fn == "sum":
            if elem_type.kind not in T.NUMERIC | {"duration", "any"}:
                return self._bad(at + ("of",) if of is not None else at + (fn,),
                                 f"`sum` adds numbers, amounts or durations, not {_a(elem_type)}")
            result = elem_type
        else:
            if elem_type.kind not in T.NUMERIC | T.TEMPORAL | {"any", "string"}:
                return self._bad(at + ("of",) if of is not None else at + (fn,),
                                 f"`{fn}` orders numbers, datetimes, dates or durations, not {_a(elem_type)}")
            result = elem_type
        return Aggregate(fn, path, name, of, where, result, compile_path(path), self.locate(at))

    def _x_count(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._aggregate("count", data, at, bound)

    def _x_sum(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._aggregate("sum", data, at, bound)

    def _x_min(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._aggregate("min", data, at, bound)

    def _x_max(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._aggregate("max", data, at, bound)

    def _x_distinct(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        return self._aggregate("distinct", data, at, bound)

    # tables

    def _x_table(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        name = data["table"]
        if name not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none"
            return self._bad(at + ("table",), f"no table `{name}` in `tables:` (tables: {known})")
        table = self.tables[name]
        depth = table_depth(table)
        keys_data = data["keys"]
        if not isinstance(keys_data, list) or not keys_data:
            return self._bad(at + ("keys",), "`keys` is a list of expressions, one per level of the table")
        if depth is not None and len(keys_data) != depth:
            return self._bad(at + ("keys",), f"table `{name}` has {depth} level{'s' if depth != 1 else ''} of keys, "
                                             f"but {len(keys_data)} key{'s are' if len(keys_data) != 1 else ' is'} given")
        keys: list[Expr] = []
        levels: list[Any] = [table]
        for i, kd in enumerate(keys_data):
            where = at + ("keys", i)
            if isinstance(kd, str) and _is_word(kd) and kd not in bound and not _is_root(kd) and kd != "now":
                kd = {"lit": kd}  # a bare word key (`gold`): the key itself
            key = self.expr(kd, where, bound)
            if key.type.kind not in ("string", "int", "any", "null"):
                return self._bad(where, f"a table key is a string or an integer, not {_a(key.type)}")
            if isinstance(key, Lit):
                text = _table_key(key.value)
                nxt = [lv[text] for lv in levels if isinstance(lv, Mapping) and text is not None and text in lv]
                if not nxt:
                    have = sorted({k for lv in levels if isinstance(lv, Mapping) for k in lv})
                    return self._bad(where, f"`{key.raw}` is not a key of table `{name}` here (keys: {', '.join(have)})")
                levels = nxt
            else:
                levels = [v for lv in levels if isinstance(lv, Mapping) for v in lv.values()]
            keys.append(key)
        leaf = T.join([T.literal_type(_num(v) if isinstance(v, float) else v) for v in levels]) if levels else T.ANY
        default: Lit | None = None
        if "default" in data:
            dv = _num(data["default"]) if isinstance(data["default"], float) else data["default"]
            default = Lit(data["default"], dv, _as_decimal(dv), T.literal_type(dv), self.locate(at + ("default",)))
            leaf = T.join([leaf, default.type])
        return TableLookup(name, tuple(keys), default, leaf, table_values(table), self.locate(at))


def _table_key(value: Any) -> str | None:
    """A key's text in a table (YAML keys are text): a string, or an integer's digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return None


def table_depth(table: Any) -> int | None:
    """The number of key levels of a table (None if its leaves are not all at one depth)."""
    if not isinstance(table, Mapping) or not table:
        return 0
    depths = {table_depth(v) for v in table.values()}
    if len(depths) != 1 or None in depths:
        return None
    (d,) = depths
    return None if d is None else d + 1


def table_values(table: Any) -> Any:
    """A table as data with its numbers exact (a YAML float through its repr)."""
    if isinstance(table, Mapping):
        return {str(k): table_values(v) for k, v in table.items()}
    return _num(table) if isinstance(table, float) else table


def table_problems(tables: Any) -> list[tuple[PathKey, str]]:
    """Problems of a policy's ``tables:``: ragged nesting, leaves that are not scalars."""
    out: list[tuple[PathKey, str]] = []
    if not isinstance(tables, Mapping):
        return out
    for name, table in tables.items():
        if not isinstance(table, Mapping) or not table:
            out.append((("tables", name), "a table is a non-empty mapping of keys to values or to tables"))
        elif table_depth(table) is None:
            out.append((("tables", name), "every entry of a table has the same number of key levels"))
        else:
            def leaves(v: Any, at: PathKey) -> None:
                if isinstance(v, Mapping):
                    for k, w in v.items():
                        leaves(w, at + (k,))
                elif isinstance(v, list) or v is None:
                    out.append((at, "a table's value is a number, a string or true/false"))
            leaves(table, ("tables", name))
    return out


def _is_word(text: str) -> bool:
    return text.isidentifier()


def _is_root(text: str) -> bool:
    return text in ("intent", "request", "session", "facts")


def _a(t: T.Type) -> str:
    word = str(t)
    if t.kind == "money":
        return word
    return ("an " if word[0] in "aeiou" else "a ") + word


def _brief(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
