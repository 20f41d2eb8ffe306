"""The audit record: the body's encoding, the hash chain and masking.

A stored record is ``{"body": BODY, "hash": H, "prev": P, "seq": N}``. ``BODY`` is built when the
guard decides (see :func:`build_body`); ``seq``, ``prev`` and ``hash`` are assigned by the sink when
the record joins the chain, so that several processes can append to one linear chain.
``H = sha256(JCS({"body": BODY, "prev": P, "seq": N}))`` (lowercase hex), JCS being RFC 8785
(:func:`txguard.core.canonical.canonical_json`). The exact rules are in ``docs/audit-format.md``.
Decision ids are UUIDv7 (:func:`txguard.core.ids.uuid7`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..core.canonical import MAX_SAFE_INTEGER, to_json_value
from ..core.canonical import canonical_json as canonical_json  # re-exported: txguard.audit.canonical_json
from ..core.jsonio import JSONNumber, exact_decimal
from ..core.paths import MASK_ROOTS as MASK_ROOTS  # re-exported: the sections a mask may name
from ..core.paths import mask_steps
from ._fastbody import fast_body

FORMAT_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` of the first record of every chain."""

_HEX64 = re.compile(r"[0-9a-f]{64}")


ESCAPE_KEY = "$txguard"
"""The key of an escaped value (see :func:`escape`); a body that holds one says ``"escaped": true``."""



def escape(value: Any) -> Any:
    """``value`` as JSON that canonical JSON can always encode, reversibly (:func:`unescape`).

    A string that is not valid Unicode text (a lone surrogate) becomes
    ``{"$txguard": "str", "utf8": HEX}`` (its UTF-8 bytes with surrogates passed through); an integer
    beyond +/-2**53 (RFC 8785 writes no larger one exactly) ``{"$txguard": "int", "text": DECIMAL}``;
    a NaN or infinite float
    ``{"$txguard": "float", "text": "nan"|"inf"|"-inf"}``; a mapping whose keys are not all plain
    strings, or that has a ``"$txguard"`` key of its own, ``{"$txguard": "map", "items": [[K, V],
    ...]}``. Other values are converted as :func:`canonical_json` converts them. Raises ``TypeError``
    for a type JSON cannot hold.

    >>> escape({"title": "caf\\ud800"})
    {'title': {'$txguard': 'str', 'utf8': '636166eda080'}}
    >>> unescape(escape({1: "x"}))
    {1: 'x'}
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return {ESCAPE_KEY: "str", "utf8": value.encode("utf-8", "surrogatepass").hex()}
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else {ESCAPE_KEY: "int", "text": str(value)}
    if isinstance(value, JSONNumber) and _lossy(value):  # its text, not the float it reads as
        return {ESCAPE_KEY: "float", "text": value.text}
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {
            ESCAPE_KEY: "float", "text": repr(value)}
    if isinstance(value, dict):
        if ESCAPE_KEY not in value and all(type(k) is str and _plain_text(k) for k in value):
            return {k: escape(v) for k, v in value.items()}
        return {ESCAPE_KEY: "map", "items": [[escape(k), escape(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [escape(v) for v in value]
    return escape(to_json_value(value))


def _lossy(value: Any) -> bool:
    """Whether ``value`` holds a JSON number whose text its float does not keep: canonical JSON
    writes the float (``0.79999999999999999`` as ``0.8``), and replay would decide on 0.8."""
    if isinstance(value, JSONNumber):
        return exact_decimal(value) != Decimal(repr(float(value)))
    if isinstance(value, dict):
        return any(_lossy(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_lossy(v) for v in value)
    return False


def _plain_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unescape(value: Any) -> Any:
    """The inverse of :func:`escape`."""
    if isinstance(value, list):
        return [unescape(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(ESCAPE_KEY)
    if tag is None:
        return {k: unescape(v) for k, v in value.items()}
    if tag == "str":
        return bytes.fromhex(value["utf8"]).decode("utf-8", "surrogatepass")
    if tag == "int":
        return int(value["text"])
    if tag == "float":
        text = value["text"]
        return float(text) if text in ("nan", "inf", "-inf") else JSONNumber(text)
    if tag == "map":
        out: dict[Any, Any] = {}
        for k, v in value["items"]:
            key = unescape(k)
            out[tuple(key) if isinstance(key, list) else key] = unescape(v)
        return out
    raise ValueError(f"unknown escape `{tag}`")


def encode_value(value: Any) -> str:
    """Canonical JSON of ``value``, escaped (:func:`escape`) if it cannot be encoded as it is."""
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return canonical_json(escape(value))


def encode_body(body: dict[str, Any]) -> tuple[str, bool]:
    """Canonical JSON of a record body, and whether it holds everything replay needs.

    A body whose recorded inputs cannot be encoded as they are (a lone surrogate in a string, a key
    that is not a string, an integer beyond +/-2**53, a NaN or infinite float) is escaped as a whole (:func:`escape`) and says
    ``"escaped": true``, so nothing is dropped. Only a value of a type JSON cannot hold at all (an
    arbitrary Python object) leaves a body that keeps ``v``, ``id``, ``time``, ``policy``,
    ``proposal_digest``, ``decision`` and ``elapsed_ns`` and says why in ``unrecordable``; the
    second item is then ``False`` and the guard does not answer ``allow`` on such a record.

    Plain JSON (the usual body) is written in one pass (:func:`~txguard.audit._fastbody.fast_body`,
    :func:`~txguard.core.canonical.direct_jcs` with the proposal proved by the body's own type
    check: no walk for lossy numbers, since it takes no :class:`~txguard.core.jsonio.JSONNumber`);
    anything else takes :func:`encode_body_reference`, which gives the same text for plain JSON too.
    """
    text = fast_body(body)
    if text is not None:
        return text, True
    return encode_body_reference(body)


def encode_body_reference(body: dict[str, Any]) -> tuple[str, bool]:
    """:func:`encode_body` by the reference path: walk for lossy numbers, then the general encoder."""
    if "proposal_digest" not in body:
        try:
            raw = encode_value(body.get("proposal")).encode("utf-8")
        except (TypeError, ValueError):
            raw = None
        if raw is not None:
            body["proposal_digest"] = "sha256:" + hashlib.sha256(raw).hexdigest()
    try:
        if not _lossy(body):
            return canonical_json(body), True
    except (TypeError, ValueError):
        pass
    try:
        return canonical_json({**escape(body), "escaped": True}), True
    except (TypeError, ValueError) as exc:
        kept = {k: body.get(k) for k in ("v", "id", "time", "policy", "proposal_digest", "decision", "elapsed_ns")}
        kept["unrecordable"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        if "shadow" in body:
            kept["shadow"] = body["shadow"]
            try:
                return encode_value(kept), False
            except (TypeError, ValueError):  # the shadow part cannot be recorded either: the rest still is
                del kept["shadow"]
        return encode_value(kept), False


def recorded(body: dict[str, Any]) -> dict[str, Any]:
    """A stored body with its escaped values restored (what the guard was given), for replay."""
    return unescape(body) if body.get("escaped") is True else body


def proposal_digest(proposal_text: str) -> str:
    """``sha256:<hex>`` of the canonical JSON of the proposal as the agent emitted it."""
    return "sha256:" + hashlib.sha256(proposal_text.encode("utf-8")).hexdigest()


def link_text(body_text: str, prev: str, seq: int) -> str:
    """The canonical JSON of ``{"body", "prev", "seq"}``, given the canonical text of the body."""
    return f'{{"body":{body_text},"prev":"{prev}","seq":{seq}}}'


def record_hash(body_text: str, prev: str, seq: int) -> str:
    """SHA-256 (lowercase hex) of :func:`link_text`: the hash a record at ``seq`` must carry."""
    return hashlib.sha256(link_text(body_text, prev, seq).encode("utf-8")).hexdigest()


def record_line(body_text: str, prev: str, seq: int, digest: str) -> str:
    """The stored JSON Lines form of a record: ``{"seq":N,"prev":"P","hash":"H","body":BODY}``.

    The body comes last and verbatim, so a verifier takes its exact text by slicing the line.
    """
    return f'{{"seq":{seq},"prev":"{prev}","hash":"{digest}","body":{body_text}}}'


_LINE = re.compile(r'\{"seq":(0|[1-9][0-9]{0,18}),"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})","body":(\{.*\})\}\n?', re.S)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored record, as read back from a sink (``body`` is parsed lazily by :attr:`body`)."""

    seq: int
    prev: str
    hash: str
    body_text: str
    id: str | None = None
    """The decision id the store keeps beside the body (SQL sinks), checked against the body."""

    @property
    def body(self) -> dict[str, Any]:
        """The parsed body (decision id, time, policy, proposal, context, decision, lineage)."""
        value = json.loads(self.body_text)
        if not isinstance(value, dict):
            raise ValueError("the record body is not a JSON object")
        return value

    def to_dict(self) -> dict[str, Any]:
        """The record as stored: ``{"body", "hash", "prev", "seq"}``."""
        return {"body": self.body, "hash": self.hash, "prev": self.prev, "seq": self.seq}

    @classmethod
    def from_line(cls, line: str) -> AuditRecord:
        """Parse one stored line (see :func:`record_line`); raises ``ValueError`` if it is not a record."""
        m = _LINE.fullmatch(line)
        if m is None:
            raise ValueError('not an audit record: expected `{"seq":N,"prev":"<64 hex>","hash":"<64 hex>","body":{...}}`')
        return cls(int(m.group(1)), m.group(2), m.group(3), m.group(4))


def chain(bodies: Iterable[str], seq: int, prev: str) -> list[tuple[int, str, str, str]]:
    """Link body texts after ``(seq, prev)``: a list of ``(seq, prev, hash, body_text)``."""
    out = []
    for body in bodies:
        seq += 1
        digest = record_hash(body, prev, seq)
        out.append((seq, prev, digest, body))
        prev = digest
    return out


# -- masking -------------------------------------------------------------------------------------------

def mask_value(value: Any, salt: bytes) -> str:
    """The salted digest that replaces a masked value: ``masked:sha256:<hex>``."""
    return "masked:sha256:" + hashlib.sha256(salt + encode_value(value).encode("utf-8")).hexdigest()


def salt_id(salt: bytes) -> str:
    """A public name for a salt (never the salt itself), recorded with every masked record."""
    return hashlib.sha256(b"txguard-audit-salt:" + salt).hexdigest()[:16]


def _apply(node: Any, parts: tuple[str, ...], salt: bytes, here: str, hits: list[str]) -> Any:
    if not parts:
        hits.append(here)
        return mask_value(node, salt)
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else ([head] if head in node else [])
        if not keys:
            return node
        out = dict(node)
        for k in keys:
            out[k] = _apply(node[k], rest, salt, f"{here}.{k}", hits)
        return out
    if isinstance(node, list):
        if head == "*":
            idx = range(len(node))
        elif head.isdigit() and int(head) < len(node):
            idx = range(int(head), int(head) + 1)
        else:
            return node
        out_list = list(node)
        for i in idx:
            out_list[i] = _apply(node[i], rest, salt, f"{here}.{i}", hits)
        return out_list
    return node


def apply_masks(sections: dict[str, Any], paths: Iterable[str], salt: bytes) -> tuple[dict[str, Any], list[str]]:
    """Replace the values at ``paths`` (``*`` matches any key or index) by salted digests.

    ``sections`` maps each root (:data:`~txguard.core.paths.MASK_ROOTS`) to plain JSON data. The
    paths are data paths (:func:`~txguard.core.paths.mask_steps`), checked when the policy loaded.
    Returns the new sections and the concrete paths masked (``facts.users.u1.email``), sorted.
    """
    hits: list[str] = []
    out = dict(sections)
    for path in paths:
        root, *rest = mask_steps(path)
        if root in out:
            out[root] = _apply(out[root], tuple(rest), salt, root, hits)
    return out, sorted(set(hits))


def is_hash(value: object) -> bool:
    """True for a 64-character lowercase hex string."""
    return isinstance(value, str) and _HEX64.fullmatch(value) is not None
