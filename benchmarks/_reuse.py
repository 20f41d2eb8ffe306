"""Shared by the benchmarks that decide the same confirmed cases again and again.

Confirmations are single-use by default (a guard without a store keeps its own ledger), so a
benchmark repeating one confirmed checkout would time ``confirmation_used`` from the second call
on. These benchmarks time the decision itself on a copy of the policy whose confirmations are
reusable; ``benchmarks/sessions.py`` times the single-use ledger.
"""

from __future__ import annotations

from dataclasses import replace

from txguard import CompiledPolicy


def reusable(policy: CompiledPolicy) -> CompiledPolicy:
    """``policy`` with ``single_use_confirmations: false``."""
    return replace(policy, session=replace(policy.session, reusable_confirmations=True))
