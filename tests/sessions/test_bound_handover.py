"""The session step completes the consent check's binding (``_bound.bound``) instead of binding the
session's confirmations again: it must give exactly what binding them from scratch gives
(``_bound.reference``, kept as the oracle), whatever the confirmations are.

Adversarial confirmations: the very proposal, the same cart re-typed (``true`` for ``1``, ``1.0``,
a string), another cart, malformed arguments, an unknown or stand-in tool, another kind, the
intent's digest and another, expired ones (at and before ``now``), tokens (valid, for another
cart, under an unknown key, malformed, expired), one object repeated, and JSON text arguments.
Then whole guards: one whose session step binds from scratch decides, logs and consumes exactly
as the one that takes the handed-over binding, decision after decision in one conversation.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import ConsentSigner, Guard
from txguard.core.context import Confirmed, Proposal
from txguard.engine.case import Case
from txguard.engine.evaluate import Rules
from txguard.engine.state import State
from txguard.sessions import MemoryStore
from txguard.sessions import _apply
from txguard.sessions._bound import bound, reference

from .helpers import T0, Clock, checkout, policy, session

SIGNER = ConsentSigner(secrets.token_bytes(32), key_id="host-1")
OTHER_SIGNER = ConsentSigner(secrets.token_bytes(32), key_id="host-2")
SINGLE = policy("  single_use_confirmations: true\n")
GUARD = Guard.from_text(SINGLE, clock=lambda: T0, consent_keys=SIGNER)
PROP = checkout()
DIGEST = GUARD.check(PROP, session=session("ask")).confirmation.digest  # type: ignore[union-attr]
OTHER = checkout(total="99.00")
OTHER_DIGEST = GUARD.check(OTHER, session=session("ask")).confirmation.digest  # type: ignore[union-attr]
INTENT = GUARD.policy.to_intent(Proposal(name=PROP["name"], arguments=PROP["arguments"]))


def _retyped(value: Any) -> dict[str, Any]:
    args = json.loads(json.dumps(PROP["arguments"]))
    args["items"][0]["quantity"] = value
    return {"name": "checkout", "arguments": args}


def _at(minutes: int | None) -> str | None:
    return None if minutes is None else (T0 + timedelta(minutes=minutes)).isoformat()


def _entry(kind: str, minutes: int | None) -> dict[str, Any]:
    """One session entry of the given kind, expiring ``minutes`` after T0 (None: never)."""
    expiry = {} if minutes is None else {"expires_at": _at(minutes)}
    when = None if minutes is None else T0 + timedelta(minutes=minutes)
    if kind == "same":
        return {**PROP, **expiry}
    if kind == "text":
        return {"name": "checkout", "arguments": json.dumps(PROP["arguments"]), **expiry}
    if kind in ("true", "float", "string", "huge"):
        value = {"true": True, "float": 1.0, "string": "1", "huge": 10**30}[kind]
        return {**_retyped(value), **expiry}
    if kind == "other":
        return {**OTHER, **expiry}
    if kind == "malformed":
        return {"name": "checkout", "arguments": {"items": "x", "extra": [None, {"\u2028": float("nan")}]}, **expiry}
    if kind == "unknown":
        return {"name": "no_such_tool", "arguments": PROP["arguments"], **expiry}
    if kind == "stand-in":
        return {"name": "intent:checkout", "arguments": PROP["arguments"], **expiry}
    if kind == "kind":
        return {"name": "add_to_cart", "arguments": {"items": PROP["arguments"]["items"], "currency": "USD"}, **expiry}
    if kind == "digest":
        return {"digest": DIGEST, **expiry}
    if kind == "other-digest":
        return {"digest": OTHER_DIGEST, **expiry}
    if kind == "token":
        return {"token": SIGNER.issue(DIGEST, expires_at=when)}
    if kind == "other-token":
        return {"token": SIGNER.issue(OTHER_DIGEST, expires_at=when)}
    if kind == "foreign-token":
        return {"token": OTHER_SIGNER.issue(DIGEST, expires_at=when)}
    if kind == "bad-token":
        return {"token": "txgc1.host-1.garbage"}
    raise AssertionError(kind)


KINDS = ["same", "text", "true", "float", "string", "huge", "other", "malformed", "unknown", "stand-in", "kind",
         "digest", "other-digest", "token", "other-token", "foreign-token", "bad-token"]
entries = st.tuples(st.sampled_from(KINDS), st.sampled_from([None, -5, 0, 1, 60]))
proposals = st.sampled_from(["dict", "text", "intent", "other"])


def _proposal(which: str) -> Any:
    if which == "dict":
        return PROP
    if which == "text":
        return {"name": "checkout", "arguments": json.dumps(PROP["arguments"])}
    if which == "other":
        return OTHER
    return INTENT


def _confirmed(spec: list[tuple[str, int | None]], repeat: list[int]) -> list[Any]:
    out: list[Any] = [_entry(k, m) for k, m in spec]
    if out and repeat:
        built = [Confirmed.model_validate(e) if "token" not in e else e for e in out]
        for i in repeat:  # the very same object again (a host building its session from models)
            built.append(built[i % len(built)])
        return built
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(entries, max_size=5), repeat=st.lists(st.integers(0, 4), max_size=2), which=proposals)
def test_the_handed_over_binding_is_the_binding(spec: list[tuple[str, int | None]], repeat: list[int],
                                                which: str) -> None:
    policy_ = GUARD.policy
    case = Case.read(policy_, _proposal(which), None, session("c", *_confirmed(spec, repeat)), None, lambda: T0,
                     GUARD._keys)
    assert case.ses is not None and case.now is not None and case.mapped.intent is not None
    state = Rules()(case, case.start())
    mapped = case.mapped
    proposal = mapped.prop if mapped.arguments is not None else None
    args = (policy_, mapped.intent, case.ses.confirmed, case.now, DIGEST if which != "other" else OTHER_DIGEST,
            case.keys, proposal, mapped.arguments)
    want = reference(*args)
    assert state.consent is not None  # the consent rule ran and handed its binding over
    assert bound(state.consent, *args) == want
    # the check's own answer agrees: it found one exactly when there is one
    assert bool(state.consent.binding.confirmations) == bool(want)
    assert state.consent.binding.confirmations == want[:1]
    assert bound(None, *args) == want  # nothing handed over: bound from scratch
    kept = state.fire([]).decided(GUARD.check(PROP, session=session("ask")))  # later steps keep it
    assert kept.consent is state.consent


def test_a_binding_handed_over_for_other_inputs_is_not_used() -> None:
    case = Case.read(GUARD.policy, PROP, None, session("c", _entry("same", 60)), None, lambda: T0, GUARD._keys)
    state = Rules()(case, case.start())
    assert state.consent is not None and state.consent.binding.confirmations
    mapped = case.mapped
    assert case.ses is not None and case.now is not None
    none: tuple[Confirmed, ...] = ()
    # the same binding, offered for a session with no confirmation, another clock or other keys
    assert bound(state.consent, GUARD.policy, mapped.intent, none, case.now, DIGEST, case.keys, mapped.prop,
                 mapped.arguments) == ()
    later = case.now + timedelta(days=1)  # the confirmation has expired by then
    assert bound(state.consent, GUARD.policy, mapped.intent, case.ses.confirmed, later, DIGEST, case.keys,
                 mapped.prop, mapped.arguments) == ()
    assert bound(state.consent, GUARD.policy, mapped.intent, case.ses.confirmed, case.now, DIGEST, {"k": b"x" * 32},
                 mapped.prop, mapped.arguments) == state.consent.binding.confirmations


class _FromScratch(_apply.SessionRunner):
    """The session step as it was: every confirmation bound again, ignoring the handed binding."""

    def _bound(self, case: Case, state: State, intent: Any, digest: str | None, ses: Any, now: Any) -> Any:
        return super()._bound(case, State(state.kind, state.intent), intent, digest, ses, now)


def _guards(store_a: MemoryStore, store_b: MemoryStore, clock: Clock, *, ledger: bool) -> tuple[Guard, Guard]:
    a = Guard.from_text(SINGLE, clock=clock, sessions=None if ledger else store_a, consent_keys=SIGNER)
    b = Guard.from_text(SINGLE, clock=clock, sessions=None if ledger else store_b, consent_keys=SIGNER)
    steps = list(b._state.steps)
    for i, step in enumerate(steps):
        if isinstance(step, _apply.SessionRunner):
            steps[i] = _FromScratch(step.policy, step.store, step.evaluator, step.consent_keys,
                                    ledger_only=step.ledger_only)
    b._state = type(b._state)(b._state.policy, tuple(steps))
    return a, b


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=st.lists(st.tuples(st.lists(entries, max_size=3), proposals, st.integers(0, 90)), min_size=1,
                      max_size=6),
       ledger=st.booleans())
def test_guards_decide_log_and_consume_alike(turns: list[tuple[list[tuple[str, int | None]], str, int]],
                                             ledger: bool) -> None:
    store_a, store_b = MemoryStore(), MemoryStore()
    clock = Clock()
    a, b = _guards(store_a, store_b, clock, ledger=ledger)
    for spec, which, seconds in turns:
        clock.advance(seconds=seconds)
        prop, ses = _proposal(which), session("conv", *_confirmed(spec, []))
        got, want = a.check(prop, session=ses), b.check(prop, session=ses)
        assert (got.outcome, got.codes, [r.message for r in got.reasons]) == (
            want.outcome, want.codes, [r.message for r in want.reasons])
    if ledger:
        assert a._ledger._used == b._ledger._used  # type: ignore[union-attr]
    else:
        assert store_a.events("conv") == store_b.events("conv")
        assert store_a._used == store_b._used
