"""Observers: what a :class:`~txguard.Guard` did, for metrics, traces and shadow comparisons.

An observer subclasses :class:`Observer` and overrides the methods it needs; every method is a
no-op by default, so a new event never breaks an existing observer. Observers are told after the
decision is final (and, with an audit sink, after its record is written); they can never change
a decision. An observer that raises is ignored for that event: watching the guard must not make
it fail, and the decision has already been made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..policy.compile import CompiledPolicy
    from .decision import Decision


class Observer:
    """Receives what a guard does. Override what you need; the defaults do nothing."""

    def on_decision(self, decision: Decision, *, policy: CompiledPolicy, seconds: float,
                    lineage: Mapping[str, str] | None) -> None:
        """One decision, as returned to the caller.

        Args:
            decision: the final decision (session and audit reasons included).
            policy: the compiled policy that decided it (its ``digest`` names it).
            seconds: wall time of the whole ``check``, audit append included.
            lineage: the host-supplied lineage passed to ``check``, if any.
        """

    def on_shadow(self, decision: Decision, shadow: Decision, *, policy: CompiledPolicy,
                  candidate: CompiledPolicy) -> None:
        """A shadow (candidate) policy decided the same case; it never changes ``decision``."""

    def on_reload(self, *, ok: bool, old: CompiledPolicy, new: CompiledPolicy | None, error: str | None) -> None:
        """A policy reload was attempted: swapped (``ok``) or refused with ``error``, keeping ``old``."""

    def on_audit_append(self, *, seconds: float, ok: bool) -> None:
        """One audit record was appended (``ok``) or could not be (the decision then escalates)."""


def notify(observers: Iterable[Observer], tell: Callable[[Observer], None]) -> None:
    """Call ``tell(observer)`` for every observer; an observer that raises is skipped."""
    for observer in observers:
        try:
            tell(observer)
        except Exception:  # noqa: BLE001, S110 - see the module docstring: observers cannot fail a decision
            pass


def notify_decision(observers: Iterable[Observer], decision: Decision, policy: CompiledPolicy, seconds: float,
                    lineage: Mapping[str, str] | None) -> None:
    """Tell every observer about one decision; an observer that raises is skipped."""
    notify(observers, lambda o: o.on_decision(decision, policy=policy, seconds=seconds, lineage=lineage))


def notify_shadow(observers: Iterable[Observer], decision: Decision, shadow: Decision, policy: CompiledPolicy,
                  candidate: CompiledPolicy) -> None:
    """Tell every observer how the shadow (candidate) policy decided the same case."""
    notify(observers, lambda o: o.on_shadow(decision, shadow, policy=policy, candidate=candidate))


def notify_reload(observers: Iterable[Observer], *, ok: bool, old: CompiledPolicy, new: CompiledPolicy | None,
                  error: str | None) -> None:
    """Tell every observer about one reload attempt; an observer that raises is skipped."""
    notify(observers, lambda o: o.on_reload(ok=ok, old=old, new=new, error=error))


def notify_audit_append(observers: Iterable[Observer], *, seconds: float, ok: bool) -> None:
    """Tell every observer about one audit append; an observer that raises is skipped."""
    notify(observers, lambda o: o.on_audit_append(seconds=seconds, ok=ok))
