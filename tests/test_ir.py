"""The rule IR (``txguard.policy.ir``): located nodes, one operator table driving the schema."""

from __future__ import annotations

from pathlib import Path

from txguard import compile_file, compile_policy, policy_schema
from txguard.policy.ir import OPERATORS, All, AnyOf, Check, Compare, ForEach, Lit, Loc, Not, Ref, walk

SAMPLE = """\
apiVersion: txguard/v1
id: sample
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - id: cap
    check: price_cap
    params:
      max: {USD: "100.00"}
  - id: mixed
    kinds: [checkout]
    when:
      all:
        - {path: intent.total, gt: "500.00"}
        - any:
            - {path: request.quantity, le: 5, on_missing: false}
            - not: {path: request.budget, exists: true}
        - for_each: intent.items
          as: line
          any:
            - {path: line.sku, in: {path: "facts.products"}}
"""


def test_every_node_is_located_where_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "sample.yaml"
    path.write_text(SAMPLE, encoding="utf-8")
    policy = compile_file(path)
    f = str(path)
    rules = {r.id: r for r in policy.rules}
    cap = rules["cap"]
    assert cap.loc == Loc(f, 8, 5, ("rules", 0))
    assert isinstance(cap.test, Check) and cap.test.spec.name == "price_cap"
    assert cap.test.loc == Loc(f, 9, 12, ("rules", 0, "check"))
    assert cap.test.at(("max", "USD")) == Loc(f, 11, 18, ("rules", 0, "params", "max", "USD"))
    mixed = rules["mixed"]
    assert mixed.loc == Loc(f, 12, 5, ("rules", 1)) and mixed.key_locs["kinds"].line == 13
    when = ("rules", 1, "when")
    located = [(type(n).__name__, n.loc) for n in walk(mixed.test)]
    assert located == [
        ("All", Loc(f, 15, 7, when)),
        ("Compare", Loc(f, 16, 11, when + ("all", 0))),
        ("AnyOf", Loc(f, 17, 11, when + ("all", 1))),
        ("Compare", Loc(f, 18, 15, when + ("all", 1, "any", 0))),
        ("Not", Loc(f, 19, 15, when + ("all", 1, "any", 1))),
        ("Compare", Loc(f, 19, 20, when + ("all", 1, "any", 1, "not"))),
        ("ForEach", Loc(f, 20, 11, when + ("all", 2))),
        ("AnyOf", Loc(f, 20, 11, when + ("all", 2))),  # a list body: located at its `for_each`
        ("Compare", Loc(f, 23, 15, when + ("all", 2, "any", 0))),
    ]
    assert str(mixed.loc) == f"{f}:12:5"


def test_nodes_are_typed_and_compare_by_meaning_not_by_place() -> None:
    policy = compile_policy(SAMPLE)
    test = {r.id: r for r in policy.rules}["mixed"].test
    assert isinstance(test, All)
    total, either, each = test.parts
    assert isinstance(total, Compare) and total.op is OPERATORS["gt"] and total.on_missing == "escalate"
    assert total.operand == Lit("500.00", "500.00", total.operand.number) and str(total.operand.number) == "500.00"
    assert isinstance(either, AnyOf) and isinstance(either.parts[1], Not)
    assert either.parts[0].on_missing is False  # type: ignore[union-attr]
    assert isinstance(each, ForEach) and (each.var, each.quantifier, each.path.text) == ("line", "any", "intent.items")
    inner = each.body.parts[0]  # type: ignore[union-attr]
    assert isinstance(inner, Compare) and isinstance(inner.operand, Ref) and inner.operand.path.text == "facts.products"
    # The same condition written elsewhere is the same node (lint's implication relies on it).
    again = compile_policy(SAMPLE.replace("  - id: mixed\n", "  - id: other\n    description: moved\n"))
    assert {r.id: r for r in again.rules}["other"].test == test
    assert {r.id: r for r in again.rules}["other"].test.loc != test.loc


def test_the_operator_table_is_the_schema_of_a_comparison() -> None:
    props = policy_schema()["$defs"]["condition"]["properties"]
    for name, op in OPERATORS.items():
        assert props[name] == {**op.schema, "description": op.doc}
    structural = {"all", "any", "not", "for_each", "as", "path", "value", "on_missing", "default"}
    assert set(props) - structural == set(OPERATORS)
    # Each negation is an operator whose negation is this one.
    for name, op in OPERATORS.items():
        if op.negation is not None:
            assert OPERATORS[op.negation].negation == name


def test_a_comparison_names_the_operators_of_the_table() -> None:
    import pytest

    from txguard import PolicyError

    bad = SAMPLE.replace('{path: intent.total, gt: "500.00"}', '{path: intent.total, gt: "1", lt: "2"}')
    with pytest.raises(PolicyError) as err:
        compile_policy(bad)
    assert f"a comparison has exactly one of: {', '.join(OPERATORS)}" in str(err.value)
    assert ", ".join(OPERATORS) == "eq, ne, gt, ge, lt, le, in, not_in, startswith, endswith, ieq, ine, exists"
