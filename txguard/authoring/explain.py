"""Explain: why a decision came out the way it did, rule by rule.

:func:`explain` decides the case with the ordinary :func:`~txguard.engine.evaluate.evaluate` (so the
decision shown is exactly the guard's), then walks the same compiled rule list for the intent
kind (``policy.by_kind``, preconditions first) over the same :class:`~txguard.checks.builtin.Ctx`,
recording for each rule its inputs, whether it fired, was skipped (a precondition it needs
failed) or raised, and why. Custom ``when`` rules are re-walked by a tracing interpreter of the
condition data that records every comparison (left value, operator, right value, result) with
the engine's own semantics and short-circuiting.

For a policy that keeps state across turns (a ``session:`` section), the decision shown is the
guard's with a conversation store (a fresh memory store unless one is given, e.g. with the earlier
turns of a suite case replayed into it), and every session rule is traced over the same log and
the same current event as the guard's evaluator saw: fired or not, and what it measured. Budgets
and single-use confirmations are listed with what the guard did about them.

Nothing here runs on the normal ``check`` path: tracing costs nothing unless one explains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..checks.ctx import Ctx
from ..policy.compile import CompiledPolicy, CompiledRule
from ..policy.conditions import (
    COMPARATORS,
    ConditionError,
    MissingFact,
    _num,
    compare,
    element_condition,
)
from ..core.context import Facts, Proposal, Request, Session
from ..core.decision import Decision
from ..engine.evaluate import Clock, _coerce, _intent_proposal, evaluate
from ..core.intents import CONSEQUENTIAL_KINDS, Checkout, intent_digest
from ..core.money import fact_amount
from ..core.paths import MISSING, compile_path, parse_path
from ..engine.trace import MAX_ELEMENTS, Comparison, RuleTrace, SessionTrace, show

if TYPE_CHECKING:
    from ..sessions import SessionStore

@dataclass(frozen=True)
class SessionExplanation:
    """The session layer's part: the conversation, how many events it had before, each trace."""

    conversation: str | None
    earlier_events: int
    rules: tuple[SessionTrace, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"conversation": self.conversation, "earlier_events": self.earlier_events, "note": self.note,
                "rules": [r.to_dict() for r in self.rules]}

    def render(self) -> list[str]:
        head = (f"session rules (conversation `{self.conversation}`, {self.earlier_events} earlier events)"
                if self.conversation is not None else "session rules (no conversation id)")
        lines = [f"{head}: {len(self.rules)}"]
        if self.note:
            lines.append(self.note)
        for i, t in enumerate(self.rules, 1):
            lines.append(f"{i:>3}. {t.rule} ({t.form}) {t.status.upper()}: {t.why}")
        return lines


@dataclass(frozen=True)
class Explanation:
    """The decision and the trace of every rule considered for its intent kind, in order."""

    decision: Decision
    kind: str | None
    rules: tuple[RuleTrace, ...]
    note: str = ""
    session: SessionExplanation | None = None
    """Only for a policy with a ``session:`` section."""

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision.to_dict(), "kind": self.kind, "note": self.note,
                "rules": [r.to_dict() for r in self.rules],
                "session": self.session.to_dict() if self.session is not None else None}

    def render(self) -> str:
        d = self.decision
        head = f"decision: {d.outcome.value}" + (f" (route: {d.route})" if d.route else "")
        lines = [head + (f" [{self.kind}]" if self.kind else "")]
        for r in d.reasons:
            lines.append(f"  - {r.rule} [{r.code}, {r.outcome.value}]: {r.message}")
        if self.note:
            lines.append(self.note)
        if self.kind is not None:
            lines.append(f"rules for `{self.kind}`, in evaluation order (preconditions first): {len(self.rules)}")
        for i, t in enumerate(self.rules, 1):
            status = t.status.upper()
            lines.append(f"{i:>3}. {t.rule} ({t.check}) {status}: {t.why}")
            if t.location:
                lines.append(f"       at {t.location}")
            for k, v in t.inputs.items():
                lines.append(f"       {k} = {show(v)}")
            for c in t.comparisons:
                lines.append("       " + c.render())
        if self.session is not None:
            lines += self.session.render()
        return "\n".join(lines)


# -- inputs of the built-in checks ----------------------------------------------------------------

def _safe(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except MissingFact as exc:
        return f"<missing: {exc}>"
    except Exception as exc:  # noqa: BLE001 - an explanation shows what it can
        return f"<error: {type(exc).__name__}: {exc}>"


def _lines(ctx: Ctx, fn: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"sku": line.sku, **fn(line)} for line in getattr(ctx.intent, "items", ())]


def _catalog_price(ctx: Ctx, line: Any) -> Any:
    var = ctx.variant(line.product_id, line.sku)
    return fact_amount(var["price"]) if var and "price" in var else MISSING


def _inputs(rule: CompiledRule, ctx: Ctx) -> dict[str, Any]:
    """The values a built-in check reads, computed the way the check computes them."""
    i = ctx.intent
    p = rule.params
    s = ctx.session
    name = rule.check
    get: dict[str, Callable[[], Any]] = {}
    if name == "authentication":
        get = {"session.authenticated_user_id": lambda: s.authenticated_user_id}
    elif name == "consent":
        get = {"intent digest": lambda: intent_digest(i), "session.confirmed (count)": lambda: len(s.confirmed)}
    elif name == "price_cap":
        get = {"currency": lambda: getattr(i, "currency"),
               "amount": lambda: ctx.exposure() if isinstance(i, Checkout) else getattr(i, "amount"),
               "cap": lambda: p["max"].get(getattr(i, "currency"), MISSING)}
        if isinstance(i, Checkout):
            get["stated total"] = lambda: i.total
            get["catalog total"] = lambda: ctx.catalog_total()
        if p["per_category"] is not None:
            get["per-category caps"] = lambda: p["per_category"]
            get["default category cap"] = lambda: p["default"]
    elif name == "budget":
        get = {"request.budget": lambda: ctx.request.budget,
               "budget currency": lambda: ctx.request.currency or ctx.policy.currency,
               "cart currency": lambda: getattr(i, "currency"), "amount": lambda: ctx.exposure()}
    elif name == "total":
        get = {"stated total": lambda: getattr(i, "total"),
               "sum of lines": lambda: sum((l.unit_price * l.quantity for l in getattr(i, "items")), Decimal(0))}
    elif name == "item_exists":
        if hasattr(i, "items"):
            get = {"lines": lambda: _lines(ctx, lambda l: {"product_id": l.product_id,
                                                         "in catalog": ctx.variant(l.product_id, l.sku) is not None})}
        else:
            get = {"item_ids": lambda: list(getattr(i, "item_ids")),
                   "order items": lambda: [str(x.get("item_id")) for x in ctx.order_lines()]}
    elif name == "availability":
        if hasattr(i, "items"):
            get = {"lines": lambda: _lines(ctx, lambda l: {
                "available": (ctx.variant(l.product_id, l.sku) or {}).get("available", MISSING)})}
        else:
            get = {"new items": lambda: [{"item_id": n, "available": (v or {}).get("available", MISSING)}
                                         for n, v in ctx.new_variants()]}
    elif name == "catalog_price":
        get = {"policy currency": lambda: ctx.policy.currency, "cart currency": lambda: getattr(i, "currency"),
               "lines": lambda: _lines(ctx, lambda l: {
                   "agent price": l.unit_price, "catalog price": _catalog_price(ctx, l),
                   "agent title": l.title, "catalog name": (ctx.product(l.product_id) or {}).get("name", MISSING)}),
               "compare_title": lambda: p["compare_title"]}
    elif name == "category":
        get = {"request.product_type": lambda: ctx.request.product_type,
               "request.category": lambda: ctx.request.category, "match": lambda: p["match"],
               "lines": lambda: _lines(ctx, lambda l: {"product type": ctx.line_category(l)})}
    elif name == "quantity":
        get = {"request.quantity": lambda: ctx.request.quantity,
               "cart units": lambda: sum(l.quantity for l in getattr(i, "items"))}
    elif name == "ambiguity":
        get = {"confidence": lambda: getattr(i, "confidence", None), "min_confidence": lambda: p["min_confidence"],
               "alternatives": lambda: len(getattr(i, "alternatives", ())),
               "max_alternatives": lambda: p["max_alternatives"]}
        if p["required_options"]:
            get["required_options"] = lambda: p["required_options"]
            get["request.options"] = lambda: dict(ctx.request.options)
    elif name in ("payment_method", "balance", "refund_destination"):
        get = {"payment_method_id": lambda: getattr(i, "payment_method_id"),
               "acting user": lambda: ctx.acting_user_id(),
               "user's methods": lambda: sorted(ctx.payment_methods())}
        if name == "balance":
            get["balance"] = lambda: (ctx.payment_method(getattr(i, "payment_method_id")) or {}).get("balance", MISSING)
        if name == "refund_destination":
            get["original method"] = lambda: ctx.original_method()
            get["allow_gift_cards"] = lambda: p["allow_gift_cards"]
    elif name == "order_exists":
        get = {"order_id": lambda: getattr(i, "order_id"),
               "in facts.orders": lambda: isinstance(ctx.facts.get("orders", getattr(i, "order_id")), Mapping)}
    elif name == "ownership":
        get = {"authenticated user": lambda: s.authenticated_user_id,
               "owner": lambda: ctx.order().get("user_id") if hasattr(i, "order_id") else getattr(i, "user_id")}
    elif name == "order_status":
        get = {"status": lambda: ctx.order().get("status"), "allowed": lambda: p.get(getattr(i, "kind"), [])}
    elif name in ("same_product", "noop"):
        if hasattr(i, "new_item_ids"):
            get = {"item_ids": lambda: list(getattr(i, "item_ids")), "new_item_ids": lambda: list(getattr(i, "new_item_ids"))}
        elif hasattr(i, "payment_method_id"):
            get = {"payment_method_id": lambda: getattr(i, "payment_method_id"),
                   "original method": lambda: ctx.original_method()}
    elif p is not None:
        get = {"params": lambda: p}
    return {k: _safe(f) for k, f in get.items()}


# -- tracing of `when` conditions -----------------------------------------------------------------

class _Tracer:
    def __init__(self) -> None:
        self.out: list[Comparison] = []

    def eval(self, cond: Any, env: Mapping[str, Any], depth: int) -> bool:
        if "all" in cond or "any" in cond:
            key = "all" if "all" in cond else "any"
            if "for_each" in cond:
                return self._for_each(cond, env, depth, key)
            slot = len(self.out)
            self.out.append(Comparison(depth, key))
            result = _fold(key, (self.eval(part, env, depth + 1) for part in cond[key] or []))
            self.out[slot] = Comparison(depth, key, result=result)
            return result
        if "not" in cond:
            slot = len(self.out)
            self.out.append(Comparison(depth, "not"))
            result = not self.eval(cond["not"], env, depth + 1)
            self.out[slot] = Comparison(depth, "not", result=result)
            return result
        return self._comparison(cond, env, depth)

    def _for_each(self, cond: Mapping[str, Any], env: Mapping[str, Any], depth: int, key: str) -> bool:
        text = cond["for_each"]
        name = cond.get("as", "item")
        seq = compile_path(parse_path(text))(env)
        if seq is MISSING:
            self.out.append(Comparison(depth, f"for_each {text}: <missing>"))
            raise MissingFact(f"`{text}` is not in the facts")
        if isinstance(seq, Mapping):
            seq = list(seq.values())
        if not isinstance(seq, (list, tuple)):
            raise ConditionError(f"`{text}` is not a list")
        slot = len(self.out)
        self.out.append(Comparison(depth, f"for_each {text} as {name} ({key}, {len(seq)} elements)"))
        body = element_condition(cond, key)

        def element(n: int, elem: Any) -> bool:
            if n >= MAX_ELEMENTS:  # judged, not traced
                return _Tracer().eval(body, {**env, name: elem}, 0)
            self.out.append(Comparison(depth + 1, f"{name} = {text}[{n}]"))
            return self.eval(body, {**env, name: elem}, depth + 2)

        result = _fold(key, (element(n, elem) for n, elem in enumerate(seq)))
        self.out[slot] = Comparison(depth, self.out[slot].text, result=result)
        return result

    def _comparison(self, cond: Mapping[str, Any], env: Mapping[str, Any], depth: int) -> bool:
        op = next(k for k in cond if k in COMPARATORS)
        text = cond["path"]
        value = compile_path(parse_path(text))(env)
        operand = cond[op]
        if isinstance(operand, dict) and set(operand) == {"path"}:
            other = compile_path(parse_path(operand["path"]))(env)
            label = f"{text} {op} {operand['path']}"
        else:
            other = [_num(x) for x in operand] if isinstance(operand, list) else _num(operand)
            label = f"{text} {op} {show(operand)}"
        try:
            result = _compare(op, value, other, operand, cond.get("on_missing", "escalate"), text)
        except (MissingFact, ConditionError):
            self.out.append(Comparison(depth, label, value, op, other, None))
            raise
        self.out.append(Comparison(depth, label, value, op, other, result))
        return result


def _fold(key: str, values: Iterator[bool]) -> bool:
    """``all`` or ``any`` over lazily evaluated parts: stops at the first part that decides, as the engine does."""
    return all(values) if key == "all" else any(values)


def _compare(op: str, value: Any, other: Any, operand: Any, on_missing: Any, text: str) -> bool:
    """The engine's comparison semantics (``_conditions``), on already-fetched values."""
    if op == "exists":
        return (value is not MISSING and value is not None) == bool(operand)
    return compare(op, value, other, on_missing, text)


# -- explain ----------------------------------------------------------------------------------------

def explain(policy: CompiledPolicy, envelope: Any, clock: Clock, *, store: SessionStore | None = None) -> Explanation:
    """Decide one wire-format envelope and trace every rule considered for its intent kind.

    For a policy with a ``session:`` section the decision is the guard's with ``store`` (default:
    a fresh memory store, i.e. a conversation with no earlier events), and the session rules are
    traced too; the decision is recorded in ``store`` like any other.
    """
    if not isinstance(envelope, Mapping):
        envelope = {"proposal": envelope}
    now = clock()
    fixed: Clock = lambda: now  # noqa: E731 - the decision and the trace see the same instant
    decision = evaluate(policy, envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                        envelope.get("facts"), fixed)
    session: SessionExplanation | None = None
    if policy.session.needs_session_id:
        decision, session = _explain_session(policy, envelope, fixed, decision, store)
    intent = decision.intent
    if intent is None:
        return Explanation(decision, decision.kind, (),
                           "no rule was considered: the input did not become an intent with a valid context", session)
    raw = envelope.get("proposal")
    if isinstance(raw, BaseModel) and not isinstance(raw, Proposal):
        prop = _intent_proposal(str(getattr(intent, "kind")))  # an intent given validated, as evaluate does
    else:
        prop = Proposal.model_validate(raw)
    facts = envelope.get("facts")
    ctx = Ctx(intent, _coerce(Request, envelope.get("request"), Request()),
              _coerce(Session, envelope.get("session"), Session()),
              facts if isinstance(facts, Facts) else Facts(facts), now, policy, prop)
    kind = str(getattr(intent, "kind"))
    failed: dict[str, str] = {}
    traces: list[RuleTrace] = []
    for rule in policy.by_kind.get(kind, ()):
        traces.append(_trace(rule, ctx, failed))
    note = ""
    if not decision.reasons:
        note = f"no rule fired; the policy's default for `{kind}` is `allow`"
    elif any(r.code == "default_outcome" for r in decision.reasons):
        note = f"the policy's default for `{kind}` is `{decision.outcome.value}`, above every rule that fired"
    return Explanation(decision, kind, tuple(traces), note, session)


def _explain_session(policy: CompiledPolicy, envelope: Mapping[str, Any], clock: Clock, alone: Decision,
                     store: SessionStore | None) -> tuple[Decision, SessionExplanation]:
    """The guard's decision with a store, and the trace of the session layer over the same log."""
    from .._guard import Guard
    from ..sessions import MemoryStore
    from ..sessions._events import to_us
    from ..sessions._rules import fire, own_hit

    store = store if store is not None else MemoryStore()
    raw = envelope.get("session")
    cid = raw.get("id") if isinstance(raw, Mapping) else getattr(raw, "id", None)
    cid = cid if isinstance(cid, str) else None
    before = store.events(cid) if cid is not None else []
    decision = Guard(policy, clock=clock, sessions=store).check_envelope(envelope)
    new = store.events(cid)[len(before):] if cid is not None else []
    sp = policy.session
    fired = {r.rule: r for r in decision.reasons}
    traces: list[SessionTrace] = []
    if not new or new[-1].type != "decision":
        why = ("the session has no `id`, so there is no conversation" if cid is None
               else "the session layer recorded nothing (see the decision's reasons)")
        traces += [SessionTrace(r.id, r.form, r.code, r.outcome.value, "not checked", why) for r in sp.rules]
        return decision, SessionExplanation(cid, len(before), tuple(traces), why)
    # What the guard's evaluator saw: the log (with the confirmations this check added) and this
    # proposal as a decision event carrying the per-proposal outcome.
    log = [*before, *new[:-1]]
    current = replace(new[-1], outcome=alone.outcome.value, codes=())
    hit = own_hit(to_us(clock()), current)
    for rule in sp.rules:
        why_not: list[str] = []
        detail = fire(rule, log, current, hit, why_not)
        form = rule.form if rule.form != "sequence" else f"sequence: {rule.pattern}"
        traces.append(SessionTrace(rule.id, form, rule.code, rule.outcome.value,
                                   "fired" if detail is not None else "not fired",
                                   detail if detail is not None else why_not[0]))
    for b in sp.budgets:
        r = fired.get(f"budgets.{b.id}")
        if r is not None:
            traces.append(SessionTrace(r.rule, "budget", r.code, r.outcome.value, "fired", r.message))
        elif decision.outcome.value == "allow" and decision.kind == "checkout":
            traces.append(SessionTrace(f"budgets.{b.id}", "budget", "budget_exceeded", "escalate", "not fired",
                                       f"the checkout fits: reserved against {b.amount_text} {b.currency} per {b.scope}"))
        else:
            traces.append(SessionTrace(f"budgets.{b.id}", "budget", "budget_exceeded", "escalate", "not checked",
                                       "budgets are charged only by an allowed checkout"))
    if sp.single_use_confirmations:
        rid = "session.single_use_confirmations"
        r = fired.get(rid)
        if r is not None:
            traces.append(SessionTrace(rid, "single_use", r.code, r.outcome.value, "fired", r.message))
        elif decision.outcome.value == "allow":
            traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not fired",
                                       "not used before: an allowed consequential decision consumes the "
                                       "confirmation it matched" if decision.kind in CONSEQUENTIAL_KINDS
                                       else "this kind needs no confirmation"))
        else:
            traces.append(SessionTrace(rid, "single_use", "confirmation_used", "clarify", "not checked",
                                       "a confirmation is consumed only by an allowed decision"))
    note = ("" if before else
            "a fresh conversation: no earlier events (explain a later turn of a suite case with "
            "`txguard explain --suite FILE --case ID --turn N`)")
    return decision, SessionExplanation(cid, len(before), tuple(traces), note)


def _trace(rule: CompiledRule, ctx: Ctx, failed: dict[str, str]) -> RuleTrace:
    base: dict[str, Any] = {"rule": rule.id, "check": rule.check or "when", "code": rule.code, "outcome": rule.outcome.value,
            "location": f"{rule.location[0]}:{rule.location[1]}:{rule.location[2]}"}
    blocked = sorted(rule.needs & set(failed))
    if blocked:
        why = "; ".join(f"needs `{n}`, which failed ({failed[n]} fired)" for n in blocked)
        return RuleTrace(status="skipped", why=why, **base)
    inputs = _inputs(rule, ctx) if rule.check is not None else {}
    comparisons: tuple[Comparison, ...] = ()
    if rule.check is None:
        tracer = _Tracer()
        env = {"intent": ctx.intent, "request": ctx.request, "session": ctx.session, "facts": ctx.facts.raw()}
        try:
            tracer.eval(rule.source["when"], env, 0)
        except Exception:  # noqa: BLE001 - the engine's own call below says what happened
            pass
        comparisons = tuple(tracer.out)
    try:
        message = rule.fn(ctx, rule.params)
    except MissingFact as exc:
        if rule.provides:
            failed[rule.provides] = rule.id
        return RuleTrace(status="error", why=f"missing_fact, escalate: {exc}", inputs=inputs,
                         comparisons=comparisons, **base)
    except Exception as exc:  # noqa: BLE001
        if rule.provides:
            failed[rule.provides] = rule.id
        return RuleTrace(status="error", why=f"check_error, escalate: {type(exc).__name__}: {exc}",
                         inputs=inputs, comparisons=comparisons, **base)
    if message is None:
        return RuleTrace(status="not fired", why=_quiet_reason(rule, inputs), inputs=inputs,
                         comparisons=comparisons, **base)
    if rule.outcome.value == "escalate" and rule.provides:
        failed[rule.provides] = rule.id
    why = f"{rule.outcome.value} [{rule.code}]: {message}"
    description = rule.source.get("description") if rule.check is None else None
    if isinstance(description, str) and description not in message:
        why += f" (description: {description})"  # for the author; never in the user's message
    return RuleTrace(status="fired", why=why, inputs=inputs, comparisons=comparisons, **base)


def _quiet_reason(rule: CompiledRule, inputs: Mapping[str, Any]) -> str:
    if rule.check is None:
        return "the condition is false"
    if rule.check in ("budget", "quantity") and inputs.get(f"request.{rule.check}") is None:
        return f"the user stated no {rule.check}"
    if rule.check == "category" and inputs.get("request.product_type") is None and inputs.get("request.category") is None:
        return "the user named no product type or category"
    return "the check passed"
