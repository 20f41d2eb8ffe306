"""Expressions in `when` conditions: arithmetic, aggregates, dates and durations, tables, string
operators, load-time typing (located errors), exactness and the trace of computed values."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard, PolicyError, compile_policy
from txguard.authoring.explain import explain
from txguard.engine.conditions import NOW, value_of
from txguard.policy.ir import Aggregate, Arith, Compare, Lit, Now, TableLookup, walk

from .helpers import CARD, USER, checkout_args, envelope, facts, line

HEAD = """\
apiVersion: txguard/v1
id: t
version: "1"
tools:
  checkout: {intent: checkout}
  cancel: {intent: cancel_order}
defaults: {checkout: allow, cancel_order: allow}
tables:
  free_bags: {regular: {economy: 1, business: 2}, gold: {economy: 3, business: 4}}
  fee: {standard: 4.99, express: 12}
rules:
"""

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
EXPIRES = "facts.users[session.authenticated_user_id].payment_methods[intent.payment_method_id].extra_info"


def guard(when: str, kinds: str = "[checkout]") -> Guard:
    return Guard.from_text(HEAD + f"  - id: r\n    kinds: {kinds}\n    when: {when}\n", file="f.yaml",
                           clock=lambda: CLOCK)


def cart(*lines: dict[str, Any], extra_info: Any = None, **kw: Any) -> dict[str, Any]:
    data = facts()
    if extra_info is not None:
        data["users"][USER]["payment_methods"][CARD]["extra_info"] = extra_info
    return envelope(checkout_args(*lines, **kw), fact_data=data)


def codes(when: str, env: dict[str, Any]) -> tuple[str, ...]:
    return guard(when).check_envelope(env).codes


def fires(when: str, env: dict[str, Any]) -> bool:
    got = codes(when, env)
    assert got in ((), ("r",)), got
    return got == ("r",)


def load_errors(when: str, kinds: str = "[checkout]") -> list[str]:
    with pytest.raises(PolicyError) as info:
        guard(when, kinds)
    return [str(d) for d in info.value.diagnostics]


TWO = cart(line(quantity=2), line("S-COF-2", unit_price="30.50", quantity=3))  # total 331.50


# -- each construct -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("when", "expected"), [
    # arithmetic, exact
    ('{value: {add: [intent.total, 10]}, eq: "341.50"}', True),
    ('{value: {sub: [intent.total, "intent.items[0].unit_price"]}, eq: "211.50"}', True),
    ("{value: {mul: ['intent.items[1].unit_price', 'intent.items[1].quantity']}, eq: 91.5}", True),
    ('{value: {div: [intent.total, 2]}, eq: "165.75"}', True),
    ('{value: {round: {div: [intent.total, 4]}, places: 2}, eq: "82.88"}', True),
    ('{path: intent.total, gt: {mul: [{sum: intent.items, of: item.quantity}, 60]}}', True),
    # aggregates
    ("{value: {count: intent.items}, eq: 2}", True),
    ("{value: {count: intent.items, as: l, where: {path: l.quantity, ge: 3}}, eq: 1}", True),
    ("{value: {sum: intent.items, of: item.quantity}, eq: 5}", True),
    ("{value: {sum: intent.items, of: {mul: [item.unit_price, item.quantity]}}, eq: {path: intent.total}}", True),
    ('{value: {min: intent.items, of: item.unit_price}, eq: "30.5"}', True),
    ("{value: {max: intent.items, of: item.unit_price}, eq: 120}", True),
    ("{value: {distinct: intent.items, of: item.product_id}, eq: 1}", True),
    ("{value: {distinct: intent.items, of: item.sku}, eq: 2}", True),
    ("{value: {count: 'facts.users[session.authenticated_user_id].payment_methods'}, eq: 3}", True),
    # money literals in the intent's currency (checked when the rule runs)
    ('{path: intent.total, gt: {money: "300.00"}}', True),
    ('{path: intent.total, gt: {add: [{money: "300.00"}, {money: 40}]}}', False),
    # tables
    ("{value: {table: free_bags, keys: [gold, business]}, eq: 4}", True),
    ("{value: {table: fee, keys: [intent.currency], default: 0}, eq: 0}", True),
    ('{value: {add: [intent.total, {table: fee, keys: [standard]}]}, eq: "336.49"}', True),
    # string operators
    ("{path: 'intent.items[0].title', startswith: Coffee}", True),
    ("{path: 'intent.items[0].title', endswith: maker}", False),
    ("{path: 'intent.items[0].title', ieq: COFFEE MAKER}", True),
    ("{path: 'intent.items[0].title', ine: coffee maker}", False),
    ("{path: 'intent.items[0].title', startswith: {path: 'intent.items[1].title'}}", True),
])
def test_each_construct(when: str, expected: bool) -> None:
    assert fires(when, TWO) is expected


def test_dates_and_durations_from_facts_and_now() -> None:
    when = f"{{path: '{EXPIRES}.expires', lt: {{add: [now, {{days: 30}}]}}}}"
    assert fires(when, cart(extra_info={"expires": "2026-03-20T00:00:00+01:00"}))
    assert not fires(when, cart(extra_info={"expires": "2026-04-20T00:00:00Z"}))
    # A datetime without an offset is never assumed UTC: the rule errs (escalates), it does not guess.
    assert codes(when, cart(extra_info={"expires": "2026-03-20T00:00:00"})) == ("check_error",)
    # A missing date is a missing fact.
    assert codes(when, cart(extra_info={"other": 1})) == ("missing_fact",)


@pytest.mark.parametrize(("when", "expected"), [
    ("{value: now, gt: {datetime: '2026-03-01T12:59:59+01:00'}}", True),   # 11:59:59Z
    ("{value: now, gt: {datetime: '2026-03-01T13:00:00+01:00'}}", False),  # 12:00:00Z: equal instants
    ("{value: now, eq: {datetime: '2026-03-01T07:00:00-05:00'}}", True),
    ("{value: {sub: [now, {datetime: '2026-02-28T12:00:00Z'}]}, eq: {hours: 24}}", True),
    ("{value: {sub: [now, {hours: 36}]}, lt: {datetime: '2026-03-01T00:00:00Z'}}", True),
    ("{value: {add: [{date: '2026-02-28'}, {days: 1}]}, eq: {date: '2026-03-01'}}", True),
    ("{value: {duration: P1DT12H}, eq: {hours: 36}}", True),
    ("{value: {weeks: 1}, gt: {days: 6}}", True),
    (f"{{path: '{EXPIRES}.at', lt: '2026-03-01T13:00:00+02:00'}}", False),  # 11:00Z vs 11:00Z
    (f"{{path: '{EXPIRES}.at', le: '2026-03-01T13:00:00+02:00'}}", True),
])
def test_datetimes_compare_as_instants_across_offsets(when: str, expected: bool) -> None:
    assert fires(when, cart(extra_info={"at": "2026-03-01T11:00:00Z"})) is expected


@settings(max_examples=40, deadline=None)
@given(st.integers(-12 * 60, 14 * 60), st.integers(-12 * 60, 14 * 60), st.integers(-3600, 3600))
def test_datetime_order_does_not_depend_on_the_offsets(off_a: int, off_b: int, delta: int) -> None:
    base = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    a = (base + timedelta(seconds=delta)).astimezone(timezone(timedelta(minutes=off_a)))
    b = base.astimezone(timezone(timedelta(minutes=off_b)))
    env = cart(extra_info={"a": a.isoformat(), "b": b.isoformat()})
    got = fires(f"{{path: '{EXPIRES}.a', gt: {{path: '{EXPIRES}.b'}}}}", env)
    assert got is (delta > 0)


# -- exactness -------------------------------------------------------------------------------------------

def _no_float(value: Any) -> bool:
    return not isinstance(value, float)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=4,
                            allow_nan=False, allow_infinity=False), min_size=2, max_size=6))
def test_the_sum_of_decimal_literals_is_the_exact_decimal_sum(numbers: list[Decimal]) -> None:
    args = ", ".join(f"{{decimal: '{n}'}}" for n in numbers)
    policy = compile_policy(HEAD + f"  - id: r\n    kinds: [checkout]\n    when: {{value: {{add: [{args}]}}, eq: 0}}\n")
    (rule,) = policy.rules
    assert isinstance(rule.test, Compare)
    got = value_of(rule.test.left, {})
    assert isinstance(got, Decimal) and got == sum(numbers, Decimal(0))
    # A product of at most three (of at most 17 digits each) fits the 60 digits exactly; a longer
    # one may not, and then it is an error, never a rounded value.
    factors = numbers[:3]
    with localcontext(Context(prec=400)):
        expected = Decimal(1)
        for n in factors:
            expected *= n
    args = ", ".join(f"{{decimal: '{n}'}}" for n in factors)
    mul = compile_policy(HEAD + f"  - id: r\n    kinds: [checkout]\n    when: {{value: {{mul: [{args}]}}, eq: 0}}\n")
    product = value_of(mul.rules[0].test.left, {})  # type: ignore[union-attr]
    assert isinstance(product, Decimal) and product == expected


def test_no_computed_value_is_a_float() -> None:
    # YAML floats are read through their shortest repr, never kept as binary floats.
    policy = compile_policy(HEAD + "  - id: r\n    kinds: [checkout]\n    when: {value: {add: [intent.total, 0.1, 0.2]}, "
                            "eq: 0.3}\n")
    test = policy.rules[0].test
    assert isinstance(test, Compare)
    for node in (test.left, test.operand, *test.left.args):  # type: ignore[union-attr]
        if isinstance(node, Lit):
            assert _no_float(node.value)
    result = explain(policy, cart(line(unit_price="0.00")), lambda: CLOCK)
    (comparison,) = result.rules[0].comparisons
    assert comparison.left == Decimal("0.30") and _no_float(comparison.left) and comparison.result is True


def test_inexact_division_and_division_by_zero_are_check_errors() -> None:
    assert codes("{value: {div: [intent.total, 7]}, gt: 0}", TWO) == ("check_error",)
    assert codes("{value: {div: [intent.total, 0]}, gt: 0}", TWO) == ("check_error",)
    assert codes("{value: {round: {div: [intent.total, 8]}, places: 2}, eq: '41.44'}", TWO) == ("r",)
    # `round` of a `div` is the quotient correctly rounded, half to even: 331.50 / 7 = 47.357142...
    assert codes("{value: {round: {div: [intent.total, 7]}, places: 3}, eq: '47.357'}", TWO) == ("r",)
    assert codes("{value: {round: {div: [{decimal: '0.125'}, 1]}, places: 2}, eq: '0.12'}", TWO) == ("r",)
    assert codes("{value: {round: {div: [{decimal: '0.135'}, 1]}, places: 2}, eq: '0.14'}", TWO) == ("r",)


# -- currencies ------------------------------------------------------------------------------------------

def test_mixing_known_currencies_is_a_load_error() -> None:
    assert load_errors("{value: {add: [{money: 1, currency: USD}, {money: 1, currency: EUR}]}, gt: 0}") == [
        "f.yaml:14:25: txg-type: rules[0](r).when.value.add: mixes money in EUR and USD: amounts in different "
        "currencies never combine"]
    assert load_errors("{path: intent.total, gt: {add: [{money: 1, currency: JPY}, {money: 1, currency: EUR}]}}") == [
        "f.yaml:14:42: txg-type: rules[0](r).when.gt.add: mixes money in EUR and JPY: amounts in different "
        "currencies never combine"]


def test_a_currency_known_only_at_run_time_is_checked_when_the_rule_runs() -> None:
    when = '{value: {add: [intent.total, {money: "5.00", currency: EUR}]}, gt: 0}'
    assert codes(when, cart(currency="EUR")) == ("r",)
    d = guard(when).check_envelope(cart(currency="USD"))
    assert d.codes == ("check_error",)
    assert "different currencies" in d.reasons[0].message


# -- load-time typing: each error located -----------------------------------------------------------------

@pytest.mark.parametrize(("when", "message"), [
    ('{path: intent.total, gt: "two thousand"}',
     'f.yaml:14:36: txg-type: rules[0](r).when.gt: `two thousand` is not an amount: the left side is money'
     ' (intent.currency)'),
    ('{path: intent.total, eq: true}',
     'f.yaml:14:36: txg-type: rules[0](r).when.eq: `True` is not an amount: the left side is money (intent'
     '.currency)'),
    ('{path: intent.total, in: [1, abc]}',
     'f.yaml:14:40: txg-type: rules[0](r).when.in[1]: `abc` is not an amount: the left side is money (inte'
     'nt.currency)'),
    ("{path: 'intent.items[0].quantity', ge: soon}",
     'f.yaml:14:50: txg-type: rules[0](r).when.ge: `soon` is not a number: the left side is an int'),
    ("{path: intent.total, startswith: '1'}",
     'f.yaml:14:44: txg-type: rules[0](r).when.startswith: `startswith` compares strings, but the left sid'
     'e is money (intent.currency)'),
    ('{path: intent.currency, gt: {path: intent.total}}',
     'f.yaml:14:39: txg-type: rules[0](r).when.gt: `gt` compares a string with money (intent.currency)'),
    ('{value: {add: [intent.total, intent.currency]}, gt: 1}',
     'f.yaml:14:25: txg-type: rules[0](r).when.value.add: `add` computes on numbers, amounts, datetimes an'
     'd durations, not a string'),
    ('{value: {mul: [intent.total, intent.total]}, gt: 1}',
     'f.yaml:14:25: txg-type: rules[0](r).when.value.mul: `mul` multiplies at most one amount (an amount t'
     'imes an amount is not money)'),
    ('{value: {sub: [{days: 1}, now]}, gt: {days: 0}}',
     'f.yaml:14:25: txg-type: rules[0](r).when.value.sub: `sub` cannot compute on duration, datetime'),
    ('{value: now, gt: 5}',
     'f.yaml:14:28: txg-type: rules[0](r).when.gt: `5` is not a datetime (expected e.g. `2026-01-31T09:30:'
     '00+01:00`): the left side is a datetime'),
    ("{value: now, gt: {datetime: '2026-03-01T12:00:00'}}",
     'f.yaml:14:39: txg-type: rules[0](r).when.gt.datetime: datetime `2026-03-01T12:00:00` has no UTC offs'
     'et (write `Z` or `+hh:mm`)'),
    ('{value: {duration: P1M}, gt: {days: 1}}',
     'f.yaml:14:30: txg-type: rules[0](r).when.value.duration: `P1M` is not a duration (expected e.g. `P1D'
     '`, `PT36H`; years and months have no fixed length)'),
    ('{value: {sum: intent.items, of: item.title}, gt: 1}',
     'f.yaml:14:43: txg-type: rules[0](r).when.value.of: `sum` adds numbers, amounts or durations, not a s'
     'tring'),
    ('{value: {count: intent.total}, gt: 1}',
     'f.yaml:14:27: txg-type: rules[0](r).when.value.count: `count` ranges over a list or a mapping, but `'
     'intent.total` is money (intent.currency)'),
    ('{value: {table: nope, keys: [a]}, eq: 1}',
     'f.yaml:14:27: txg-type: rules[0](r).when.value.table: no table `nope` in `tables:` (tables: fee, fre'
     'e_bags)'),
    ('{value: {table: free_bags, keys: [gold]}, eq: 1}',
     'f.yaml:14:44: txg-type: rules[0](r).when.value.keys: table `free_bags` has 2 levels of keys, but 1 k'
     'ey is given'),
    ('{value: {table: free_bags, keys: [gold, first]}, eq: 1}',
     'f.yaml:14:51: txg-type: rules[0](r).when.value.keys[1]: `first` is not a key of table `free_bags` he'
     're (keys: business, economy)'),
    ("{value: {money: '1.001'}, gt: 1}",
     'f.yaml:14:27: txg-type: rules[0](r).when.value.money: `1.001` has more decimals than USD allows (2)'),
    ('{value: {add: [intent.total, intent.nope]}, gt: 1}',
     'f.yaml:14:40: txg-path: rules[0](r).when.value.add[1]: path `intent.nope`: `nope` is not a field of '
     'Checkout (expected one of: alternatives, confidence, currency, items, kind, merchant, payment_method'
     '_id, shipping_address, total) (in Checkout)'),
])
def test_ill_typed_conditions_are_located_load_errors(when: str, message: str) -> None:
    assert load_errors(when) == [message]


def test_a_table_must_be_regular() -> None:
    text = HEAD.replace("  fee: {standard: 4.99, express: 12}\n", "  fee: {standard: 1, express: {a: 2}}\n")
    with pytest.raises(PolicyError) as info:
        compile_policy(text + "  - id: r\n    kinds: [checkout]\n    when: {path: intent.total, gt: 1}\n", "f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [
        "f.yaml:10:8: txg-schema: tables.fee: every entry of a table has the same number of key levels"]


def test_a_runtime_key_not_in_the_table_is_a_missing_fact_without_a_default() -> None:
    when = "{value: {table: fee, keys: ['intent.items[0].title']}, gt: 1}"
    assert codes(when, TWO) == ("missing_fact",)


def test_the_shipped_policies_still_load() -> None:
    from .helpers import POLICIES

    for path in sorted(POLICIES.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if text.lstrip().startswith(("apiVersion: txguard/v1\nid:", "# yaml")) and "\nsuite:" not in text:
            compile_policy(text, str(path), POLICIES)


# -- the IR and the trace ----------------------------------------------------------------------------------

def test_expressions_are_located_typed_nodes() -> None:
    policy = compile_policy(HEAD + "  - id: r\n    kinds: [checkout]\n    when:\n      value:\n        add:\n"
                            "          - {count: intent.items}\n          - {table: free_bags, keys: [gold, economy]}\n"
                            "      lt: {hours: 1}\n" .replace("lt: {hours: 1}", "gt: 2"), "f.yaml")
    test = policy.rules[0].test
    assert isinstance(test, Compare) and isinstance(test.left, Arith)
    count, table = test.left.args
    assert isinstance(count, Aggregate) and isinstance(table, TableLookup)
    assert (count.loc.line, count.loc.col) == (17, 13) and (table.loc.line, table.loc.col) == (18, 13)
    assert str(test.left.type) == "int" and str(count.type) == "int"
    assert [type(n).__name__ for n in walk(test)] == ["Compare"]


def test_now_is_the_decisions_clock_read_once() -> None:
    policy = compile_policy(HEAD + "  - id: r\n    kinds: [checkout]\n    when: {value: now, eq: now}\n")
    test = policy.rules[0].test
    assert isinstance(test, Compare) and isinstance(test.left, Now)
    assert value_of(test.left, {NOW: CLOCK}) == CLOCK
    assert codes("{value: now, eq: now}", TWO) == ("r",)


def test_the_trace_shows_computed_values() -> None:
    policy = compile_policy(HEAD + "  - id: r\n    kinds: [checkout]\n    when: {all: [\n"
                            "      {value: {sum: intent.items, of: item.quantity}, gt: {table: free_bags, keys: [regular, economy]}},\n"
                            "      {value: {sub: [now, {hours: 24}]}, lt: {datetime: '2026-03-01T00:00:00+01:00'}}]}\n")
    result = explain(policy, TWO, lambda: CLOCK)
    assert [c.render() for c in result.rules[0].comparisons] == [
        "all -> true",
        "  sum(intent.items of item.quantity) gt free_bags[\"regular\"][\"economy\"]: 5 gt 1 -> true",
        "  sub(now, {hours: 24}) lt {datetime: \"2026-03-01T00:00:00+01:00\"}: \"2026-02-28 12:00:00+00:00\" lt "
        "\"2026-03-01 00:00:00+01:00\" -> true",
    ]


_TREES = st.recursive(
    st.one_of(st.integers(-10**6, 10**6), st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False,
                                                      allow_infinity=False).map(lambda d: float(str(d)))),
    lambda kids: st.tuples(st.sampled_from(["add", "sub", "mul"]), st.lists(kids, min_size=2, max_size=2)),
    max_leaves=6)


def _yaml(tree: Any) -> str:
    if isinstance(tree, tuple):
        return f"{{{tree[0]}: [{', '.join(_yaml(t) for t in tree[1])}]}}"
    return repr(tree)


def _exact(tree: Any) -> Decimal:
    if isinstance(tree, tuple):
        a, b = (_exact(t) for t in tree[1])
        with localcontext(Context(prec=400)):
            return a + b if tree[0] == "add" else a - b if tree[0] == "sub" else a * b
    return Decimal(repr(tree)) if isinstance(tree, float) else Decimal(tree)


@settings(max_examples=60, deadline=None)
@given(_TREES)
def test_arithmetic_on_yaml_numbers_is_exact_decimal_never_float(tree: Any) -> None:
    # A YAML float such as 0.1 is the decimal 0.1 (its shortest text), and every step is exact.
    policy = compile_policy(HEAD + f"  - id: r\n    kinds: [checkout]\n    when: {{value: {_yaml(tree)}, eq: 0}}\n")
    test = policy.rules[0].test
    assert isinstance(test, Compare)
    got = value_of(test.left, {})
    assert not isinstance(got, float)
    assert Decimal(got) == _exact(tree)


def test_lint_reads_policies_with_expressions() -> None:
    from txguard.policy.lint import lint

    policy = compile_policy(HEAD + "  - id: r\n    kinds: [checkout]\n    when: {all: [\n"
                            "      {value: {count: intent.items}, gt: 5},\n"
                            "      {path: intent.total, gt: 10},\n      {path: intent.total, lt: 5}]}\n", "f.yaml")
    codes_found = [d.code for d in lint(policy)]
    assert "lint-unreachable" in codes_found
