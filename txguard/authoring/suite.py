"""Policy test suites (``*.tests.yaml``): the model of a loaded suite and how a result compares.

A suite file is loaded (:mod:`.suite_load`, ``set``/``unset`` paths in :mod:`.suite_paths`) into
a :class:`Suite` of :class:`Case` s, each resolved into one wire-format envelope; running a case
(:mod:`.suite_run`) decides the envelope with a :class:`~txguard.Guard` on the suite's clock and
:func:`compare` s the outcome, the set of reason codes and the route with its :class:`Want`.
Rule coverage is in :mod:`.coverage`, labelled corpora in :mod:`.corpus`. The format is specified
in ``docs/suite-format.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.decision import Decision, Outcome
from ..core.errors import DiagnosticsError

SUITE_SUFFIX = ".tests.yaml"
CODE = "txg-suite"
PARTS = ("proposal", "request", "session", "facts")
"""The parts of a wire-format envelope (the only keys a decision reads)."""
OUTCOMES = tuple(o.value for o in Outcome)


class SuiteError(DiagnosticsError):
    """A suite file cannot be loaded; ``diagnostics`` lists every problem, sorted by location."""


@dataclass(frozen=True)
class Want:
    """What a case expects: the outcome, optionally the exact set of reason codes and the route."""

    outcome: Outcome
    reasons: frozenset[str] | None = None
    route: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome.value}
        if self.reasons is not None:
            out["reasons"] = sorted(self.reasons)
        if self.route is not None:
            out["route"] = self.route
        return out


@dataclass(frozen=True)
class Turn:
    """One turn of a multi-turn case: its envelope, what it wants, when it happens, where it is."""

    index: int
    """1, 2, ...: also the ``session.turn`` filled in when the session does not give one."""
    note: str
    envelope: Mapping[str, Any]
    want: Want
    at: datetime
    line: int
    column: int


@dataclass(frozen=True)
class Case:
    """One resolved case: a wire-format envelope, what it wants, and where it is written.

    A multi-turn case has ``turns`` (run in order as one conversation against a fresh memory
    store); its ``envelope`` and ``want`` are those of its last turn.
    """

    suite: str
    index: int
    note: str
    envelope: Mapping[str, Any]
    want: Want
    file: str
    line: int
    column: int
    id: str | None = None
    turns: tuple[Turn, ...] = ()

    @property
    def name(self) -> str:
        """A short, stable name for reports: the id if given, else ``case[i]``."""
        return self.id or f"case[{self.index}]"

    @property
    def session_id(self) -> str:
        """The conversation id a session without ``id`` gets: unique per case in a run."""
        return f"{self.suite}/{self.name}"


@dataclass(frozen=True)
class Suite:
    """A loaded suite: its cases resolved, its policy path and clock."""

    file: str
    name: str
    policy_path: Path
    clock: datetime | None
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class TurnResult:
    """The outcome of one turn of a multi-turn case."""

    turn: Turn
    decision: Decision
    diffs: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.diffs


@dataclass(frozen=True)
class Result:
    """The outcome of running one case (for a multi-turn case: its last turn's decision, and
    every turn's difference prefixed with the turn and its location)."""

    case: Case
    decision: Decision
    diffs: tuple[str, ...]
    turns: tuple[TurnResult, ...] = ()

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """Every decision the case made (one per turn)."""
        return tuple(t.decision for t in self.turns) if self.turns else (self.decision,)

    @property
    def passed(self) -> bool:
        return not self.diffs

    def got(self) -> dict[str, Any]:
        """What the guard decided, in the shape of ``want``."""
        return _got(self.decision)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.case.name,
            "note": self.case.note,
            "location": f"{self.case.file}:{self.case.line}:{self.case.column}",
            "status": "pass" if self.passed else "fail",
            "want": self.case.want.to_dict(),
            "got": self.got(),
            "diff": list(self.diffs),
            "fired": [r.to_dict() for r in self.decision.reasons],
        }
        if self.turns:
            out["turns"] = [{
                "turn": t.turn.index, "note": t.turn.note, "at": t.turn.at.isoformat(),
                "location": f"{self.case.file}:{t.turn.line}:{t.turn.column}",
                "status": "pass" if t.passed else "fail", "want": t.turn.want.to_dict(), "got": _got(t.decision),
                "diff": list(t.diffs), "fired": [r.to_dict() for r in t.decision.reasons],
            } for t in self.turns]
        return out


def _got(decision: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {"outcome": decision.outcome.value, "reasons": sorted(set(decision.codes))}
    if decision.route is not None:
        out["route"] = decision.route
    return out


def compare(want: Want, decision: Decision) -> tuple[str, ...]:
    """Every difference between ``want`` and the decision, one readable line each (empty: pass)."""
    diffs: list[str] = []
    if decision.outcome is not want.outcome:
        diffs.append(f"outcome: want {want.outcome.value}, got {decision.outcome.value}")
    if want.reasons is not None:
        got = set(decision.codes)
        missing, extra = sorted(want.reasons - got), sorted(got - want.reasons)
        if missing or extra:
            parts = []
            if missing:
                parts.append("missing " + ", ".join(missing))
            if extra:
                parts.append("unexpected " + ", ".join(extra))
            diffs.append(f"reasons: want [{', '.join(sorted(want.reasons))}], got [{', '.join(sorted(got))}] "
                         f"({'; '.join(parts)})")
    if want.route is not None and decision.route != want.route:
        diffs.append(f"route: want {want.route}, got {decision.route or 'none'}")
    return tuple(diffs)


def _fired(decision: Decision, pad: str) -> list[str]:
    if not decision.reasons:
        return [f"{pad}fired: nothing"]
    return [f"{pad}fired:"] + [f"{pad}  {r.rule} [{r.code}, {r.outcome.value}]: {r.message}" for r in decision.reasons]


def describe_failure(result: Result) -> str:
    """A multi-line, readable report of one failed case: the diff, then every fired rule.

    For a multi-turn case: every failing turn with its index, location, want, got and fired rules.
    """
    case = result.case
    lines = [f"{case.file}:{case.line}:{case.column}: {case.name}: {case.note}"]
    if not result.turns:
        lines += [f"  - {d}" for d in result.diffs]
        return "\n".join(lines + _fired(result.decision, "  "))
    for t in result.turns:
        if t.passed:
            continue
        note = f": {t.turn.note}" if t.turn.note else ""
        lines.append(f"  turn {t.turn.index} at {case.file}:{t.turn.line}:{t.turn.column} ({t.turn.at.isoformat()}){note}")
        lines.append("    want: " + json.dumps(t.turn.want.to_dict()))
        lines.append("    got:  " + json.dumps(_got(t.decision)))
        lines += [f"    - {d}" for d in t.diffs]
        lines += _fired(t.decision, "    ")
    return "\n".join(lines)
