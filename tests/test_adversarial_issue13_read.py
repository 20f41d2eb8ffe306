"""Adversarial review of issue 13's fast paths of the read: inputs on which a fast path diverged
from the reference it skips (each test fails on the fast path as first merged)."""

from __future__ import annotations

import decimal
import gzip
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from txguard import Guard, compile_file
from txguard.core.intents import places
from txguard.core.jsonio import read_json

from .conftest import CORPUS, POLICIES

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["0.0000001", "0.000000000", "0.00000012", "1E+2", "0E-9", "12.50", "-1E-8"])
@pytest.mark.parametrize("capitals", [0, 1])
def test_places_ignores_the_decimal_contexts_capitals(text: str, capitals: int) -> None:
    """``str(Decimal)`` writes a lower-case ``e`` under a context with ``capitals=0`` (a host's
    setting, thread-local): ``places`` must still count the digits after the point."""
    amount = Decimal(text)
    with decimal.localcontext() as ctx:
        ctx.capitals = capitals
        assert places(amount) == -amount.as_tuple().exponent  # type: ignore[operator]


@given(st.decimals(allow_nan=False, allow_infinity=False), st.sampled_from([0, 1]))
def test_places_is_the_exponent_under_any_capitals(amount: Decimal, capitals: int) -> None:
    with decimal.localcontext() as ctx:
        ctx.capitals = capitals
        assert places(amount) == -amount.as_tuple().exponent  # type: ignore[operator]


def test_a_usd_checkout_of_seven_decimals_is_malformed_whatever_the_capitals() -> None:
    """Was an unsafe ``allow``: under ``capitals=0`` a checkout of ``0.0000001`` USD a unit passed
    the exponent check (``places`` read ``1e-7`` as a whole number) and was allowed."""
    with gzip.open(CORPUS / "chat-to-buy-dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        line = next(x for x in fh if '"cb-d-01358b2da0cb"' in x)  # an allowed checkout (2 x 287.79 USD)
    line = line.replace('"575.58"', '"0.0000002"').replace("287.79", "0.0000001").replace('"650.00"', '"1.00"')
    guard = Guard(compile_file(POLICIES / "retail.yaml"), clock=lambda: NOW)
    decisions = []
    for capitals in (1, 0):
        with decimal.localcontext() as ctx:
            ctx.capitals = capitals
            decisions.append(guard.independent().check_envelope(read_json(line)))
    for decision in decisions:
        assert decision.outcome.value == "escalate"
        assert [r.code for r in decision.reasons] == ["malformed"]
        assert "has more decimals than USD allows (2)" in decision.reasons[0].message


class _EqualsName:
    """A host's key object that hashes and compares like ``"name"`` but is not a ``str``."""

    def __hash__(self) -> int:
        return hash("name")

    def __eq__(self, other: object) -> bool:
        return other == "name"

    def __repr__(self) -> str:
        return "EqualsName()"


class _StrEqualsName(str):
    """A ``str`` whose text is not ``name`` but that hashes and compares like it."""

    def __hash__(self) -> int:
        return hash("name")

    def __eq__(self, other: object) -> bool:
        return other == "name"


@pytest.mark.parametrize("key", [_EqualsName(), _StrEqualsName("zzz")], ids=["object", "str-subclass"])
@pytest.mark.parametrize("with_arguments", [False, True])
def test_a_proposal_key_that_only_compares_equal_to_name_is_refused(key: object, with_arguments: bool) -> None:
    """Was accepted by ``read_proposal``'s direct build (``keys() <= {name, arguments}`` holds)
    where ``Proposal.model_validate`` refuses it: the read must refuse it as the reference does."""
    from pydantic import ValidationError

    from txguard.core.context import Proposal, read_proposal
    from txguard.engine.case import map_proposal

    value: dict[object, object] = {key: "checkout"}
    if with_arguments:
        value["arguments"] = {}
    with pytest.raises(ValidationError) as ref:
        Proposal.model_validate(value)
    with pytest.raises(ValidationError) as fast:
        read_proposal(value)
    assert str(fast.value) == str(ref.value)
    mapped = map_proposal(compile_file(POLICIES / "retail.yaml"), value)
    assert mapped.intent is None and mapped.problem is not None
    assert mapped.problem[0].code == "malformed"
    assert mapped.problem[0].message.startswith("the proposal is not `{name, arguments}`: 1 validation error")
