"""Signed consent tokens (``txguard.consent.tokens``, ``docs/consent-tokens.md``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from txguard import (
    Checkout,
    Confirmed,
    ConsentSigner,
    ConsentTokenError,
    Guard,
    Session,
    UsageError,
    intent_digest,
)
from txguard.consent.tokens import keyring, verify_token

from .conftest import ROOT
from .helpers import RETAIL, checkout_args, envelope

KEY = bytes(range(32))
SIGNER = ConsentSigner(KEY, key_id="host-1")
DIGEST = "sha256:" + hashlib.sha256(b"an intent").hexdigest()
AT = datetime(2026, 5, 1, 12, 0, 30, 900000, tzinfo=timezone.utc)
TOKEN_RE = re.compile(r"txgc1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}\.[0-9]*\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_the_token_is_the_documented_format_computed_independently() -> None:
    token = SIGNER.issue(DIGEST, expires_at=AT, single_use_id="conf-7")
    body = f"txgc1.host-1.{_b64(bytes.fromhex(DIGEST[7:]))}.1777636830.conf-7"
    assert token == body + "." + _b64(hmac.new(KEY, body.encode(), hashlib.sha256).digest())
    assert TOKEN_RE.fullmatch(token)
    conf = SIGNER.verify(token)
    assert conf == Confirmed(digest=DIGEST, expires_at=datetime(2026, 5, 1, 12, 0, 30, tzinfo=timezone.utc),
                             nonce="conf-7")


def test_the_documentation_describes_this_format() -> None:
    doc = (ROOT / "docs" / "consent-tokens.md").read_text(encoding="utf-8")
    assert "txgc1.<key id>.<digest>.<expiry>.<nonce>.<mac>" in doc
    # The worked example in the document verifies under the key it gives.
    example = re.search(r"key = bytes\(range\(32\)\).*?\n(txgc1\.\S+)", doc, re.S)
    assert example is not None
    assert SIGNER.verify(example.group(1)).digest == DIGEST


def test_issue_takes_an_intent_a_confirmation_request_a_confirmed_or_a_digest() -> None:
    intent = Checkout.model_validate(checkout_args())
    digest = intent_digest(intent)
    guard = Guard.from_file(RETAIL)
    env = envelope(checkout_args(), confirm=False)
    request = guard.check_envelope(env).confirmation
    assert request is not None
    for source in (intent, request, Confirmed(digest=digest), digest):
        assert SIGNER.verify(SIGNER.issue(source)).digest == digest
    confirmed = Confirmed(digest=digest, expires_at=AT)
    assert SIGNER.verify(SIGNER.issue(confirmed)).expires_at == AT.replace(microsecond=0)
    assert SIGNER.verify(SIGNER.issue(digest)).expires_at is None


def test_nonces_are_random_unless_given() -> None:
    a, b = SIGNER.verify(SIGNER.issue(DIGEST)), SIGNER.verify(SIGNER.issue(DIGEST))
    assert a.nonce != b.nonce and a.nonce is not None and len(a.nonce) == 22


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ConsentSigner(b"short"), "a consent key must be at least 32 bytes"),
    (lambda: ConsentSigner("x" * 32), "a consent key must be at least 32 bytes"),  # type: ignore[arg-type]
    (lambda: ConsentSigner(KEY, key_id="a.b"), "key id `a.b` must be 1 to 64 characters of [A-Za-z0-9_-]"),
    (lambda: SIGNER.issue("sha256:xyz"), "`sha256:xyz` is not an intent digest (`sha256:` and 64 hex digits)"),
    (lambda: SIGNER.issue(Confirmed(name="checkout")), "a `Confirmed` in proposal form has no digest"),
    (lambda: SIGNER.issue(DIGEST, expires_at=datetime(2026, 1, 1)), "`expires_at` must carry a timezone"),
    (lambda: SIGNER.issue(DIGEST, single_use_id="a b"), "single_use_id `a b` must be 1 to 64 characters"),
    (lambda: SIGNER.issue(42), "cannot take a consent digest from int"),  # type: ignore[arg-type]
    (lambda: keyring({"k": KEY, "j": b"0" * 8}), "a consent key must be at least 32 bytes"),
    (lambda: keyring([KEY]), "consent keys are signers or {key id: key}, got a bytes"),  # type: ignore[list-item]
    (lambda: keyring([SIGNER, ConsentSigner(secrets.token_bytes(32), key_id="host-1")]), "key id `host-1` is given twice"),
])
def test_misuse_raises_a_usage_error(call: Any, message: str) -> None:
    with pytest.raises(UsageError) as err:
        call()
    assert str(err.value).startswith(message)


def test_the_key_is_never_shown() -> None:
    assert repr(SIGNER) == "ConsentSigner(key_id='host-1')"
    assert KEY.hex() not in repr(SIGNER)


@pytest.mark.parametrize(("token", "message"), [
    ("txgc1.host-1.a.b", "the consent token is not `txgc1.<key id>.<digest>.<expiry>.<nonce>.<mac>`"),
    ("txgc2.host-1.a.b.c.d", "the consent token's format `txgc2` is not `txgc1`"),
    ("txgc1.host-9.a.b.c.d", "the consent token is signed with key `host-9`, which this guard does not hold"),
    ("txgc1.host-1.a.b.c.d", "the consent token's signature does not verify under key `host-1`"),
    ("x" * 1025, "the consent token is not an ASCII string of at most 1024 characters"),
])
def test_verify_says_why_a_token_is_refused(token: str, message: str) -> None:
    with pytest.raises(ConsentTokenError) as err:
        verify_token(token, {"host-1": KEY})
    assert str(err.value) == message


def test_every_single_character_change_is_refused() -> None:
    token = SIGNER.issue(DIGEST, expires_at=AT, single_use_id="n1")
    for i, ch in enumerate(token):
        for other in {"A", "b", "_", "-", ".", "0"} - {ch}:
            forged = token[:i] + other + token[i + 1:]
            with pytest.raises(ConsentTokenError):
                SIGNER.verify(forged)


def test_a_field_the_host_signed_malformed_is_still_refused() -> None:
    body = "txgc1.host-1.not-a-digest.soon.n1"
    token = body + "." + _b64(hmac.new(KEY, body.encode(), hashlib.sha256).digest())
    with pytest.raises(ConsentTokenError, match="fields are malformed"):
        SIGNER.verify(token)


def test_a_token_session_entry_is_only_a_token() -> None:
    assert Session.model_validate({"confirmed": [{"token": "t"}]}).confirmed[0].token == "t"
    for bad in ({"token": "t", "expires_at": "2026-01-01T00:00:00Z"}, {"token": "t", "digest": DIGEST},
                {"token": "t", "nonce": "n"}, {"token": "t", "arguments": {}}):
        with pytest.raises(ValidationError):
            Confirmed.model_validate(bad)


@pytest.mark.parametrize("keys", [SIGNER, [SIGNER], {"host-1": KEY}])
def test_the_guard_takes_a_signer_signers_or_a_mapping(keys: Any) -> None:
    env = envelope(checkout_args(), confirm=False)
    intent = Checkout.model_validate(checkout_args())
    env["session"]["confirmed"] = [{"token": SIGNER.issue(intent)}]
    assert Guard.from_file(RETAIL, consent_keys=keys).check_envelope(env).allowed


def test_the_decision_says_why_a_token_confirms_nothing() -> None:
    env = envelope(checkout_args(), confirm=False)
    intent = Checkout.model_validate(checkout_args())
    rotated = ConsentSigner(secrets.token_bytes(32), key_id="host-2")
    guard = Guard.from_file(RETAIL, consent_keys=[rotated])
    env["session"]["confirmed"] = [{"token": SIGNER.issue(intent)}]
    d = guard.check_envelope(env)
    assert d.codes == ("consent",)
    assert d.reasons[0].message == ("the consent token is signed with key `host-1`, which this guard does not hold, "
                                    "so it confirms nothing")
    impostor = ConsentSigner(secrets.token_bytes(32), key_id="host-2")
    env["session"]["confirmed"] = [{"token": impostor.issue(intent)}]
    d = guard.check_envelope(env)
    assert d.reasons[0].message == ("the consent token's signature does not verify under key `host-2`, "
                                    "so it confirms nothing")
    env["session"]["confirmed"] = [{"token": rotated.issue(intent, expires_at=datetime.now(timezone.utc)
                                                           + timedelta(minutes=5))}]
    assert guard.check_envelope(env).allowed
