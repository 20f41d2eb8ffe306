"""The tau2-bench retail policy against the labelled tau retail dev corpus (Corpus A)."""

from __future__ import annotations

from typing import Any

import pytest

from txguard import Guard

from .conftest import POLICIES, read_cases
from .test_corpus import score


@pytest.fixture(scope="module")
def tau_guard() -> Guard:
    return Guard.from_file(POLICIES / "tau-retail.yaml")


@pytest.fixture(scope="module")
def tau_cases() -> list[dict[str, Any]]:
    return read_cases("tau-retail-dev.jsonl.gz")


def test_tau_retail_policy_on_the_dev_corpus(tau_guard: Guard, tau_cases: list[dict[str, Any]]) -> None:
    assert len(tau_cases) == 2261
    # Only the input fields reach the guard (see `score`): never the label, the variant or the origin.
    s = score(tau_guard, tau_cases)
    assert s["unsafe"] == []
    assert s["blocked"] == []
    assert s["exact"] / s["n"] >= 0.99
    # Stronger than the target: the reason codes are exactly the rules the labels say are broken.
    assert s["reasons_differ"] == []


def test_the_policy_has_a_rule_for_every_labelled_rule(tau_guard: Guard, tau_cases: list[dict[str, Any]]) -> None:
    # The corpus label rules (corpus README): the dev cases break only some of them, the held-out
    # cases may break any.
    labelled = {"authentication", "consent", "unknown_order", "ownership", "order_status", "cancel_reason",
                "payment_method", "refund_method", "unknown_item", "same_product", "availability", "noop", "balance"}
    assert {rule for case in tau_cases for rule in case["violates"]} <= labelled
    codes = {rule.code for rule in tau_guard.policy.rules}
    assert labelled <= codes


def test_every_write_tool_is_mapped_and_reads_are_read_only(tau_guard: Guard) -> None:
    tools = tau_guard.policy.tools
    writes = {"cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
              "modify_pending_order_items", "exchange_delivered_order_items", "return_delivered_order_items",
              "modify_user_address"}
    assert writes <= set(tools)
    assert all(tools[name].kind != "read" for name in writes)
    assert {name for name, tool in tools.items() if tool.kind == "read"} == set(tools) - writes
