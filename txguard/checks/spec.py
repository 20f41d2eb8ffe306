"""What a built-in check is: its spec, the registry of every check, and the ``check`` decorator.

Each check is a pure function ``(ctx, params) -> message | None``: a message when the rule fires.
A check that needs a record absent from the facts raises :class:`MissingFact` (the rule escalates
with ``missing_fact``). Each check declares the intent kinds it applies to by default, its default
reason code, outcome and question, the JSON Schema of its parameters, and the preconditions it
provides to or needs from other checks (``order``: the order exists; ``lines``: every cart line
names a catalog variant), so that a check whose precondition already failed is not judged again.

The checks register themselves when their modules are imported; ``txguard.checks`` imports them
all, so the registry is complete once any module of the package is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..core.money import currency_exponent, parse_amount
from .ctx import Ctx
from .roles import role_problem

CheckFn = Callable[[Ctx, Any], "str | None"]


@dataclass(frozen=True)
class CheckSpec:
    """A built-in check and its defaults."""

    name: str
    fn: CheckFn
    code: str
    outcome: str
    kinds: tuple[str, ...]
    question: str | None = None
    params_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "additionalProperties": False})
    compile_params: Callable[[dict[str, Any]], Any] = lambda p: p
    provides: str | None = None
    needs: frozenset[str] = frozenset()
    route: str = "human"
    doc: str = ""
    implies: Callable[[Any, Any], bool] | None = None
    """For lint: whether a rule with the first (compiled) params fires whenever one with the second does."""
    currencies: Callable[[Any], frozenset[str]] | None = None
    """For lint: the currencies the (compiled) params name."""
    declared: Callable[[Any], bool] | None = None
    """Whether the check applies to a declared kind (given its :class:`~txguard.domain.KindSpec`);
    None: when the kind declares the ``roles`` it reads (see :mod:`txguard.checks.roles`)."""
    roles: tuple[str, ...] = ()
    """The roles the check reads of a declared kind: every one of them, or one at least (``any_role``)."""
    any_role: bool = False
    validate: Callable[[Any, Mapping[str, Any], Any, tuple[str, ...]], list[tuple[tuple[str, ...], str]]] | None = None
    """Load-time validation of a rule: ``(compiled params, written params, domain, the rule's kinds)``
    -> [(key under the rule, message)] (e.g. a facts collection the params name is not declared)."""

    def applies_to(self, kind: Any) -> bool:
        """Whether the check applies to a declared kind (its :class:`~txguard.domain.KindSpec`)."""
        if self.declared is not None:
            return self.declared(kind)
        found = [role_problem(kind, r) is None for r in self.roles]
        return bool(found) and (any(found) if self.any_role else all(found))

    def refusal(self, kind: Any) -> str:
        """Why the check does not apply to a declared kind."""
        problems = [p for p in (role_problem(kind, r) for r in self.roles) if p is not None]
        if not self.roles or not problems:
            return f"`{kind.name}` is not a kind it judges"
        return ("; ".join(problems) if not self.any_role else " and ".join(problems))

    def kinds_for(self, domain: Any) -> tuple[str, ...]:
        """The kinds of ``domain`` (a :class:`~txguard.domain.Domain`) the check applies to: its shipped
        kinds the domain has, and the declared kinds it applies to (:meth:`applies_to`)."""
        if domain is None:
            return self.kinds
        shipped = [k for k in self.kinds if k in domain.models and k not in domain.specs]
        own = [k for k, s in domain.specs.items() if self.applies_to(s)]
        return tuple(sorted(shipped + own))


CHECKS: dict[str, CheckSpec] = {}
"""Every built-in check by name, in the order the modules register them."""

PRECONDITIONS = ("order", "lines", "method", "new_items")
"""What checks provide to each other, in the order they are judged (each needs only earlier ones):
the order exists; every cart line (or replaced item) is in the catalog (or the order); the payment
method is one of the user's; every replacement is a variant of the replaced item's product."""

CART_KINDS = ("checkout", "add_to_cart")
ORDER_KINDS = ("cancel_order", "modify_order_items", "modify_order_address", "modify_order_payment",
               "return_items", "exchange_items", "refund")
AMOUNT_SCHEMA = {"oneOf": [{"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}, {"type": "integer", "minimum": 0}]}
CAPS_SCHEMA = {"type": "object", "propertyNames": {"pattern": "^[A-Z]{3}$"}, "additionalProperties": AMOUNT_SCHEMA,
               "minProperties": 1}


def check(name: str, **kw: Any) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the built-in check ``name`` (``kw``: the spec's fields)."""
    def register(fn: CheckFn) -> CheckFn:
        CHECKS[name] = CheckSpec(name=name, fn=fn, doc=(fn.__doc__ or "").strip(), **kw)
        return fn
    return register


def caps(raw: Mapping[str, Any]) -> dict[str, Decimal]:
    """``{currency: amount}`` parsed at each currency's exponent."""
    return {cur: parse_amount(v, currency_exponent(cur)) for cur, v in raw.items()}


