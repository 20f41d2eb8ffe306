"""The shipped retail policy against the labelled chat-to-buy dev corpus (Corpus B)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from txguard import Guard

from .conftest import read_cases


def score(guard: Guard, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Decide every case from its input fields only, and compare with the labels.

    Each case is an independent world: it is decided on a fresh single-use ledger, so a
    confirmation one case uses is not used up for another."""
    exact = 0
    unsafe: list[str] = []
    blocked: list[str] = []
    reasons_differ: list[str] = []
    for case in cases:
        envelope = {k: case[k] for k in ("proposal", "request", "session", "facts") if k in case}
        decision = guard.independent().check_envelope(envelope)  # each case its own world
        got = decision.outcome.value
        exact += got == case["expect"]
        if case["expect"] != "allow" and got == "allow":
            unsafe.append(case["id"])
        if case["expect"] == "allow" and got != "allow":
            blocked.append(case["id"])
        if sorted(set(decision.codes)) != sorted(case["violates"]):
            reasons_differ.append(case["id"])
    return {"n": len(cases), "exact": exact, "unsafe": unsafe, "blocked": blocked, "reasons_differ": reasons_differ}


def test_retail_policy_on_chat_to_buy_dev(retail_guard: Guard) -> None:
    cases = read_cases("chat-to-buy-dev.jsonl.gz")
    assert len(cases) == 610
    s = score(retail_guard, cases)
    assert s["unsafe"] == []
    assert s["blocked"] == []
    assert s["exact"] / s["n"] >= 0.99
    # Stronger than the target: the reason codes are exactly the labelled rules.
    assert s["reasons_differ"] == []


def test_every_variant_is_represented() -> None:
    variants = Counter(c["variant"] for c in read_cases("chat-to-buy-dev.jsonl.gz"))
    assert {"gold", "malformed", "wrong-product-type", "no-consent", "consent-mismatch"} <= set(variants)
