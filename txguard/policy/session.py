"""The ``session:`` section of a policy: rules over a conversation's event log, spend budgets and
single-use confirmations.

::

    session:
      rules:
        - id: clarify-loop            # clarifications in a row
          count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
        - id: checkout-velocity       # checkouts per hour
          count: {where: {kind: checkout}, within: 1h, at_least: 5}
        - id: payment-method-hopping  # distinct payment methods tried
          distinct: {field: payment_method, where: {kind: checkout}, within: 1h, at_least: 3}
        - id: spend-creep             # cumulative amount in a window
          sum: {field: amount, where: {kind: checkout, outcome: allow}, currency: USD,
                within: 24h, more_than: "1000.00"}
        - id: cart-changed            # consequential action after a confirmation of another one
          sequence: {pattern: changed_after_confirmation, within: 1h}
        - id: retry-after-escalation  # same kind proposed right after an escalation
          sequence: {pattern: retry_after_escalation, within: 10m}
      budgets:
        - {id: user-daily, amount: "500.00", currency: USD, window: 1d, scope: user}
      single_use_confirmations: true

A rule looks at the conversation's events plus the proposal being decided (as a ``decision`` event
whose outcome is the per-proposal outcome). ``where`` matches event fields exactly (a value or a
list of values); its field names and values are checked when the policy loads, like the field
paths of custom rules. ``type`` defaults to ``decision``. Windows (``within``, ``window``) are
``<n>s``, ``<n>m``, ``<n>h`` or ``<n>d``; a budget window is aligned on the Unix epoch, so ``1d``
is a UTC calendar day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.decision import Outcome, Question
from ..core.errors import MoneyError
from ..core.intents import CONSEQUENTIAL_KINDS, INTENT_KINDS
from ..core.money import currency_exponent, parse_amount, to_minor

_AMOUNT = r"^[0-9]+(\.[0-9]+)?$"
_DURATION = r"^[1-9][0-9]{0,8}[smhd]$"
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}

EVENT_FIELDS: dict[str, tuple[str, ...] | None] = {
    "type": ("decision", "confirmation"),
    "kind": tuple(INTENT_KINDS) + ("read",),
    "tool": None,
    "outcome": ("allow", "clarify", "escalate"),
    "digest": None,
    "payment_method": None,
    "merchant": None,
    "currency": None,
    "user": None,
}
"""Fields of a session event that ``where`` and ``distinct.field`` may name (None: any text); a
``kind`` is one of the policy's intent kinds (these are the shipped ones)."""

NUMERIC_FIELDS = ("amount",)
PATTERNS = ("changed_after_confirmation", "retry_after_escalation")
SCOPES = ("user", "session", "merchant")


def session_schema() -> dict[str, Any]:
    """The JSON Schema of the ``session`` section (referenced by the policy schema)."""
    duration = {"type": "string", "pattern": _DURATION}
    amount = {"type": "string", "pattern": _AMOUNT}
    where = {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    }
    count = {"type": "object", "additionalProperties": False, "required": ["at_least"],
             "properties": {"where": where, "within": duration, "in_a_row": {"type": "boolean"},
                            "at_least": {"type": "integer", "minimum": 1}}}
    distinct = {"type": "object", "additionalProperties": False, "required": ["field", "at_least"],
                "properties": {"field": {"type": "string"}, "where": where, "within": duration,
                               "at_least": {"type": "integer", "minimum": 1}}}
    total = {"type": "object", "additionalProperties": False, "required": ["field", "currency", "more_than"],
             "properties": {"field": {"type": "string"}, "where": where, "within": duration,
                            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "more_than": amount}}
    sequence = {"type": "object", "additionalProperties": False, "required": ["pattern"],
                "properties": {"pattern": {"enum": list(PATTERNS)}, "within": duration}}
    rule = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]*$"},
            "description": {"type": "string"},
            "count": count, "distinct": distinct, "sum": total, "sequence": sequence,
            "outcome": {"enum": ["clarify", "escalate"]},
            "route": {"enum": ["human", "refuse"]},
            "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "message": {"type": "string"},
            "question": {"type": "string"},
        },
    }
    budget = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "amount", "currency", "scope"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:-]*$"},
            "amount": amount,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "window": duration,
            "scope": {"enum": list(SCOPES)},
            "route": {"enum": ["human", "refuse"]},
            "message": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "rules": {"type": "array", "items": rule},
            "budgets": {"type": "array", "items": budget},
            "single_use_confirmations": {"type": "boolean"},
        },
    }


def duration_us(text: str) -> int:
    """``"90s"`` -> 90,000,000 microseconds."""
    return int(text[:-1]) * _UNIT_US[text[-1]]


@dataclass(frozen=True, slots=True)
class SessionRule:
    """One compiled session rule. ``form`` is ``count``, ``distinct``, ``sum`` or ``sequence``."""

    id: str
    form: str
    where: tuple[tuple[str, frozenset[str]], ...]
    within_us: int | None
    in_a_row: bool
    at_least: int
    field: str | None
    currency: str | None
    limit_minor: int
    pattern: str | None
    code: str
    outcome: Outcome
    route: str
    message: str | None
    question: Question | None
    spec: str

    def matches(self, event: Any) -> bool:
        """True if an event's fields satisfy ``where`` (txguard's own evaluator)."""
        for name, values in self.where:
            if getattr(event, name) not in values:
                return False
        return True

    @property
    def types(self) -> frozenset[str]:
        """The event types this rule looks at (``where.type``)."""
        return dict(self.where)["type"]


@dataclass(frozen=True, slots=True)
class Budget:
    """A spend budget: at most ``limit_minor`` (minor units of ``currency``) per scope and window."""

    id: str
    limit_minor: int
    currency: str
    window_us: int | None
    scope: str
    route: str
    message: str | None
    amount_text: str


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """The compiled ``session`` section.

    ``single_use_confirmations`` is true when the policy says ``single_use_confirmations: true``
    (consumed in the conversation store; a session then needs an ``id``); ``reusable_confirmations``
    when it says ``false``. Absent, confirmations are single-use all the same (:attr:`single_use`),
    in the guard's store when it has one, else in its own in-memory ledger.
    """

    rules: tuple[SessionRule, ...]
    budgets: tuple[Budget, ...]
    single_use_confirmations: bool
    reusable_confirmations: bool = False
    consequential: frozenset[str] = frozenset(CONSEQUENTIAL_KINDS)
    """The policy's consequential kinds (its domain's): a confirmation binds only these."""

    @property
    def single_use(self) -> bool:
        """True unless the policy says ``single_use_confirmations: false``: single use is the default."""
        return not self.reusable_confirmations

    @property
    def needs_session_id(self) -> bool:
        """True if deciding needs a conversation id (rules, budgets or single-use confirmations)."""
        return bool(self.rules or self.budgets or self.single_use_confirmations)


EMPTY_SESSION_POLICY = SessionPolicy((), (), False)

Report = Callable[[tuple[str | int, ...], str, str], None]


def _minor(text: str, currency: str) -> int:
    return to_minor(parse_amount(text, currency_exponent(currency)), currency)


def _where(raw: Mapping[str, Any], at: tuple[str | int, ...], report: Report,
           kinds: tuple[str, ...]) -> tuple[tuple[str, frozenset[str]], ...]:
    out: dict[str, frozenset[str]] = {"type": frozenset({"decision"})}
    for name, value in raw.items():
        values = [value] if isinstance(value, str) else list(value)
        if name not in EVENT_FIELDS:
            report(at + (name,), "txg-path",
                   f"`{name}` is not a field of a session event (expected one of: {', '.join(sorted(EVENT_FIELDS))})")
            continue
        allowed = kinds if name == "kind" else EVENT_FIELDS[name]
        for v in values:
            if allowed is not None and v not in allowed:
                report(at + (name,), "txg-path", f"`{v}` is not a possible `{name}` (expected one of: {', '.join(allowed)})")
        out[name] = frozenset(values)
    return tuple(sorted(out.items()))


def compile_session(raw: Mapping[str, Any] | None, rule_ids: set[str], report: Report,
                    kinds: Sequence[str] | None = None) -> SessionPolicy:
    """Compile a schema-valid ``session`` section; problems go to ``report(path, code, message)``.
    ``kinds``: the intent kinds of the policy's domain that ``where.kind`` may name (default: the
    shipped ones); ``read`` is always one."""
    known = tuple(INTENT_KINDS if kinds is None else kinds) + ("read",)
    if not raw:
        return EMPTY_SESSION_POLICY
    rules: list[SessionRule] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(raw.get("rules", [])):
        at: tuple[str | int, ...] = ("session", "rules", i)
        rid = r["id"]
        if rid in seen or rid in rule_ids:
            where_ = f"session.rules[{seen[rid]}]" if rid in seen else "a rule in `rules`"
            report(at + ("id",), "txg-duplicate", f"rule id `{rid}` is already used by {where_}")
            continue
        seen[rid] = i
        forms = [f for f in ("count", "distinct", "sum", "sequence") if f in r]
        if len(forms) != 1:
            report(at, "txg-schema", "a session rule has exactly one of `count`, `distinct`, `sum` or `sequence`")
            continue
        form = forms[0]
        spec = r[form]
        field = spec.get("field")
        if form == "distinct" and field not in EVENT_FIELDS:
            report(at + (form, "field"), "txg-path",
                   f"`{field}` is not a text field of a session event (expected one of: {', '.join(sorted(EVENT_FIELDS))})")
        if form == "sum" and field not in NUMERIC_FIELDS:
            report(at + (form, "field"), "txg-path",
                   f"`{field}` is not a numeric field of a session event (expected one of: {', '.join(NUMERIC_FIELDS)})")
        limit = 0
        currency = spec.get("currency")
        if form == "sum":
            try:
                limit = _minor(spec["more_than"], currency)
            except MoneyError as exc:
                report(at + (form,), "txg-param", str(exc))
        outcome = r.get("outcome", "escalate")
        code = r.get("code", rid.replace("-", "_").replace(".", "_").replace(":", "_").lower())
        qtext = r.get("question") or ("Can you confirm what you want me to do?" if outcome == "clarify" else None)
        rules.append(SessionRule(
            id=rid, form=form, where=_where(spec.get("where", {}), at + (form, "where"), report, known),
            within_us=duration_us(spec["within"]) if "within" in spec else None,
            in_a_row=bool(spec.get("in_a_row", False)), at_least=int(spec.get("at_least", 1)),
            field=field, currency=currency, limit_minor=limit, pattern=spec.get("pattern"),
            code=code, outcome=Outcome(outcome), route=r.get("route", "human"), message=r.get("message"),
            question=Question(code, qtext) if outcome == "clarify" and qtext else None,
            spec=_describe(form, spec),
        ))
    budgets: list[Budget] = []
    budget_ids: set[str] = set()
    for i, bud in enumerate(raw.get("budgets", [])):
        at = ("session", "budgets", i)
        if bud["id"] in budget_ids:
            report(at + ("id",), "txg-duplicate", f"budget id `{bud['id']}` is used twice")
            continue
        budget_ids.add(bud["id"])
        try:
            limit = _minor(bud["amount"], bud["currency"])
        except MoneyError as exc:
            report(at + ("amount",), "txg-param", str(exc))
            continue
        budgets.append(Budget(
            id=bud["id"], limit_minor=limit, currency=bud["currency"],
            window_us=duration_us(bud["window"]) if "window" in bud else None, scope=bud["scope"],
            route=bud.get("route", "human"), message=bud.get("message"), amount_text=bud["amount"],
        ))
    flag = raw.get("single_use_confirmations")
    return SessionPolicy(tuple(sorted(rules, key=lambda x: x.id)), tuple(sorted(budgets, key=lambda x: x.id)),
                         flag is True, flag is False)


def _describe(form: str, spec: Mapping[str, Any]) -> str:
    within = f" within {spec['within']}" if "within" in spec else ""
    if form == "count":
        return f"{' in a row' if spec.get('in_a_row') else ''}{within}"
    if form == "distinct":
        return f"distinct values of `{spec['field']}`{within}"
    if form == "sum":
        return f"of `{spec['field']}`{within}"
    return within


def merge_session(base: Mapping[str, Any] | None, child: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A child policy's session section can only add rules and budgets and tighten single use.

    ``single_use_confirmations``: ``true`` in either is ``true``; ``false`` holds only if the base
    says it (a child cannot make a base's single-use confirmations reusable); else absent (the
    default, single use).
    """
    if not base and not child:
        return None
    base, child = base or {}, child or {}
    out: dict[str, Any] = {
        "rules": list(base.get("rules", [])) + list(child.get("rules", [])),
        "budgets": list(base.get("budgets", [])) + list(child.get("budgets", [])),
    }
    b, c = base.get("single_use_confirmations"), child.get("single_use_confirmations")
    if b is True or c is True:
        out["single_use_confirmations"] = True
    elif b is False:
        out["single_use_confirmations"] = False
    return out
