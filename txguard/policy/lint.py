"""Lint: problems of a policy that loads and compiles but does not do what its author meant.

Lint is the last stage of compilation: it reads the compiled rules' IR (:mod:`txguard.policy.ir`)
and the locations kept from load, never the YAML again. Contradiction and implication are
decided on IR nodes with the operator table (:data:`~txguard.policy.ir.OPERATORS`); what is
known about a built-in check's parameters (when one set implies another, which currencies they
name) sits on the check's own :class:`~txguard.checks.spec.CheckSpec` (``implies``,
``currencies``).

Every finding is a :class:`~txguard.Diagnostic` (``file:line:col: lint-code: message``) located at
the rule, tool or default it is about. The codes are listed, with what each means, in
``LINT_CODES``; ``docs/policy-guide.md`` documents them and a test keeps both identical.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..core.decision import Outcome
from ..core.errors import Diagnostic
from .compile import CompiledPolicy
from .rules import CompiledRule
from ..core.paths import FACTS_SCHEMA
from .ir import (OPERATORS, Aggregate, All, AnyOf, Arith, Check, Compare, ForEach, Lit, Loc, Node, Not, Ref,
                 TableLookup, _as_decimal, _equal)

LINT_CODES: dict[str, str] = {
    "lint-unreachable": "a rule can never fire: its conditions contradict each other on one path "
                        "(`gt: 5` and `lt: 3`, two different `eq`), or no tool maps to any intent kind it applies to",
    "lint-shadowed": "whenever a rule fires, another rule with the same (or a stricter) condition fires too, "
                     "with an outcome at least as severe: the first one never changes a decision",
    "lint-currency": "a threshold is in a currency other than the policy's `currency`",
    "lint-no-rules": "a tool maps to an intent kind that no rule applies to: its default decides every call unchecked",
    "lint-no-default": "a tool maps to an intent kind with no default: the default is a floor, so every call "
                       "escalates with `default_outcome` whatever the rules say",
    "lint-unused-default": "a default is given for an intent kind no tool maps to",
    "lint-unbound": "a field of a declared intent kind is listed in `unbound`: consent does not bind it, so the "
                    "user never confirms its value",
    "lint-no-consent": "a declared consequential intent kind that no `consent` rule applies to: its proposals "
                       "run without the user's confirmation",
    "lint-undecided-kind": "a declared intent kind with no `defaults` entry and no rule: every proposal of it "
                           "escalates (the safe default), whatever it asks",
    "lint-unused-facts": "a declared fact collection that no rule reads",
}
"""Codes of lint findings and what each means (the last four are about a declared domain)."""


def _at(loc: Loc, code: str, message: str) -> Diagnostic:
    return Diagnostic(loc.file, loc.line, loc.col, code, message)


def _rule(rule: CompiledRule, loc: Loc, code: str, message: str) -> Diagnostic:
    return _at(loc, code, f"rule `{rule.id}`: {message}")


def lint(policy: CompiledPolicy) -> list[Diagnostic]:
    """Every lint finding of a compiled policy, sorted by location."""
    out: list[Diagnostic] = []
    mapped = {t.kind for t in policy.tools.values()}
    order = sorted(policy.rules, key=lambda r: (r.loc.line, r.loc.col, r.id))

    for rule in order:
        live = [k for k in rule.kinds if k in mapped]
        if not live:
            out.append(_rule(rule, rule.key_locs.get("kinds", rule.loc), "lint-unreachable",
                             f"applies to {', '.join(rule.kinds)}, but no tool maps to "
                             f"{'it' if len(rule.kinds) == 1 else 'any of them'}"))
        if not isinstance(rule.test, Check):
            problem = _contradiction(rule.test)
            if problem:
                out.append(_rule(rule, rule.test.loc, "lint-unreachable", f"can never fire: {problem}"))
        out.extend(_currency(rule, policy.currency))

    for i, rule in enumerate(order):
        for other in order:
            if other is rule or not _implies(rule, other):
                continue
            if _implies(other, rule) and order.index(other) > i:
                continue  # equivalent rules: report only the later one
            out.append(_rule(rule, rule.loc, "lint-shadowed",
                             f"whenever it fires, rule `{other.id}` (line {other.loc.line}) fires too with outcome "
                             f"`{other.outcome.value}`: it never changes a decision"))
            break

    for name, tool in sorted(policy.tools.items()):
        kind = tool.kind
        where = policy.locate(("tools", name))
        if kind not in policy.defaults:
            out.append(_at(where, "lint-no-default",
                           f"tool `{name}` maps to `{kind}`, which has no default: every call escalates "
                           f"with `default_outcome`, whatever the rules say"))
        elif kind != "read" and not policy.by_kind.get(kind):
            out.append(_at(where, "lint-no-rules",
                           f"tool `{name}` maps to `{kind}`, which no rule applies to: every call is "
                           f"`{policy.defaults[kind].value}` (the default) unchecked"))
    for kind in sorted(policy.defaults):
        if kind not in mapped:
            out.append(_at(policy.locate(("defaults", kind)), "lint-unused-default",
                           f"`defaults.{kind}` is given, but no tool maps to `{kind}`"))
    out.extend(_declared(policy))
    return sorted(set(out))


# -- declared domains ------------------------------------------------------------------------------

def _declared(policy: CompiledPolicy) -> list[Diagnostic]:
    """The findings about a policy's declared kinds and facts (none for the shipped domain)."""
    out: list[Diagnostic] = []
    domain = policy.domain
    for name, spec in sorted(domain.specs.items()):
        at = ("intents", name)
        for i, field in enumerate(spec.unbound):
            out.append(_at(policy.locate(at + ("unbound", i)), "lint-unbound",
                           f"intent `{name}`: field `{field}` is unbound: the user never confirms its value, "
                           "and a proposal that changes it still runs on the confirmation"))
        rules = policy.by_kind.get(name, ())
        if spec.consequential and not any(isinstance(r.test, Check) and r.test.spec.name == "consent" for r in rules):
            out.append(_at(policy.locate(at), "lint-no-consent",
                           f"intent `{name}` is consequential, but no `consent` rule applies to it: its proposals "
                           "run without the user's confirmation"))
        if name not in policy.defaults and not rules:
            out.append(_at(policy.locate(at), "lint-undecided-kind",
                           f"intent `{name}` has no default and no rule: every proposal of it escalates"))
    if domain.facts:
        texts = [t for rule in policy.rules for t in _texts(rule.test)]
        for cname in sorted(domain.facts):
            read = re.compile(r"(?<![\w.])facts\." + re.escape(cname) + r"(?!\w)")
            if any(read.search(t) for t in texts):
                continue
            checks = [r.test for r in policy.rules if isinstance(r.test, Check) and r.test.spec.name not in _NO_FACTS]
            if any(cname in FACTS_SCHEMA or re.search(rf"\b{re.escape(cname)}\b", repr(c.params)) for c in checks):
                continue  # a built-in check may read it: a commerce collection, or one its parameters name
            out.append(_at(policy.locate(("facts", cname)), "lint-unused-facts",
                           f"fact collection `{cname}` is declared, but no rule reads it"))
    return out


_NO_FACTS = frozenset({"consent", "authentication"})
"""Built-in checks that read no facts."""


def _texts(node: Any) -> list[str]:
    """The text of every path an IR node reads (expressions, aggregates, quantifiers, table keys)."""
    if isinstance(node, (Ref, ForEach)):
        texts = [node.path.text]
        return texts + (_texts(node.body) if isinstance(node, ForEach) else [])
    if isinstance(node, Aggregate):
        return [node.path.text] + _texts(node.of) + _texts(node.where)
    if isinstance(node, Arith):
        return [t for a in node.args for t in _texts(a)]
    if isinstance(node, TableLookup):
        return [t for k in node.keys for t in _texts(k)]
    if isinstance(node, Compare):
        return _texts(node.left) + _texts(node.operand)
    if isinstance(node, (All, AnyOf)):
        return [t for p in node.parts for t in _texts(p)]
    if isinstance(node, Not):
        return _texts(node.body)
    return []


# -- contradictions --------------------------------------------------------------------------------

def _atoms(node: Node) -> list[tuple[str, str, Any]]:
    """The comparisons with a literal that must all hold for ``node`` to hold, as (path, operator,
    literal as written): a flattened top-level ``all``; a ``not`` of a comparison that escalates
    on a missing value holds exactly when the negated operator does."""
    if isinstance(node, All):
        return [a for part in node.parts for a in _atoms(part)]
    if _plain(node) and not node.op.presence:  # type: ignore[union-attr]
        return [(node.left.text, node.op.name, node.operand.raw)]  # type: ignore[union-attr]
    if isinstance(node, Not) and _plain(node.body) and node.body.on_missing == "escalate":  # type: ignore[union-attr]
        inner = node.body
        negation = inner.op.negation  # type: ignore[union-attr]
        if negation is not None and negation in _ORDER_OR_EQUALITY:
            return [(inner.left.text, negation, inner.operand.raw)]  # type: ignore[union-attr]
    return []


_ORDER_OR_EQUALITY = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"})


def _plain(node: Node) -> bool:
    """A comparison of a path with a literal compared as always (numbers as decimals): the only
    kind lint reasons about; every other expression is opaque to it."""
    return (isinstance(node, Compare) and isinstance(node.left, Ref) and isinstance(node.operand, Lit)
            and node.mode == "plain" and node.op.name in _ORDER_OR_EQUALITY)


def _contradiction(node: Node) -> str | None:
    groups: dict[str, list[tuple[str, Any]]] = {}
    for path, op, value in _atoms(node):
        groups.setdefault(path, []).append((op, value))
    for path, atoms in groups.items():
        low: tuple[Decimal, bool] | None = None  # (bound, strict)
        high: tuple[Decimal, bool] | None = None
        pinned: list[Any] = []
        excluded: list[Any] = []
        allowed: list[list[Any]] = []
        shown: list[str] = []
        for op, value in atoms:
            shown.append(f"{op} {value!s}" if not isinstance(value, list) else f"{op} {value}")
            if OPERATORS[op].orders:
                d = _as_decimal(value)
                if d is None:
                    continue
                strict = op in ("gt", "lt")
                if op in ("gt", "ge"):
                    if low is None or d > low[0] or (d == low[0] and strict):
                        low = (d, strict)
                else:
                    if high is None or d < high[0] or (d == high[0] and strict):
                        high = (d, strict)
            elif op == "eq":
                pinned.append(value)
            elif op == "ne":
                excluded.append(value)
            elif op == "in" and isinstance(value, list):
                allowed.append(value)
            elif op == "not_in" and isinstance(value, list):
                excluded.extend(value)
        problem = False
        if low is not None and high is not None:
            if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
                problem = True
        for v in pinned:
            if any(not _equal(v, w) for w in pinned) or any(_equal(v, x) for x in excluded):
                problem = True
            if any(not any(_equal(v, a) for a in options) for options in allowed):
                problem = True
            d = _as_decimal(v)
            if d is not None and not isinstance(v, bool):
                if low is not None and (d < low[0] or (d == low[0] and low[1])):
                    problem = True
                if high is not None and (d > high[0] or (d == high[0] and high[1])):
                    problem = True
        if allowed and not pinned:
            common = [a for a in allowed[0] if all(any(_equal(a, b) for b in opts) for opts in allowed[1:])
                      and not any(_equal(a, x) for x in excluded)]
            if not common:
                problem = True
        if problem:
            return f"`{path}` cannot be {' and '.join(shown)} at once"
    return None


# -- shadowing -------------------------------------------------------------------------------------

def _implies(rule: CompiledRule, other: CompiledRule) -> bool:
    """True when ``other`` fires whenever ``rule`` fires, with an outcome at least as severe."""
    if other.outcome.rank < rule.outcome.rank or not set(rule.kinds) <= set(other.kinds):
        return False
    if rule.needs != other.needs:
        return False
    if rule.outcome is Outcome.ESCALATE and other.route == "human" and rule.route == "refuse":
        return False
    a, b = rule.test, other.test
    if isinstance(a, Check) and isinstance(b, Check):
        if a.spec.name != b.spec.name:
            return False
        if a.params == b.params:
            return True
        return a.spec.implies is not None and a.spec.implies(b.params, a.params)
    if isinstance(a, Check) or isinstance(b, Check):
        return False
    return a == b or _threshold_implies(a, b)


_DIRECTION = {"gt": "up", "ge": "up", "lt": "down", "le": "down"}


def _threshold_implies(a: Node, b: Node) -> bool:
    """Two single comparisons on one path with one direction: ``gt 10`` implies ``gt 5``."""
    if not (isinstance(a, Compare) and isinstance(b, Compare)):
        return False
    if not (_plain(a) and _plain(b)) or a.left != b.left or a.on_missing != b.on_missing:
        return False
    oa, ob = a.op.name, b.op.name
    if _DIRECTION.get(oa) is None or _DIRECTION.get(oa) != _DIRECTION.get(ob):
        return False
    if not (isinstance(a.operand, Lit) and isinstance(b.operand, Lit)):
        return False
    va, vb = _as_decimal(a.operand.raw), _as_decimal(b.operand.raw)
    if va is None or vb is None:
        return False
    if _DIRECTION[oa] == "up":
        return va > vb or (va == vb and (ob == "ge" or oa == "gt"))
    return va < vb or (va == vb and (ob == "le" or oa == "lt"))


# -- currencies ------------------------------------------------------------------------------------

def _currency(rule: CompiledRule, currency: str) -> list[Diagnostic]:
    test = rule.test
    if not isinstance(test, Check) or test.spec.currencies is None:
        return []
    out = []
    for cur in sorted(test.spec.currencies(test.params) - {currency}):
        # Where the parameters name it: `max.EUR` (a cap) or `per_category.<category>.EUR`.
        leaves = [s for s in test.locs if s and s[-1] == cur
                  and not any(len(t) > len(s) and t[:len(s)] == s for t in test.locs)]
        for sub in sorted(leaves, key=str):
            what = "cap" if len(sub) <= 2 else f"`{sub[-2]}` cap"
            out.append(_rule(rule, test.at(sub), "lint-currency",
                             f"{what} in `{cur}`, but the policy's currency is `{currency}`"))
    return out
