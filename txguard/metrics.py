"""Prometheus metrics of a guard, as an :class:`~txguard.Observer` (extra ``txguard[metrics]``).

>>> from prometheus_client import CollectorRegistry                   # doctest: +SKIP
>>> from txguard import Guard
>>> from txguard.metrics import PrometheusObserver
>>> registry = CollectorRegistry()                                     # doctest: +SKIP
>>> guard = Guard.from_file("policies/retail.yaml", observers=[PrometheusObserver(registry)])  # doctest: +SKIP

The metric names and labels (documented in ``docs/operations.md``; a test keeps the two equal):

- ``txguard_decisions_total{outcome, kind, reason, policy_digest}``: one per decision. ``reason``
  is the code of the first reason with the decision's own outcome (the one that decided it), or
  ``none`` for an ``allow`` no rule objected to; ``kind`` is the intent kind, or ``none`` when the
  proposal never became an intent (an unknown tool, corrupted arguments).
- ``txguard_decision_seconds{outcome}``: a histogram of the wall time of ``check``, audit append
  and observers before it included.
- ``txguard_audit_append_seconds``: a histogram of audit record appends.
- ``txguard_audit_append_failures_total``: appends that failed (each such decision escalated).
- ``txguard_reloads_total{result}``: reload attempts, ``result`` is ``ok`` or ``error``.
- ``txguard_shadow_decisions_total{candidate_digest}`` and
  ``txguard_shadow_divergences_total{outcome, shadow_outcome, candidate_digest}``: shadow
  (candidate policy) decisions, and those whose outcome differs from the decision in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .core.observe import Observer

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from .policy.compile import CompiledPolicy
    from .core.decision import Decision

__all__ = ["METRIC_NAMES", "PrometheusObserver", "deciding_reason"]

METRIC_NAMES = (
    "txguard_decisions_total",
    "txguard_decision_seconds",
    "txguard_audit_append_seconds",
    "txguard_audit_append_failures_total",
    "txguard_reloads_total",
    "txguard_shadow_decisions_total",
    "txguard_shadow_divergences_total",
)
"""Every metric a :class:`PrometheusObserver` exports (counters with their ``_total`` suffix)."""

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def deciding_reason(decision: Decision) -> str:
    """The code of the first reason whose outcome is the decision's own, or ``none``."""
    for reason in decision.reasons:
        if reason.outcome is decision.outcome:
            return reason.code
    return "none"


class PrometheusObserver(Observer):
    """Counts decisions, reloads, audit appends and shadow divergences into a Prometheus registry.

    Args:
        registry: where the metrics are registered (default: ``prometheus_client.REGISTRY``). One
            registry holds one observer: a second one on the same registry is a duplicate-name error.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        reg = REGISTRY if registry is None else registry
        self.registry = reg
        self.decisions = Counter("txguard_decisions", "Decisions by outcome, intent kind, deciding reason code and policy digest",
                                 ["outcome", "kind", "reason", "policy_digest"], registry=reg)
        self.decision_seconds = Histogram("txguard_decision_seconds", "Wall time of one check, audit append included",
                                          ["outcome"], buckets=_LATENCY_BUCKETS, registry=reg)
        self.audit_seconds = Histogram("txguard_audit_append_seconds", "Wall time of one audit record append",
                                       buckets=_LATENCY_BUCKETS, registry=reg)
        self.audit_failures = Counter("txguard_audit_append_failures", "Audit appends that failed (the decision escalated)",
                                      registry=reg)
        self.reloads = Counter("txguard_reloads", "Policy reload attempts by result (ok, error)", ["result"], registry=reg)
        for result in ("ok", "error"):  # both series exist from the start, so a rate() sees the first failure
            self.reloads.labels(result)
        self.shadow_decisions = Counter("txguard_shadow_decisions", "Decisions a shadow (candidate) policy made alongside",
                                        ["candidate_digest"], registry=reg)
        self.divergences = Counter("txguard_shadow_divergences", "Shadow decisions whose outcome differs from the one in force",
                                   ["outcome", "shadow_outcome", "candidate_digest"], registry=reg)

    def on_decision(self, decision: Decision, *, policy: CompiledPolicy, seconds: float,
                    lineage: Mapping[str, str] | None) -> None:
        outcome = decision.outcome.value
        self.decisions.labels(outcome, decision.kind or "none", deciding_reason(decision), policy.digest).inc()
        self.decision_seconds.labels(outcome).observe(seconds)

    def on_audit_append(self, *, seconds: float, ok: bool) -> None:
        self.audit_seconds.observe(seconds)
        if not ok:
            self.audit_failures.inc()

    def on_reload(self, *, ok: bool, old: CompiledPolicy, new: CompiledPolicy | None, error: str | None) -> None:
        self.reloads.labels("ok" if ok else "error").inc()

    def on_shadow(self, decision: Decision, shadow: Decision, *, policy: CompiledPolicy,
                  candidate: CompiledPolicy) -> None:
        self.shadow_decisions.labels(candidate.digest).inc()
        if shadow.outcome is not decision.outcome:
            self.divergences.labels(decision.outcome.value, shadow.outcome.value, candidate.digest).inc()
