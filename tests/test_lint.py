"""``txguard lint``: findings beyond schema validity, located, with stable codes and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from txguard import compile_file, compile_policy
from txguard.policy.lint import LINT_CODES, lint
from txguard.cli import main

from .conftest import POLICIES

DATA = Path(__file__).resolve().parent / "data"
FINDINGS = DATA / "lint-findings.yaml"


def test_every_kind_of_finding_is_located(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(FINDINGS)]) == 2
    f = str(FINDINGS)
    assert capsys.readouterr().out.splitlines() == [
        f"{f}:7:16: lint-no-rules: tool `add_to_cart` maps to `add_to_cart`, which no rule applies to: every call is `allow` (the default) unchecked",
        f"{f}:8:25: lint-no-default: tool `cancel_pending_order` maps to `cancel_order`, which has no default: every call escalates with `default_outcome`, whatever the rules say",
        f"{f}:12:11: lint-unused-default: `defaults.refund` is given, but no tool maps to `refund`",
        f"{f}:22:5: lint-shadowed: rule `cap-2000`: whenever it fires, rule `cap-1000` (line 17) fires too with outcome `escalate`: it never changes a decision",
        f"{f}:26:34: lint-currency: rule `cap-2000`: cap in `EUR`, but the policy's currency is `USD`",
        f"{f}:30:7: lint-unreachable: rule `never-both`: can never fire: `intent.total` cannot be gt 5 and lt 3 at once",
        f"{f}:36:7: lint-unreachable: rule `two-currencies`: can never fire: `intent.currency` cannot be eq USD and eq EUR at once",
        f"{f}:40:12: lint-unreachable: rule `refunds-only`: applies to refund, but no tool maps to it",
        f"{f}:46:5: lint-shadowed: rule `huge-order`: whenever it fires, rule `big-order` (line 42) fires too with outcome `clarify`: it never changes a decision",
    ]
    # The findings about a declared domain are shown by tests/test_domain_tools_cli.py.
    domain = {"lint-unbound", "lint-no-consent", "lint-undecided-kind", "lint-unused-facts"}
    assert {d.code for d in lint(compile_file(FINDINGS))} == set(LINT_CODES) - domain


def test_the_shipped_policies_are_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(POLICIES / "retail.yaml")]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == "0 findings"


HEAD = """\
apiVersion: txguard/v1
id: t
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
"""


@pytest.mark.parametrize(("when", "unreachable"), [
    ("all: [{path: intent.total, ge: 5}, {path: intent.total, le: 5}]", False),
    ("all: [{path: intent.total, gt: 5}, {path: intent.total, le: 5}]", True),
    ("all: [{path: intent.total, eq: 7}, {path: intent.total, lt: 7}]", True),
    ("all: [{path: intent.currency, eq: USD}, {path: intent.currency, ne: USD}]", True),
    ("all: [{path: intent.currency, in: [USD, EUR]}, {path: intent.currency, in: [JPY]}]", True),
    ("all: [{path: intent.currency, in: [USD, EUR]}, {path: intent.currency, not_in: [EUR]}]", False),
    ("all: [{path: intent.currency, eq: JPY}, {path: intent.currency, not_in: [JPY]}]", True),
    ("any: [{path: intent.total, gt: 5}, {path: intent.total, lt: 3}]", False),
    ("all: [{path: intent.total, gt: 5}, {all: [{path: intent.total, lt: 3}]}]", True),
    ("all: [{path: intent.total, gt: 5}, {path: intent.total, lt: {path: request.budget}}]", False),
    # A `not` of a comparison that escalates on a missing value holds exactly when its negation does.
    ("all: [{path: intent.total, gt: 5}, {not: {path: intent.total, gt: 3}}]", True),
    ("all: [{path: intent.currency, eq: USD}, {not: {path: intent.currency, in: [USD, EUR]}}]", True),
    ("all: [{path: intent.total, gt: 5}, {not: {path: intent.total, gt: 3, on_missing: true}}]", False),
    ("all: [{path: intent.total, gt: 5}, {not: {path: intent.total, gt: 7}}]", False),
])
def test_contradictions(when: str, unreachable: bool) -> None:
    policy = compile_policy(HEAD + f"  - id: r\n    kinds: [checkout]\n    when: {{{when}}}\n")
    codes = [d.code for d in lint(policy)]
    assert ("lint-unreachable" in codes) is unreachable


def test_shadowing_needs_an_outcome_at_least_as_severe() -> None:
    rules = """\
  - id: a-strict
    kinds: [checkout]
    outcome: clarify
    when: {path: intent.total, gt: 100}
  - id: b-loose
    kinds: [checkout]
    when: {path: intent.total, gt: 200}
"""
    # b-loose escalates, a-strict only clarifies: b-loose still raises the outcome, so it is not shadowed.
    assert [d.code for d in lint(compile_policy(HEAD + rules))] == []
    equal = rules.replace("gt: 200", "gt: 100").replace("    outcome: clarify\n", "")
    (d,) = lint(compile_policy(HEAD + equal, file="t.yaml"))
    assert str(d) == ("t.yaml:11:5: lint-shadowed: rule `b-loose`: whenever it fires, rule `a-strict` (line 8) "
                      "fires too with outcome `escalate`: it never changes a decision")


def test_json_output_and_invalid_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(FINDINGS), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["findings"][0] == {"file": str(FINDINGS), "line": 7, "column": 16, "code": "lint-no-rules",
                                  "message": "tool `add_to_cart` maps to `add_to_cart`, which no rule applies to: "
                                             "every call is `allow` (the default) unchecked"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "  - id: r\n    check: nope\n", encoding="utf-8")
    assert main(["lint", str(bad)]) == 3
    assert f"{bad}:9:12: txg-schema: rules[0](r).check: expected" in capsys.readouterr().err


def test_lint_reads_the_compiled_policy_not_the_file_again(tmp_path: Path) -> None:
    # Locations come from the IR kept from load: the file may be gone (or changed) by now.
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + "  - id: r\n    kinds: [checkout]\n    when: {all: [{path: intent.total, gt: 5}, "
                    "{path: intent.total, lt: 3}]}\n", encoding="utf-8")
    policy = compile_file(path)
    path.unlink()
    assert [str(d) for d in lint(policy)] == [
        f"{path}:10:11: lint-unreachable: rule `r`: can never fire: `intent.total` cannot be gt 5 and lt 3 at once"]


def test_rules_of_a_base_policy_are_linted_where_they_are_written(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(HEAD.replace("id: t", "id: base") + "  - id: cap\n    check: price_cap\n"
                    "    params: {max: {EUR: \"10\"}}\n", encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("apiVersion: txguard/v1\nid: child\nversion: \"1\"\nextends: base.yaml\n", encoding="utf-8")
    found = [str(d) for d in lint(compile_file(child))]
    assert f"{base}:10:25: lint-currency: rule `cap`: cap in `EUR`, but the policy's currency is `USD`" in found
