"""Adversarial review of issue 11 (expressions, exact JSON numbers, tool definitions): inputs a
hostile policy author or agent could send, each of which must fail closed (a located load error,
or a ``check_error``/``missing_fact`` decision), never hang, raise, or allow by error."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from txguard import Guard, PolicyError
from txguard.core.jsonio import read_json

from .helpers import line
from .test_expressions import EXPIRES, HEAD, cart, guard, load_errors

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


# -- a non-finite literal inside an expression is a load error, as it is as an operand -------------------

@pytest.mark.parametrize("lit", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("form", ["{value: {add: [intent.total, %s]}, gt: 1}", "{value: {mul: [%s, 2]}, gt: 1}",
                                  "{value: %s, gt: 1}"])
def test_non_finite_literal_in_an_expression_is_a_located_load_error(form: str, lit: str) -> None:
    errors = load_errors(form % lit)
    assert errors and all("f.yaml:14:" in e for e in errors)
    assert any("not a finite number" in e for e in errors)


@pytest.mark.parametrize("when", [
    "{value: {lit: .inf}, gt: 1}",
    "{value: {add: [{lit: .nan}, 1]}, gt: 1}",
    "{path: intent.currency, in: {lit: [USD, .inf]}}",
    '{value: {table: fee, keys: ["intent.currency"], default: .inf}, gt: 1}',
])
def test_non_finite_lit_and_default_are_located_load_errors(when: str) -> None:
    errors = load_errors(when)
    assert any("f.yaml:14:" in e and "not a finite number" in e for e in errors), errors


def test_non_finite_table_value_is_a_located_load_error() -> None:
    text = HEAD.replace("express: 12", "express: .inf") + (
        "  - id: r\n    kinds: [checkout]\n    when: {value: {table: fee, keys: [\"intent.currency\"]}, gt: 1}\n")
    with pytest.raises(PolicyError) as info:
        Guard.from_text(text, file="f.yaml")
    assert any("tables.fee.express" in str(d) and "not a finite number" in str(d) for d in info.value.diagnostics)


def test_table_key_from_a_huge_integral_decimal_is_no_key_not_a_hang() -> None:
    # a host's facts may hold a Decimal; int(Decimal("1e999999999")) would build a billion-digit int
    outcome, codes, _ = decide("{value: {table: fee, keys: [%s], default: 0}, gt: 1}" % X, Decimal("1e999999999"))
    assert (outcome, codes) == ("allow", ())


def test_duration_times_a_huge_integral_decimal_is_a_check_error_not_a_runaway() -> None:
    # mul(x, 1) with x = "1e999999" is Decimal 1E+999999 (inside the 60-digit context's exponent
    # range); turning it into an int to multiply a duration took ~30 s of CPU for one decision
    when = "{value: {mul: [{days: 1}, {mul: [%s, 1]}]}, gt: {days: 1}}" % X
    outcome, codes, message = decide(when, "1e999999")
    assert (outcome, codes) == ("escalate", ("check_error",))
    assert "cannot be computed" in message or "not a datetime" in message
    assert decide(when, 3)[1] == ("r",)  # an ordinary count of days still multiplies


# -- arity and range of expression forms: located load errors, not exceptions --------------------------

@pytest.mark.parametrize(("when", "where"), [
    ("{value: 3, eq: {add: []}}", "when.eq.add"),
    ("{value: 3, eq: {add: [1]}}", "when.eq.add"),
    ("{value: 3, eq: {mul: []}}", "when.eq.mul"),
    ("{value: 3, eq: {sub: [1, 2, 3]}}", "when.eq.sub"),
    ("{value: 3, eq: {div: []}}", "when.eq.div"),  # an IndexError out of the loader
    ("{value: 3, eq: {div: [2]}}", "when.eq.div"),
    ("{value: 3, eq: {div: [6, 2, 1]}}", "when.eq.div"),
    ("{value: 3, eq: {add: intent.total}}", "when.eq.add"),
    ("{value: {days: 1033502317}, gt: {days: 1}}", "when.value.days"),  # an OverflowError out of the loader
    ("{value: {seconds: 99999999999999999999}, gt: {days: 1}}", "when.value.seconds"),
])
def test_bad_operands_are_located_load_errors(when: str, where: str) -> None:
    errors = load_errors(when)
    assert any(e.startswith("f.yaml:14:") and where in e for e in errors), errors


# -- consent: arguments identical as floats are not identical when their exact numbers differ ----------

def test_two_json_numbers_of_one_float_are_not_identical_arguments() -> None:
    # KWD has 3 decimals: 12345678901234.568 and .569 are valid, different amounts, and the same
    # float. The identical-arguments shortcut bound a confirmation of one to a proposal of the other.
    from txguard.consent.binding import identical

    a = read_json('{"total": 12345678901234.568, "lines": [{"p": 12345678901234.568}]}')
    b = read_json('{"total": 12345678901234.569, "lines": [{"p": 12345678901234.568}]}')
    assert a["total"] == b["total"]  # the floats agree
    assert not identical(a, b) and not identical(b, a)
    c = read_json('{"total": 1, "lines": [{"p": 12345678901234.568}]}')
    d = read_json('{"total": 1, "lines": [{"p": 12345678901234.569}]}')
    assert not identical(c, d)
    assert not identical(read_json('[0.79999999999999999]'), read_json('[0.8]'))
    assert identical(read_json('{"p": 2.50}'), read_json('{"p": 2.5}'))  # one number, two spellings


# -- audit: a recorded JSON number keeps its exact value, so replay decides as the guard did ------------

def test_replay_of_a_json_number_confidence_gives_the_recorded_decision() -> None:
    # 0.79999999999999999 is below the 0.80 floor (clarify); recorded as the float 0.8, replay allowed
    import json as _json

    from txguard.audit import MemorySink
    from txguard.audit._record import escape, unescape
    from txguard.audit._replay import redecide
    from txguard.core.jsonio import JSONNumber

    from .audit.conftest import RETAIL, StepClock, envelopes

    sink = MemorySink()
    g = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    tried = 0
    for env in envelopes():
        p = env.get("proposal")
        if not isinstance(p, dict) or p.get("name") != "checkout":
            continue
        args = p["arguments"]
        args = read_json(args) if isinstance(args, str) else read_json(_json.dumps(args))
        args["confidence"] = read_json("0.79999999999999999")
        d = g.check_envelope({**env, "proposal": {"name": "checkout", "arguments": args}})
        body = list(sink.records())[-1].body
        assert redecide(g.policy, body) == body["decision"]
        assert "ambiguity" in d.codes
        tried += 1
        if tried == 3:
            break
    assert tried == 3
    back = unescape(escape({"c": JSONNumber("0.79999999999999999"), "d": JSONNumber("1e400"), "e": 2.5}))
    assert back["c"].text == "0.79999999999999999" and back["d"].text == "1e400" and back["e"] == 2.5


# -- nested aggregates: bounded at load (work is the product of the lists' lengths) -------------------

def test_aggregates_nest_at_most_two_deep() -> None:
    two = ("{value: {count: intent.items, where: {path: item.unit_price, eq: "
           "{max: intent.items, as: other, of: other.unit_price}}}, gt: 1}")
    assert guard(two)  # a line at the highest price: a level inside a level loads
    three = ("{value: {sum: intent.items, of: {sum: intent.items, as: b, of: {sum: intent.items, as: c, "
             "of: c.quantity}}}, gt: 1}")
    errors = load_errors(three)  # 1000 lines each: 10**9 evaluations in one decision
    assert any(e.startswith("f.yaml:14:") and "nest at most 2" in e and "of.of.sum" in e for e in errors), errors


def test_a_sum_of_durations_beyond_the_range_is_a_condition_error() -> None:
    when = "{value: {sum: intent.items, of: {mul: [{days: 999999999}, item.quantity]}}, gt: {days: 1}}"
    d = guard(when).check_envelope(cart(line(quantity=1), line("S-COF-2", quantity=1)))
    assert d.outcome.value == "escalate" and d.codes == ("check_error",)
    assert d.reasons[0].message.startswith("ConditionError") and "longer than a duration" in d.reasons[0].message
