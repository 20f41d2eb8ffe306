"""The session step: a conversation's session rules, budgets and single-use confirmations.

For a guard with a store, the step runs after the rules (one clock reading for the whole case,
``Case.now``), in one store transaction for the conversation (``session.id``):

1. reads the conversation's events and logs the confirmations it has not seen yet;
2. evaluates the policy's session rules over the events plus this proposal (as a ``decision``
   event with the per-proposal outcome: the outcome of the reasons fired so far);
3. adds their reasons to the state (the one ``combine()`` after this step makes the decision);
4. only if the outcome so far is ``allow``: reserves the checkout's spend against every budget and
   consumes the single-use confirmation, all or nothing (a failure escalates or clarifies);
5. appends the decision event (with its final outcome and reason codes) and commits.

Anything that fails on the way escalates (``session_store_error``, ``session_engine_error``).
With a :class:`~txguard.engine.trace.Trace` on the case, the step records what each session rule,
budget and the single-use confirmations did (``_trace.SessionTracer``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..consent.binding import confirmation_key, ledger_key, resolve
from ..core.context import Confirmed, Proposal, Session
from ..core.decision import Outcome, Question, Reason
from ..core.errors import ConsentTokenError
from ..core.intents import Checkout
from ..domain.digest import intent_digest
from ..core.money import to_minor
from ..engine.case import Case
from ..engine.state import State, engine_reason
from ..policy.compile import CompiledPolicy
from ..policy.session import Budget, SessionPolicy
from ..policy.tools import ProposalError
from ._bound import bound
from ._events import Event, to_us
from ._rules import OwnEvaluator, SessionEvaluator, reach
from ._store import Charge, SessionStore
from ._trace import SessionTracer

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


def _tool(proposal: Any) -> str | None:
    if type(proposal) is dict:  # the wire format: the Mapping test below, without the ABC check
        name = proposal.get("name")
        return str(name) if isinstance(name, str) else None
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
    return to_minor(total, currency), currency


def _used_again(state: State) -> State:
    """The state when every confirmation of its intent was already used: ask again."""
    q = Question("confirmation_used", "This confirmation was already used. Do you want to confirm this again?")
    return state.fire([Reason("session.single_use_confirmations", "confirmation_used",
                              "the user's confirmation of this intent was already used once", Outcome.CLARIFY)],
                      questions=[q], confirm=True)


def _no_scope(scope: str) -> str:
    raise KeyError(scope)  # what indexing the scopes by name raised for a scope that is none of them


def budget_key(budget: Budget, scope_key: str) -> str:
    """A budget counter's identity: what it limits, never which policy checked it.

    The budget's own name, its currency, its window and the scoped subject (user, conversation or
    merchant): a base policy and a child that extends it, or two guards on one store, count the
    same spend against the same counter (each still checks its own limit).
    """
    return f"{budget.id}/{budget.currency}/{budget.window_us or 0}/{budget.scope}:{scope_key}"


class SessionRunner:
    """The session step of a guard's pipeline, over a conversation store (see the module docstring)."""

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
        # each budget's counter key up to its scoped subject (`budget_key` without the subject)
        self._prefixes = {b.id: (b, f"{b.id}/{b.currency}/{b.window_us or 0}/{b.scope}:") for b in policy.session.budgets}

    def __call__(self, case: Case, state: State) -> State:
        """The session step: ``state`` with this conversation's session reasons (see the module
        docstring). A case whose clock failed, or whose session is malformed, touches no store."""
        tracer = SessionTracer.of(case, self.policy.session, self.ledger_only)
        if case.now is None or case.ses is None:
            if tracer is not None:
                tracer.not_checked()
            return state
        try:
            final = self._apply(case, state, case.ses, case.now, tracer)
        except Exception as exc:  # noqa: BLE001 - fail closed
            if tracer is not None:
                tracer.not_checked()
            return state.fire([engine_reason("session_store_error", f"{type(exc).__name__}: {str(exc)[:200]}")],
                              ["human"], confirm=True)
        if tracer is not None:
            tracer.done(final)
        return final

    def _apply(self, case: Case, state: State, ses: Session, now: datetime, tracer: SessionTracer | None) -> State:
        sp: SessionPolicy = self.policy.session
        proposal = case.proposal
        cid = ses.id
        if self.ledger_only:
            return self._consume_only(case, state, ses, now, cid)
        if cid is None:
            if sp.needs_session_id:
                return state.fire([engine_reason(
                    "session_id_missing",
                    "the policy keeps state across turns (session rules, budgets or single-use confirmations) "
                    "and the session has no `id`")], ["human"], confirm=True)
            return self._consume_only(case, state, ses, now, None)
        now_us = to_us(now)
        intent = state.intent
        kind = state.kind
        digest = intent_digest(intent) if intent is not None and kind in self.policy.domain.models else None
        amount, currency = _amount(intent)
        tool = _tool(proposal)

        turn, user = ses.turn, ses.authenticated_user_id
        payment, merchant = getattr(intent, "payment_method_id", None), getattr(intent, "merchant", None)

        def event(seq: int, outcome: str, codes: tuple[str, ...] = ()) -> Event:
            # positional, in the field order of `Event` (seq, type, at_us, turn, kind, tool, outcome,
            # digest, payment_method, merchant, currency, user, amount_minor, codes): on every decision
            return Event(seq, "decision", now_us, turn, kind, tool, outcome, digest, payment, merchant, currency, user,
                         amount, codes)

        # The confirmations that bind this intent (the very ones the consent check accepts), in
        # session order: a single-use allow consumes the first of them not used yet.
        bound = self._bound(case, state, intent, digest, ses, now)
        # the ledger keys a single-use allow may consume (none when confirmations are reusable)
        usable = [ledger_key(c, digest or "", cid) for c in bound] if sp.single_use and kind in sp.consequential else []
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
            log = [*events, *new] if new else events
            current = event(seq + len(new), state.outcome.value)
            fired: list[Reason] = []
            routes: list[str] = []
            questions: list[Question] = []
            try:
                for r in self.evaluator.evaluate(sp, log, current, now_us):
                    rule = next(x for x in sp.rules if x.id == r.rule)
                    fired.append(r)
                    if r.outcome is Outcome.ESCALATE:
                        routes.append(rule.route)
                    if rule.question is not None:
                        questions.append(rule.question)
            except Exception as exc:  # noqa: BLE001 - an evaluator failure escalates
                fired.append(engine_reason("session_engine_error", f"{type(exc).__name__}: {str(exc)[:200]}"))
                routes.append("human")
            if tracer is not None:
                tracer.rules(seq, log, current, now_us, fired)
            final = state.fire(fired, routes, questions, confirm=True)
            if final.outcome is Outcome.ALLOW:
                final = self._reserve(tx, final, intent, cid, ses, now_us, sorted(usable), amount)
            codes = final.codes if final.reasons else ()
            # an unchanged allow logs the very event the rules saw (saves building it twice)
            done = current if not codes and final.outcome.value == current.outcome else event(current.seq, final.outcome.value, codes)
            tx.append([*new, done])
        return final

    def _bound(self, case: Case, state: State, intent: Any, digest: str | None, ses: Session,
               now: datetime) -> tuple[Confirmed, ...]:
        """The confirmations that bind this intent (the very ones the consent check accepts), in
        session order: a single-use allow consumes the first not used yet. The proposal and its
        parsed arguments are the case's, as the consent check is given them (no second validation);
        the consent check's own binding, handed over on the state, is completed rather than bound
        again (``_bound.bound``)."""
        if digest is None:
            return ()
        mapped = case.mapped
        proposal = mapped.prop if mapped.arguments is not None else None  # None: an intent given validated
        return bound(state.consent, self.policy, intent, ses.confirmed, now, digest, self.consent_keys, proposal,
                     mapped.arguments)

    def _consume_only(self, case: Case, state: State, ses: Session, now: datetime, cid: str | None) -> State:
        """Single use without a conversation log: an allowed consequential intent consumes one of
        the confirmations that bind it (consumed on allow only: a confirmation is used when the
        action it confirms is allowed)."""
        intent = state.intent
        if (state.outcome is not Outcome.ALLOW or state.kind not in self.policy.domain.consequential
                or not self.policy.session.single_use or intent is None or not ses.confirmed):
            return state
        digest = intent_digest(intent)
        usable = [ledger_key(c, digest, cid) for c in self._bound(case, state, intent, digest, ses, now)]
        if not usable or self.store.consume(usable):
            return state
        return _used_again(state)

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
        if okind not in self.policy.domain.models:
            return conf, None, None
        try:
            return conf, intent_digest(other), okind
        except Exception:  # noqa: BLE001 - e.g. a lone surrogate: unencodable, it confirms (and logs) nothing
            return conf, None, None

    def _reserve(self, tx: Any, state: State, intent: Any, cid: str, ses: Session, now_us: int,
                 usable: list[str], amount_minor: int | None = None) -> State:
        sp = self.policy.session
        charges: list[Charge] = []
        problems: list[Reason] = []
        routes: list[str] = []
        if isinstance(intent, Checkout):
            for b in sp.budgets:
                if intent.currency != b.currency:
                    problems.append(Reason(f"budgets.{b.id}", "budget_currency_mismatch",
                                           f"budget `{b.id}` is in {b.currency}; the checkout is in {intent.currency}",
                                           Outcome.ESCALATE))
                    routes.append(b.route)
                    continue
                scope = b.scope
                scope_key = (ses.authenticated_user_id if scope == "user" else cid if scope == "session"
                             else intent.merchant if scope == "merchant" else _no_scope(scope))
                if scope_key is None:
                    problems.append(Reason(f"budgets.{b.id}", "budget_scope_missing",
                                           f"budget `{b.id}` is kept per {b.scope} and the checkout names no {b.scope}",
                                           Outcome.ESCALATE))
                    routes.append(b.route)
                    continue
                amount = amount_minor if amount_minor is not None else to_minor(intent.total, intent.currency)
                prefix = self._prefixes.get(b.id)
                key = budget_key(b, scope_key) if prefix is None or prefix[0] is not b else f"{prefix[1]}{scope_key}"
                charges.append(Charge(b.id, key,
                                      now_us // b.window_us if b.window_us else 0, amount, b.limit_minor))
        if problems:
            return state.fire(problems, routes, confirm=True)
        # a confirmation with a nonce (a token) is consumed once per store, one without per conversation
        single = usable if sp.single_use and state.kind in sp.consequential else []
        if not charges and not single:
            return state
        failed = tx.reserve(charges, single)
        if failed is None:
            return state
        if failed == "confirmation":
            return _used_again(state)
        b = next(x for x in sp.budgets if x.id == failed)
        window = " per window" if b.window_us else ""
        message = b.message or f"this checkout would take budget `{b.id}` ({b.amount_text} {b.currency} per {b.scope}{window}) past its limit"
        return state.fire([Reason(f"budgets.{b.id}", "budget_exceeded", message, Outcome.ESCALATE)], [b.route],
                          confirm=True)
