"""Issue 12: a token is single-use in the whole store, an expiry is an instant, a budget is what it
limits (not the policy that checked it), and an unencodable confirmation confirms nothing."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import ConsentSigner, Guard
from txguard.consent.binding import confirmation_key, ledger_key
from txguard.core.context import Confirmed
from txguard.sessions import MemoryStore, SessionStore

from .helpers import T0, Clock, checkout, policy, session

SINGLE = policy("  single_use_confirmations: true\n")
SIGNER = ConsentSigner(secrets.token_bytes(32), key_id="host-1")


def _token_for(g: Guard, proposal: dict[str, Any], **kw: Any) -> str:
    d = g.check(proposal, session=session("ask"))
    assert d.confirmation is not None
    return SIGNER.issue(d.confirmation, **kw)


# -- a token's single use is global -----------------------------------------------------------------

def test_a_token_authorises_one_allow_in_the_whole_store(store: SessionStore) -> None:
    g = Guard.from_text(SINGLE, clock=Clock(), sessions=store, consent_keys=SIGNER)
    prop = checkout()
    token = _token_for(g, prop)
    outcomes = [g.check(prop, session=session(cid, {"token": token}, user=user)).outcome.value
                for cid, user in (("c1", "alice"), ("c2", "alice"), ("c3", "bob"))]
    assert outcomes == ["allow", "clarify", "clarify"]
    again = g.check(prop, session=session("c4", {"token": token}))
    assert again.codes == ("confirmation_used",)


def test_a_second_guard_on_the_same_store_cannot_reuse_a_token(store: SessionStore) -> None:
    first = Guard.from_text(SINGLE, clock=Clock(), sessions=store, consent_keys=SIGNER)
    second = Guard.from_text(SINGLE.replace("id: sessions-test", "id: other-policy"), clock=Clock(),
                             sessions=store, consent_keys=SIGNER)
    token = _token_for(first, checkout())
    assert first.check(checkout(), session=session("a", {"token": token})).outcome.value == "allow"
    assert second.check(checkout(), session=session("b", {"token": token})).codes == ("confirmation_used",)


def test_a_confirmation_without_a_nonce_stays_single_use_per_conversation(store: SessionStore) -> None:
    g = Guard.from_text(SINGLE, clock=Clock(), sessions=store)
    prop = checkout()
    assert g.check(prop, session=session("c1", prop)).outcome.value == "allow"
    assert g.check(prop, session=session("c1", prop)).codes == ("confirmation_used",)
    assert g.check(prop, session=session("c2", prop)).outcome.value == "allow"


def test_concurrent_conversations_spend_one_token_once(store: SessionStore) -> None:
    # the SQLite and PostgreSQL stores hold one connection per thread: the database arbitrates
    store_guard = Guard.from_text(SINGLE, clock=Clock(), sessions=store, consent_keys=SIGNER)
    token = _token_for(store_guard, checkout())
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            d = store_guard.check(checkout(), session=session(f"t{i}", {"token": token}))
            with lock:
                outcomes.append(d.outcome.value)
        finally:
            store.close()  # this thread's connection

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["allow"] + ["clarify"] * 7


OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=200, deadline=None)
@given(first=OFFSETS, second=OFFSETS, seconds=st.integers(min_value=1, max_value=10**9))
def test_an_expiry_is_an_instant_in_every_offset(first: timezone, second: timezone, seconds: int) -> None:
    when = T0 + timedelta(seconds=seconds)
    a, b = when.astimezone(first), when.astimezone(second)
    assert confirmation_key("sha256:ab", a, "n") == confirmation_key("sha256:ab", b, "n")
    assert confirmation_key("sha256:ab", a) != confirmation_key("sha256:ab", a + timedelta(microseconds=1))
    conf = Confirmed(digest="sha256:ab", expires_at=a, nonce="n")
    assert ledger_key(conf, "sha256:ab", "c1") == ledger_key(conf.model_copy(update={"expires_at": b}), "sha256:ab", "c2")


@settings(max_examples=30, deadline=None)
@given(offset=OFFSETS)
def test_the_same_expiry_in_another_offset_is_the_same_confirmation(offset: timezone) -> None:
    g = Guard.from_text(SINGLE, clock=Clock(), sessions=MemoryStore())
    prop = checkout()
    ask = g.check(prop, session=session("ask"))
    assert ask.confirmation is not None
    expires = T0 + timedelta(hours=1)
    utc = {"digest": ask.confirmation.digest, "expires_at": expires.isoformat(), "nonce": "conf-1"}
    other = dict(utc, expires_at=expires.astimezone(offset).isoformat())
    assert g.check(prop, session=session("c1", utc)).outcome.value == "allow"
    assert g.check(prop, session=session("c2", other)).codes == ("confirmation_used",)


def test_an_expiry_past_year_9999_in_utc_still_has_a_key() -> None:
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert confirmation_key("sha256:ab", late) != confirmation_key("sha256:ab", late - timedelta(seconds=1))


# -- budgets are what they limit ---------------------------------------------------------------------

BASE_BUDGET = """apiVersion: txguard/v1
id: platform-base
version: "1"
currency: USD
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - id: consent
    check: consent
session:
  budgets:
    - {id: user-daily, amount: "700.00", currency: USD, window: 1d, scope: user}
"""

CHILD_BUDGET = """apiVersion: txguard/v1
id: team-child
version: "2"
extends: base.yaml
rules:
  - id: big
    kinds: [checkout]
    when: {path: intent.total, gt: "5000.00"}
    outcome: escalate
"""


def test_a_base_and_its_child_share_one_budget_on_one_store(store: SessionStore, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE_BUDGET, encoding="utf-8")
    (tmp_path / "child.yaml").write_text(CHILD_BUDGET, encoding="utf-8")
    clock = Clock()
    base = Guard.from_file(tmp_path / "base.yaml", clock=clock, sessions=store)
    child = Guard.from_file(tmp_path / "child.yaml", clock=clock, sessions=store)
    assert base.policy.id != child.policy.id
    spend = checkout("400.00", sku="1")
    assert base.check(spend, session=session("b", spend)).outcome.value == "allow"
    second = checkout("400.00", sku="2")
    d = child.check(second, session=session("c", second))
    assert d.codes == ("budget_exceeded",)  # 800.00 would pass the 700.00 both check
    small = checkout("300.00", sku="3")
    assert child.check(small, session=session("c", small)).outcome.value == "allow"
    last = checkout("0.01", sku="4")
    assert base.check(last, session=session("b", last)).codes == ("budget_exceeded",)


def test_budgets_with_another_window_or_currency_are_other_counters(store: SessionStore) -> None:
    text = policy("""  budgets:
    - {id: cap, amount: "500.00", currency: USD, window: 1d, scope: user}
""")
    clock = Clock()
    daily = Guard.from_text(text, clock=clock, sessions=store)
    hourly = Guard.from_text(text.replace("window: 1d", "window: 1h"), clock=clock, sessions=store)
    p = checkout("400.00")
    assert daily.check(p, session=session("a", p)).outcome.value == "allow"
    assert hourly.check(p, session=session("b", p)).outcome.value == "allow"


# -- an unencodable confirmation confirms nothing, and poisons nothing ------------------------------

@settings(max_examples=25, deadline=None)
@given(field=st.sampled_from(["merchant", "payment_method_id", "title"]), code=st.integers(0xD800, 0xDFFF))
def test_a_confirmed_proposal_with_a_lone_surrogate_does_not_poison_the_conversation(field: str, code: int) -> None:
    g = Guard.from_text(SINGLE, clock=Clock(), sessions=MemoryStore())
    bad = checkout("60.00")
    if field == "title":
        bad["arguments"]["items"][0]["title"] = "K" + chr(code)
    else:
        bad["arguments"][field] = "x" + chr(code)
    good = checkout("50.00")
    first = g.check(good, session=session("s", bad))
    assert "session_store_error" not in first.codes and first.codes == ("consent",)
    later = g.check(good, session=session("s", bad, good))
    assert later.outcome.value == "allow", later.codes


def test_without_a_session_id_the_store_still_keeps_single_use(store: SessionStore) -> None:
    # the policy does not say `single_use_confirmations: true`, so no `id` is required; single use holds
    g = Guard.from_text(policy("  rules: []\n"), clock=Clock(), sessions=store, consent_keys=SIGNER)
    prop = checkout()
    assert g.check(prop, session=session(None, prop)).outcome.value == "allow"
    assert g.check(prop, session=session(None, prop)).codes == ("confirmation_used",)
    token = _token_for(g, prop)
    assert g.check(prop, session=session(None, {"token": token})).outcome.value == "allow"
    assert g.check(prop, session=session("with-id", {"token": token})).codes == ("confirmation_used",)


@pytest.mark.parametrize("bad", [[], "", 0, False])
def test_a_falsy_session_that_is_not_a_mapping_is_malformed_with_a_store(bad: Any) -> None:
    g = Guard.from_text(SINGLE, clock=Clock(), sessions=MemoryStore())
    d = g.check(checkout(), session=bad)
    assert (d.outcome.value, d.codes) == ("escalate", ("malformed_context",))
