"""Shadow mode never changes a decision: whatever the candidate (stricter, looser) and the sample rate,
the guard returns and records exactly what it returns without one."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.audit import MemorySink, verify
from txguard.audit._build import decision_data

from .strategies import CAPS, FLOORS, corpus_envelopes, retail_variant

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PRIMARY = retail_variant()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env=corpus_envelopes, cap=st.sampled_from(CAPS), floor=st.sampled_from(FLOORS),
       rate=st.sampled_from((0.0, 0.5, 1.0)), drop_consent=st.booleans())
def test_a_shadow_policy_never_changes_the_decision(env: dict[str, Any], cap: str, floor: float, rate: float,
                                                    drop_consent: bool) -> None:
    if drop_consent:
        env["session"]["confirmed"] = []
    candidate = retail_variant(cap, floor).policy
    plain = Guard(PRIMARY.policy, clock=lambda: NOW).check_envelope(copy.deepcopy(env))
    sink = MemorySink()
    shadowed = Guard(PRIMARY.policy, clock=lambda: NOW, audit=sink, shadow=candidate, shadow_sample=rate)
    bare = Guard(PRIMARY.policy, clock=lambda: NOW, shadow=candidate, shadow_sample=rate)
    for guard in (shadowed, bare):
        decision = guard.check_envelope(copy.deepcopy(env))
        assert decision_data(decision) == decision_data(plain)
        assert decision.intent == plain.intent and decision.policy == plain.policy
    (rec,) = sink.records()
    assert rec.body["decision"] == decision_data(plain)
    assert ("shadow" in rec.body) == (shadowed.shadow_stats.sampled == 1) == (bare.shadow_stats.sampled == 1)
    if rate == 1.0:
        assert rec.body["shadow"]["decision"] == decision_data(Guard(candidate, clock=lambda: NOW).check_envelope(env))
    assert verify(sink).ok
