"""Session rules over a conversation's events: the meaning shared by both evaluators, and
txguard's own evaluator.

An evaluator decides which events each rule *matches* (the ``where`` filter and the window, and
for sequences which earlier event pairs with the proposal being decided); the aggregation over the
matched events (counting, distinct values, sums, "the latest") is this module's, for both
evaluators. The differential test checks that both evaluators match the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core.decision import Outcome, Reason
from ..core.money import format_amount, from_minor
from ..policy.session import SessionPolicy, SessionRule
from ._events import Event
from ._gates import Gate, gates

Hit = Callable[[SessionRule, Event], bool]
"""Does this rule match this event (for sequences: does this earlier event pair with the current one)?"""


class SessionEvaluator(Protocol):
    """Evaluates a policy's session rules over a conversation's events plus the current proposal."""

    name: str

    def evaluate(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
        """The reasons of the rules that fire, sorted by rule id. May raise: the caller escalates."""
        ...


@dataclass(frozen=True, slots=True)
class Reach:
    """How much of a conversation's log the session rules can look at.

    ``whole``: some rule looks at the whole conversation (a ``count``, ``distinct``, ``sum`` or
    ``changed_after_confirmation`` with no ``within``); else the events of the last ``within_us``
    (the longest window, 0 for none) plus, per event type, the last ``tail[type]`` events (an
    ``in_a_row`` count with no window needs its last ``at_least``; ``retry_after_escalation`` the
    last decision). Either way a decision reads no more than its rules can see, so a conversation
    kept alive by a looping agent does not slow every later decision (unless a rule has no window).
    """

    whole: bool
    within_us: int
    tail: tuple[tuple[str, int], ...]


def reach(policy: SessionPolicy) -> Reach:
    """What of the log ``policy``'s session rules can look at (see :class:`Reach`)."""
    whole = False
    within = 0
    tail: dict[str, int] = {}
    for rule in policy.rules:
        if rule.pattern == "retry_after_escalation":
            tail["decision"] = max(tail.get("decision", 0), 1)
        elif rule.within_us is not None:
            pass
        elif rule.form == "count" and rule.in_a_row:
            for t in rule.types:
                tail[t] = max(tail.get(t, 0), rule.at_least)
            continue
        else:
            whole = True
        if rule.within_us is not None:
            within = max(within, rule.within_us)
    return Reach(whole, within, tuple(sorted(tail.items())))


def last_decision(events: Sequence[Event]) -> Event | None:
    """The most recent ``decision`` event of the log, if any."""
    for e in reversed(events):
        if e.type == "decision":
            return e
    return None


def fire(rule: SessionRule, events: Sequence[Event], current: Event, hit: Hit,
         why_not: list[str] | None = None) -> str | None:
    """The detail message if ``rule`` fires, else None. ``hit`` is the evaluator's matching.

    With ``why_not`` (``txguard explain``), a rule that does not fire appends what it measured.
    """
    if rule.form == "count":
        if rule.in_a_row:
            # Counted back only as far as the rule looks: a run longer than ``at_least`` reads the
            # same (the store gives no more than the last ``at_least`` events of the rule's types).
            n = 1 if hit(rule, current) else 0
            if n:
                types = rule.types
                for e in reversed(events):
                    if n >= rule.at_least:
                        break
                    if e.type not in types:
                        continue
                    if not hit(rule, e):
                        break
                    n += 1
        else:
            n = sum(1 for e in events if hit(rule, e)) + (1 if hit(rule, current) else 0)
        if n < rule.at_least and why_not is None:
            return None
        detail = f"{n} matching events{rule.spec} (the rule fires at {rule.at_least})"
        if n >= rule.at_least:
            return detail
    elif rule.form == "distinct":
        field = rule.field or ""
        values = {getattr(e, field) for e in (*events, current) if hit(rule, e)} - {None}
        if len(values) < rule.at_least and why_not is None:
            return None
        detail = f"{len(values)} {rule.spec} (the rule fires at {rule.at_least})"
        if len(values) >= rule.at_least:
            return detail
    elif rule.form == "sum":
        total = 0
        for e in (*events, current):
            if e.amount_minor is not None and e.currency == rule.currency and hit(rule, e):
                total += e.amount_minor
        cur = rule.currency or ""
        if total > rule.limit_minor:
            return (f"{format_amount(from_minor(total, cur), cur)} {rule.spec}, more than "
                    f"{format_amount(from_minor(rule.limit_minor, cur), cur, code=False)}")
        if why_not is None:
            return None
        detail = (f"{format_amount(from_minor(total, cur), cur)} {rule.spec}, not more than "
                  f"{format_amount(from_minor(rule.limit_minor, cur), cur, code=False)}")
    elif rule.pattern == "changed_after_confirmation":
        confirmations = [e for e in events if hit(rule, e)]
        if confirmations:
            latest = max(confirmations, key=lambda e: e.seq)
            if latest.digest != current.digest:
                return f"the user's latest confirmation in this conversation was for a different {current.kind}"
            if why_not is None:
                return None
            detail = f"the user's latest confirmation in this conversation is for this very {current.kind}"
        else:
            detail = f"no confirmation of a {current.kind} in this conversation within the window"
    else:
        prev = last_decision(events)
        if prev is not None and hit(rule, prev):
            return f"the previous {current.kind} in this conversation was escalated"
        if why_not is None:
            return None
        detail = (f"the previous decision of this conversation was not an escalated {current.kind} within the window"
                  if prev is not None else "no earlier decision in this conversation")
    if why_not is not None:
        why_not.append(detail)
    return None


def reason(rule: SessionRule, detail: str) -> Reason:
    """The reason a fired session rule adds to the decision."""
    message = rule.message.replace("{detail}", detail) if rule.message else detail
    return Reason(rule.id, rule.code, message, rule.outcome)


def in_window(rule: SessionRule, e: Event, now_us: int) -> bool:
    return rule.within_us is None or now_us - e.at_us < rule.within_us


def own_hit(now_us: int, current: Event, policy: SessionPolicy) -> Hit:
    """txguard's own matching: ``where`` and the window; the pairing conditions of sequences."""
    consequential = current.kind in policy.consequential and current.digest is not None

    def hit(rule: SessionRule, e: Event) -> bool:
        if rule.form != "sequence":
            # the same conjunction as ``rule.matches(e) and in_window(...)``, inlined: the hot loop
            within = rule.within_us
            if within is not None and now_us - e.at_us >= within:
                return False
            for name, values in rule.where:
                if getattr(e, name) not in values:
                    return False
            return True
        if rule.pattern == "changed_after_confirmation":
            return (consequential and e.type == "confirmation" and e.kind == current.kind
                    and in_window(rule, e, now_us))
        return (current.kind is not None and e.type == "decision" and e.outcome == "escalate"
                and e.kind == current.kind and in_window(rule, e, now_us))

    return hit


_GATES: dict[int, tuple[SessionPolicy, tuple[Gate, ...]]] = {}
"""The gates of the policies evaluated lately, by ``id`` (the policy is kept, and checked with ``is``)."""


class OwnEvaluator:
    """txguard's own session-rule evaluator: plain Python over the event list.

    Each rule's compiled gate (:mod:`._gates`, kept per policy) settles the usual decision, on
    which no rule fires; when a gate says a rule could fire (or raises), every rule is evaluated
    by the reference (``fire_all`` with ``own_hit``), which words the reasons."""

    name = "txguard"

    def evaluate(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
        cached = _GATES.get(id(policy))
        if cached is None or cached[0] is not policy:
            if len(_GATES) >= 64:
                _GATES.clear()
            cached = _GATES[id(policy)] = (policy, gates(policy))
        try:
            for gate in cached[1]:
                if gate(events, current, now_us):
                    break
            else:
                return []
        except Exception:  # noqa: BLE001 - the reference words what fails
            pass
        return reference(policy, events, current, now_us)


def reference(policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
    """txguard's own evaluation of every session rule, rule by rule and event by event (what the
    gates of :class:`OwnEvaluator` are checked against)."""
    return fire_all(policy, events, current, own_hit(now_us, current, policy))


def fire_all(policy: SessionPolicy, events: Sequence[Event], current: Event, hit: Hit) -> list[Reason]:
    """The reasons of every session rule that fires, in policy order: both evaluators end here."""
    out = []
    for rule in policy.rules:
        detail = fire(rule, events, current, hit)
        if detail is not None:
            out.append(reason(rule, detail))
    return out


def outcome_max(reasons: Sequence[Reason]) -> Outcome:
    best = Outcome.ALLOW
    for r in reasons:
        if r.outcome.rank > best.rank:
            best = r.outcome
    return best
