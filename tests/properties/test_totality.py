"""Invariant 1, totality: for any input, ``check`` returns a decision, never raises, and malformed
input never yields ``allow``."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from txguard import Checkout, Decision, Facts, Guard, Outcome, Request, Session

from ..helpers import RETAIL, checkout_args, envelope, line
from .strategies import corpus_envelopes, json_values

GUARD = Guard.from_file(RETAIL)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def valid_checkout(arguments: Any) -> bool:
    """Independent oracle: would retail's `checkout` tool (identity mapping, confidence required) accept these?"""
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError):
            return False
    if not isinstance(arguments, dict) or arguments.get("confidence") is None:
        return False
    try:
        Checkout.model_validate({**arguments, "kind": "checkout"} if "kind" not in arguments else arguments)
    except ValidationError:
        return False
    return "kind" not in arguments


def assert_shape(d: Decision) -> None:
    assert isinstance(d, Decision)
    if d.outcome is Outcome.ALLOW:
        assert d.reasons == () and d.questions == () and d.route is None
    elif d.outcome is Outcome.CLARIFY:
        assert d.questions and d.route is None
    else:
        assert d.route in ("human", "refuse") and d.reasons


@FAST
@given(arguments=json_values | st.text(max_size=50) | st.binary(max_size=20))
def test_arbitrary_arguments_never_raise_and_never_allow_when_malformed(arguments: Any) -> None:
    d = GUARD.independent().check_envelope(envelope(arguments))
    assert_shape(d)
    if not valid_checkout(arguments):
        assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed",))


@FAST
@given(arguments=json_values.map(json.dumps), cut=st.integers(min_value=0, max_value=200))
def test_arbitrary_json_strings_and_their_truncations(arguments: str, cut: int) -> None:
    for text in (arguments, arguments[:cut]):
        d = GUARD.independent().check_envelope(envelope(text))
        assert_shape(d)
        if not valid_checkout(text):
            assert d.codes == ("malformed",)


VALID_TEXT = json.dumps(checkout_args(line(), line("S-COF-2", unit_price="150.50")))


@FAST
@given(cut=st.integers(min_value=0, max_value=len(VALID_TEXT) - 1))
def test_every_truncation_of_a_valid_call_is_malformed(cut: int) -> None:
    d = GUARD.independent().check_envelope(envelope(VALID_TEXT[:cut]))
    assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed",))


@FAST
@given(pos=st.integers(min_value=0, max_value=len(VALID_TEXT) - 1), char=st.characters())
def test_a_corrupted_character_never_raises(pos: int, char: str) -> None:
    text = VALID_TEXT[:pos] + char + VALID_TEXT[pos + 1:]
    d = GUARD.independent().check_envelope(envelope(text))
    assert_shape(d)
    if not valid_checkout(text):
        assert d.codes == ("malformed",)


def _validates(model: Any, value: Any) -> bool:
    if value is None:
        return True
    try:
        model.model_validate(value)
    except ValidationError:
        return False
    return True


def _facts_ok(value: Any) -> bool:
    try:
        Facts(value)
    except TypeError:
        return False
    return True


context_parts = json_values | st.dictionaries(
    st.sampled_from(["text", "product_type", "budget", "quantity", "authenticated_user_id", "confirmed",
                     "users", "products", "orders", "options", "currency"]),
    json_values, max_size=4)


@FAST
@given(request=context_parts, session=context_parts, fact_data=context_parts)
def test_arbitrary_context_shapes(request: Any, session: Any, fact_data: Any) -> None:
    env = envelope(checkout_args())
    env.update(request=request, session=session, facts=fact_data)
    d = GUARD.independent().check_envelope(env)
    assert_shape(d)
    if not (_validates(Request, request) and _validates(Session, session) and _facts_ok(fact_data)):
        assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed_context",))


@FAST
@given(base=corpus_envelopes, part=st.sampled_from(["users", "products"]), garbage=json_values)
def test_corrupt_facts_records_never_raise_and_never_allow(base: dict[str, Any], part: str, garbage: Any) -> None:
    collection = base["facts"][part]
    assume(collection)  # a malformed case may name no product at all
    key = next(iter(collection))
    collection[key] = garbage
    d = GUARD.independent().check_envelope(base)
    assert_shape(d)
    # The acting user's record, or the product of a cart line, replaced by garbage cannot support an allow.
    assert d.outcome is not Outcome.ALLOW


@FAST
@given(proposal=json_values, extra=st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_arbitrary_proposals_and_envelopes(proposal: Any, extra: dict[str, Any]) -> None:
    assert_shape(GUARD.independent().check(proposal))
    assert_shape(GUARD.independent().check_envelope({"proposal": proposal, **extra}))
    d = GUARD.independent().check_envelope(proposal)
    assert_shape(d)
    assert d.outcome is Outcome.ESCALATE  # a bare JSON value is never a well-formed checkout envelope
