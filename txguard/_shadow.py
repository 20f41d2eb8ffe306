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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .audit._build import decision_data, decision_key, proposal_data
from .audit._record import proposal_digest
from .core.canonical import canonical_json
from .core.decision import Decision
from .core.errors import UsageError
from .engine.case import Case
from .engine.combine import Combine
from .engine.evaluate import Rules
from .engine.pipeline import Step, run
from .engine.state import ShadowResult, State, internal_error
from .policy.compile import CompiledPolicy
from .sessions import SessionEvaluator, SessionStore
from .sessions._apply import SessionRunner
from .sessions._store import DryRunStore

__all__ = ["Shadow", "ShadowResult", "ShadowStats", "decision_key", "sample_point"]


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


def sample_point(proposal: Any, session: Any) -> float:
    """Where a case falls in ``[0, 1)``: shadowed when this is below the sample rate (see the module docstring)."""
    try:
        digest = proposal_digest(canonical_json(proposal_data(proposal)))
    except (TypeError, ValueError):
        digest = "unrecordable"
    sid = session.get("id") if isinstance(session, Mapping) else getattr(session, "id", None)
    key = f"{digest}\x1f{sid if isinstance(sid, str) else ''}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2.0**64


class Shadow:
    """The shadow step: a guard's candidate policy, its sample rate, its steps and its counters.

    It runs first in the guard's pipeline, so the candidate sees the conversation store in the
    same state as the primary; its decision goes on the state (``State.shadow``) for the audit
    step and :meth:`count`.
    """

    __slots__ = ("candidate", "rate", "_steps", "_lock", "_counts")

    def __init__(self, candidate: CompiledPolicy, rate: float, keys: Mapping[str, bytes] | None,
                 store: SessionStore | None, session_evaluator: SessionEvaluator | None) -> None:
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            raise UsageError(f"shadow_sample must be a number from 0 to 1, got `{rate!r}`")
        self.candidate = candidate
        self.rate = float(rate)
        steps: list[Step] = [Rules()]
        if store is not None:  # the candidate's session layer, on a read-only view of the store
            steps.append(SessionRunner(candidate, DryRunStore(store), session_evaluator, keys))
        steps.append(Combine())
        self._steps: Sequence[Step] = tuple(steps)
        self._lock = threading.Lock()
        self._counts = [0, 0, 0, 0, 0]

    def sampled(self, proposal: Any, session: Any) -> bool:
        """Whether this case is in the sample (deterministic; see the module docstring)."""
        if self.rate >= 1.0:
            return True
        return self.rate > 0.0 and sample_point(proposal, session) < self.rate

    def __call__(self, case: Case, state: State) -> State:
        """The step: ``state`` with the candidate's decision if this case is in the sample."""
        if case.now is None:  # a broken clock: the primary fails closed, nothing is compared
            return state
        try:
            if not self.sampled(case.proposal, case.session):
                return state
        except Exception:  # noqa: BLE001 - an input the sampler cannot read is left out of the sample
            return state
        return replace(state, shadow=self.decide(case))

    def decide(self, case: Case) -> ShadowResult:
        """The candidate's decision of ``case`` (at its ``now``); never raises, writes nothing."""
        t0 = time.perf_counter_ns()
        error = None
        try:
            decision = run(self._steps, case.rebind(self.candidate)).decision
            if decision is None:
                raise RuntimeError("the candidate's steps made no decision")
        except Exception as exc:  # noqa: BLE001 - a failing candidate is recorded; the primary stands
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
            decision = internal_error(self.candidate, exc)
        return ShadowResult(self.candidate, decision, error, time.perf_counter_ns() - t0)

    def count(self, primary: Decision, result: ShadowResult) -> None:
        """Add one compared case to :attr:`stats`."""
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
