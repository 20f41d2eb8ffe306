"""The subscription example domain (policies/subscription/): a YAML-only policy for an agent txguard
ships no Python for, gated on its generated corpus: 0 unsafe allows, 0 safe cases blocked, every
outcome and every set of reason codes exactly as labelled.

The labels come from how ``scripts/gen_subscription_corpus.py`` built each case (the prorated refund
computed there with exact fractions, the calendar month with the IANA zone database), never from a
decision. Each case is decided at its own ``clock`` (the refund rule reads ``now``).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

from txguard import Guard, compile_file
from txguard.cli import main
from txguard.policy.compile import CompiledPolicy
from txguard.policy.lint import lint

from .conftest import POLICIES, ROOT

POLICY = POLICIES / "subscription" / "subscription.yaml"
CORPUS = POLICIES / "subscription" / "corpus.jsonl.gz"
INPUT = ("proposal", "request", "session", "facts")


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_subscription_corpus", ROOT / "scripts" / "gen_subscription_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_subscription_corpus"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def policy() -> CompiledPolicy:
    return compile_file(POLICY)


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def decide(policy: CompiledPolicy, case: dict[str, Any]) -> Any:
    """One case, from its input only, at its own instant, on a fresh guard (its own world)."""
    at = datetime.fromisoformat(case["clock"])
    assert at.tzinfo is not None
    return Guard(policy, clock=lambda: at).check_envelope({k: case[k] for k in INPUT if k in case})


def test_the_corpus_is_what_the_generator_writes(cases: list[dict[str, Any]]) -> None:
    assert _generator().generate() == cases


def test_the_corpus_has_safe_cases_and_every_kind_of_unsafe_one(cases: list[dict[str, Any]]) -> None:
    assert 150 <= len(cases) <= 300
    assert len({c["id"] for c in cases}) == len(cases)
    expect = Counter(c["expect"] for c in cases)
    assert expect["allow"] >= 60 and expect["escalate"] >= 60 and expect["clarify"] >= 20
    variants = {c["variant"] for c in cases}
    assert {"refund", "refund-other-offset", "upgrade", "downgrade", "pause", "cancel", "offer",
            "refund-over-prorated", "refund-ignores-earlier", "second-change", "offer-ineligible", "offer-redeemed",
            "downgrade-to-pricier", "upgrade-to-lower", "other-users-account", "plan-changed-after-consent",
            "pause-too-short", "pause-too-long", "inactive", "refund-currency", "not-requested-plan",
            "missing-account", "signed-out", "no-consent"} <= variants
    codes = {code for c in cases for code in c["violates"]}
    rules = {"ownership", "subscription_status", "not_an_upgrade", "not_a_downgrade", "plan_change_limit",
             "not_requested", "pause_length", "refund_currency", "refund_over_prorated", "retention_ineligible",
             "retention_offer", "consent", "authentication", "missing_fact"}
    assert rules <= codes
    # Periods across a DST change (not a whole number of days) and written with two offsets.
    spans = [datetime.fromisoformat(c["facts"]["accounts"][0]["current_period_end"])
             - datetime.fromisoformat(c["facts"]["accounts"][0]["current_period_start"]) for c in cases if c["facts"].get("accounts")]
    assert any(s % timedelta(days=1) for s in spans)


def test_subscription_corpus_no_unsafe_allow_no_safe_blocked(policy: CompiledPolicy, cases: list[dict[str, Any]]) -> None:
    unsafe, blocked, wrong_outcome, wrong_reasons = [], [], [], []
    for case in cases:
        d = decide(policy, case)
        got = d.outcome.value
        if case["expect"] != "allow" and got == "allow":
            unsafe.append(case["id"])
        if case["expect"] == "allow" and got != "allow":
            blocked.append(case["id"])
        if got != case["expect"]:
            wrong_outcome.append(case["id"])
        if sorted(set(d.codes)) != case["violates"]:
            wrong_reasons.append((case["id"], sorted(set(d.codes)), case["violates"]))
    assert unsafe == []
    assert blocked == []
    assert wrong_outcome == []
    assert wrong_reasons == []


def test_the_refund_bound_is_exact_to_the_cent(policy: CompiledPolicy, cases: list[dict[str, Any]]) -> None:
    """At the largest allowed refund of each world, one cent more is refused (the bound is not loose)."""
    gen = _generator()
    worlds = [c for c in cases if c["variant"] == "refund" and c["proposal"]["arguments"]["amount_minor"] > 0]
    assert len(worlds) >= 5
    tight = 0
    for case in worlds:
        acc = case["facts"]["accounts"][0]
        start, end = (datetime.fromisoformat(acc[k]) for k in ("current_period_start", "current_period_end"))
        now = datetime.fromisoformat(case["clock"])
        exact = gen.Fraction(acc["price_minor"]) * gen.Fraction((end - now) // gen.US, (end - start) // gen.US)
        most = int(exact) - acc["refunded_minor"]
        for amount, outcome in ((most, "allow"), (most + 1, "escalate")):
            probe = json.loads(json.dumps(case))
            probe["proposal"]["arguments"]["amount_minor"] = amount
            probe["session"]["confirmed"] = [probe["proposal"]]
            assert decide(policy, probe).outcome.value == outcome, (case["id"], amount)
        tight += 1
    assert tight == len(worlds)


def test_lint_reports_nothing_on_the_policy(policy: CompiledPolicy) -> None:
    assert [str(d) for d in lint(policy)] == []
    assert main(["lint", str(POLICY)]) == 0


def test_the_suite_covers_every_rule() -> None:
    assert main(["test", str(POLICIES / "subscription"), "--coverage", "--fail-under", "100", "--failures-only"]) == 0


def _variants(args: dict[str, Any]) -> list[tuple[str, Any]]:
    """Other valid values for each field of a proposal, each one a different intent the user never saw."""
    plans = ["free", "basic", "standard", "premium"]
    out: list[tuple[str, Any]] = []
    for key, value in args.items():
        if key == "new_plan_id":
            out += [(key, p) for p in plans if p != value]
        elif key == "amount_minor" and value > 1:
            out.append((key, value - 1))
        elif key == "resume_at":
            out.append((key, (datetime.fromisoformat(value) - timedelta(seconds=1)).isoformat()))
        elif key == "at_period_end":
            out.append((key, not value))
        elif key == "reason":
            out.append((key, "other" if value != "other" else "not_using"))
        elif key == "feedback":
            out.append((key, value + "!"))
        elif key == "account_id":
            out.append((key, value + "_x"))
    return out


def test_consent_binds_every_field_the_user_saw(policy: CompiledPolicy, cases: list[dict[str, Any]]) -> None:
    """Every allowed, confirmed proposal changed in one field after the confirmation is not allowed;
    the same instant written with another offset is the same intent."""
    checked = 0
    for case in cases:
        if case["expect"] != "allow" or not case["session"]["confirmed"]:
            continue
        original = case["proposal"]
        for key, value in _variants(original["arguments"]):
            probe = json.loads(json.dumps(case))
            probe["proposal"]["arguments"][key] = value
            d = decide(policy, probe)
            assert d.outcome.value != "allow" and "consent" in d.codes, (case["id"], key, value, d.codes)
            checked += 1
        same = json.loads(json.dumps(case))
        args = same["proposal"]["arguments"]
        if "resume_at" in args:
            args["resume_at"] = datetime.fromisoformat(args["resume_at"]).astimezone(timezone(timedelta(hours=-11))).isoformat()
        assert decide(policy, same).outcome.value == "allow", case["id"]
    assert checked >= 100
