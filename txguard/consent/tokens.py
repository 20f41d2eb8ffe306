"""Signed consent tokens: a confirmation carried between processes so an agent cannot forge one.

A token binds the digest of one intent (:func:`~txguard.intent_digest`), an optional expiry and a
nonce, under an HMAC-SHA256 of a key the host holds. The format (``docs/consent-tokens.md``)::

    txgc1.<key id>.<digest>.<expiry>.<nonce>.<mac>

* ``txgc1``: the format and its version;
* key id: 1 to 64 characters of ``[A-Za-z0-9_-]``, names the key that signed it;
* digest: the 32 bytes of the intent's SHA-256 digest, base64url without padding (43 characters);
* expiry: Unix seconds in decimal, or empty for none;
* nonce: 1 to 64 characters of ``[A-Za-z0-9_-]`` (the host's single-use id, or 16 random bytes in
  base64url), the token's own identity for single-use consumption;
* mac: HMAC-SHA256 under the key of the ASCII text before the last dot, base64url (43 characters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Union

from pydantic import BaseModel

from ..core.context import MALFORMED_TOKEN_ENTRY, Confirmed
from ..core.decision import ConfirmationRequest
from ..core.errors import ConsentTokenError, UsageError
from ..domain.digest import intent_digest

VERSION = "txgc1"
MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 1024
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64_32 = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")  # 32 bytes, canonical last character
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_EXPIRY = re.compile(r"(?:0|[1-9][0-9]{0,11})?")

ConsentKeys = Union[Mapping[str, bytes], "ConsentSigner", Iterable["ConsentSigner"]]
"""What a guard verifies consent tokens with: ``{key id: key}``, a signer, or several signers."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64_32(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=")


def _mac(key: bytes, body: str) -> str:
    return _b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())


def _check_key(key: object, key_id: object) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise UsageError(f"a consent key must be at least {MIN_KEY_BYTES} bytes (e.g. `secrets.token_bytes(32)`)")
    if not isinstance(key_id, str) or not _ID.fullmatch(key_id):
        raise UsageError(f"key id `{key_id}` must be 1 to 64 characters of [A-Za-z0-9_-]")


def keyring(keys: ConsentKeys | None) -> dict[str, bytes]:
    """``{key id: key}`` from what :class:`~txguard.Guard` accepts as ``consent_keys``.

    Raises:
        UsageError: a key shorter than 32 bytes, a malformed key id, or one id given twice.
    """
    if keys is None:
        return {}
    if isinstance(keys, ConsentSigner):
        keys = [keys]
    out: dict[str, bytes] = {}
    if isinstance(keys, Mapping):
        pairs = list(keys.items())
    else:
        signers = list(keys)
        for s in signers:
            if not isinstance(s, ConsentSigner):
                raise UsageError(f"consent keys are signers or {{key id: key}}, got a {type(s).__name__}")
        pairs = [(s.key_id, s._key) for s in signers]
    for key_id, key in pairs:
        _check_key(key, key_id)
        if key_id in out:
            raise UsageError(f"key id `{key_id}` is given twice")
        out[key_id] = key
    return out


def verify_token(token: str, keys: Mapping[str, bytes]) -> Confirmed:
    """The confirmation a token carries, if its MAC verifies under the key it names.

    Total: whatever ``token`` is, the result is a confirmation or a :class:`ConsentTokenError`.

    Raises:
        ConsentTokenError: why the token cannot be trusted (one line, for the decision's message).
    """
    if token == MALFORMED_TOKEN_ENTRY:
        raise ConsentTokenError("a consent token entry is malformed (a `token` is a string, given alone)")
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise ConsentTokenError("the consent token is not an ASCII string of at most 1024 characters")
    parts = token.split(".")
    if len(parts) != 6:
        raise ConsentTokenError("the consent token is not `txgc1.<key id>.<digest>.<expiry>.<nonce>.<mac>`")
    version, key_id, digest, expiry, nonce, mac = parts
    if version != VERSION:
        raise ConsentTokenError(f"the consent token's format `{version[:16]}` is not `{VERSION}`")
    if not _ID.fullmatch(key_id):
        raise ConsentTokenError("the consent token's key id is malformed")
    key = keys.get(key_id)
    if key is None:
        raise ConsentTokenError(f"the consent token is signed with key `{key_id}`, which this guard does not hold")
    expected = _mac(key, token[: -len(mac) - 1])
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        raise ConsentTokenError(f"the consent token's signature does not verify under key `{key_id}`")
    # Signed by the host: a malformed field here is the host's bug, still never a confirmation.
    if not (_B64_32.fullmatch(digest) and _EXPIRY.fullmatch(expiry) and _ID.fullmatch(nonce)):
        raise ConsentTokenError("the consent token's fields are malformed")
    try:
        expires_at = datetime.fromtimestamp(int(expiry), timezone.utc) if expiry else None
    except (OverflowError, ValueError, OSError):
        raise ConsentTokenError("the consent token's expiry is not a representable time") from None
    return Confirmed(digest="sha256:" + _unb64_32(digest).hex(), expires_at=expires_at, nonce=nonce)


class ConsentSigner:
    """Issues and verifies signed consent tokens with one host-held HMAC-SHA256 key.

    The host issues a token when the user accepts a confirmation on its trusted surface, and hands
    it to whatever process runs the guard; the guard (``Guard(..., consent_keys=signer)``) accepts
    a session entry ``{"token": ...}`` as the user's confirmation of exactly that intent. Without
    the key an agent cannot make or alter one. Format: ``docs/consent-tokens.md``.

    Example:
        >>> import secrets
        >>> signer = ConsentSigner(secrets.token_bytes(32), key_id="host-2026")
        >>> token = signer.issue("sha256:" + "ab" * 32, single_use_id="conf-1")
        >>> signer.verify(token).digest == "sha256:" + "ab" * 32
        True
    """

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes, key_id: str = "default") -> None:
        """Args:
            key: at least 32 random bytes, kept by the host (never by the agent).
            key_id: names the key in every token, so keys can be rotated (``[A-Za-z0-9_-]{1,64}``).

        Raises:
            UsageError: the key is too short or the key id malformed.
        """
        _check_key(key, key_id)
        self._key = key
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"ConsentSigner(key_id={self.key_id!r})"  # never the key

    def issue(self, confirmed: BaseModel | ConfirmationRequest | str, *, expires_at: datetime | None = None,
              single_use_id: str | None = None) -> str:
        """A token for the user's confirmation of one intent.

        Args:
            confirmed: the intent itself, the decision's :class:`~txguard.ConfirmationRequest`, a
                :class:`~txguard.Confirmed` in digest form, or the digest (``sha256:<64 hex>``).
            expires_at: when the token stops binding (timezone-aware; whole seconds, rounded
                down); default: the ``Confirmed``'s own ``expires_at``, else none.
            single_use_id: the token's identity for single-use consumption (default: random).

        Raises:
            UsageError: nothing to take a digest from, a naive ``expires_at`` or a malformed id.
        """
        digest = _digest_of(confirmed)
        if expires_at is None and isinstance(confirmed, Confirmed):
            expires_at = confirmed.expires_at
        if expires_at is not None and expires_at.tzinfo is None:
            raise UsageError("`expires_at` must carry a timezone")
        nonce = single_use_id if single_use_id is not None else _b64(secrets.token_bytes(16))
        if not isinstance(nonce, str) or not _ID.fullmatch(nonce):
            raise UsageError(f"single_use_id `{nonce}` must be 1 to 64 characters of [A-Za-z0-9_-]")
        expiry = "" if expires_at is None else str(max(0, int(expires_at.timestamp())))
        body = f"{VERSION}.{self.key_id}.{_b64(bytes.fromhex(digest[7:]))}.{expiry}.{nonce}"
        return f"{body}.{_mac(self._key, body)}"

    def verify(self, token: str) -> Confirmed:
        """The confirmation a token carries (digest form, with its expiry and nonce).

        Expiry is not checked here (the guard checks it against its clock).

        Raises:
            ConsentTokenError: the token is malformed, names another key, or its MAC fails.
        """
        return verify_token(token, {self.key_id: self._key})


def _digest_of(confirmed: Any) -> str:
    if isinstance(confirmed, str):
        digest = confirmed
    elif isinstance(confirmed, Confirmed):
        if confirmed.digest is None:
            raise UsageError("a `Confirmed` in proposal form has no digest: issue the token for its intent")
        digest = confirmed.digest
    elif isinstance(confirmed, ConfirmationRequest):
        digest = confirmed.digest
    elif isinstance(confirmed, BaseModel) and hasattr(confirmed, "kind"):
        digest = intent_digest(confirmed)
    else:
        raise UsageError(f"cannot take a consent digest from {type(confirmed).__name__}")
    if not _DIGEST.fullmatch(digest):
        raise UsageError(f"`{digest[:80]}` is not an intent digest (`sha256:` and 64 hex digits)")
    return digest
