"""Adversarial review of issue 13's session and audit fast paths, as whole guards.

A fast guard (the consent check's binding handed to the session step, compiled gates, the memory
store's window hint) and a reference guard (every confirmation bound from scratch, every rule
evaluated by ``_rules.reference``, windows picked by the general ``select_window``) decide the same
random conversations: random session rules of every form (windows, ``in_a_row``, sums in two
currencies, both sequences), budgets in two currencies and three scopes, single use on or off,
confirmations by proposal, by an earlier proposal, by digest and by token, repeated, expiring at
exactly ``now`` or just after, a clock that also goes back, two interleaved conversations, JSON
text arguments. Decisions, each conversation's log, the budget counters, the used confirmations
and the audit bodies must be the same. Also: the journal MAC keyed once equals ``journal_mac`` for
keys longer than a block.
"""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta
from typing import Any

import pytest

from txguard import ConsentSigner, Guard
from txguard.audit.sinks.journal import _MacKey, journal_mac
from txguard.audit.sinks.memory import MemorySink
from txguard.engine.state import State
from txguard.policy.session import SessionPolicy
from txguard.sessions import MemoryStore, _apply
from txguard.sessions._events import Event
from txguard.sessions._rules import reference
from txguard.sessions._store import _MemoryTx, select_window

from .sessions.helpers import HEAD, T0

BASE = HEAD.replace("id: sessions-test", "id: adversarial-13")
WHERE: dict[str, list[Any]] = {"type": ["decision", "confirmation", ["decision", "confirmation"]], "kind": ["checkout", "add_to_cart"],
         "outcome": ["allow", "clarify", "escalate", ["allow", "clarify"]], "tool": ["checkout", "add_to_cart"],
         "payment_method": ["card_1", "card_2"], "merchant": ["shop", "shop2"], "currency": ["USD", "EUR"]}


def _rule(r: random.Random, i: int) -> dict[str, Any]:
    form = r.choice(["count", "distinct", "sum", "sequence"])
    within = r.choice([None, "1s", "30s", "5m", "1h"])
    spec: dict[str, Any] = {} if within is None else {"within": within}
    if form == "sequence":
        spec["pattern"] = r.choice(["changed_after_confirmation", "retry_after_escalation"])
    else:
        fields = r.sample(sorted(WHERE), r.randint(0, 2))
        spec["where"] = {f: r.choice(WHERE[f]) for f in fields}
    if form == "count":
        spec.update(at_least=r.randint(1, 4), in_a_row=r.random() < 0.5)
    elif form == "distinct":
        spec.update(field=r.choice(["payment_method", "merchant", "kind", "user", "digest"]), at_least=r.randint(1, 3))
    elif form == "sum":
        spec.update(field="amount", currency=r.choice(["USD", "EUR"]), more_than=r.choice(["0.00", "150.00", "400.00"]))
    return {"id": f"r{i}", form: spec, "outcome": r.choice(["clarify", "escalate"])}


def _policy(r: random.Random) -> str:
    sess: dict[str, Any] = {"rules": [_rule(r, i) for i in range(r.randint(0, 3))]}
    if r.random() < 0.5:
        sess["budgets"] = [{"id": f"b{i}", "amount": r.choice(["300.00", "700.00"]), "currency": r.choice(["USD", "EUR"]),
                            **({"window": r.choice(["1h", "1d"])} if r.random() < 0.6 else {}),
                            "scope": r.choice(["user", "session", "merchant"])} for i in range(r.randint(1, 2))]
    sess["single_use_confirmations"] = r.random() < 0.7
    return BASE + "session: " + json.dumps(sess) + "\n"


def _checkout(r: random.Random) -> dict[str, Any]:
    total = r.choice(["100.00", "150.00", "250.00"])
    args: dict[str, Any] = {
        "items": [{"sku": r.choice(["111", "222"]), "product_id": "p1", "title": r.choice(["Kettle", 'K"t\\e 1e5', "K\U0001F600"]),
                   "quantity": 1, "unit_price": total}],
        "currency": r.choice(["USD", "USD", "EUR"]), "total": total, "payment_method_id": r.choice(["card_1", "card_2"])}
    merchant = r.choice(["shop", "shop2", None])
    if merchant is not None:
        args["merchant"] = merchant
    return {"name": "checkout", "arguments": args}


class _ReferenceEvaluator:
    """Every session rule evaluated rule by rule, event by event (no gates)."""

    name = "txguard"

    def evaluate(self, policy: SessionPolicy, events: Any, current: Event, now_us: int) -> list[Any]:
        return reference(policy, events, current, now_us)


class _NoHintTx(_MemoryTx):
    def window(self, since_us: int, tail: Any) -> list[Event]:
        return select_window(self._store._events.get(self._cid, ()), since_us, tail)


class _NoHintStore(MemoryStore):
    """The memory store with every window picked by the general scan (no hint, no bisection)."""

    def transaction(self, conversation_id: str) -> _MemoryTx:
        return _NoHintTx(self, conversation_id)


class _FromScratch(_apply.SessionRunner):
    """The session step binding every confirmation again (the handed binding dropped)."""

    def _bound(self, case: Any, state: State, intent: Any, digest: Any, ses: Any, now: Any) -> Any:
        return super()._bound(case, State(state.kind, state.intent), intent, digest, ses, now)


def _reference_guard(text: str, clock: Any, store: MemoryStore, signer: ConsentSigner, sink: MemorySink) -> Guard:
    guard = Guard.from_text(text, clock=clock, sessions=store, consent_keys=signer, audit=sink,
                            session_evaluator=_ReferenceEvaluator())
    steps = list(guard._state.steps)
    for i, step in enumerate(steps):
        if isinstance(step, _apply.SessionRunner):
            steps[i] = _FromScratch(step.policy, step.store, step.evaluator, step.consent_keys, ledger_only=step.ledger_only)
    guard._state = type(guard._state)(guard._state.policy, tuple(steps))
    return guard


def _body(text: str) -> str:
    text = re.sub(r'"(id|elapsed_ns)":("[^"]*"|[0-9]+),?', "", text)
    return re.sub(r"txgc1\.[^\"]*", "TOKEN", text)


@pytest.mark.parametrize("seed", range(40))
def test_fast_and_reference_guards_agree(seed: int) -> None:
    r = random.Random(seed)
    text = _policy(r)
    signer = ConsentSigner(bytes(range(32)), key_id="k1")
    now = [T0]
    fast_store, ref_store = MemoryStore(), _NoHintStore()
    fast_sink, ref_sink = MemorySink(), MemorySink()
    fast = Guard.from_text(text, clock=lambda: now[0], sessions=fast_store, consent_keys=signer, audit=fast_sink)
    ref = _reference_guard(text, lambda: now[0], ref_store, signer, ref_sink)
    props: list[dict[str, Any]] = []
    digests: list[str] = []
    previous: list[Any] = []
    for turn in range(r.randint(6, 24)):
        now[0] += timedelta(seconds=r.choice([0, 0, 1, 29, 30, 31, 3600, -1, -30, 86400]))
        prop = r.choice(props[-3:]) if props and r.random() < 0.45 else _checkout(r)
        if r.random() < 0.15:
            prop = {"name": prop["name"], "arguments": json.dumps(prop["arguments"])}
        confirmed: list[Any] = []
        for _ in range(r.randint(0, 4)):
            exp = r.choice([None, now[0], now[0] + timedelta(seconds=1), now[0] - timedelta(seconds=1), now[0] + timedelta(hours=2)])
            extra = {} if exp is None else {"expires_at": exp.isoformat()}
            pick = r.random()
            if pick < 0.3:
                confirmed.append({**prop, **extra})
            elif pick < 0.45 and props:
                confirmed.append({**r.choice(props), **extra})
            elif pick < 0.65 and digests:
                confirmed.append({"digest": r.choice(digests), **extra})
            elif pick < 0.85 and digests:
                confirmed.append({"token": signer.issue(r.choice(digests), expires_at=exp)})
            elif confirmed:
                confirmed.append(confirmed[-1])  # the same confirmation twice
        if previous and r.random() < 0.4:
            confirmed = previous + confirmed
        previous = confirmed
        ses = {"authenticated_user_id": r.choice(["alice", "bob", None]), "confirmed": confirmed,
               "id": r.choice(["c1", "c2"]), "turn": turn}
        got, want = fast.check(prop, session=ses), ref.check(prop, session=ses)
        assert (got.outcome, got.codes, [x.message for x in got.reasons]) == (
            want.outcome, want.codes, [x.message for x in want.reasons]), (seed, turn)
        if got.confirmation is not None and got.confirmation.digest:
            digests.append(got.confirmation.digest)
        props.append(prop)
    for cid in ("c1", "c2"):
        assert fast_store.events(cid) == ref_store.events(cid)
    assert fast_store._spent == ref_store._spent
    assert fast_store._used == ref_store._used
    assert [_body(x.body_text) for x in fast_sink.stored] == [_body(x.body_text) for x in ref_sink.stored]


@pytest.mark.parametrize("size", [0, 16, 63, 64, 65, 200])
def test_journal_mac_keyed_once_matches_hmac(size: int) -> None:
    key = bytes((7 * i + 3) % 256 for i in range(size))
    mac = _MacKey(key, "host-1-abc")
    for index, ident, body in [(0, "a", "{}"), (12, "id-\u00e9", '{"t":"\U0001F600 \\" 1e5"}')]:
        assert mac.mac(index, ident.encode(), body.encode()) == journal_mac(key, "host-1-abc", index, ident, body).encode()


@pytest.mark.parametrize("token_first", [False, True])
def test_single_use_consumes_each_binding_confirmation_once(token_first: bool) -> None:
    """Two confirmations bind one checkout (other expiries, so other ledger keys): the session step
    needs every one that binds, not only the consent check's first, to consume the second after
    the first was used; a third decision then asks again."""
    text = BASE + 'session: {"single_use_confirmations": true}\n'
    signer = ConsentSigner(bytes(range(32)), key_id="k1")
    prop = _checkout(random.Random(1))
    probe = Guard.from_text(text, clock=lambda: T0, consent_keys=signer)
    digest = probe.check(prop, session={"authenticated_user_id": "alice", "confirmed": []}).confirmation.digest  # type: ignore[union-attr]
    later = [{**prop, "expires_at": (T0 + timedelta(hours=h)).isoformat()} for h in (1, 2)]
    token = {"token": signer.issue(digest, expires_at=T0 + timedelta(hours=3))}
    confirmed = [token, *later] if token_first else [*later, later[0]]
    outcomes = []
    for guard in (Guard.from_text(text, clock=lambda: T0, sessions=MemoryStore(), consent_keys=signer),
                  _reference_guard(text, lambda: T0, MemoryStore(), signer, MemorySink())):
        ses = {"authenticated_user_id": "alice", "confirmed": confirmed, "id": "c1"}
        outcomes.append([(d.outcome.value, d.codes) for d in (guard.check(prop, session=ses) for _ in range(4))])
    assert outcomes[0] == outcomes[1]
    want = 3 if token_first else 2
    assert [o for o, _ in outcomes[0]] == ["allow"] * want + ["clarify"] * (4 - want)
    assert outcomes[0][-1][1] == ("confirmation_used",)


def test_a_body_with_a_shadow_part_no_json_holds_is_recorded_alike_without_it() -> None:
    """A ``shadow`` part no JSON holds (never built by the guard): the reference and the usual path
    write the same incomplete record, without the part, saying why; the fast body declines."""
    from txguard.audit._fastbody import fast_body
    from txguard.audit._record import encode_body, encode_body_reference

    def body() -> dict[str, Any]:
        return {"v": 1, "id": "t", "proposal": None, "context": {}, "decision": {}, "shadow": {"": 1j}}

    ref, ref_ok = encode_body_reference(body())
    assert (ref, ref_ok) == encode_body(body())
    assert not ref_ok and '"shadow"' not in ref and '"unrecordable":"TypeError: ' in ref
    kept = body()
    assert fast_body(kept) is None and "proposal_digest" not in kept
