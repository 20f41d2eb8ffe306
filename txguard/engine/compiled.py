"""``when`` conditions compiled into closures, once per rule list, for the untraced rule loop.

:func:`compile_node` turns a condition tree into one function of the environment that decides it
exactly as :func:`~txguard.engine.conditions.eval_node` does without a trace (the same order, the
same short-circuiting, the same values, the same errors): each node's type, operator, literal and
getters are read once, when the closure is built, not on every decision. ``eval_node`` stays the
reference and the traced path (``txguard explain``); ``tests/properties/test_compiled_conditions.py``
checks the two agree on random conditions and hostile inputs.

:func:`plan` pairs each rule of a kind's rule list with its compiled test, built on first use and
kept for that list (a tuple of the compiled policy, which never changes); :func:`steps`, what the
rule loop runs, adds each built-in check's function and params. A path of names and indexes is
read once per decision (:func:`fast_get`, kept in the loop's environment under :data:`MEMO`), and
three or more literal comparisons on one such path form a :class:`Group` that :func:`schedule`
lets a decision pass over whole when none can fire. Every cache here is keyed by the rule list's
identity, checked with ``is``, and written without being read back (threads share them).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ..core.paths import MISSING, compile_path, is_mapping, parse_path
from ..policy.ir import All, AnyOf, Check, Compare, ConditionError, ForEach, Lit, MissingFact, Node, Not, Ref, compare
from ..policy.rules import CompiledRule
from .conditions import _decide, value_of

Env = Mapping[str, Any]
Test = Callable[[Env], bool]

_PLANS: dict[int, tuple[Sequence[CompiledRule], tuple[tuple[CompiledRule, Test | None], ...]]] = {}
"""Compiled rule lists by identity (the list is kept with its plan, so an id is never reused)."""
_MAX_PLANS = 512


def plan(rules: Sequence[CompiledRule]) -> tuple[tuple[CompiledRule, Test | None], ...]:
    """Each rule with its compiled ``when`` test (None for a built-in check)."""
    entry = _PLANS.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    compiled = tuple((rule, None if type(rule.test) is Check else compile_node(rule.test)) for rule in rules)
    if len(_PLANS) >= _MAX_PLANS:  # policies reloaded many times: start again rather than grow
        _PLANS.clear()
    _PLANS[id(rules)] = (rules, compiled)
    return compiled


Step = tuple[CompiledRule, "Callable[[Any, Any], str | None] | None", Any, "Test | None"]
"""One rule of the loop: the rule, its built-in check's function and compiled params (None for a
``when`` rule), and its compiled ``when`` test (None for a built-in check)."""

_STEPS: dict[int, tuple[Sequence[CompiledRule], tuple[Step, ...]]] = {}


def steps(rules: Sequence[CompiledRule]) -> tuple[Step, ...]:
    """:func:`plan` with each built-in check's function and params read once, not per decision."""
    entry = _STEPS.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    built: list[Step] = []
    for rule, fast in plan(rules):
        test = rule.test
        built.append((rule, test.spec.fn, test.params, None) if type(test) is Check else (rule, None, None, fast))
    done = tuple(built)
    if len(_STEPS) >= _MAX_PLANS:
        _STEPS.clear()
    _STEPS[id(rules)] = (rules, done)
    return done  # not read back: another thread may clear the cache in between (a KeyError)


def compile_node(node: Node, top: bool = True) -> Test:
    """``lambda env: eval_node(node, env)``, compiled. ``top``: not inside a ``for_each`` (a path
    read there is read once per decision, :func:`memo_get`)."""
    if isinstance(node, Compare):
        return _compile_compare(node, top)
    if isinstance(node, (All, AnyOf)):
        parts = tuple(compile_node(p, top) for p in node.parts)
        if isinstance(node, All):
            def every(env: Env) -> bool:
                for part in parts:
                    if not part(env):
                        return False
                return True
            return every

        def some(env: Env) -> bool:
            for part in parts:
                if part(env):
                    return True
            return False
        return some
    if isinstance(node, Not):
        body = compile_node(node.body, top)
        return lambda env: not body(env)
    if isinstance(node, ForEach):
        return _compile_for_each(node)
    name = type(node).__name__

    def not_a_condition(env: Env) -> bool:
        raise TypeError(f"{name} is not a condition: a built-in check is run by the rule loop")
    return not_a_condition


def _compile_for_each(node: ForEach) -> Test:
    text, get, name, every = node.path.text, node.get, node.var, node.quantifier == "all"
    body = compile_node(node.body, False)
    optional = node.path.root in ("intent", "request")

    def for_each(env: Env) -> bool:
        seq = get(env)
        if seq is MISSING:
            raise MissingFact(f"`{text}` is not in the facts")
        if seq is None and optional:
            seq = ()  # an optional list the intent or request leaves out has no elements, as in eval_node
        if isinstance(seq, Mapping):
            seq = list(seq.values())
        if not isinstance(seq, (list, tuple)):
            raise ConditionError(f"`{text}` is not a list")
        if every:
            for x in seq:
                if not body({**env, name: x}):
                    return False
            return True
        for x in seq:
            if body({**env, name: x}):
                return True
        return False
    return for_each


def _compile_compare(node: Compare, top: bool) -> Test:
    left, operand, op = node.left, node.operand, node.op
    lget: Callable[[Env], Any] = fast_get(left, top) if type(left) is Ref else (lambda env: value_of(left, env))
    default, parent = node.default, node.default_parent
    lit = type(operand) is Lit
    other_value, fixed = (operand.value, operand.number) if lit else (None, None)  # type: ignore[union-attr]
    oget: Callable[[Env], Any] = (fast_get(operand, top) if type(operand) is Ref
                                  else (lambda env: value_of(operand, env)))
    plain = not op.presence and not node.currencies and node.mode == "plain"
    on_missing, text = node.on_missing, left.text
    # The memo key of the left path (its value read once per decision, see `fast_get`), or one no
    # environment holds: a literal comparison reads the memo itself, without calling the getter.
    key = memo_key(left, top) if type(left) is Ref else None
    key = key if key is not None else "$path:"

    if default is None and lit and plain:  # the usual comparison: a path against a literal
        test = op.test
        if op.name in ("eq", "ne") and type(other_value) is str:
            equal = op.name == "eq"

            def string_literal(env: Env) -> bool:
                value = env.get(key, _UNSET)
                if value is _UNSET:
                    value = lget(env)
                if type(value) is str:  # what `compare` decides for two strings, without its dispatch
                    return value == other_value if equal else value != other_value
                return compare(op, value, other_value, on_missing, text, fixed)
            return string_literal
        if op.orders and fixed is not None:
            def number_literal(env: Env) -> bool:
                value = env.get(key, _UNSET)
                if value is _UNSET:
                    value = lget(env)
                kind = type(value)
                if kind is Decimal:  # an amount of the intent: what `compare` decides, without its dispatch
                    if value.is_finite():
                        return test(value, fixed)
                elif kind is int:
                    return test(value, fixed)  # an int and a Decimal compare exactly, as Decimal(value) would
                return compare(op, value, other_value, on_missing, text, fixed)
            return number_literal

        def path_vs_literal(env: Env) -> bool:
            return compare(op, lget(env), other_value, on_missing, text, fixed)
        return path_vs_literal

    def comparison(env: Env) -> bool:
        value = lget(env)
        if value is MISSING and default is not None:
            if parent is None or parent(env) not in (MISSING, None):  # a missing record is still a missing fact
                value = default
        other = other_value if lit else oget(env)
        return _decide(node, value, other, fixed, env)  # which side is missing is named as eval_node names it
    return comparison


# -- path getters ------------------------------------------------------------------------------------

_PLAIN_GETTER = compile_path(parse_path("intent.x")).__qualname__
"""What a :func:`~txguard.core.paths.compile_path` getter is called (a declared facts path's getter
wraps it in a typed one, which is kept as it is)."""


MEMO = "$memo"
"""Present in the rule loop's environment (one per decision): the paths compiled ``when`` tests read
there are kept in it, each under ``$path:`` and its text."""
_UNSET = object()


def memo_key(ref: Ref, top: bool) -> str | None:
    """The key under which the rule loop's environment keeps the value of ``ref`` (None: not kept)."""
    ok = (top and getattr(ref.get, "__qualname__", None) == _PLAIN_GETTER
          and all(s.op in ("attr", "index") for s in ref.path.steps))
    return "$path:" + ref.path.text if ok else None  # not a root name: a root is an identifier


def fast_get(ref: Ref, top: bool = False) -> Callable[[Env], Any]:
    """``ref.get``, or for a path of names and indexes (``intent.items[0].quantity``) the same
    walk with the mapping test of a model kept per type (:func:`~txguard.core.paths.is_mapping`); with ``top`` (the
    path's root is the decision's, not a ``for_each`` name), its value read once per decision when
    the environment holds a memo (many rules read ``intent.total``; one decision's intent, request,
    session and facts do not change while its rules run)."""
    get = ref.get
    path = ref.path
    if getattr(get, "__qualname__", None) != _PLAIN_GETTER or any(s.op not in ("attr", "index") for s in path.steps):
        return get
    root = path.root
    walk: tuple[tuple[bool, Any], ...] = tuple(
        (s.op == "attr", str(s.name) if s.op == "attr" else int(s.name)) for s in path.steps)  # type: ignore[arg-type]

    def fast(env: Env) -> Any:
        cur = env.get(root, MISSING)
        for attr, name in walk:
            if cur is MISSING or cur is None:
                return MISSING
            if attr:
                if type(cur) is dict or is_mapping(cur):
                    cur = cur.get(name, MISSING)
                else:
                    cur = getattr(cur, name, MISSING)
            elif isinstance(cur, (list, tuple)) and -len(cur) <= name < len(cur):
                cur = cur[name]
            else:
                return MISSING
        return cur
    key = memo_key(ref, top)
    if key is None:
        return fast

    def memo_get(env: Env) -> Any:
        value = env.get(key, _UNSET)
        if value is _UNSET:
            value = fast(env)
            if MEMO in env:  # the rule loop's environment: keep the value for the decision's other rules
                env[key] = value  # type: ignore[index]
        return value
    return memo_get


# -- groups: literal comparisons on one path, decided together when none of them can fire ---------------

_ORDERS = {"gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_MIN_GROUP = 3


class Group:
    """``when`` rules that compare one kept path with literals (``intent.total gt 20000``, ``gt
    20001``, ...; or ``eq`` strings): :meth:`quiet` says, from the path's value read once, that
    every one of them is false without raising (each would take the comparison's plain branch)."""

    __slots__ = ("key", "get", "strings", "bounds")

    def __init__(self, key: str, get: Callable[[Env], Any], strings: frozenset[str] | None,
                 bounds: tuple[tuple[Callable[[Any, Any], bool], Decimal], ...]) -> None:
        self.key, self.get, self.strings, self.bounds = key, get, strings, bounds

    def quiet(self, env: Env) -> bool:
        value = env.get(self.key, _UNSET)
        if value is _UNSET:
            value = self.get(env)
        if self.strings is not None:
            return type(value) is str and value not in self.strings
        kind = type(value)
        if kind is Decimal:
            if not value.is_finite():
                return False
        elif kind is not int:
            return False
        for test, bound in self.bounds:  # the most permissive literal of each operator
            if test(value, bound):
                return False
        return True


def _literal(rule: CompiledRule) -> tuple[str, str, Callable[[Env], Any], Any] | None:
    """(memo key, ``eq`` or an ordering operator, getter, literal) for a rule whose test the
    compiled loop decides in ``string_literal`` or ``number_literal`` (see ``_compile_compare``)."""
    node = rule.test
    if type(node) is not Compare or type(node.left) is not Ref or type(node.operand) is not Lit:
        return None
    if node.default is not None or node.op.presence or node.currencies or node.mode != "plain":
        return None
    key = memo_key(node.left, True)
    op, value, fixed = node.op, node.operand.value, node.operand.number
    if key is None:
        return None
    if op.name == "eq" and type(value) is str:
        return key, "eq", fast_get(node.left, True), value
    if op.orders and _ORDERS.get(op.name) is op.test and type(fixed) is Decimal and fixed.is_finite():
        return key, op.name, fast_get(node.left, True), fixed
    return None


Schedule = tuple[tuple[int, "Group | None"], ...]
_SCHEDULES: dict[int, tuple[Sequence[CompiledRule], Schedule | None]] = {}


def schedule(rules: Sequence[CompiledRule]) -> Schedule | None:
    """The positions of the rule list to run, a group standing at its first member's position for
    all its members (None when the list has no group of at least three)."""
    entry = _SCHEDULES.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    members: dict[tuple[str, bool], list[tuple[int, str, Callable[[Env], Any], Any]]] = {}
    for i, rule in enumerate(rules):
        found = _literal(rule)
        if found is not None:
            key, name, get, literal = found
            members.setdefault((key, name == "eq"), []).append((i, name, get, literal))
    first: dict[int, Group] = {}
    skipped: set[int] = set()
    for (key, strings), found_ in members.items():
        if len(found_) < _MIN_GROUP:
            continue
        if strings:
            group = Group(key, found_[0][2], frozenset(lit for _, _, _, lit in found_), ())
        else:
            bounds = []
            for name in ("gt", "ge", "lt", "le"):
                lits = [lit for _, n, _, lit in found_ if n == name]
                if lits:
                    bounds.append((_ORDERS[name], min(lits) if name in ("gt", "ge") else max(lits)))
            group = Group(key, found_[0][2], None, tuple(bounds))
        first[found_[0][0]] = group
        skipped.update(i for i, _, _, _ in found_[1:])
    built: Schedule | None = None
    if first:
        built = tuple((i, first.get(i)) for i in range(len(rules)) if i not in skipped)
    if len(_SCHEDULES) >= _MAX_PLANS:
        _SCHEDULES.clear()
    _SCHEDULES[id(rules)] = (rules, built)
    return built


def scheduled(order: tuple[Step, ...], plan_: Schedule, env: Env) -> Iterator[Step]:
    """The steps of ``order`` to run: a group whose members are all quiet is passed over whole;
    at the first that is not, every rule from its first member on runs, in order, one by one."""
    for i, group in plan_:
        if group is None:
            yield order[i]
            continue
        try:
            quiet = group.quiet(env)
        except Exception:  # noqa: BLE001 - not sure: its members run one by one and raise as they do
            quiet = False
        if not quiet:
            yield from order[i:]
            return
