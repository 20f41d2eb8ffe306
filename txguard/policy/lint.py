"""Lint: problems of a policy that loads and compiles but does not do what its author meant.

Every finding is a :class:`~txguard.Diagnostic` (``file:line:col: lint-code: message``) located at
the rule, tool or default it is about. The codes are listed, with what each means, in
``LINT_CODES``; ``docs/policy-guide.md`` documents them and a test keeps both identical.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .compile import CompiledPolicy, CompiledRule
from .conditions import _as_decimal, _equal
from ..core.decision import Outcome
from ..core.errors import Diagnostic
from .load import Located, PathKey, load_yaml

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
}
"""Codes of lint findings and what each means."""


class _Where:
    """Locations in the policy's own file (rules of a base policy keep their compiled location)."""

    def __init__(self, policy: CompiledPolicy) -> None:
        self.policy = policy
        self.doc: Located | None = None
        try:
            text = Path(policy.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        if text is not None:
            doc, errors = load_yaml(text, policy.file)
            if doc is not None and not errors:
                self.doc = doc
        rules = self.doc.data.get("rules", []) if self.doc is not None and isinstance(self.doc.data, Mapping) else []
        self.rule_index = {r.get("id"): i for i, r in enumerate(rules) if isinstance(r, Mapping)}

    def rule(self, rule: CompiledRule, code: str, message: str, sub: PathKey = ()) -> Diagnostic:
        i = self.rule_index.get(rule.id)
        if self.doc is not None and i is not None:
            return self.doc.diagnostic(("rules", i) + sub, code, f"rule `{rule.id}`: {message}")
        file, line, col = rule.location
        return Diagnostic(file, line, col, code, f"rule `{rule.id}`: {message}")

    def at(self, path: PathKey, code: str, message: str) -> Diagnostic:
        if self.doc is not None:
            data = self.doc.data
            for step in path:
                if not isinstance(data, Mapping) or step not in data:
                    return self.doc.diagnostic(("extends",), code, message)
                data = data[step]
            return self.doc.diagnostic(path, code, message)
        return Diagnostic(self.policy.file, 1, 1, code, message)


def lint(policy: CompiledPolicy) -> list[Diagnostic]:
    """Every lint finding of a compiled policy, sorted by location."""
    where = _Where(policy)
    out: list[Diagnostic] = []
    mapped = {t.kind for t in policy.tools.values()}
    order = sorted(policy.rules, key=lambda r: (r.location[1], r.location[2], r.id))

    for rule in order:
        live = [k for k in rule.kinds if k in mapped]
        if not live:
            out.append(where.rule(rule, "lint-unreachable",
                                  f"applies to {', '.join(rule.kinds)}, but no tool maps to "
                                  f"{'it' if len(rule.kinds) == 1 else 'any of them'}", ("kinds",) if "kinds" in rule.source else ()))
        if rule.check is None:
            problem = _contradiction(rule.source.get("when"))
            if problem:
                out.append(where.rule(rule, "lint-unreachable", f"can never fire: {problem}", ("when",)))
        out.extend(_currency(where, rule, policy.currency))

    for i, rule in enumerate(order):
        for other in order:
            if other is rule or not _implies(rule, other):
                continue
            if _implies(other, rule) and order.index(other) > i:
                continue  # equivalent rules: report only the later one
            line = other.location[1]
            out.append(where.rule(rule, "lint-shadowed",
                                  f"whenever it fires, rule `{other.id}` (line {line}) fires too with outcome "
                                  f"`{other.outcome.value}`: it never changes a decision"))
            break

    for name, tool in sorted(policy.tools.items()):
        kind = tool.kind
        if kind not in policy.defaults:
            out.append(where.at(("tools", name), "lint-no-default",
                                f"tool `{name}` maps to `{kind}`, which has no default: every call escalates "
                                f"with `default_outcome`, whatever the rules say"))
        elif kind != "read" and not policy.by_kind.get(kind):
            out.append(where.at(("tools", name), "lint-no-rules",
                                f"tool `{name}` maps to `{kind}`, which no rule applies to: every call is "
                                f"`{policy.defaults[kind].value}` (the default) unchecked"))
    for kind in sorted(policy.defaults):
        if kind not in mapped:
            out.append(where.at(("defaults", kind), "lint-unused-default",
                                f"`defaults.{kind}` is given, but no tool maps to `{kind}`"))
    return sorted(set(out))


# -- contradictions --------------------------------------------------------------------------------

def _atoms(cond: Any) -> list[Mapping[str, Any]]:
    """The comparisons that must all hold for ``cond`` to hold (a flattened top-level `all`)."""
    if not isinstance(cond, Mapping):
        return []
    if "all" in cond and "for_each" not in cond:
        return [a for part in cond["all"] or [] for a in _atoms(part)]
    if "path" in cond:
        return [cond]
    return []


def _literal(cond: Mapping[str, Any], op: str) -> tuple[bool, Any]:
    value = cond.get(op)
    if isinstance(value, Mapping):
        return False, None  # a path operand: unknown at lint time
    return True, value


def _contradiction(cond: Any) -> str | None:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for atom in _atoms(cond):
        groups.setdefault(str(atom["path"]), []).append(atom)
    for path, atoms in groups.items():
        low: tuple[Decimal, bool] | None = None  # (bound, strict)
        high: tuple[Decimal, bool] | None = None
        pinned: list[Any] = []
        excluded: list[Any] = []
        allowed: list[list[Any]] = []
        shown: list[str] = []
        for atom in atoms:
            op = next((k for k in ("eq", "ne", "gt", "ge", "lt", "le", "in", "not_in") if k in atom), None)
            if op is None:
                continue
            ok, value = _literal(atom, op)
            if not ok:
                continue
            shown.append(f"{op} {value!s}" if not isinstance(value, list) else f"{op} {value}")
            if op in ("gt", "ge", "lt", "le"):
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
    if rule.check is not None and rule.check == other.check:
        a, b = rule.source.get("params", {}), other.source.get("params", {})
        if a == b:
            return True
        if rule.check == "price_cap":
            return _cap_implies(rule.params, other.params)
        if rule.check == "ambiguity":
            pa, pb = rule.params, other.params
            if pa["max_alternatives"] is None and pb["max_alternatives"] is None and not pa["required_options"] \
                    and not pb["required_options"] and pa["min_confidence"] is not None and pb["min_confidence"] is not None:
                return bool(pb["min_confidence"] >= pa["min_confidence"])
        return False
    if rule.check is None and other.check is None:
        wa, wb = rule.source.get("when"), other.source.get("when")
        if wa == wb:
            return True
        return _threshold_implies(wa, wb)
    return False


def _cap_implies(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Cap ``a`` exceeded (or missing) implies cap ``b`` exceeded (or missing)."""
    if a["per_category"] or b["per_category"]:
        return False
    if not set(b["max"]) <= set(a["max"]):
        return False
    return all(a["max"][cur] >= cap for cur, cap in b["max"].items())


def _threshold_implies(a: Any, b: Any) -> bool:
    """Two single comparisons on one path with one direction: ``gt 10`` implies ``gt 5``."""
    if not (isinstance(a, Mapping) and isinstance(b, Mapping) and "path" in a and "path" in b):
        return False
    if a["path"] != b["path"] or a.get("on_missing", "escalate") != b.get("on_missing", "escalate"):
        return False
    for up in (("gt", "ge"), ("lt", "le")):
        oa = next((k for k in up if k in a), None)
        ob = next((k for k in up if k in b), None)
        if oa is None or ob is None:
            continue
        va, vb = _as_decimal(_literal(a, oa)[1]), _as_decimal(_literal(b, ob)[1])
        if va is None or vb is None or isinstance(a[oa], Mapping) or isinstance(b[ob], Mapping):
            return False
        if up[0] == "gt":
            return va > vb or (va == vb and (ob == "ge" or oa == "gt"))
        return va < vb or (va == vb and (ob == "le" or oa == "lt"))
    return False


# -- currencies ------------------------------------------------------------------------------------

def _currency(where: _Where, rule: CompiledRule, currency: str) -> list[Diagnostic]:
    if rule.check != "price_cap":
        return []
    out = []
    params = rule.source.get("params", {})
    for cur in sorted(params.get("max", {})):
        if cur != currency:
            out.append(where.rule(rule, "lint-currency",
                                  f"cap in `{cur}`, but the policy's currency is `{currency}`", ("params", "max", cur)))
    for cat, caps in sorted(params.get("per_category", {}).items()):
        for cur in sorted(caps):
            if cur != currency:
                out.append(where.rule(rule, "lint-currency",
                                      f"`{cat}` cap in `{cur}`, but the policy's currency is `{currency}`",
                                      ("params", "per_category", cat, cur)))
    return out
