"""The loop of ``txguard check --cases``: one JSON line in, one prediction line out, per case.

Every case is decided as its own world, as if it were the only line of the file: a guard given
no conversation store keeps a single-use ledger of the confirmations its allows used, so deciding
a case on a guard that decided another one could find that case's confirmation used
(``confirmation_used``) when the two carry the same confirmation (the corpora's variants of one
checkout do). :class:`Worlds` gives each case such a world, at the least cost the policy allows:

- a policy that keeps no state across turns (``single_use_confirmations: false``, no session rules
  or budgets) has nothing to isolate: every case is decided on the one guard;
- a policy with single-use confirmations only: a world (``guard.independent()``, a fresh ledger)
  is kept as long as the cases decided on it cannot have used a confirmation. A confirmation is
  consumed only by an allow (``txguard.sessions._apply``, ``_consume_only``); a decision that fails
  after that is ``internal_error`` (``session_store_error`` in the session step); with an audit
  sink, a consuming allow whose record cannot be written is returned as ``escalate``. So after an
  allow or a failure, and after every case when there is an audit sink, the next case gets a new
  world; after any other decision the ledger is untouched (``tests/test_cli_cases.py`` checks the
  output against a world per case);
- a policy that keeps a conversation (``needs_session_id``): a new guard and memory store per case.

The prediction line is built from pieces, each a string encoded exactly as ``json.dumps`` encodes
it (:func:`encode_row`), and lines are written in batches; the cases are read with
:func:`~txguard.core.jsonio.read_json`, the project's one exact reader of outside JSON.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from json.encoder import encode_basestring_ascii as _text
from typing import IO, Any

from .._guard import Guard, utc_now
from ..audit import AuditSink
from ..authoring.corpus import numbered_lines
from ..core.decision import Decision, Outcome, Reason
from ..core.jsonio import read_json
from ..engine.case import Clock
from ..policy.compile import CompiledPolicy
from ..sessions import MemoryStore

FLUSH = 256
"""Prediction lines written at once (a terminal gets each line as it is decided)."""


def fresh(policy: CompiledPolicy, sink: AuditSink | None, clock: Clock = utc_now) -> Guard:
    """A guard for one case as its own world: with a fresh conversation store when the policy keeps
    state (else its session layer would be skipped, and explain would disagree with check)."""
    return Guard(policy, clock=clock, audit=sink,
                 sessions=MemoryStore() if policy.session.needs_session_id else None)


def malformed(policy_ref: Any, message: str) -> Decision:
    """The decision on a line that is not a JSON object (no audit sink to record it in)."""
    return Decision(Outcome.ESCALATE, (Reason("txguard:malformed", "malformed", message, Outcome.ESCALATE),),
                    policy_ref, route="refuse")


def _may_have_used(decision: Decision) -> bool:
    """Whether deciding may have consumed a confirmation of the world's ledger (see the module
    docstring): an allow, or a decision that failed (possibly after one)."""
    outcome = decision.outcome
    if outcome is Outcome.ALLOW:
        return True
    return outcome is Outcome.ESCALATE and any(r.code in _FAILED for r in decision.reasons)


_FAILED = frozenset({"internal_error", "session_store_error"})
"""The codes of a decision that failed part-way (the guard's, the session step's)."""


class Worlds:
    """Decides each case of a file as if it were the only one (see the module docstring)."""

    __slots__ = ("_guard", "_sink", "_mode", "_world")

    def __init__(self, guard: Guard, sink: AuditSink | None) -> None:
        session = guard.policy.session
        self._guard = guard
        self._sink = sink
        if session.needs_session_id:
            self._mode = "conversation"
        elif not session.single_use:
            self._mode = "stateless"
        else:
            self._mode = "ledger" if sink is None else "audited ledger"
        self._world = guard.independent() if self._mode == "ledger" else guard

    def decide(self, envelope: dict[str, Any]) -> Decision:
        """The decision on ``envelope`` in a world where no other case was decided."""
        mode = self._mode
        if mode == "ledger":
            decision = self._world.check_envelope(envelope)
            if _may_have_used(decision):
                self._world = self._guard.independent()
            return decision
        if mode == "stateless":
            return self._guard.check_envelope(envelope)
        if mode == "audited ledger":
            return self._guard.independent().check_envelope(envelope)
        return fresh(self._guard.policy, self._sink, self._guard.clock).check_envelope(envelope)


def row(case_id: Any, decision: Decision, line: int) -> dict[str, Any]:
    """The prediction of one case: ``id``, ``outcome``, ``reasons`` (and ``line`` when it has no id)."""
    out: dict[str, Any] = {
        "id": case_id, "outcome": decision.outcome.value,
        "reasons": [{"rule": r.rule, "code": r.code, "message": r.message} for r in decision.reasons]}
    if case_id is None:
        out["line"] = line
    return out


_REASON = '{"rule": %s, "code": %s, "message": %s}'


def encode_row(case_id: Any, decision: Decision, line: int) -> str:
    """``json.dumps(row(case_id, decision, line))``, built from its strings: each is encoded by the
    very function ``json.dumps`` encodes a string with; an id that is not a string or null, or a
    reason field that is not a string, goes to ``json.dumps`` itself."""
    if case_id is None or type(case_id) is str:
        try:
            reasons = ", ".join([_REASON % (_text(r.rule), _text(r.code), _text(r.message))
                                 for r in decision.reasons])
            head = "null" if case_id is None else _text(case_id)
            outcome = _text(decision.outcome.value)
        except TypeError:
            pass
        else:
            tail = "}" if case_id is not None else f', "line": {line}}}'
            return f'{{"id": {head}, "outcome": {outcome}, "reasons": [{reasons}]{tail}'
    return json.dumps(row(case_id, decision, line))


def _write(out: IO[str], pending: list[str]) -> None:
    if pending:
        text = "\n".join(pending) + "\n"
        pending.clear()  # before writing: a failed write is not written again
        out.write(text)


def decide_lines(guard: Guard, source: IO[str], out: IO[str], name: str, sink: AuditSink | None, *,
                 progress: bool = False) -> tuple[Counter[str], int, int]:
    """Decide every line of ``source`` (blank lines skipped) and write one prediction line per case
    to ``out``, in input order; a line that is not a JSON object is decided ``escalate``
    (``malformed``, recorded when there is an audit sink) and reported on stderr.

    Returns the count of each outcome, the number of cases and of malformed lines.

    Raises:
        SuiteError: a line that cannot be read (a corrupted gzip stream, bytes that are not UTF-8);
            the lines decided before it are written.
    """
    worlds = Worlds(guard, sink)
    ref = guard.policy.ref
    counts: Counter[str] = Counter()
    pending: list[str] = []
    isatty = getattr(out, "isatty", None)  # a stand-in for stdout may have none
    flush_at = 1 if isatty is not None and isatty() else FLUSH
    n = bad = 0
    try:
        for n_line, line in numbered_lines(source, name):
            if not line or line.isspace():  # `not line.strip()` without copying the line
                continue
            problem = None
            try:
                envelope = read_json(line)
            except (ValueError, RecursionError) as exc:
                envelope, problem = None, f"{name}:{n_line}: malformed line: {str(exc)[:120]}"
            if problem is None and isinstance(envelope, dict):
                case_id = envelope.get("id")
                decision = worlds.decide(envelope)
            else:
                case_id = None
                bad += 1
                problem = problem or f"{name}:{n_line}: malformed line: not a JSON object"
                _write(out, pending)  # the lines before it first, as the report on stderr comes now
                print(problem, file=sys.stderr)
                decision = guard.check_envelope(None) if sink is not None else malformed(ref, problem)
            counts[decision.outcome.value] += 1
            pending.append(encode_row(case_id, decision, n_line))
            n += 1
            if len(pending) >= flush_at:
                _write(out, pending)
            if progress and n % 500 == 0:
                sys.stderr.write(f"\r{n} decided ...")
                sys.stderr.flush()
    finally:
        _write(out, pending)
    return counts, n, bad
