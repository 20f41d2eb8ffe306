"""Compiled rules: each rule of a policy parsed once into the IR (:mod:`txguard.policy.ir`).

A built-in check rule becomes a :class:`~txguard.policy.ir.Check` with its compiled parameters, a
``when`` rule the condition tree of :func:`~txguard.policy.conditions.parse_condition`; each node
is located where it is written (a base policy's rule: in the base file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..checks.spec import CHECKS, PRECONDITIONS
from ..core.decision import Outcome, Question
from ..core.errors import MoneyError
from .conditions import located_keys, parse_condition
from .tables import table_problems
from .ir import Check, Loc, Node, PathKey
from .load import Located

Error = Callable[[PathKey, str, str], None]
"""``error(document path, diagnostic code, message)``: a located compile problem."""

Site = tuple[Located, PathKey]
"""Where a rule is written: its document and its path there (a base policy's rule: in the base file)."""


# -- the rule ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CompiledRule:
    """One rule, compiled: what it tests (an IR node: a condition tree or a built-in check) and
    what it decides when the test fires. ``loc`` is where the rule is written."""

    id: str
    code: str
    outcome: Outcome
    route: str
    kinds: tuple[str, ...]
    test: Node
    question: Question | None
    message: str | None
    provides: str | None
    needs: frozenset[str]
    check: str | None
    loc: Loc
    description: str | None = None
    detail: str = ""
    """A ``when`` rule's message when it fires (the ``{detail}`` of its ``message``)."""
    key_locs: Mapping[str, Loc] = field(default_factory=dict)
    """Where each key of the rule (``kinds``, ``when``, ``params``, ...) is written."""

    @property
    def location(self) -> tuple[str, int, int]:
        return (self.loc.file, self.loc.line, self.loc.col)



def _locator(site: Site, at: PathKey) -> Callable[[PathKey], Loc]:
    """Document path ``at + sub`` (as diagnostics name it) -> the Loc of ``sub`` where the rule is written."""
    doc, base = site

    def locate(path: PathKey) -> Loc:
        where = base + tuple(path[len(at):])
        line, col = doc.where(where)
        return Loc(doc.file, line, col, where)

    return locate


def compile_rules(rules: list[Any], kinds_all: list[str], doc: Located, rule_paths: list[PathKey],
                  rule_sites: Mapping[str, Site], error: Error, *, tables: Mapping[str, Any] | None = None,
                  currency: str = "USD", domain: Any = None) -> list[CompiledRule]:
    """Compile the merged rules: a built-in check with its params, a ``when`` condition parsed
    into the IR. ``rule_paths[i]`` is where diagnostics of rule ``i`` point in ``doc`` (default
    ``rules[i]``); ``rule_sites`` where a base policy's rules are written."""
    out: list[CompiledRule] = []
    for path, message in table_problems(tables or {}):
        error(path, "txg-schema", message)
    seen: dict[str, int] = {}
    cache: dict[tuple[Any, ...], Any] = {}  # root types and checked paths by kinds, shared by every `when`
    for i, raw in enumerate(rules):
        at: PathKey = rule_paths[i] if i < len(rule_paths) else ("rules", i)
        rid = raw["id"]
        if rid in seen:
            error(at + ("id",), "txg-duplicate", f"rule id `{rid}` is already used by rules[{seen[rid]}]")
            continue
        seen[rid] = i
        if ("check" in raw) == ("when" in raw):
            error(at, "txg-schema", "a rule has exactly one of `check` or `when`")
            continue
        locate = _locator(rule_sites.get(rid, (doc, at)), at)
        test: Node
        detail = ""
        if "check" in raw:
            spec = CHECKS[raw["check"]]
            applies = spec.kinds_for(domain)
            kinds = tuple(raw.get("kinds", applies))
            bad = [k for k in kinds if k not in applies]
            if bad:
                why = [spec.refusal(domain.specs[k]) for k in bad if domain is not None and k in domain.specs]
                error(at + ("kinds",), "txg-param",
                      f"check `{spec.name}` does not apply to {', '.join(bad)} (it applies to: "
                      f"{', '.join(applies) or 'no kind of this policy'}){': ' + '; '.join(why) if why else ''}")
            written = raw.get("params", {})
            try:
                params = spec.compile_params(written)
            except (MoneyError, KeyError, ValueError) as exc:
                error(at + ("params",), "txg-param", str(exc))
                continue
            if spec.validate is not None and not bad:
                if "kinds" not in raw and domain is not None:
                    # Unlisted kinds: those the check can judge with these params (a base policy's
                    # commerce rule does not claim a declared kind it has no params for).
                    kinds = tuple(k for k in kinds if not spec.validate(params, written, domain, (k,))) or kinds
                problems = spec.validate(params, written, domain, kinds)
                for sub, message in problems:
                    error(at + sub, "txg-param", f"check `{spec.name}`: {message}")
                if problems:
                    continue
            test = Check(spec, params, locate(at + ("check",)), located_keys(written, at + ("params",), locate))
            code = raw.get("code", spec.code)
            outcome = raw.get("outcome", spec.outcome)
            route = raw.get("route", spec.route)
            qtext = raw.get("question", spec.question)
            provides, needs, check = spec.provides, spec.needs, spec.name
        else:
            kinds = tuple(raw.get("kinds", kinds_all))
            unknown = [k for k in kinds if k not in kinds_all and k != "read"]
            if unknown:
                error(at + ("kinds",), "txg-param", f"{', '.join(f'`{k}`' for k in unknown)} is not an intent kind of this "
                                                    f"policy (expected: {', '.join(kinds_all + ['read'])})")
                continue
            test = parse_condition(raw["when"], at + ("when",), list(kinds),
                                   lambda path, msg, code="txg-path": error(path, code, msg), locate,
                                   tables=tables, currency=currency, domain=domain, cache=cache)
            # The description is for the policy's authors (explain, lint, docs); the end user sees
            # the rule's `message` (where `{detail}` shows the description, if the policy says so)
            # or this neutral text, never the description by default.
            shown = raw.get("description") if "{detail}" in raw.get("message", "") else None
            detail = shown or f"rule `{rid}` matched"
            code = raw.get("code", rid.replace("-", "_").lower())
            outcome = raw.get("outcome", "escalate")
            route = raw.get("route", "human")
            qtext = raw.get("question")
            provides, needs, check = None, frozenset(), None
        if outcome == "clarify" and not qtext:
            qtext = "Can you confirm what you want me to do?"
        out.append(CompiledRule(
            id=rid, code=code, outcome=Outcome(outcome), route=route, kinds=kinds, test=test,
            question=Question(code, qtext) if outcome == "clarify" and qtext else None,
            message=raw.get("message"), provides=provides, needs=needs, check=check,
            loc=locate(at), description=raw.get("description"), detail=detail,
            key_locs={k: locate(at + (k,)) for k in raw},
        ))
    return out


def stage_rank(rule: CompiledRule) -> int:
    """The rank of the precondition a rule provides in :data:`PRECONDITIONS` (each needs only
    earlier ones), so a precondition is judged before any rule that needs it; the rest last."""
    if rule.provides is None:
        return len(PRECONDITIONS)
    return PRECONDITIONS.index(rule.provides)
