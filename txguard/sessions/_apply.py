"""Joining a conversation's session rules, budgets and single-use confirmations with a decision.

For a guard with a store, ``check`` decides the proposal as usual (one clock reading for the whole
check), then, in one store transaction for the conversation (``session.id``):

1. reads the conversation's events and logs the confirmations it has not seen yet;
2. evaluates the policy's session rules over the events plus this proposal (as a ``decision``
   event with the per-proposal outcome);
3. joins their reasons with the decision by the maximum rule (reasons sorted like the others);
4. only if the joined outcome is ``allow``: reserves the checkout's spend against every budget and
   consumes the single-use confirmation, all or nothing (a failure escalates or clarifies);
5. appends the decision event (with its final outcome and reason codes) and commits.

Anything that fails on the way escalates (``session_store_error``, ``session_engine_error``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any


from ..policy.compile import CompiledPolicy
from ..policy.tools import ProposalError
from ..engine.confirm import confirmation_request
from ..engine.evaluate import _coerce
from ..consent.binding import bind, confirmation_key, ledger_key, resolve
from ..core.context import EMPTY_SESSION, Confirmed, Proposal, Session
from ..core.decision import Decision, Outcome, Question, Reason, Route
from ..core.errors import ConsentTokenError
from ..core.intents import CONSEQUENTIAL_KINDS, INTENT_MODELS, Checkout, intent_digest
from ..core.money import currency_exponent
from ..policy.session import Budget, SessionPolicy
from ._events import Event, to_us
from ._rules import OwnEvaluator, SessionEvaluator, reach
from ._store import Charge, SessionStore

SESSION_CODES: dict[str, str] = {
    "session_id_missing": "the policy has session rules, budgets or single-use confirmations and the session has no `id`",
    "session_store_error": "the conversation store failed; nothing may be executed",
    "session_engine_error": "the session-rule evaluator failed or an action inside it raised",
    "budget_exceeded": "allowing this checkout would take a spend budget past its limit",
    "budget_scope_missing": "a budget is kept per user or per merchant and the checkout names none",
    "budget_currency_mismatch": "the checkout's currency is not the budget's (amounts are never converted)",
    "confirmation_used": "the single-use confirmation of this intent has already been used",
}
"""Reason codes the session layer itself emits (documented; a test keeps this list and the docs equal)."""

Evaluate = Callable[..., Decision]


def _engine_reason(code: str, message: str) -> Reason:
    return Reason(f"txguard:{code}", code, message, Outcome.ESCALATE)


def join(decision: Decision, extra: Sequence[tuple[Reason, Route | None, Question | None]],
         intent: Any = None, precedence: Sequence[Route] = ("refuse", "human")) -> Decision:
    """The decision with more fired rules: outcome by the maximum rule, reasons sorted as usual.

    An escalation's route is the first of ``precedence`` (the policy's ``routes.precedence``) that
    any escalating rule names."""
    if not extra:
        return decision
    reasons = sorted((*decision.reasons, *(r for r, _, _ in extra)), key=lambda r: (-r.outcome.rank, r.rule, r.code))
    outcome = reasons[0].outcome
    if outcome is Outcome.ESCALATE:
        routes = [decision.route] if decision.outcome is Outcome.ESCALATE else []
        routes += [route for r, route, _ in extra if r.outcome is Outcome.ESCALATE]
        return replace(decision, outcome=outcome, reasons=tuple(reasons), questions=(), confirmation=None,
                       route=next((r for r in precedence if r in routes), "human"))
    seen: set[str] = set()
    questions = []
    for q in sorted((*decision.questions, *(q for _, _, q in extra if q is not None)), key=lambda q: q.code):
        if q.code not in seen:
            seen.add(q.code)
            questions.append(q)
    confirmation = decision.confirmation
    if confirmation is None and intent is not None and outcome is Outcome.CLARIFY and decision.kind in CONSEQUENTIAL_KINDS:
        confirmation = confirmation_request(intent)
    return replace(decision, outcome=outcome, reasons=tuple(reasons), questions=tuple(questions),
                   confirmation=confirmation, route=None)


def _tool(proposal: Any) -> str | None:
    if isinstance(proposal, Proposal):
        return proposal.name
    if isinstance(proposal, Mapping) and isinstance(proposal.get("name"), str):
        return str(proposal["name"])
    return None


def _amount(intent: Any) -> tuple[int | None, str | None]:
    total = getattr(intent, "total", None)
    if total is None:
        total = getattr(intent, "amount", None)
    currency = getattr(intent, "currency", None)
    if total is None or not isinstance(currency, str):
        return None, currency if isinstance(currency, str) else None
    return int(total.scaleb(currency_exponent(currency))), currency


def _used_again(decision: Decision, intent: Any) -> Decision:
    """The decision when every confirmation of its intent was already used: ask again."""
    q = Question("confirmation_used", "This confirmation was already used. Do you want to confirm this again?")
    return join(decision, [(Reason("session.single_use_confirmations", "confirmation_used",
                                   "the user's confirmation of this intent was already used once",
                                   Outcome.CLARIFY), None, q)], intent)


def budget_key(budget: Budget, scope_key: str) -> str:
    """A budget counter's identity: what it limits, never which policy checked it.

    The budget's own name, its currency, its window and the scoped subject (user, conversation or
    merchant): a base policy and a child that extends it, or two guards on one store, count the
    same spend against the same counter (each still checks its own limit).
    """
    return f"{budget.id}/{budget.currency}/{budget.window_us or 0}/{budget.scope}:{scope_key}"


class SessionRunner:
    """Runs a guard's checks through a conversation store (see the module docstring)."""

    def __init__(self, policy: CompiledPolicy, store: SessionStore, evaluator: SessionEvaluator | None = None,
                 consent_keys: Mapping[str, bytes] | None = None, *, ledger_only: bool = False) -> None:
        """``ledger_only``: ``store`` is a guard's own single-use ledger (the host gave no store):
        only confirmations are consumed; no conversation log, session rules or budgets."""
        self.policy = policy
        self.store = store
        self.evaluator: SessionEvaluator = evaluator if evaluator is not None else OwnEvaluator()
        self.consent_keys = consent_keys
        self.ledger_only = ledger_only
        self.reach = reach(policy.session)

    def check(self, evaluate: Evaluate, proposal: Any, request: Any, session: Any, facts: Any,
              clock: Callable[[], datetime]) -> Decision:
        """Decide with ``evaluate`` (which returns a new :class:`Decision` each call), then apply the
        session layer in one store transaction."""
        t0 = time.perf_counter_ns()
        try:
            now = clock()
        except Exception:  # noqa: BLE001 - evaluate decides it (internal_error) without touching the store
            return evaluate(self.policy, proposal, request, session, facts, clock)
        if not isinstance(session, Session):
            try:  # validated once here; evaluate takes the model as it is
                session = _coerce(Session, session, EMPTY_SESSION)
            except Exception:  # noqa: BLE001 - evaluate escalates it as malformed_context
                pass
        decision = evaluate(self.policy, proposal, request, session, facts, lambda: now, self.consent_keys)
        try:
            final = self._apply(decision, proposal, session, now)
        except Exception as exc:  # noqa: BLE001 - fail closed
            final = join(decision, [(_engine_reason("session_store_error", f"{type(exc).__name__}: {str(exc)[:200]}"),
                                     "human", None)], precedence=self.policy.route_precedence)
        # ``final`` was made by this check and has not escaped it yet, so it can take its timing in
        # place (``elapsed_us`` is not compared; dataclasses.replace would cost a second copy).
        object.__setattr__(final, "elapsed_us", (time.perf_counter_ns() - t0) / 1000)
        return final

    def _apply(self, decision: Decision, proposal: Any, session: Any, now: datetime) -> Decision:
        sp: SessionPolicy = self.policy.session
        try:
            ses = _coerce(Session, session, EMPTY_SESSION)
        except Exception:  # noqa: BLE001 - the decision already escalated as malformed_context
            return decision
        cid = ses.id
        if self.ledger_only:
            return self._consume_only(decision, proposal, ses, now, cid)
        if cid is None:
            if sp.needs_session_id:
                return join(decision, [(_engine_reason(
                    "session_id_missing",
                    "the policy keeps state across turns (session rules, budgets or single-use confirmations) "
                    "and the session has no `id`"), "human", None)], precedence=self.policy.route_precedence)
            return self._consume_only(decision, proposal, ses, now, None)
        now_us = to_us(now)
        intent = decision.intent
        kind = decision.kind
        digest = intent_digest(intent) if intent is not None and kind in INTENT_MODELS else None
        amount, currency = _amount(intent)
        tool = _tool(proposal)
        arguments = proposal.get("arguments") if isinstance(proposal, Mapping) else getattr(proposal, "arguments", None)

        def event(seq: int, outcome: str, codes: tuple[str, ...] = ()) -> Event:
            return Event(seq=seq, type="decision", at_us=now_us, turn=ses.turn, kind=kind, tool=tool, outcome=outcome,
                         digest=digest, payment_method=getattr(intent, "payment_method_id", None),
                         merchant=getattr(intent, "merchant", None), currency=currency, user=ses.authenticated_user_id,
                         amount_minor=amount, codes=codes)

        # The confirmations that bind this intent (the very ones the consent check accepts), in
        # session order: a single-use allow consumes the first of them not used yet.
        bound = self._bound(intent, digest, ses, now, tool, arguments)
        usable = [ledger_key(c, digest or "", cid) for c in bound]
        given: list[tuple[str, str, str | None]] = []
        for entry in ses.confirmed:
            conf, cdigest, ckind = self._confirmed(entry, digest, kind, bound)
            if cdigest is not None:
                given.append((confirmation_key(cdigest, conf.expires_at, conf.nonce), cdigest, ckind))
        reach = self.reach
        with self.store.transaction(cid) as tx:
            # Only what the rules can look at is read (their windows), never the whole log unless a
            # rule has no window: the cost of a decision does not grow with the conversation.
            events = tx.events() if reach.whole else tx.window(now_us - reach.within_us, reach.tail)
            seq = tx.next_seq()
            logged = tx.logged([k for k, _, _ in given]) if given else set()
            new: list[Event] = []
            for key, cdigest, ckind in given:
                if key in logged:
                    continue
                logged.add(key)
                new.append(Event(seq=seq + len(new), type="confirmation", at_us=now_us, turn=ses.turn,
                                 kind=ckind, digest=cdigest, user=ses.authenticated_user_id, key=key))
            log = [*events, *new]
            current = event(seq + len(new), decision.outcome.value)
            extra: list[tuple[Reason, Route | None, Question | None]] = []
            try:
                for r in self.evaluator.evaluate(sp, log, current, now_us):
                    rule = next(x for x in sp.rules if x.id == r.rule)
                    extra.append((r, rule.route if r.outcome is Outcome.ESCALATE else None, rule.question))  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - an evaluator failure escalates
                extra.append((_engine_reason("session_engine_error", f"{type(exc).__name__}: {str(exc)[:200]}"),
                              "human", None))
            final = join(decision, extra, intent, self.policy.route_precedence)
            if final.outcome is Outcome.ALLOW:
                final = self._reserve(tx, final, intent, cid, ses, now_us, sorted(usable))
            codes = final.codes
            # an unchanged allow logs the very event the rules saw (saves building it twice)
            done = current if not codes and final.outcome.value == current.outcome else event(current.seq, final.outcome.value, codes)
            tx.append([*new, done])
        return final

    def _bound(self, intent: Any, digest: str | None, ses: Session, now: datetime, tool: str | None,
               arguments: Any) -> tuple[Confirmed, ...]:
        """The confirmations that bind this intent (the very ones the consent check accepts), in
        session order: a single-use allow consumes the first not used yet."""
        if digest is None:
            return ()
        return bind(self.policy, intent, ses.confirmed, now, digest=digest, keys=self.consent_keys,
                    proposal=Proposal(name=tool, arguments=arguments) if tool is not None else None).confirmations

    def _consume_only(self, decision: Decision, proposal: Any, ses: Session, now: datetime,
                      cid: str | None) -> Decision:
        """Single use without a conversation log: an allowed consequential intent consumes one of
        the confirmations that bind it (consumed on allow only: a confirmation is used when the
        action it confirms is allowed)."""
        intent = decision.intent
        if (decision.outcome is not Outcome.ALLOW or decision.kind not in CONSEQUENTIAL_KINDS
                or not self.policy.session.single_use or intent is None or not ses.confirmed):
            return decision
        tool = _tool(proposal)
        arguments = proposal.get("arguments") if isinstance(proposal, Mapping) else getattr(proposal, "arguments", None)
        digest = intent_digest(intent)
        usable = [ledger_key(c, digest, cid) for c in self._bound(intent, digest, ses, now, tool, arguments)]
        if not usable or self.store.consume(usable):
            return decision
        return _used_again(decision, intent)

    def _confirmed(self, given: Confirmed, digest: str | None, kind: str | None,
                   bound: Sequence[Confirmed]) -> tuple[Confirmed, str | None, str | None]:
        """The confirmation (a token verified), the digest it binds and its kind, for the log."""
        try:
            conf = resolve(given, self.consent_keys)
        except ConsentTokenError:
            return given, None, None
        if conf in bound:
            return conf, digest, kind
        if conf.digest is not None:
            return conf, conf.digest, (kind if conf.digest == digest else None)
        try:
            other = self.policy.to_intent(Proposal(name=conf.name or "", arguments=conf.arguments))
        except ProposalError:
            return conf, None, None
        okind = str(getattr(other, "kind"))
        if okind not in INTENT_MODELS:
            return conf, None, None
        try:
            return conf, intent_digest(other), okind
        except Exception:  # noqa: BLE001 - e.g. a lone surrogate: unencodable, it confirms (and logs) nothing
            return conf, None, None

    def _reserve(self, tx: Any, decision: Decision, intent: Any, cid: str, ses: Session, now_us: int,
                 usable: list[str]) -> Decision:
        sp = self.policy.session
        charges: list[Charge] = []
        problems: list[tuple[Reason, Route | None, Question | None]] = []
        if isinstance(intent, Checkout):
            for b in sp.budgets:
                rid = f"budgets.{b.id}"
                if intent.currency != b.currency:
                    problems.append((Reason(rid, "budget_currency_mismatch",
                                            f"budget `{b.id}` is in {b.currency}; the checkout is in {intent.currency}",
                                            Outcome.ESCALATE), b.route, None))  # type: ignore[arg-type]
                    continue
                scope_key = {"user": ses.authenticated_user_id, "session": cid, "merchant": intent.merchant}[b.scope]
                if scope_key is None:
                    problems.append((Reason(rid, "budget_scope_missing",
                                            f"budget `{b.id}` is kept per {b.scope} and the checkout names no {b.scope}",
                                            Outcome.ESCALATE), b.route, None))  # type: ignore[arg-type]
                    continue
                amount = int(intent.total.scaleb(currency_exponent(intent.currency)))
                charges.append(Charge(b.id, budget_key(b, scope_key),
                                      now_us // b.window_us if b.window_us else 0, amount, b.limit_minor))
        if problems:
            return join(decision, problems, intent, self.policy.route_precedence)
        # a confirmation with a nonce (a token) is consumed once per store, one without per conversation
        single = usable if sp.single_use and decision.kind in CONSEQUENTIAL_KINDS else []
        if not charges and not single:
            return decision
        failed = tx.reserve(charges, single)
        if failed is None:
            return decision
        if failed == "confirmation":
            return _used_again(decision, intent)
        b = next(x for x in sp.budgets if x.id == failed)
        window = " per window" if b.window_us else ""
        message = b.message or f"this checkout would take budget `{b.id}` ({b.amount_text} {b.currency} per {b.scope}{window}) past its limit"
        return join(decision, [(Reason(f"budgets.{b.id}", "budget_exceeded", message, Outcome.ESCALATE),
                                b.route, None)], intent, self.policy.route_precedence)  # type: ignore[list-item]
