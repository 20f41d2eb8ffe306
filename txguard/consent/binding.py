"""Consent: which of a session's confirmations binds exactly one intent (DESIGN, "Consent").

:func:`bind` is the one answer, used by the ``consent`` check (is there one?) and by the sessions
layer (which one to consume, for single-use confirmations), so the two cannot disagree. A
confirmation binds an intent when it has not expired and

* its ``digest`` (given, or carried by a consent token whose MAC verifies under a key the guard
  holds) is the intent's :func:`~txguard.intent_digest`; or
* it is a proposal naming a tool the policy maps, and that proposal maps and validates to an
  intent of the same kind with the same bound fields.

A proposal confirmation whose arguments are *identical* to the proposal's own (same tool, same
JSON data of the same types all the way down) is known to map to the same intent without mapping
it again: that is the only shortcut. ``1``, ``1.0`` and ``True`` are not identical, so a confirmed
``quantity: true`` goes through the full mapping and is rejected there as malformed. A stand-in
name (``intent:checkout``, what the evaluator calls an intent given already validated) is mapped by
no policy, so it binds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ..core.canonical import canonical_json
from ..core.context import Confirmed, Proposal
from ..core.errors import ConsentTokenError
from ..core.fastinit import fast_init
from ..domain.digest import bound_fields, intent_digest
from ..core.jsonio import JSONNumber, exact_decimal, number_text
from .tokens import verify_token

if TYPE_CHECKING:
    from ..policy.compile import CompiledPolicy

_NO_KEYS: Mapping[str, bytes] = {}


@fast_init
@dataclass(frozen=True, slots=True)
class Binding:
    """The confirmations that bind one intent (in session order, tokens verified), or why none does."""

    confirmations: tuple[Confirmed, ...]
    problem: str | None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def instant_us(when: datetime) -> int:
    """A timezone-aware time as integer microseconds since the Unix epoch (exact, no float).

    The same instant written in any UTC offset gives the same number, and no value overflows (the
    difference of two aware datetimes is taken without building a new datetime).
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("the clock must return timezone-aware times")
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _instant_text(when: datetime) -> str:
    """The instant as UTC ISO 8601 (``2026-05-01T12:00:00+00:00``), whatever offset it was written in."""
    try:
        return (_EPOCH + (when - _EPOCH)).isoformat()
    except OverflowError:  # a UTC instant past year 9999 (written with a negative offset)
        return f"us:{instant_us(when)}"


def confirmation_key(digest: str, expires_at: datetime | None, nonce: str | None = None) -> str:
    """The identity of one confirmation for single-use consumption: its digest, expiry and nonce.

    The expiry is an instant: the same expiry written in another UTC offset is the same key. A
    confirmation with a nonce (every consent token has one) is one confirmation in the whole store;
    one without is only known by its content, so the sessions layer consumes it per conversation
    (:func:`ledger_key`).
    """
    key = f"{digest}|{_instant_text(expires_at) if expires_at is not None else ''}"
    return key if nonce is None else f"{key}|{nonce}"


def ledger_key(conf: Confirmed, digest: str, conversation: str | None) -> str:
    """The key a single-use ledger consumes for ``conf`` (binding ``digest``).

    A nonce is the confirmation's own identity, so such a key is global: once per store, across
    conversations and users. Without a nonce the key is scoped to the conversation (when there is
    one): the same content confirmed again in another conversation is another confirmation.
    """
    key = confirmation_key(conf.digest or digest, conf.expires_at, conf.nonce)
    if conf.nonce is not None or conversation is None:
        return key
    return f"{conversation}\x1f{key}"


def resolve(conf: Confirmed, keys: Mapping[str, bytes] | None) -> Confirmed:
    """``conf`` itself, or for a token the confirmation it carries; raises :class:`ConsentTokenError`."""
    if conf.token is None:
        return conf
    return verify_token(conf.token, keys if keys is not None else _NO_KEYS)


def bind(
    policy: CompiledPolicy,
    intent: BaseModel,
    confirmed: Sequence[Confirmed],
    now: datetime,
    *,
    proposal: Proposal | None = None,
    arguments: Mapping[str, Any] | None = None,
    digest: str | None = None,
    keys: Mapping[str, bytes] | None = None,
    first: bool = False,
) -> Binding:
    """Which of ``confirmed`` bind exactly ``intent`` at ``now``.

    Args:
        policy: maps confirmed proposals to intents.
        intent: the intent decided.
        confirmed: the session's confirmations, in order.
        now: the decision's clock reading; a confirmation expiring at or before it never binds.
        proposal: the real proposal ``intent`` was mapped from (``None`` for an intent given
            validated); only used for the identical-arguments shortcut.
        arguments: the proposal's arguments as parsed (if known), for the same shortcut.
        digest: ``intent_digest(intent)`` if the caller has it.
        keys: ``{key id: key}`` that consent tokens are verified with.
        first: stop at the first binding confirmation (enough to decide consent).
    """
    kind = getattr(intent, "kind")
    found: list[Confirmed] = []
    mine: dict[str, Any] | None = None
    differs: list[str] = []
    rejected: str | None = None
    expired = 0
    for given in confirmed:
        try:
            conf = resolve(given, keys) if given.token is not None else given
        except ConsentTokenError as exc:
            rejected = rejected or str(exc)
            continue
        except Exception:  # noqa: BLE001 - verify_token is total; anything else still confirms nothing
            rejected = rejected or "the consent token cannot be read"
            continue
        if conf.expires_at is not None and conf.expires_at <= now:
            expired += 1
            continue
        if conf.digest is not None:
            digest = digest or intent_digest(intent)
            if conf.digest != digest:
                continue
        elif conf.name is None or conf.name not in policy.tools:
            continue  # a stand-in or unmapped name binds nothing
        elif not (proposal is not None and conf.name == proposal.name
                  and _same_arguments(conf.arguments, proposal.arguments, arguments)):
            try:
                other = policy.to_intent(Proposal(name=conf.name, arguments=conf.arguments))
            except Exception:  # noqa: BLE001 - arguments that do not map confirm nothing
                continue
            if getattr(other, "kind") != kind:
                continue
            # Compared as the digest's canonical text, not by Python equality: `true == 1` and a
            # `one_of: [bool, int]` field holds either, and they are different actions.
            mine = mine if mine is not None else bound_fields(intent)
            theirs = bound_fields(other)
            try:
                same = canonical_json(theirs) == canonical_json(mine)
            except ValueError:  # text no digest can hold (a lone surrogate): it confirms nothing
                continue
            if not same:
                differs = sorted(k for k in mine if canonical_json(mine.get(k)) != canonical_json(theirs.get(k)))
                continue
        found.append(conf)
        if first:
            break
    if found:
        return Binding(tuple(found), None)
    if differs:
        problem = f"the user confirmed a different {kind}: {', '.join(differs)} changed"
    elif rejected is not None:
        problem = f"{rejected}, so it confirms nothing"
    elif expired:
        problem = "the user's confirmation has expired"
    else:
        problem = f"the user has not confirmed this {kind}"
    return Binding((), problem)


def _same_arguments(confirmed: Any, raw: Any, parsed: Mapping[str, Any] | None) -> bool:
    """Are the confirmed arguments identical to the proposal's (as given, or as parsed)?"""
    if isinstance(confirmed, str):
        return isinstance(raw, str) and confirmed == raw  # the same text parses to the same data
    return identical_fast(confirmed, parsed if parsed is not None else raw)


def identical_fast(a: Any, b: Any) -> bool:
    """:func:`identical`, in one pass over two plain JSON objects (what a confirmed proposal and
    the proposal's parsed arguments are); anything it is not sure of is left to :func:`identical`
    (``tests/test_fast_rules_consent.py`` checks the two agree)."""
    if type(a) is dict:
        try:
            same = _plain_dicts(a, b, 0)
        except Exception:  # noqa: BLE001 - the reference words nothing, it decides: let it
            same = None
        if same is not None:
            return same
    return identical(a, b)


_MAX_DEPTH = 32
"""Deeper containers are left to :func:`identical` (its equality and recursion limits decide)."""


def _plain_dicts(a: dict[Any, Any], b: Any, depth: int) -> bool | None:
    """For a plain dict ``a``: is ``b`` equal JSON of the same types (None: not sure)?"""
    if type(b) is not dict or len(a) != len(b):
        return False
    get = b.get
    for k, x in a.items():
        if type(k) is not str:
            return False
        y = get(k, _ABSENT)
        tx = type(x)
        if tx is str or tx is int:  # the usual leaves, decided here as `_plain_leaf` decides them
            if type(y) is not tx or x != y:
                return False
            continue
        same = _plain_leaf(x, y, depth)
        if same is not True:
            return same
    return True


def _plain_lists(a: list[Any], b: Any, depth: int) -> bool | None:
    if type(b) is not list or len(a) != len(b):
        return False
    for x, y in zip(a, b):
        tx = type(x)
        if tx is str or tx is int:
            if type(y) is not tx or x != y:
                return False
            continue
        if tx is dict:  # a list of records (cart lines): recursed into here, not through `_plain_leaf`
            same = None if depth >= _MAX_DEPTH else _plain_dicts(x, y, depth + 1)
            if same is not True:
                return same
            continue
        same = _plain_leaf(x, y, depth)
        if same is not True:
            return same
    return True


def _plain_leaf(x: Any, y: Any, depth: int) -> bool | None:
    """One pair of values of two containers (``y`` may be ``_ABSENT``)."""
    tx = type(x)
    if tx is int or tx is bool:
        return type(y) is tx and x == y
    if x is None:
        return y is None
    if tx is dict:
        return None if depth >= _MAX_DEPTH else _plain_dicts(x, y, depth + 1)
    if tx is list:
        return None if depth >= _MAX_DEPTH else _plain_lists(x, y, depth + 1)
    if tx is float and type(y) is JSONNumber and x == y and repr(x) == y.text:
        return True  # a float and the JSON number of its own shortest text: `_same_number`'s first test
    if (tx is float or tx is JSONNumber) and (type(y) is float or type(y) is JSONNumber):
        return bool(x == y and _same_number(x, y))
    return None  # any other value: the reference decides


_ABSENT = object()


_LEAVES = frozenset((str, int, float, bool))
_STR = frozenset((str,))


def identical(a: Any, b: Any) -> bool:
    """The same JSON data of the same types all the way down (``1``, ``1.0`` and ``True`` differ).

    Only plain JSON types (dict with string keys, list, str, int, float, bool, None) qualify.
    """
    try:
        return a == b and _same_types(a, b)
    except Exception:  # noqa: BLE001 - a value that cannot be compared: let the full mapping judge
        return False


def _same_types(a: Any, b: Any) -> bool:
    """For equal ``a`` and ``b``: are both plain JSON of the same types all the way down?

    Leaves are checked in one loop per container rather than by a call each: this runs on every
    consented decision.
    """
    t = type(a)
    if t is not type(b):
        return _same_number(a, b)
    if t is dict:
        if not {*map(type, a)} <= _STR:  # every key a str (the type test in C, not a generator)
            return False
        return _same_pairs(zip(a.values(), map(b.__getitem__, a)))
    if t is list:
        return _same_pairs(zip(a, b))
    return t in _LEAVES or a is None or _same_number(a, b)


def _same_pairs(pairs: Iterable[tuple[Any, Any]]) -> bool:
    """The elements of two equal containers, pair by pair: the same JSON types all the way down."""
    for x, y in pairs:
        tx = type(x)
        if tx is str and type(y) is str:
            continue
        if tx is not type(y) and not _same_number(x, y):
            return False
        if tx is dict or tx is list:
            if not _same_types(x, y):
                return False
        elif isinstance(x, float):
            if not _same_number(x, y):  # two JSON numbers of one float can differ exactly
                return False
        elif tx not in _LEAVES and x is not None:
            return False
    return True


def _same_number(a: Any, b: Any) -> bool:
    """A JSON number read with its text (:class:`~txguard.core.jsonio.JSONNumber`) and a plain
    float (a host's, or ``json.loads``'s) are the same leaf when they are the same exact number."""
    if not (isinstance(a, float) and isinstance(b, float)):
        return False
    # Equal floats of one text are one exact value (the usual case: a JSON number and the float of
    # the same text); NaN is never equal, not even to itself.
    return (a == b and number_text(a) == number_text(b)) or exact_decimal(a) == exact_decimal(b)
