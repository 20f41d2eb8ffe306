"""Shadow mode: a candidate policy decides the same case alongside the guard's, observationally.

The candidate sees the same inputs and the same clock reading as the primary, and decides before
it (so both see the conversation store in the same state). It never changes the decision
returned, never raises into ``check``, and never writes anything: without a session store it is
the pure evaluator; with one, it runs the candidate's session layer on a read-only view of the
store (:class:`~txguard.sessions._store.DryRunStore`), so budgets are checked against the
recorded spend but never reserved, single-use confirmations are checked but never consumed, and
no event is logged.

Sampling is deterministic: a case is shadowed when the first 64 bits of
``sha256(proposal_digest + "\\x1f" + session id)`` (read as an integer, divided by 2**64) fall
below the rate, where ``proposal_digest`` is the audit record's ``sha256:<hex>`` of the proposal as
emitted. The same proposal in the same conversation is always in, or always out of, the sample.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .policy.compile import CompiledPolicy
from .core.decision import Decision
from .core.errors import UsageError
from .engine.evaluate import evaluate, internal_error

if TYPE_CHECKING:
    from .sessions import SessionEvaluator, SessionStore
    from .sessions._apply import SessionRunner


@dataclass(frozen=True, slots=True)
class ShadowStats:
    """How a guard's shadow (candidate) policy compared, since the guard was made.

    ``sampled`` cases were decided by the candidate too; ``diverged`` of them were decided
    differently (outcome, reasons, questions, route or confirmation); ``loosened`` and
    ``tightened`` count the outcome moving down or up (``allow`` < ``clarify`` < ``escalate``);
    ``errors`` count candidates that raised (recorded as ``internal_error``).
    """

    sampled: int = 0
    diverged: int = 0
    loosened: int = 0
    tightened: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class ShadowResult:
    """One candidate decision: the decision (``internal_error`` if it raised) and the error text."""

    candidate: CompiledPolicy
    decision: Decision
    error: str | None
    elapsed_ns: int


def sample_point(proposal: Any, session: Any) -> float:
    """Where a case falls in ``[0, 1)``: shadowed when this is below the sample rate (see the module docstring)."""
    from .audit._build import proposal_data
    from .audit._record import canonical_json, proposal_digest

    try:
        digest = proposal_digest(canonical_json(proposal_data(proposal)))
    except (TypeError, ValueError):
        digest = "unrecordable"
    sid = session.get("id") if isinstance(session, Mapping) else getattr(session, "id", None)
    key = f"{digest}\x1f{sid if isinstance(sid, str) else ''}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64


def decision_key(data: Mapping[str, Any]) -> tuple[Any, ...]:
    """What two recorded decisions (``decision_data``) must share to be the same decision."""
    return (data["outcome"], [(r["rule"], r["code"], r["outcome"]) for r in data["reasons"]],
            [q["code"] for q in data["questions"]], data["route"], data["confirmation"])


class Shadow:
    """A guard's candidate policy, its sample rate, its read-only session layer and its counters."""

    __slots__ = ("candidate", "rate", "_runner", "_keys", "_lock", "_counts")

    def __init__(self, candidate: CompiledPolicy, rate: float, keys: Mapping[str, bytes] | None,
                 store: SessionStore | None, session_evaluator: SessionEvaluator | None) -> None:
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            raise UsageError(f"shadow_sample must be a number from 0 to 1, got `{rate!r}`")
        self.candidate = candidate
        self.rate = float(rate)
        self._keys = keys
        self._runner: SessionRunner | None = None
        if store is not None:
            from .sessions._apply import SessionRunner
            from .sessions._store import DryRunStore

            self._runner = SessionRunner(candidate, DryRunStore(store), session_evaluator, keys)
        self._lock = threading.Lock()
        self._counts = [0, 0, 0, 0, 0]

    def sampled(self, proposal: Any, session: Any) -> bool:
        """Whether this case is in the sample (deterministic; see the module docstring)."""
        if self.rate >= 1.0:
            return True
        return self.rate > 0.0 and sample_point(proposal, session) < self.rate

    def run(self, proposal: Any, request: Any, session: Any, facts: Any, now: datetime) -> ShadowResult | None:
        """The candidate's decision if this case is in the sample, else None. Never raises."""
        try:
            if not self.sampled(proposal, session):
                return None
        except Exception:  # noqa: BLE001 - an input the sampler cannot read is left out of the sample
            return None
        return self.decide(proposal, request, session, facts, now)

    def decide(self, proposal: Any, request: Any, session: Any, facts: Any, now: datetime) -> ShadowResult:
        """The candidate's decision at ``now``; never raises, writes nothing."""
        t0 = time.perf_counter_ns()
        error = None
        try:
            if self._runner is None:
                decision = evaluate(self.candidate, proposal, request, session, facts, lambda: now, self._keys)
            else:
                decision = self._runner.check(evaluate, proposal, request, session, facts, lambda: now)
        except Exception as exc:  # noqa: BLE001 - a failing candidate is recorded; the primary stands
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            decision = internal_error(self.candidate, exc)
        return ShadowResult(self.candidate, decision, error, time.perf_counter_ns() - t0)

    def record(self, primary: Decision, result: ShadowResult) -> dict[str, Any]:
        """The audit record's ``shadow`` part, compared with the primary decision ``primary``. Never raises."""
        from .audit._build import decision_data

        part: dict[str, Any] = {"policy": result.candidate.ref.to_dict(), "decision": None, "observational": True,
                                "diverged": True, "error": result.error, "elapsed_ns": result.elapsed_ns}
        try:
            data = decision_data(result.decision)
            part.update(decision=data, diverged=decision_key(data) != decision_key(decision_data(primary)))
        except Exception as exc:  # noqa: BLE001 - the primary's record must be written whatever the candidate did
            part["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return part

    def count(self, primary: Decision, result: ShadowResult) -> None:
        """Add one compared case to :attr:`stats`."""
        from .audit._build import decision_data

        try:
            diverged = decision_key(decision_data(result.decision)) != decision_key(decision_data(primary))
        except Exception:  # noqa: BLE001 - counted as a divergence rather than raised into check
            diverged = True
        step = primary.outcome.rank - result.decision.outcome.rank
        with self._lock:
            c = self._counts
            c[0] += 1
            c[1] += diverged
            c[2] += step > 0
            c[3] += step < 0
            c[4] += result.error is not None

    @property
    def stats(self) -> ShadowStats:
        """A snapshot of the counters."""
        with self._lock:
            return ShadowStats(*self._counts)
