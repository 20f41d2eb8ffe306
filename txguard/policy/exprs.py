"""Expressions of ``when`` conditions, parsed into the IR's :data:`~txguard.policy.ir.Expr` nodes
with their static types (:mod:`txguard.policy.types`), and the policy's ``tables:``.

:class:`ExprParser` is the expression half of the condition parser (``policy/conditions.py``): a string is
a path (or ``now``), a number a literal, a mapping one of :data:`~txguard.policy.ir.EXPRESSIONS`. Problems are
reported located (``txg-type`` for an ill-typed expression, ``txg-path`` for a bad path or shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from ..core.errors import MoneyError
from ..core.money import currency_exponent
from ..core.paths import Getter, Path, element_type
from . import types as T
from .tables import _table_key, table_depth, table_values
from .ir import EXPRESSIONS, Aggregate, Arith, Expr, Lit, Loc, Node, Now, PathKey, Ref, TableLookup, _as_decimal, _num

Report = Callable[..., None]
"""``report(path, message, code="txg-path")``: a located problem (``txg-type``: an ill-typed literal or expression)."""
Locate = Callable[[PathKey], Loc]

_BAD: Expr = Lit(None, None)
"""What an expression with a problem parses to (the policy does not compile anyway)."""

_DURATION_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
_AGGREGATES = ("count", "sum", "min", "max", "distinct")
_ARITH = ("add", "sub", "mul", "div")
MAX_AGGREGATE_NESTING = 2
"""How deep aggregates nest in one another's ``where``/``of`` (1000 lines three deep: 10**9 evaluations)."""


class ExprParser:
    """The expression half of the condition parser; the subclass parses conditions and paths."""

    kinds: list[str]
    locate: Locate
    tables: Mapping[str, Any]
    currency: str
    count: int
    _report: Report
    _aggregate_depth: int = 0

    def report(self, at: PathKey, message: str, code: str = "txg-path") -> None:
        self.count += 1
        self._report(at, message, code)

    def problem(self, at: PathKey, message: str, code: str = "txg-type") -> None:
        self.report(at, message, code)

    def parse(self, cond: Any, at: PathKey, bound: dict[str, Any]) -> Node:
        raise NotImplementedError

    def _path(self, text: Any, at: PathKey, bound: dict[str, Any]) -> tuple[Path | None, list[Any]]:
        raise NotImplementedError

    def _type(self, path: Path, types: list[Any], bound: dict[str, Any]) -> T.Type:
        raise NotImplementedError

    def getter(self, path: Path, types: list[Any], bound: dict[str, Any]) -> Getter:
        raise NotImplementedError

    def _bind(self, bound: dict[str, Any], name: str, path: Path, types: list[Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _root(self, path: Path, bound: dict[str, Any]) -> str:
        """The root a path's values come from (a bound name: the root of the list it ranges over)."""
        return str(bound.get("$origin:" + path.root, path.root))

    def _currencies(self, ts: list[T.Type], at: PathKey) -> tuple[T.Currency, ...]:
        """The money currencies among ``ts``: two codes known at load are an error; one known at run time is checked then."""
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
            return Ref(path, self.getter(path, types, bound), self._type(path, types, bound), loc)
        if isinstance(data, float) and not math.isfinite(data):
            self.problem(at, f"`{data}` is not a finite number", "txg-path")
            return _BAD
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
        if any(isinstance(x, float) and not math.isfinite(x) for x in (raw if isinstance(raw, list) else [raw])):
            return self._bad(at + ("lit",), f"`{_brief(raw)}` is not a finite number")
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
        try:
            span = timedelta(**{unit: n})
        except OverflowError:  # beyond 999999999 days: raised out of the loader
            return self._bad(at + (unit,), f"`{unit}: {_brief(n)}` is longer than a duration can be (999999999 days)")
        return Lit(data, span, None, T.DURATION, self.locate(at))

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
        elif op == "div" and kinds == ["duration", "duration"]:  # how many of one span fit in another: a number
            return T.DECIMAL
        self.problem(at, f"`{op}` cannot compute on {', '.join(kinds)}")
        return None

    def _operands(self, data: dict[str, Any], op: str, at: PathKey, bound: dict[str, Any]) -> list[Expr] | None:
        """The operands of ``op``, or None (reported) when they are not a list of the arity its
        form declares (``{div: []}`` raised an IndexError at load, ``{add: []}`` at every decision)."""
        spec = EXPRESSIONS[op].schema[op]
        lo, hi = spec.get("minItems", 0), spec.get("maxItems")
        items = data[op]
        if not isinstance(items, list) or len(items) < lo or (hi is not None and len(items) > hi):
            count = f"{lo}" if hi == lo else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self.problem(at + (op,), f"`{op}` takes a list of {count} expressions, got `{_brief(items)}`", "txg-path")
            return None
        return [self.expr(x, at + (op, i), bound) for i, x in enumerate(items)]

    def _x_add(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        args = self._operands(data, "add", at, bound)
        return _BAD if args is None else self._arith("add", args, at)

    def _x_sub(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        args = self._operands(data, "sub", at, bound)
        return _BAD if args is None else self._arith("sub", args, at)

    def _x_mul(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        args = self._operands(data, "mul", at, bound)
        return _BAD if args is None else self._arith("mul", args, at)

    def _x_div(self, data: dict[str, Any], at: PathKey, bound: dict[str, Any]) -> Expr:
        args = self._operands(data, "div", at, bound)
        return _BAD if args is None else self._arith("div", args, at)

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
        depth = self._aggregate_depth
        if depth >= MAX_AGGREGATE_NESTING:  # each level multiplies the work by its list's length
            return self._bad(at + (fn,), f"aggregates nest at most {MAX_AGGREGATE_NESTING} deep "
                                         f"(a third level costs the cube of the lists' length per decision)")
        self._aggregate_depth = depth + 1
        try:
            where = self.parse(data["where"], at + ("where",), inner) if "where" in data else None
            of = self.expr(data["of"], at + ("of",), inner) if "of" in data else None
        finally:
            self._aggregate_depth = depth
        elem_type = of.type if of is not None else T.unify([T.classify(element_type(t), self._root(path, bound)) for t in types])
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
        return Aggregate(fn, path, name, of, where, result, self.getter(path, types, bound), self.locate(at))

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
            if isinstance(kd, str) and kd.isidentifier() and kd not in bound and not _is_root(kd) and kd != "now":
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
        leaf = T.unify([T.literal_type(_num(v) if isinstance(v, float) else v) for v in levels]) if levels else T.ANY
        default: Lit | None = None
        if "default" in data:
            if isinstance(data["default"], float) and not math.isfinite(data["default"]):
                return self._bad(at + ("default",), f"`{data['default']}` is not a finite number")
            dv = _num(data["default"]) if isinstance(data["default"], float) else data["default"]
            default = Lit(data["default"], dv, _as_decimal(dv), T.literal_type(dv), self.locate(at + ("default",)))
            leaf = T.unify([leaf, default.type])
        return TableLookup(name, tuple(keys), default, leaf, table_values(table), self.locate(at))


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
