"""PrometheusObserver: what was decided, reloaded and appended, in the Prometheus text format."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from txguard import Decision, Guard, Outcome, PolicyError, Reason, compile_policy
from txguard.metrics import METRIC_NAMES, PrometheusObserver, deciding_reason

from .audit.conftest import envelopes
from .conftest import POLICIES, ROOT
from .sessions.helpers import BASE


class BrokenSink:
    mask_salt = None

    def append(self, entry: Any) -> None:
        raise OSError("disk full")


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_decisions_are_counted_by_outcome_kind_reason_and_digest() -> None:
    registry = CollectorRegistry()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[PrometheusObserver(registry)])
    decided = Counter()
    for env in envelopes(60):
        d = guard.check_envelope(env)
        decided[(d.outcome.value, d.kind or "none", deciding_reason(d))] += 1
    got = samples(registry)
    digest = guard.policy.digest
    counted = {(dict(k[1])["outcome"], dict(k[1])["kind"], dict(k[1])["reason"]): v
               for k, v in got.items() if k[0] == "txguard_decisions_total" and dict(k[1])["policy_digest"] == digest}
    assert counted == dict(decided)
    assert len(decided) > 3  # the corpus slice exercises several outcomes and reasons
    hist = sum(v for k, v in got.items() if k[0] == "txguard_decision_seconds_count")
    assert hist == 60


def test_deciding_reason_is_the_first_with_the_decisions_outcome() -> None:
    guard = Guard.from_file(POLICIES / "retail.yaml")
    d = guard.check({"name": "checkout", "arguments": "{not json"})
    assert deciding_reason(d) == d.reasons[0].code and d.outcome.value == "escalate"
    d = guard.check({"name": "no_such_tool", "arguments": {}})
    assert deciding_reason(d) in d.codes


def test_reloads_and_audit_failures_are_counted(tmp_path: Any) -> None:
    registry = CollectorRegistry()
    obs = PrometheusObserver(registry)
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[obs], audit=BrokenSink())  # type: ignore[arg-type]
    assert guard.check({"name": "no_such_tool", "arguments": {}}).codes[-1] == "audit_unavailable"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: txguard/v1\nid: x\n", encoding="utf-8")
    with pytest.raises(PolicyError):
        guard.reload(bad)
    guard.reload(POLICIES / "retail.yaml")
    got = samples(registry)
    assert got[("txguard_reloads_total", (("result", "ok"),))] == 1
    assert got[("txguard_reloads_total", (("result", "error"),))] == 1
    assert got[("txguard_audit_append_failures_total", ())] == 1
    assert got[("txguard_audit_append_seconds_count", ())] == 1


def test_shadow_divergences_are_counted_when_outcomes_differ() -> None:
    registry = CollectorRegistry()
    obs = PrometheusObserver(registry)
    policy = compile_policy(BASE)
    candidate = compile_policy(BASE.replace('version: "1"', 'version: "2"'))
    allow = Decision(Outcome.ALLOW, (), policy.ref, "checkout")
    escalate = Decision(Outcome.ESCALATE, (Reason("big", "big", "too big", Outcome.ESCALATE),), candidate.ref, "checkout",
                        route="human")
    obs.on_shadow(allow, allow, policy=policy, candidate=candidate)
    obs.on_shadow(allow, escalate, policy=policy, candidate=candidate)
    obs.on_shadow(allow, escalate, policy=policy, candidate=candidate)
    got = samples(registry)
    assert got[("txguard_shadow_decisions_total", (("candidate_digest", candidate.digest),))] == 3
    div = {k: v for k, v in got.items() if k[0] == "txguard_shadow_divergences_total"}
    assert div == {("txguard_shadow_divergences_total", (("candidate_digest", candidate.digest), ("outcome", "allow"),
                                                         ("shadow_outcome", "escalate"))): 2}


def test_every_metric_is_documented() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    registry = CollectorRegistry()
    PrometheusObserver(registry)
    exported = {f.name if f.type != "counter" else f.name + "_total" for f in registry.collect()}
    assert exported == set(METRIC_NAMES)
    assert [m for m in METRIC_NAMES if f"`{m}" not in doc] == []
