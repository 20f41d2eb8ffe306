"""Which confirmation binds an intent (``txguard.consent.binding``): the one answer the consent check and
the sessions layer share."""

from __future__ import annotations

import copy
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from txguard import Checkout, Confirmed, ConsentSigner, Guard, Outcome, Proposal, intent_digest
from txguard.consent.binding import bind, confirmation_key, identical
from txguard.sessions import open_store

from .helpers import RETAIL, checkout_args, envelope, line

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
GUARD = Guard.from_file(RETAIL, clock=lambda: NOW)
POLICY = GUARD.policy


def _args(quantity: int = 1) -> dict[str, Any]:
    return checkout_args(line(quantity=quantity))


def _intent(args: dict[str, Any]) -> Checkout:
    return Checkout.model_validate(args)


def _check(proposal: Any, confirmed: list[Any], guard: Guard = GUARD, sid: str | None = None) -> Any:
    env = envelope(_args(), confirm=False)
    session: dict[str, Any] = dict(env["session"], confirmed=confirmed)
    if sid is not None:
        session["id"] = sid
    # without a store, each check is its own world (a fresh single-use ledger)
    return (guard if sid is not None else guard.independent()).check(proposal, None, session, env["facts"])


# -- identical ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("a", "b", "same"), [
    ({"q": 1}, {"q": 1}, True),
    ({"q": 1}, {"q": 1.0}, False),
    ({"q": 1}, {"q": True}, False),
    ({"q": True}, {"q": True}, True),
    ({"l": [{"q": 1}, {"q": 2}]}, {"l": [{"q": 1}, {"q": 2.0}]}, False),
    ({"l": [1, 2]}, {"l": [1, 2]}, True),
    ({"s": "1.00"}, {"s": "1.00"}, True),
    ({"s": None}, {"s": None}, True),
    ({1: "a"}, {1: "a"}, False),  # not JSON: keys are strings
    ({"t": (1,)}, {"t": (1,)}, False),  # not JSON: a tuple is left to the full mapping
    ({"q": float("nan")}, {"q": float("nan")}, False),
    ("{}", {}, False),
])
def test_identical_means_the_same_json_data_of_the_same_types(a: Any, b: Any, same: bool) -> None:
    assert identical(a, b) is same
    assert identical(b, a) is same


# -- the reviewer's reproductions -----------------------------------------------------------------------

@pytest.mark.parametrize("stand_in", [
    {"name": "intent:checkout"},
    {"name": "intent:checkout", "arguments": None},
    {"name": "intent:checkout", "arguments": {}},
])
def test_a_stand_in_name_confirms_no_intent_given_validated(stand_in: dict[str, Any]) -> None:
    intent = _intent(_args())
    d = _check(intent, [stand_in])
    assert (d.outcome, d.codes) == (Outcome.CLARIFY, ("consent",))
    assert d.reasons[0].message == "the user has not confirmed this checkout"
    # The real confirmation of it does.
    assert _check(intent, [{"digest": intent_digest(intent)}]).allowed
    assert _check(intent, [{"name": "checkout", "arguments": _args()}]).allowed


@pytest.mark.parametrize("quantity", [True, 1.0, "1"])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_confirmed_value_equal_in_python_but_of_another_type_confirms_nothing(quantity: Any, as_json: bool) -> None:
    args = _args()
    confirmed = copy.deepcopy(args)
    confirmed["items"][0]["quantity"] = quantity
    proposal = {"name": "checkout", "arguments": json.dumps(args) if as_json else args}
    d = _check(proposal, [{"name": "checkout", "arguments": confirmed}])
    assert (d.outcome, d.codes) == (Outcome.CLARIFY, ("consent",))
    assert _check(proposal, [{"name": "checkout", "arguments": copy.deepcopy(args)}]).allowed


def test_a_float_quantity_equal_to_the_proposed_one_confirms_nothing() -> None:
    args = _args(quantity=2)
    confirmed = copy.deepcopy(args)
    confirmed["items"][0]["quantity"] = 2.0
    d = _check({"name": "checkout", "arguments": args}, [{"name": "checkout", "arguments": confirmed}])
    assert d.codes == ("consent",)


def test_a_stand_in_confirmation_never_passes_single_use() -> None:
    policy = RETAIL.read_text(encoding="utf-8") + "\nsession:\n  single_use_confirmations: true\n"
    guard = Guard.from_text(policy, file=str(RETAIL), clock=lambda: NOW, sessions=open_store("memory:"))
    intent = _intent(_args())
    for _ in range(3):
        assert _check(intent, [{"name": "intent:checkout"}], guard, "c1").codes == ("consent",)
    real = [{"name": "checkout", "arguments": _args()}]
    assert _check({"name": "checkout", "arguments": _args()}, real, guard, "c2").allowed
    # The same confirmation, presented again with the intent itself, is used up.
    assert _check(intent, real + [{"name": "intent:checkout"}], guard, "c2").codes == ("confirmation_used",)


# -- bind -----------------------------------------------------------------------------------------------

def test_bind_lists_every_binding_confirmation_in_session_order() -> None:
    args = _args()
    intent = _intent(args)
    digest = intent_digest(intent)
    confs = (
        Confirmed(name="intent:checkout"),
        Confirmed(digest=digest, expires_at=NOW + timedelta(hours=1)),
        Confirmed(name="checkout", arguments=_args(quantity=2)),
        Confirmed(name="checkout", arguments=json.dumps(args)),
        Confirmed(digest=digest, expires_at=NOW),  # expires at the decision's instant: expired
    )
    prop = Proposal(name="checkout", arguments=args)
    found = bind(POLICY, intent, confs, NOW, proposal=prop, arguments=args)
    assert found.confirmations == (confs[1], confs[3]) and found.problem is None
    assert bind(POLICY, intent, confs, NOW, first=True).confirmations == (confs[1],)
    # Without a proposal (an intent given validated) the answer is the same.
    assert bind(POLICY, intent, confs, NOW).confirmations == found.confirmations


@pytest.mark.parametrize(("confs", "message"), [
    ((), "the user has not confirmed this checkout"),
    ((Confirmed(digest="sha256:" + "0" * 64, expires_at=NOW),), "the user's confirmation has expired"),
    ((Confirmed(name="checkout", arguments=checkout_args(line(quantity=2))),),
     "the user confirmed a different checkout: items, total changed"),
    ((Confirmed(token="txgc1.k.a.b.c.d"),),
     "the consent token is signed with key `k`, which this guard does not hold, so it confirms nothing"),
])
def test_bind_says_why_nothing_binds(confs: tuple[Confirmed, ...], message: str) -> None:
    found = bind(POLICY, _intent(_args()), confs, NOW)
    assert found.confirmations == () and found.problem == message


def test_a_confirmation_key_is_its_digest_expiry_and_nonce() -> None:
    assert confirmation_key("sha256:ab", None) == "sha256:ab|"
    assert confirmation_key("sha256:ab", NOW) == "sha256:ab|2026-05-01T12:00:00+00:00"
    assert confirmation_key("sha256:ab", NOW, "n1") == "sha256:ab|2026-05-01T12:00:00+00:00|n1"


def test_tokens_bind_only_under_a_key_the_guard_holds() -> None:
    signer = ConsentSigner(secrets.token_bytes(32), key_id="host-1")
    intent = _intent(_args())
    token = signer.issue(intent, expires_at=NOW + timedelta(minutes=1))
    assert _check(intent, [{"token": token}]).codes == ("consent",)  # GUARD holds no key
    trusting = Guard.from_file(RETAIL, clock=lambda: NOW, consent_keys=signer)
    assert _check(intent, [{"token": token}], trusting).allowed
    assert _check({"name": "checkout", "arguments": json.dumps(_args())}, [{"token": token}], trusting).allowed
    expired = signer.issue(intent, expires_at=NOW)
    d = _check(intent, [{"token": expired}], trusting)
    assert d.codes == ("consent",) and d.reasons[0].message == "the user's confirmation has expired"
    other = signer.issue(_intent(_args(quantity=2)))
    assert _check(intent, [{"token": other}], trusting).codes == ("consent",)


def test_a_json_number_and_the_same_float_are_identical_arguments() -> None:
    # The identical-arguments shortcut (no second mapping of the confirmed proposal) must hold for
    # a confirmation given as host data (floats) and a proposal read from JSON text (numbers that
    # keep their text), and must not hold when the text is a different exact number.
    from txguard.consent.binding import identical
    from txguard.core.jsonio import read_json

    read = read_json('{"confidence": 0.96, "lines": [{"q": 1, "p": 2.50}]}')
    assert identical({"confidence": 0.96, "lines": [{"q": 1, "p": 2.5}]}, read)
    assert identical(read, {"confidence": 0.96, "lines": [{"q": 1, "p": 2.5}]})
    assert not identical({"confidence": 0.8}, read_json('{"confidence": 0.79999999999999999}'))
    assert not identical({"confidence": 1}, read_json('{"confidence": 1.0}'))  # an int is not a float
