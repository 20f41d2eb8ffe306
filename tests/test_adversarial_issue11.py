"""Adversarial review of issue 11 (expressions, exact JSON numbers, tool definitions): inputs a
hostile policy author or agent could send, each of which must fail closed (a located load error,
or a ``check_error``/``missing_fact`` decision), never hang, raise, or allow by error."""

from __future__ import annotations

from typing import Any

import pytest

from txguard.core.jsonio import read_json

from .helpers import line
from .test_expressions import EXPIRES, cart, guard

X = '"' + EXPIRES + '.x"'


def decide(when: str, x: Any) -> tuple[str, tuple[str, ...], str]:
    d = guard(when).check_envelope(cart(line(), extra_info={"x": x}))
    return d.outcome.value, d.codes, " ".join(r.message for r in d.reasons)


# -- round(a / b): exact rationals must not be built from unbounded exponents -------------------------

@pytest.mark.parametrize("x", ["1e999999999", "-1e999999999", "1e-999999999", read_json("1e999999999")])
def test_rounded_quotient_of_a_huge_exponent_is_a_check_error_not_a_hang(x: Any) -> None:
    # Fraction(Decimal("1e999999999")) builds a 10**999999999 integer: minutes of CPU and gigabytes
    outcome, codes, message = decide("{value: {round: {div: [%s, 3]}, places: 2}, gt: 1}" % X, x)
    assert (outcome, codes) == ("escalate", ("check_error",))
    assert "ConditionError" in message


@pytest.mark.parametrize("x", [float("inf"), float("-inf"), float("nan")])
def test_rounded_quotient_of_a_non_finite_float_is_a_condition_error(x: float) -> None:
    outcome, codes, message = decide("{value: {round: {div: [%s, 3]}, places: 2}, gt: 1}" % X, x)
    assert (outcome, codes) == ("escalate", ("check_error",))
    assert "ConditionError" in message and "integer ratio" not in message


def test_rounded_quotient_still_exact() -> None:
    assert decide("{value: {round: {div: [%s, 3]}, places: 2}, eq: \"0.33\"}" % X, 1)[1] == ("r",)
    assert decide("{value: {round: {div: [%s, 8]}, places: 2}, eq: \"0.12\"}" % X, 1)[1] == ("r",)  # 0.125: half to even


# -- non-finite floats (a host's facts; `NaN`/`Infinity` that json.loads accepts) are not numbers ---------

@pytest.mark.parametrize("when", [
    "{value: {add: [%s, 3]}, lt: 100}" % X,
    "{value: {sum: %s}, lt: 100}" % X,
    "{value: {max: %s}, lt: 100}" % X,
    "{path: %s, lt: 100}" % X,
])
@pytest.mark.parametrize("x", [float("inf"), float("-inf"), float("nan"), read_json("Infinity")])
def test_non_finite_numbers_never_decide_a_comparison(when: str, x: float) -> None:
    value = [x, 1] if "sum" in when or "max" in when else x
    outcome, codes, message = decide(when, value)
    assert (outcome, codes) == ("escalate", ("check_error",)), message
