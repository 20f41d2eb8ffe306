"""Fuzz: whatever a session's ``{"token": ...}`` entries hold, a token that is not valid confirms
nothing. It never raises, never yields ``check_error``, and never stops a valid confirmation
elsewhere in the list from confirming (issue 12)."""

from __future__ import annotations

import secrets
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import ConsentSigner, Guard, Outcome, compile_policy
from txguard.consent.tokens import _mac
from txguard.sessions import MemoryStore

from ..sessions.helpers import Clock, checkout, policy, session

POLICY = compile_policy(policy("  single_use_confirmations: true\n"), "fuzz.yaml")
SIGNER = ConsentSigner(secrets.token_bytes(32), key_id="host-1")
PROPOSAL = checkout()
DIGEST = Guard(POLICY).check(PROPOSAL).confirmation.digest  # type: ignore[union-attr]

FIELD = st.text(max_size=80) | st.sampled_from(["", "host-1", "txgc1", "A" * 43, "999999999999", "-1", "1e400"])


@st.composite
def signed_garbage(draw: st.DrawFn) -> str:
    """A token the host's key signs over arbitrary fields: the MAC verifies, the fields may not."""
    fields = [draw(FIELD) for _ in range(3)]
    body = ".".join(["txgc1", "host-1", *fields])
    try:
        return f"{body}.{_mac(SIGNER._key, body)}"
    except UnicodeEncodeError:
        return f"{body}.x"


def _valid_digest_b64() -> str:
    return SIGNER.issue(DIGEST).split(".")[2]


@st.composite
def far_expiry(draw: st.DrawFn) -> str:
    expiry = str(draw(st.integers(min_value=253402300800, max_value=999999999999)))
    body = f"txgc1.host-1.{_valid_digest_b64()}.{expiry}.{draw(st.from_regex(r'[A-Za-z0-9_-]{1,64}', fullmatch=True))}"
    return f"{body}.{_mac(SIGNER._key, body)}"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)

TOKEN_STRINGS = (st.text(max_size=200) | st.from_regex(r"txgc1\.host-1\.[^.]*\.[^.]*\.[^.]*\.[^.]*", fullmatch=True)
                 | signed_garbage() | far_expiry()
                 | st.builds(lambda t, n: t[:n], st.just("txgc1.host-1." + "é" * 80), st.integers(0, 90)))

ENTRIES = st.one_of(
    TOKEN_STRINGS.map(lambda t: {"token": t}),
    JSON.map(lambda v: {"token": v}),
    st.builds(lambda t, extra: {"token": t, **extra}, TOKEN_STRINGS,
              st.dictionaries(st.sampled_from(["nonce", "expires_at", "digest", "name", "arguments", "x"]), JSON,
                              min_size=1, max_size=2)),
)


def _guard(with_store: bool) -> Guard:
    return Guard(POLICY, clock=Clock(), consent_keys=SIGNER, sessions=MemoryStore() if with_store else None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=st.lists(ENTRIES, min_size=1, max_size=4), at=st.integers(0, 4), with_store=st.booleans())
def test_malformed_tokens_confirm_nothing_and_block_nothing(bad: list[dict[str, Any]], at: int, with_store: bool) -> None:
    g = _guard(with_store)
    alone = g.check(PROPOSAL, session=session("s1", *bad))
    assert alone.outcome is not Outcome.ALLOW
    assert "check_error" not in alone.codes and "malformed_context" not in alone.codes, alone.reasons
    valid = {"token": SIGNER.issue(DIGEST)}
    entries = [*bad]
    entries.insert(min(at, len(entries)), valid)
    d = g.check(PROPOSAL, session=session("s2", *entries))
    assert d.outcome is Outcome.ALLOW, d.reasons


def test_a_garbage_token_naming_a_held_key_says_why() -> None:
    d = _guard(False).check(PROPOSAL, session=session(None, {"token": "txgc1.host-1.é.1.n.mac"}))
    assert d.codes == ("consent",)
    assert "consent token" in d.reasons[0].message and "confirms nothing" in d.reasons[0].message


def test_a_signed_expiry_thirty_thousand_years_out_confirms_nothing() -> None:
    body = f"txgc1.host-1.{_valid_digest_b64()}.946707779241.n1"
    d = _guard(True).check(PROPOSAL, session=session("s", {"token": f"{body}.{_mac(SIGNER._key, body)}"}))
    assert d.codes == ("consent",)
    assert "expiry is not a representable time" in d.reasons[0].message
