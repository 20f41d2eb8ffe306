"""The canonical key order of ``txguard fmt``: one list per kind of object in a policy or suite."""

from __future__ import annotations

from ..domain.domain import ROLES
from ..policy.ir import OPERATORS

_CONDITION = ("for_each", "as", "path", "value", *OPERATORS, "default", "on_missing", "all", "any", "not")
"""A condition's keys: the operators come from the IR's one table (a new operator is ordered too)."""
KEY_ORDER: dict[str, tuple[str, ...]] = {
    # A declared domain (its kinds, facts and request) comes before the tools that map onto it.
    "policy": ("apiVersion", "id", "version", "description", "extends", "currency", "imports", "builtin_kinds", "types",
               "intents", "facts", "undeclared_facts", "request", "tools", "defaults", "categories", "tables", "routes",
               "session", "audit", "rules"),
    "domain": ("apiVersion", "domain", "description", "types", "intents", "facts", "undeclared_facts", "request"),
    # A declared kind and a fact collection; their types (`fields`, `record`, `request`) keep the
    # order they are written in: a record's field order is its author's.
    "intent": ("description", "consequential", "fields", "unbound", "same_length", "roles"),
    "roles": ROLES,
    "fact": ("description", "key", "record"),
    "tool": ("intent", "description", "fields", "constants", "required", "ignore"),
    "field": ("from", "fields"),
    "categories": ("taxonomy", "product_types", "synonyms"),
    "routes": ("precedence",),
    "audit": ("mask",),
    "rule": ("id", "description", "kinds", "check", "when", "params", "outcome", "code", "route", "question", "message"),
    "condition": _CONDITION,
    "session": ("rules", "budgets", "single_use_confirmations"),
    "session_rule": ("id", "description", "count", "distinct", "sum", "sequence", "outcome", "code", "route", "question",
                     "message"),
    "count": ("where", "within", "in_a_row", "at_least"),
    "distinct": ("field", "where", "within", "at_least"),
    "sum": ("field", "where", "within", "currency", "more_than"),
    "sequence": ("pattern", "within"),
    "budget": ("id", "amount", "currency", "window", "scope", "route", "message"),
    "suite": ("apiVersion", "suite", "description", "policy", "clock", "fixtures", "cases"),
    # A case is resolved in this order: fixtures, `unset` and `set` overrides, then `confirmed`.
    "case": ("note", "id", "proposal", "request", "session", "facts", "unset", "set", "confirmed", "want", "turns"),
    "turn": ("at", "note", "proposal", "request", "session", "facts", "unset", "set", "confirmed", "want"),
    "want": ("outcome", "reasons", "route"),
}
"""The canonical key order of each kind of object in a policy or suite file: the one list."""

_CHILDREN: dict[str, dict[str, str]] = {
    "policy": {"intents": "*intent", "facts": "*fact", "tools": "*tool", "categories": "categories", "routes": "routes",
               "audit": "audit", "session": "session", "rules": "rule"},
    "domain": {"intents": "*intent", "facts": "*fact"},
    "intent": {"roles": "roles"},
    "tool": {"fields": "*field"},
    "rule": {"when": "condition"},
    "condition": {"all": "condition", "any": "condition", "not": "condition"},
    "session": {"rules": "session_rule", "budgets": "budget"},
    "session_rule": {"count": "count", "distinct": "distinct", "sum": "sum", "sequence": "sequence"},
    "suite": {"cases": "case"},
    "case": {"turns": "turn", "want": "want"},
    "turn": {"want": "want"},
}
"""Which values of an object are objects of a known kind (a list: each item; ``*kind``: each
value of a mapping whose keys are names)."""
