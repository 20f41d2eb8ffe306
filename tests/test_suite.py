"""The suite model, loader and runner (``txguard.authoring.suite``, ``suite_load``, ``suite_paths``, ``suite_run``)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard, Outcome, compile_file
from txguard.authoring.corpus import read_corpus, score_corpus
from txguard.authoring.coverage import Coverage
from txguard.authoring.suite import SuiteError, Want, compare
from txguard.authoring.suite_load import load_suite, parse_suite
from txguard.authoring.suite_paths import apply_set, parse_set_path
from txguard.authoring.suite_run import run_suite

from .conftest import CORPUS, POLICIES

RETAIL = POLICIES / "retail.yaml"

SUITE = f"""\
apiVersion: txguard/v1
suite: mini
policy: {RETAIL}
clock: "2026-01-01T12:00:00Z"
fixtures:
  facts:
    shop:
      users:
        u1: {{user_id: u1, payment_methods: {{card_1: {{source: credit_card, id: card_1}}}}}}
      products:
        p1: {{name: Garden Hose, product_id: p1, variants: {{s1: {{item_id: s1, available: true, price: 90.43}}}}}}
  sessions:
    u1: {{authenticated_user_id: u1}}
  requests:
    hose: {{product_type: Garden Hose, quantity: 1}}
  proposals:
    hose:
      name: checkout
      arguments:
        items: [{{sku: s1, product_id: p1, title: Garden Hose, quantity: 1, unit_price: "90.43"}}]
        currency: USD
        total: "90.43"
        payment_method_id: card_1
        confidence: 0.9
cases:
  - note: confirmed hose
    proposal: hose
    request: hose
    session: u1
    facts: shop
    confirmed: [proposal]
    want: {{outcome: allow, reasons: []}}
  - note: confirmed the original, then the quantity changed
    proposal: hose
    request: hose
    session: u1
    facts: shop
    confirmed: [hose]
    set:
      proposal.arguments.items[0].quantity: 2
      proposal.arguments.total: "180.86"
    want: {{outcome: clarify, reasons: [consent, quantity]}}
"""


def _suite(tmp_path: Path, text: str, name: str = "mini.tests.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fixtures_set_and_confirmed_resolve_in_order(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, SUITE))
    assert suite.name == "mini"
    assert suite.clock == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    first, second = suite.cases
    # `confirmed: [proposal]` confirms the final proposal: identical to it.
    assert first.envelope["session"]["confirmed"] == [first.envelope["proposal"]]
    # `confirmed: [hose]` names the fixture, which `set` did not change.
    assert second.envelope["proposal"]["arguments"]["items"][0]["quantity"] == 2
    assert second.envelope["session"]["confirmed"][0]["arguments"]["items"][0]["quantity"] == 1
    # Fixtures are copied, never shared between cases.
    assert first.envelope["proposal"]["arguments"]["items"][0]["quantity"] == 1
    assert (first.line, first.column) == (26, 5)


def test_run_suite_passes_and_reports_a_wrong_expectation(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, SUITE))
    results = run_suite(suite, compile_file(RETAIL))
    assert [r.passed for r in results] == [True, True]
    bad = load_suite(_suite(tmp_path, SUITE.replace("reasons: [consent, quantity]", "reasons: [consent]")))
    results = run_suite(bad, compile_file(RETAIL))
    assert results[1].diffs == ("reasons: want [consent], got [consent, quantity] (unexpected quantity)",)


def test_errors_are_located_collected_and_sorted(tmp_path: Path) -> None:
    text = SUITE.replace("facts: shop\n    confirmed: [hose]", "facts: shopp\n    confirmed: [hose]").replace(
        "proposal.arguments.items[0].quantity: 2", "proposal.arguments.lines[0].quantity: 2").replace(
        "want: {outcome: allow, reasons: []}", "want: {outcome: allowed}").replace("suite: mini", "suite: mini\nsuit: x")
    path = _suite(tmp_path, text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value).splitlines() == [
        f"{path}:3:7: txg-suite: unknown key `suit` (expected one of: apiVersion, cases, clock, description, fixtures, policy, suite)",
        f"{path}:33:21: txg-suite: `outcome` must be one of allow, clarify, escalate, got `allowed`",
        f"{path}:38:12: txg-suite: unknown facts fixture `shopp` (known: shop)",
        f"{path}:41:45: txg-suite: `proposal.arguments.lines[0].quantity`: `proposal.arguments.lines` does not exist in the resolved input",
    ]


def test_yaml_errors_use_the_policy_loader(tmp_path: Path) -> None:
    path = _suite(tmp_path, "cases:\n  - note: x\n    note: y\n    proposal: {name: checkout}\n    want: {outcome: allow}\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:3:5: txg-yaml: duplicate key `note`"


@pytest.mark.parametrize(("clock", "message"), [
    ('"2026-01-01T12:00:00"', "has no timezone"),
    ("yesterday", "Invalid isoformat string"),
])
def test_clock_needs_an_iso_time_with_a_timezone(tmp_path: Path, clock: str, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        parse_suite(SUITE.replace('"2026-01-01T12:00:00Z"', clock), str(tmp_path / "x.tests.yaml"))


def test_want_is_validated() -> None:
    base = "cases:\n  - note: n\n    proposal: {name: checkout}\n    want: "
    for want, message in [
        ("{outcome: allow, reasons: [budget]}", "an `allow` has no reasons"),
        ("{outcome: clarify, route: human}", "only an `escalate` outcome has a route"),
        ("{outcome: escalate, route: nobody}", "`route` must be one of human, refuse"),
        ("{outcome: escalate, reasons: budget}", "expected a list of reason codes"),
    ]:
        with pytest.raises(SuiteError, match=message):
            parse_suite(base + want + "\n", "x.tests.yaml")


def test_policy_defaults_to_the_sibling_file(tmp_path: Path) -> None:
    suite = parse_suite("cases:\n  - note: n\n    proposal: {name: checkout}\n    want: {outcome: escalate}\n",
                        str(tmp_path / "shop.tests.yaml"))
    assert suite.policy_path == tmp_path / "shop.yaml"


def test_set_paths() -> None:
    assert parse_set_path("facts.orders['#W1'].items[0].price") == ["facts", "orders", "#W1", "items", 0, "price"]
    assert parse_set_path("facts.orders.#W1.status") == ["facts", "orders", "#W1", "status"]
    with pytest.raises(ValueError, match="must start with one of"):
        parse_set_path("intent.total")
    env: dict[str, Any] = {"proposal": {"arguments": {"items": [{"q": 1}]}}}
    apply_set(env, "proposal.arguments.items[0].new_key", 5)
    assert env["proposal"]["arguments"]["items"][0] == {"q": 1, "new_key": 5}
    with pytest.raises(ValueError, match="index 3 does not exist"):
        apply_set(env, "proposal.arguments.items[3]", 5)
    with pytest.raises(ValueError, match="`proposal.arguments.items.x` does not exist"):
        apply_set(env, "proposal.arguments.items.x.y", 5)


def test_compare_lists_every_difference() -> None:
    guard = Guard.from_file(RETAIL)
    decision = guard.check({"name": "nope", "arguments": {}})
    assert decision.outcome is Outcome.ESCALATE
    assert compare(Want(Outcome.ALLOW, frozenset(), "human"), decision) == (
        "outcome: want allow, got escalate",
        "reasons: want [], got [unknown_tool] (unexpected unknown_tool)",
        "route: want human, got refuse",
    )
    assert compare(Want(Outcome.ESCALATE, frozenset({"unknown_tool"}), "refuse"), decision) == ()


def test_coverage_names_rules_that_never_fired(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, SUITE))
    policy = compile_file(RETAIL)
    cov = Coverage(policy)
    for r in run_suite(suite, policy):
        cov.add(r.decision, r.case.want)
    assert cov.fired == {"consent": 1, "quantity": 1}
    assert "platform-cap" in cov.never_fired and "consent" not in cov.never_fired
    assert cov.never_asserted == [c for c in cov.codes if c not in {"consent", "quantity"}]
    assert cov.percent == pytest.approx(100 * 2 / 13)


def test_corpus_decisions_never_read_the_labels(tmp_path: Path) -> None:
    """Flipping every label changes the score, never a decision."""
    with gzip.open(CORPUS / "chat-to-buy-dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh][:60]
    flipped = tmp_path / "flipped.jsonl"
    with open(flipped, "w", encoding="utf-8") as out:
        for case in lines:
            case = dict(case, expect="allow" if case["expect"] != "allow" else "escalate", violates=["x"],
                        variant="gold", origin={})
            out.write(json.dumps(case) + "\n")
    guard = Guard.from_file(RETAIL)
    cases = list(read_corpus(flipped))
    assert all(set(c.envelope) <= {"proposal", "request", "session", "facts"} for c in cases)
    report = score_corpus(guard, cases, str(flipped))
    assert report.exact == 0
    assert len(report.unsafe) == sum(1 for c in lines if c["expect"] == "allow")
