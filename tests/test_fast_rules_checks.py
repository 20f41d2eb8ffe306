"""The built-in checks' fast readers (``checks/ctx.py``) read exactly what the reference readers read.

Differential: ``plain_amount`` (a catalog price that is a plain float or int) gives the very
``Decimal`` ``fact_amount`` gives (same value, same exponent: ``287.79``, ``1e-7``, ``5e+20``) and
leaves everything else (bools, negatives, NaN, infinities, strings such as ``"7"``, ``JSONNumber``
with a longer text, ``Decimal``) to the reference, which words the error; on hostile catalogs a
decision's catalog price, exposure and every built-in check decide and word alike whether the
catalog was read through the fast reader or not.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.checks import ctx as ctx_module
from txguard.core.errors import MoneyError
from txguard.core.jsonio import JSONNumber
from txguard.core.money import fact_amount

from .helpers import RETAIL, checkout_args, envelope, line

GUARD = Guard.from_file(RETAIL)

prices = st.one_of(
    st.floats(), st.integers(), st.integers(-2**80, 2**80), st.booleans(), st.none(),
    st.sampled_from([287.79, 0.1, 1e-7, 5e20, -0.0, 0.0, 120.0, 1e308, math.inf, -math.inf, math.nan]),
    st.sampled_from(["7", "120.00", "-1", "NaN", "1e400"]),
    st.sampled_from(["120.0", "120.00", "1.20e2", "0.79999999999999999", "1e400"]).map(JSONNumber),
    st.sampled_from([Decimal("120.00"), Decimal("-0"), Decimal("NaN")]),
)


def reference(value: Any) -> tuple[str, str]:
    try:
        return "amount", str(fact_amount(value))
    except MoneyError as exc:
        return "error", str(exc)


@settings(max_examples=1000, deadline=None)
@given(prices)
def test_plain_amount_is_fact_amount_or_leaves_it_to_the_reference(value: Any) -> None:
    fast = ctx_module.plain_amount(value)
    if fast is not None:
        assert type(value) in (float, int)
        assert reference(value) == ("amount", str(fast))
    elif type(value) in (float, int):
        assert reference(value)[0] == "error"  # only an invalid plain number is left to the reference


def _decide(price: Any, monkeypatch: pytest.MonkeyPatch | None) -> tuple[Any, ...]:
    env = envelope(checkout_args(line(quantity=2)))
    env["facts"]["products"]["P-COF"]["variants"]["S-COF-1"]["price"] = price
    if monkeypatch is not None:
        monkeypatch.setattr(ctx_module, "plain_amount", lambda value: None)  # every price through the reference
    d = GUARD.independent().check_envelope(env)
    return d.outcome, d.reasons, d.route, d.questions, d.confirmation


@settings(max_examples=200, deadline=None)
@given(prices)
def test_a_decision_reads_a_catalog_price_alike_with_and_without_the_fast_reader(value: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        slow = _decide(value, mp)
    assert _decide(value, None) == slow
