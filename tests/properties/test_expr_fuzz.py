"""Fuzz of expressions in ``when``: random expression trees (well formed or not) either load or
fail with located diagnostics, and a policy that loads decides every envelope without raising and
never allows when its rule could not be evaluated."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, PolicyError

from ..helpers import line
from ..test_expressions import EXPIRES, HEAD, cart

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
X = EXPIRES + ".x"

paths = st.sampled_from(["intent.total", "intent.currency", "intent.items", "item.quantity", "item.unit_price",
                         X, "now", "intent.items[0].quantity", "nope.nope", "intent"])
numbers = st.one_of(st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["1e999999999", "-0", "0e0", "1e-400", "9" * 400]))
leaves = st.one_of(
    paths, numbers, st.none(), st.booleans(),
    st.builds(lambda n: {"decimal": n}, numbers),
    st.builds(lambda n: {"money": n}, numbers),
    st.builds(lambda n, c: {"money": n, "currency": c}, numbers, st.sampled_from(["USD", "EUR", "JPY", "XXX"])),
    st.builds(lambda d: {"datetime": d}, st.sampled_from(["2026-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
                                                         "9999-12-31T23:59:59-12:00", "2026-12-31T23:59:60Z",
                                                         "2026-01-01T00:00:00"])),
    st.builds(lambda u, n: {u: n}, st.sampled_from(["days", "hours", "weeks", "seconds"]),
              st.one_of(st.integers(-10**12, 10**12), st.floats())),
    st.builds(lambda k, d: {"table": "fee", "keys": k, **d}, st.lists(paths | st.sampled_from(["standard", "express"]),
                                                                      max_size=2),
              st.sampled_from([{}, {"default": 0}, {"default": "x"}, {"default": 1.5}])),
)


def _extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda op, xs: {op: xs}, st.sampled_from(["add", "sub", "mul", "div"]),
                  st.lists(children, min_size=0, max_size=3)),
        st.builds(lambda x, p: {"round": x, "places": p}, children, st.one_of(st.integers(-2, 40), st.floats())),
        st.builds(lambda fn, seq, of: {fn: seq, **of}, st.sampled_from(["count", "sum", "min", "max", "distinct"]),
                  paths, st.one_of(st.just({}), st.builds(lambda o: {"of": o}, children))),
    )


exprs = st.recursive(leaves, _extend, max_leaves=8)
ops = st.sampled_from(["eq", "ne", "gt", "lt", "ge", "le", "ieq", "startswith", "in"])
facts_x = st.one_of(numbers, st.text(max_size=12), st.lists(numbers, max_size=4),
                    st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "P1D", "2026-01-01T00:00:00", None]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=exprs, op=ops, right=exprs, xs=st.lists(facts_x, min_size=1, max_size=3))
def test_random_expressions_load_located_or_decide_closed(left: Any, op: str, right: Any, xs: list[Any]) -> None:
    when = json.dumps({"value": left, op: right})
    text = HEAD + "  - id: r\n    kinds: [checkout]\n    when: " + when + "\n"
    try:
        guard = Guard.from_text(text, file="f.yaml", clock=lambda: CLOCK)
    except PolicyError as exc:
        assert exc.diagnostics
        assert all(str(d).startswith("f.yaml:") for d in exc.diagnostics), [str(d) for d in exc.diagnostics]
        return
    for x in xs:
        d = guard.check_envelope(cart(line(), extra_info={"x": x}))  # never raises
        codes = {r.code for r in d.reasons}
        if codes & {"check_error", "missing_fact", "internal_error"}:
            assert d.outcome.value != "allow", (when, x, d)
        assert "internal_error" not in codes, (when, x, d)


# -- well-typed trees, so that most load and are decided on hostile facts ---------------------------------

small = st.one_of(st.integers(-5, 5), st.sampled_from([0.5, 1e300, 1e-300, 0.1]))
typed_leaves = st.one_of(st.sampled_from(["intent.total", X, X, "intent.items[0].quantity", "now"]), small,
                         st.builds(lambda u, n: {u: n}, st.sampled_from(["days", "seconds"]), st.integers(-10**9, 10**9)),
                         st.just({"datetime": "2026-01-01T00:00:00Z"}))


def _typed(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(lambda op, a, b: {op: [a, b]}, st.sampled_from(["add", "sub", "mul", "div"]), children, children),
        st.builds(lambda x, p: {"round": x, "places": p}, children, st.integers(0, 18)),
        st.builds(lambda fn, o: {fn: X, "of": o}, st.sampled_from(["sum", "min", "max", "distinct"]), children),
        st.builds(lambda fn: {fn: X}, st.sampled_from(["sum", "min", "max", "count", "distinct"])),
    )


hostile = st.one_of(st.integers(-10**20, 10**20), st.floats(),
                    st.sampled_from(["1e999999", "1e999999999", "1e-999999", "P999999999D", "2026-01-01T00:00:00Z",
                                     "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00", "5"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=st.recursive(typed_leaves, _typed, max_leaves=6), op=st.sampled_from(["gt", "lt", "eq", "ne"]),
       right=st.recursive(typed_leaves, _typed, max_leaves=6), xs=st.lists(st.one_of(hostile, st.lists(hostile, max_size=3)),
                                                                          min_size=1, max_size=3))
def test_typed_expressions_decide_hostile_facts_closed(left: Any, op: str, right: Any, xs: list[Any]) -> None:
    when = json.dumps({"value": left, op: right})
    text = HEAD + "  - id: r\n    kinds: [checkout]\n    when: " + when + "\n"
    try:
        guard = Guard.from_text(text, file="f.yaml", clock=lambda: CLOCK)
    except PolicyError as exc:
        assert all(str(d).startswith("f.yaml:") for d in exc.diagnostics)
        return
    for x in xs:
        d = guard.check_envelope(cart(line(), extra_info={"x": x}))
        for r in d.reasons:
            assert r.code != "internal_error", (when, x, r)
            if r.code == "check_error":  # a ConditionError, never an exception the evaluator let through
                assert r.message.startswith("ConditionError"), (when, x, r.message)
                assert d.outcome.value != "allow"
