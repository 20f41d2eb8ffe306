"""Invariant 5, determinism: the same inputs give identical decisions, and the order of the rules
in the file changes neither the outcome nor the reasons (nor their order)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Decision, Guard

from ..helpers import POLICIES
from .strategies import EXTRA_RULES, corpus_envelopes, policy_text, retail_rules, retail_variant

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def decided(d: Decision) -> dict[str, Any]:
    """Everything that was decided (not the timing, not the policy digest, which hashes the file order)."""
    out = d.to_dict()
    del out["elapsed_us"], out["policy"]
    return out


RULES = retail_rules() + [json.loads(x) for x in EXTRA_RULES]
IN_FILE_ORDER = Guard.from_text(policy_text(RULES), file="ordered.yaml", base_dir=POLICIES)


@SETTINGS
@given(order=st.permutations(range(len(RULES))), envs=st.lists(corpus_envelopes, min_size=3, max_size=3))
def test_rule_order_in_the_file_does_not_matter(order: list[int], envs: list[dict[str, Any]]) -> None:
    shuffled = Guard.from_text(policy_text([RULES[i] for i in order]), file="shuffled.yaml", base_dir=POLICIES)
    assert [r.id for r in shuffled.policy.rules] == [r.id for r in IN_FILE_ORDER.policy.rules]
    for env in envs:
        for confirmed in (True, False):
            e = copy.deepcopy(env)
            if not confirmed:
                e["session"]["confirmed"] = []
            a, b = IN_FILE_ORDER.independent().check_envelope(e), shuffled.independent().check_envelope(e)
            assert decided(a) == decided(b)
            assert a.codes == b.codes  # same reasons, same order


@settings(max_examples=100, deadline=None)
@given(env=corpus_envelopes, drop=st.booleans())
def test_the_same_inputs_give_identical_decisions(env: dict[str, Any], drop: bool) -> None:
    if drop:
        env["session"]["confirmed"] = []
    guard = Guard(retail_variant().policy, clock=lambda: NOW)
    first = guard.independent().check_envelope(env)
    again = guard.independent().check_envelope(json.loads(json.dumps(env)))
    other_guard = Guard(retail_variant().policy, clock=lambda: NOW)
    assert first == again == other_guard.independent().check_envelope(env)
    assert decided(first) == decided(again)


@settings(max_examples=30, deadline=None)
@given(env=corpus_envelopes)
def test_a_recompiled_policy_decides_the_same(env: dict[str, Any]) -> None:
    fresh = Guard.from_file(POLICIES / "retail.yaml")
    assert fresh.independent().check_envelope(env) == retail_variant().independent().check_envelope(env)
