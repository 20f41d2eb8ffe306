"""The ``session:`` section of the policy language: schema, compilation, located errors."""

from __future__ import annotations

import pytest

from txguard import Outcome, PolicyError, compile_policy

from .helpers import BASE, policy


def errors(session_yaml: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        compile_policy(policy(session_yaml), "p.yaml")
    return [str(d) for d in info.value.diagnostics]


def test_a_session_section_compiles() -> None:
    p = compile_policy(policy("""  rules:
    - id: loop
      count: {where: {outcome: [clarify, escalate]}, in_a_row: true, at_least: 3}
      outcome: clarify
    - id: spend
      sum: {field: amount, where: {kind: checkout}, currency: JPY, within: 1d, more_than: "30000"}
  budgets:
    - {id: daily, amount: "500.00", currency: USD, window: 1d, scope: user}
  single_use_confirmations: true
"""), "p.yaml")
    s = p.session
    assert [r.id for r in s.rules] == ["loop", "spend"]
    loop, spend = s.rules
    assert loop.outcome is Outcome.CLARIFY and loop.question is not None and loop.code == "loop"
    assert dict(loop.where) == {"type": frozenset({"decision"}), "outcome": frozenset({"clarify", "escalate"})}
    assert spend.limit_minor == 30000 and spend.within_us == 86_400_000_000
    assert s.budgets[0].limit_minor == 50000 and s.budgets[0].window_us == 86_400_000_000
    assert s.single_use_confirmations and s.needs_session_id


def test_a_policy_without_a_session_section_needs_no_session_id() -> None:
    assert not compile_policy(BASE, "p.yaml").session.needs_session_id


def test_a_typo_in_a_where_field_is_a_located_load_error() -> None:
    assert errors("""  rules:
    - id: velocity
      count: {where: {knid: checkout}, at_least: 3}
""") == ["p.yaml:20:29: txg-path: session.rules[0].count.where.knid: `knid` is not a field of a session "
         "event (expected one of: currency, digest, kind, merchant, outcome, payment_method, tool, type, user)"]


def test_an_impossible_value_is_a_load_error() -> None:
    assert errors("""  rules:
    - id: velocity
      count: {where: {kind: chekout}, at_least: 3}
""")[0].startswith("p.yaml:20:29: txg-path: session.rules[0].count.where.kind: `chekout` is not a possible `kind`")


def test_sum_needs_a_numeric_field_and_a_valid_amount() -> None:
    assert errors("""  rules:
    - id: s
      sum: {field: merchant, currency: JPY, more_than: "10.5"}
""") == [
        "p.yaml:20:12: txg-param: session.rules[0].sum: amount `10.5` has 1 decimals: the currency allows 0",
        "p.yaml:20:20: txg-path: session.rules[0].sum.field: `merchant` is not a numeric field of a session event "
        "(expected one of: amount)",
    ]


def test_schema_errors_are_located() -> None:
    assert errors("""  budgets:
    - {id: b, amount: "5", currency: USD, scope: household}
  single_use_confirmations: yes please
""") == [
        "p.yaml:19:50: txg-schema: session.budgets[0].scope: expected one of `user`, `session`, `merchant`, got `\"household\"`",
        "p.yaml:20:29: txg-schema: session.single_use_confirmations: expected true or false, got `\"yes please\"`",
    ]


def test_a_rule_needs_exactly_one_form_and_a_unique_id() -> None:
    assert errors("""  rules:
    - id: consent
      count: {at_least: 1}
    - id: twice
      count: {at_least: 1}
      sequence: {pattern: retry_after_escalation}
    - id: none
""") == [
        "p.yaml:19:11: txg-duplicate: session.rules[0].id: rule id `consent` is already used by a rule in `rules`",
        "p.yaml:21:7: txg-schema: session.rules[1]: a session rule has exactly one of `count`, `distinct`, `sum` or `sequence`",
        "p.yaml:24:7: txg-schema: session.rules[2]: a session rule has exactly one of `count`, `distinct`, `sum` or `sequence`",
    ]


def test_a_bad_window_is_a_schema_error() -> None:
    assert errors("""  rules:
    - id: v
      count: {within: 1 hour, at_least: 1}
""") == ["p.yaml:20:23: txg-schema: session.rules[0].count.within: expected a value matching "
         "`^[1-9][0-9]{0,8}[smhd]$`, got `\"1 hour\"`"]
