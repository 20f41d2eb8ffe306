"""Policy test suites (``*.tests.yaml``) and labelled corpora: load, resolve, run, compare.

A suite is loaded with locations (``_load``), every problem is collected as a located
:class:`~txguard.Diagnostic` (``file:line:col: txg-suite: message``), and each case is resolved
into one wire-format envelope: fixtures, then ``unset`` and ``set`` overrides, then ``confirmed``
(where the literal ``proposal`` names the case's own final proposal). Running a case decides the
envelope with a :class:`~txguard.Guard` on the suite's clock and compares the outcome, the set of
reason codes and the route with ``want``. The format is specified in ``docs/suite-format.md``.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from ..policy.compile import CompiledPolicy, compile_file
from ..core.decision import Decision, Outcome
from ..core.errors import MAX_DIAGNOSTICS, READ_ERRORS, Diagnostic, DiagnosticsError
from .._guard import Guard, utc_now
from ..core.jsonio import read_json
from ..policy.load import Located, PathKey, load_yaml, read_source
from ..sessions._store import MemoryStore

SUITE_SUFFIX = ".tests.yaml"
CODE = "txg-suite"
FIXTURE_SECTIONS = {"facts": "facts", "sessions": "session", "requests": "request", "proposals": "proposal"}
"""Fixture section -> the envelope part its entries fill."""
PARTS = ("proposal", "request", "session", "facts")
_SUITE_KEYS = {"apiVersion", "suite", "policy", "clock", "description", "fixtures", "cases"}
_CASE_KEYS = {"note", "id", "proposal", "request", "session", "facts", "confirmed", "set", "unset", "want", "turns"}
_TURN_KEYS = {"note", "at", "proposal", "request", "session", "facts", "confirmed", "set", "unset", "want"}
_RELATIVE = re.compile(r"\+([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WANT_KEYS = {"outcome", "reasons", "route"}
_OUTCOMES = tuple(o.value for o in Outcome)
_ROUTES = ("human", "refuse")
INPUT_KEYS = PARTS
"""The only keys of a corpus case a decision may read."""


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
        out: dict[str, Any] = {"outcome": self.decision.outcome.value, "reasons": sorted(set(self.decision.codes))}
        if self.decision.route is not None:
            out["route"] = self.decision.route
        return out

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


# -- `set` paths ------------------------------------------------------------------------------------

_SET_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(-?[0-9]+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def parse_set_path(text: str) -> list[str | int]:
    """``proposal.arguments.items[0].quantity`` -> ``["proposal", "arguments", "items", 0, "quantity"]``.

    A step is ``.name`` (any characters but ``.``, ``[``, ``]``), ``[int]`` or ``['key']``.
    Raises :class:`ValueError` with a description.
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _SET_TOKEN.match(text, pos)
        if m is None or (pos == 0 and text.startswith(".")):
            raise ValueError(f"cannot parse `{text[pos:]}` in path `{text}`")
        name, index, sq, dq = m.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(sq if sq is not None else dq)
        pos = m.end()
    if not steps or steps[0] not in PARTS:
        raise ValueError(f"path `{text}` must start with one of: {', '.join(PARTS)}")
    return steps


def _walk(envelope: dict[str, Any], steps: list[str | int], text: str) -> tuple[Any, str | int]:
    """The container holding the last step, and that step; raises ValueError if a step is missing."""
    cur: Any = envelope
    for i, step in enumerate(steps[:-1]):
        where = _render(steps[: i + 1])
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                raise ValueError(f"`{text}`: `{where}` does not exist in the resolved input")
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                raise ValueError(f"`{text}`: `{where}` does not exist in the resolved input")
            cur = cur[step]
    return cur, steps[-1]


def _render(steps: list[str | int]) -> str:
    return "".join(f"[{s}]" if isinstance(s, int) else (f".{s}" if i else s) for i, s in enumerate(steps))


def apply_set(envelope: dict[str, Any], text: str, value: Any) -> None:
    """Set one path; the last step may create a new mapping key. Raises ValueError."""
    steps = parse_set_path(text)
    if len(steps) == 1:
        envelope[str(steps[0])] = copy.deepcopy(value)
        return
    container, last = _walk(envelope, steps, text)
    if isinstance(last, int):
        if not isinstance(container, list) or not -len(container) <= last < len(container):
            raise ValueError(f"`{text}`: index {last} does not exist in the resolved input")
        container[last] = copy.deepcopy(value)
    elif isinstance(container, dict):
        container[last] = copy.deepcopy(value)
    else:
        raise ValueError(f"`{text}`: `{_render(steps[:-1])}` is not a mapping")


def apply_unset(envelope: dict[str, Any], text: str) -> None:
    """Remove one path (a mapping key or a list element). Raises ValueError if it does not exist."""
    steps = parse_set_path(text)
    if len(steps) == 1:
        if steps[0] not in envelope:
            raise ValueError(f"`{text}` does not exist in the resolved input")
        del envelope[str(steps[0])]
        return
    container, last = _walk(envelope, steps, text)
    try:
        del container[last]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"`{text}` does not exist in the resolved input") from None


# -- loading ------------------------------------------------------------------------------------------

def _parse_clock(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError(f"expected an ISO 8601 time, got `{value}`")
    if moment.tzinfo is None:
        raise ValueError(f"`{value}` has no timezone (write e.g. `2026-01-01T12:00:00Z`)")
    return moment


class _Loader:
    def __init__(self, doc: Located) -> None:
        self.doc = doc
        self.errors: list[Diagnostic] = []

    def error(self, path: PathKey, message: str) -> None:
        d = self.doc.diagnostic(path, CODE, message)
        if d not in self.errors:  # a case-level key applied to every turn reports once
            self.errors.append(d)

    def part(self, section: str, value: Any, at: PathKey, fixtures: Mapping[str, Mapping[str, Any]]) -> Any:
        """A fixture reference (a string) resolved, or an inline value, deep-copied."""
        if isinstance(value, str):
            table = fixtures.get(section, {})
            if value not in table:
                known = ", ".join(sorted(table)) or "none defined"
                self.error(at, f"unknown {section} fixture `{value}` (known: {known})")
                return None
            return copy.deepcopy(table[value])
        if section == "proposals" and not isinstance(value, Mapping):
            self.error(at, f"expected a fixture name or a `{{name, arguments}}` mapping, got `{value}`")
            return None
        if value is not None and not isinstance(value, Mapping):
            self.error(at, f"expected a fixture name or a mapping, got `{value}`")
            return None
        return copy.deepcopy(value)


def load_suite(path: str | Path) -> Suite:
    """Load and resolve a suite file; raises :class:`SuiteError` listing every problem."""
    p = Path(path)
    return parse_suite(read_source(p, "suite", SuiteError), str(p))


def default_policy_path(suite_file: str) -> Path:
    """``policies/retail.tests.yaml`` -> ``policies/retail.yaml``."""
    p = Path(suite_file)
    stem = p.name[: -len(SUITE_SUFFIX)] if p.name.endswith(SUITE_SUFFIX) else p.stem
    return p.parent / f"{stem}.yaml"


def parse_suite(text: str, file: str) -> Suite:
    """Parse suite YAML given as text (``file`` names it in diagnostics and anchors ``policy``)."""
    doc, errors = load_yaml(text, file)
    if doc is None:
        raise SuiteError(errors)
    ld = _Loader(doc)
    ld.errors.extend(errors)
    data = doc.data
    if not isinstance(data, Mapping):
        ld.error((), "a suite is a mapping with `cases` (see docs/suite-format.md)")
        raise SuiteError(ld.errors)
    for key in data:
        if key not in _SUITE_KEYS:
            ld.error((key,), f"unknown key `{key}` (expected one of: {', '.join(sorted(_SUITE_KEYS))})")
    if data.get("apiVersion", "txguard/v1") != "txguard/v1":
        ld.error(("apiVersion",), f"expected `txguard/v1`, got `{data.get('apiVersion')}`")
    name = data.get("suite")
    if name is None:
        name = Path(file).name.removesuffix(SUITE_SUFFIX)
    elif not isinstance(name, str):
        ld.error(("suite",), f"expected a string, got `{name}`")
        name = str(name)
    policy = data.get("policy")
    if policy is None:
        policy_path = default_policy_path(file)
    elif isinstance(policy, str):
        policy_path = Path(file).parent / policy
    else:
        ld.error(("policy",), f"expected a path relative to the suite, got `{policy}`")
        policy_path = default_policy_path(file)
    clock = None
    if "clock" in data:
        try:
            clock = _parse_clock(data["clock"])
        except ValueError as exc:
            ld.error(("clock",), str(exc))

    fixtures: dict[str, dict[str, Any]] = {}
    raw_fixtures = data.get("fixtures") or {}
    if not isinstance(raw_fixtures, Mapping):
        ld.error(("fixtures",), "expected a mapping of fixture sections")
        raw_fixtures = {}
    for section, table in raw_fixtures.items():
        if section not in FIXTURE_SECTIONS:
            ld.error(("fixtures", section), f"unknown fixture section `{section}` "
                     f"(expected one of: {', '.join(sorted(FIXTURE_SECTIONS))})")
            continue
        if not isinstance(table, Mapping):
            ld.error(("fixtures", section), "expected a mapping of fixture names to values")
            continue
        fixtures[section] = {}
        for fname, value in table.items():
            if not isinstance(value, Mapping):
                ld.error(("fixtures", section, fname), f"fixture `{fname}` must be a mapping, got `{value}`")
                continue
            fixtures[section][str(fname)] = value

    cases: list[Case] = []
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        ld.error(("cases",) if "cases" in data else (), "a suite needs a non-empty list `cases`")
        raw_cases = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(raw_cases):
        case = _case(ld, raw, i, str(name), fixtures, ids, clock)
        if case is not None:
            cases.append(case)
    if ld.errors:
        raise SuiteError(ld.errors[:MAX_DIAGNOSTICS], max(0, len(ld.errors) - MAX_DIAGNOSTICS))
    return Suite(file, str(name), policy_path, clock, tuple(cases))


Layer = tuple[Mapping[str, Any], PathKey]
"""A mapping of case keys and where it is written: a case, or a turn on top of its case."""


def _case(ld: _Loader, raw: Any, i: int, suite: str, fixtures: Mapping[str, Mapping[str, Any]],
          ids: dict[str, int], clock: datetime | None) -> Case | None:
    at: PathKey = ("cases", i)
    if not isinstance(raw, Mapping):
        ld.error(at, "a case is a mapping with `note`, `proposal` and `want`")
        return None
    before = len(ld.errors)
    for key in raw:
        if key not in _CASE_KEYS:
            ld.error(at + (key,), f"unknown key `{key}` (expected one of: {', '.join(sorted(_CASE_KEYS))})")
    note = raw.get("note")
    if not isinstance(note, str) or not note.strip():
        ld.error(at + (("note",) if "note" in raw else ()), "every case needs a `note` saying what it shows")
        note = ""
    case_id = raw.get("id")
    if case_id is not None:
        if not isinstance(case_id, str):
            ld.error(at + ("id",), f"expected a string, got `{case_id}`")
            case_id = None
        elif case_id in ids:
            ld.error(at + ("id",), f"case id `{case_id}` is already used by cases[{ids[case_id]}]")
        else:
            ids[case_id] = i
    if "turns" in raw:
        return _multi_turn(ld, raw, i, suite, note, case_id, fixtures, clock, before)
    if "proposal" not in raw:
        ld.error(at, "every case needs a `proposal` (a fixture name or an inline `{name, arguments}`)")
    envelope = _envelope(ld, [(raw, at)], fixtures)
    want = _want(ld, raw.get("want"), at)
    if want is None or len(ld.errors) > before:
        return None
    line, col = ld.doc.where(at)
    return Case(suite, i, note, envelope, want, ld.doc.file, line, col, case_id)


def _multi_turn(ld: _Loader, raw: Mapping[str, Any], i: int, suite: str, note: str, case_id: str | None,
                fixtures: Mapping[str, Mapping[str, Any]], clock: datetime | None, before: int) -> Case | None:
    at: PathKey = ("cases", i)
    raw_turns = raw.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        ld.error(at + ("turns",), "expected a non-empty list of turns (each a mapping with `proposal` and `want`)")
        return None
    line, col = ld.doc.where(at)
    name = case_id or f"case[{i}]"
    turns: list[Turn] = []
    previous = clock
    for j, traw in enumerate(raw_turns):
        tat: PathKey = at + ("turns", j)
        if not isinstance(traw, Mapping):
            ld.error(tat, "a turn is a mapping with `proposal` (here or on the case) and `want`")
            continue
        for key in traw:
            if key not in _TURN_KEYS:
                ld.error(tat + (key,), f"unknown key `{key}` (expected one of: {', '.join(sorted(_TURN_KEYS))})")
        moment = _turn_time(ld, traw, tat, previous, j)
        previous = moment if moment is not None else previous
        tnote = traw.get("note", "")
        if not isinstance(tnote, str):
            ld.error(tat + ("note",), f"expected a string, got `{tnote}`")
            tnote = ""
        if "proposal" not in traw and "proposal" not in raw:
            ld.error(tat, "every turn needs a `proposal` (on the turn or on its case)")
        envelope = _envelope(ld, [(raw, at), (traw, tat)], fixtures)
        if "want" in traw:
            want = _want(ld, traw["want"], tat)
        elif "want" in raw:
            want = _want(ld, raw["want"], at)
        else:
            ld.error(tat, "every turn needs `want` with at least `outcome` (on the turn or on its case)")
            want = None
        session = envelope.get("session")
        if isinstance(session, dict):
            # one conversation: a unique id per case and the turn number, unless the case gives them
            session.setdefault("id", f"{suite}/{name}")
            session.setdefault("turn", j + 1)
        if want is not None and moment is not None:
            tline, tcol = ld.doc.where(tat)
            turns.append(Turn(j + 1, tnote, envelope, want, moment, tline, tcol))
    if len(ld.errors) > before or not turns:
        return None
    last = turns[-1]
    return Case(suite, i, note, last.envelope, last.want, ld.doc.file, line, col, case_id, tuple(turns))


def _turn_time(ld: _Loader, traw: Mapping[str, Any], tat: PathKey, previous: datetime | None,
               j: int) -> datetime | None:
    """A turn's time: absolute, ``+<n>s|m|h|d`` after the previous turn (the first: the suite's
    clock), or, without ``at``, the previous turn's time."""
    value = traw.get("at")
    if value is None:
        if previous is None:
            ld.error(tat, "the first turn needs a time: give the suite a `clock` or this turn an absolute `at`"
                     if j == 0 else "this turn needs a time")
        return previous
    if isinstance(value, str):
        m = _RELATIVE.fullmatch(value)
        if m is not None:
            if previous is None:
                ld.error(tat + ("at",), f"`{value}` is relative and there is no earlier time: give the suite "
                         "a `clock` or the first turn an absolute `at`")
                return None
            return previous + timedelta(seconds=int(m.group(1)) * _UNIT_SECONDS[m.group(2)])
    try:
        return _parse_clock(value)
    except ValueError as exc:
        ld.error(tat + ("at",), f"{exc}; or write `+<n>s`, `+<n>m`, `+<n>h`, `+<n>d` after the previous turn")
        return None


def _envelope(ld: _Loader, layers: list[Layer], fixtures: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One envelope from a case (and a turn on top of it): the last layer giving a part wins; the
    ``unset`` and ``set`` of every layer apply in order; then the last layer's ``confirmed``."""
    envelope: dict[str, Any] = {}
    for section, part in FIXTURE_SECTIONS.items():
        for raw, at in reversed(layers):
            if part in raw:
                value = ld.part(section, raw[part], at + (part,), fixtures)
                if value is not None:
                    envelope[part] = value
                break

    for raw, at in layers:
        unset = raw.get("unset") or []
        if not isinstance(unset, list) or not all(isinstance(u, str) for u in unset):
            ld.error(at + ("unset",), "expected a list of paths")
            unset = []
        for j, text in enumerate(unset):
            try:
                apply_unset(envelope, text)
            except ValueError as exc:
                ld.error(at + ("unset", j), str(exc))
    for raw, at in layers:
        overrides = raw.get("set") or {}
        if not isinstance(overrides, Mapping):
            ld.error(at + ("set",), "expected a mapping of paths to values")
            overrides = {}
        for text, value in overrides.items():
            try:
                apply_set(envelope, str(text), value)
            except ValueError as exc:
                ld.error(at + ("set", text), str(exc))

    given = [(raw, at) for raw, at in layers if raw.get("confirmed") is not None]
    if given:
        raw, at = given[-1]
        confirmed = raw["confirmed"]
        if not isinstance(confirmed, list):
            ld.error(at + ("confirmed",), "expected a list of proposals (fixture names, inline, or `proposal`)")
        else:
            session = envelope.get("session")
            if session is None:
                session = envelope["session"] = {}
            if not isinstance(session, dict):
                ld.error(at + ("session",), "`confirmed` needs the session to be a mapping")
            else:
                entries = list(session.get("confirmed") or [])
                for j, entry in enumerate(confirmed):
                    if entry == "proposal":
                        if "proposal" in envelope:
                            entries.append(copy.deepcopy(envelope["proposal"]))
                        continue
                    value = ld.part("proposals", entry, at + ("confirmed", j), fixtures)
                    if value is not None:
                        entries.append(value)
                session["confirmed"] = entries
    return envelope


def _want(ld: _Loader, raw: Any, at: PathKey) -> Want | None:
    if not isinstance(raw, Mapping):
        ld.error(at + (("want",) if raw is not None else ()), "every case needs `want` with at least `outcome`")
        return None
    for key in raw:
        if key not in _WANT_KEYS:
            ld.error(at + ("want", key), f"unknown key `{key}` (expected one of: outcome, reasons, route)")
    outcome = raw.get("outcome")
    if outcome not in _OUTCOMES:
        ld.error(at + ("want", "outcome") if "outcome" in raw else at + ("want",),
                 f"`outcome` must be one of {', '.join(_OUTCOMES)}, got `{outcome}`")
        return None
    reasons = raw.get("reasons")
    if reasons is not None and (not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons)):
        ld.error(at + ("want", "reasons"), "expected a list of reason codes")
        return None
    route = raw.get("route")
    if route is not None and route not in _ROUTES:
        ld.error(at + ("want", "route"), f"`route` must be one of human, refuse, got `{route}`")
        return None
    if route is not None and outcome != "escalate":
        ld.error(at + ("want", "route"), "only an `escalate` outcome has a route")
        return None
    if outcome == "allow" and reasons:
        ld.error(at + ("want", "reasons"), "an `allow` has no reasons: use `reasons: []` or omit it")
        return None
    return Want(Outcome(outcome), None if reasons is None else frozenset(reasons), route)


# -- running ------------------------------------------------------------------------------------------

class PolicyCache:
    """Compiles each policy file once per run (raises :class:`~txguard.PolicyError`)."""

    def __init__(self) -> None:
        self._policies: dict[Path, CompiledPolicy] = {}

    def get(self, path: Path) -> CompiledPolicy:
        key = path.resolve()
        if key not in self._policies:
            self._policies[key] = compile_file(path)
        return self._policies[key]


def guard_for(policy: CompiledPolicy, clock: datetime | None) -> Guard:
    """A guard on a fixed clock (the suite's), or on the real one."""
    return Guard(policy, clock=(lambda: clock) if clock is not None else utc_now)


def keeps_state(policy: CompiledPolicy) -> bool:
    """True if the policy has session rules, budgets or single-use confirmations."""
    return policy.session.needs_session_id


def with_session_id(envelope: Mapping[str, Any], default: str) -> Mapping[str, Any]:
    """The envelope with ``session.id`` set to ``default`` if its session is a mapping without one."""
    session = envelope.get("session")
    if not isinstance(session, Mapping) or "id" in session:
        return envelope
    return {**envelope, "session": {**session, "id": default}}


def run_case(guard: Guard, case: Case) -> Result:
    """Decide one case and compare it with what it wants.

    A multi-turn case, and any case of a policy that keeps state across turns, runs as one
    conversation against a fresh memory store (nothing is shared between cases); a session
    without ``id`` gets the case's own (:attr:`Case.session_id`). Multi-turn cases run on their
    turns' clock, the others on ``guard``'s.
    """
    policy = guard.policy
    if not case.turns:
        if not keeps_state(policy):
            decision = guard.independent().check_envelope(case.envelope)
        else:
            stateful = Guard(policy, clock=guard._clock, sessions=MemoryStore())
            decision = stateful.check_envelope(with_session_id(case.envelope, case.session_id))
        return Result(case, decision, compare(case.want, decision))
    turns = play(policy, case)
    diffs = tuple(f"turn {t.turn.index} ({case.file}:{t.turn.line}:{t.turn.column}): {d}"
                  for t in turns for d in t.diffs)
    return Result(case, turns[-1].decision, diffs, tuple(turns))


def play(policy: CompiledPolicy, case: Case, upto: int | None = None,
         store: MemoryStore | None = None) -> list[TurnResult]:
    """Run a multi-turn case's turns 1..``upto`` (default: all) in order against ``store`` (default:
    a fresh memory store), each on its own time."""
    now = [case.turns[0].at]
    guard = Guard(policy, clock=lambda: now[0], sessions=store if store is not None else MemoryStore())
    out = []
    for t in case.turns[:upto]:
        now[0] = t.at
        decision = guard.check_envelope(t.envelope)
        out.append(TurnResult(t, decision, compare(t.want, decision)))
    return out


def run_suite(suite: Suite, policy: CompiledPolicy) -> list[Result]:
    """Run every case of a suite against its (compiled) policy, in file order."""
    guard = guard_for(policy, suite.clock)
    return [run_case(guard, case) for case in suite.cases]


def find_suites(paths: Iterable[str | Path]) -> list[Path]:
    """Every suite named: a file as given, a directory searched for ``*.tests.yaml`` (sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob(f"*{SUITE_SUFFIX}") if q.is_file()))
        else:
            out.append(p)
    return out


# -- coverage ------------------------------------------------------------------------------------------

@dataclass
class Coverage:
    """Which rules of one policy fired, and which reason codes the suites asserted."""

    policy: CompiledPolicy
    fired: Counter[str] = field(default_factory=Counter)
    asserted: set[str] = field(default_factory=set)

    def add(self, decision: Decision, want: Want | None = None) -> None:
        for reason in decision.reasons:
            self.fired[reason.rule] += 1
        if want is not None and want.reasons is not None:
            self.asserted |= want.reasons

    def add_result(self, result: Result) -> None:
        """Every decision of a case (every turn of a multi-turn case) and what it asserted."""
        if result.turns:
            for t in result.turns:
                self.add(t.decision, t.turn.want)
        else:
            self.add(result.decision, result.case.want)

    @property
    def rule_ids(self) -> list[str]:
        """The policy's rules, then its session rules, budgets (``budgets.<id>``) and, if on, the
        single-use confirmations (``session.single_use_confirmations``): the ids their reasons carry."""
        sp = self.policy.session
        ids = [r.id for r in self.policy.rules] + [r.id for r in sp.rules] + [f"budgets.{b.id}" for b in sp.budgets]
        if sp.single_use_confirmations:
            ids.append("session.single_use_confirmations")
        return ids

    @property
    def never_fired(self) -> list[str]:
        return [r for r in self.rule_ids if not self.fired[r]]

    @property
    def codes(self) -> list[str]:
        sp = self.policy.session
        codes = {r.code for r in self.policy.rules} | {r.code for r in sp.rules}
        if sp.budgets:
            codes.add("budget_exceeded")
        if sp.single_use_confirmations:
            codes.add("confirmation_used")
        return sorted(codes)

    @property
    def never_asserted(self) -> list[str]:
        return [c for c in self.codes if c not in self.asserted]

    @property
    def percent(self) -> float:
        ids = self.rule_ids
        return 100.0 if not ids else 100.0 * (len(ids) - len(self.never_fired)) / len(ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.id,
            "file": self.policy.file,
            "rules": len(self.rule_ids),
            "fired": {r: self.fired[r] for r in self.rule_ids if self.fired[r]},
            "never_fired": self.never_fired,
            "never_asserted": self.never_asserted,
            "percent": round(self.percent, 1),
        }


# -- labelled corpora --------------------------------------------------------------------------------

def is_corpus(path: str | Path) -> bool:
    """A JSON Lines file of labelled cases (``.jsonl`` or ``.jsonl.gz``)."""
    name = str(path)
    return name.endswith(".jsonl") or name.endswith(".jsonl.gz")


@dataclass(frozen=True)
class CorpusCase:
    """One labelled line: its id, the input envelope (only the four input keys), and the label."""

    id: str
    line: int
    envelope: Mapping[str, Any]
    expect: Outcome
    violates: tuple[str, ...] | None


def numbered_lines(fh: IO[str], name: str) -> Iterator[tuple[int, str]]:
    """``enumerate(fh, 1)``, where a read that fails (a corrupted gzip stream, bytes that are not
    UTF-8) is a :class:`SuiteError` at the line it happened on."""
    n = 0
    lines = iter(fh)
    while True:
        try:
            text = next(lines)
        except StopIteration:
            return
        except READ_ERRORS as exc:
            raise SuiteError([Diagnostic(name, n + 1, 1, CODE, f"cannot read the file here: {exc}")]) from None
        n += 1
        yield n, text


def read_corpus(path: str | Path) -> Iterator[CorpusCase]:
    """Labelled cases; a line without a valid ``expect`` raises :class:`SuiteError` with its line."""
    name = str(path)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(name, "rt", encoding="utf-8") as fh:
        for n, text in numbered_lines(fh, name):
            if not text.strip():
                continue
            try:
                raw = read_json(text)
            except (ValueError, RecursionError) as exc:
                raise SuiteError([Diagnostic(name, n, 1, CODE, f"not a JSON object: {str(exc)[:120]}")]) from None
            if not isinstance(raw, dict) or raw.get("expect") not in _OUTCOMES:
                raise SuiteError([Diagnostic(name, n, 1, CODE, "a labelled case needs `expect`: allow, clarify or escalate")])
            violates = raw.get("violates")
            yield CorpusCase(
                id=str(raw.get("id", f"line {n}")),
                line=n,
                # Only the input reaches the guard: the labels never influence a decision.
                envelope={k: raw[k] for k in INPUT_KEYS if k in raw},
                expect=Outcome(raw["expect"]),
                violates=tuple(violates) if isinstance(violates, list) else None,
            )


@dataclass
class CorpusReport:
    """The confusion matrix of a labelled corpus, with the unsafe allows and the safe cases blocked."""

    file: str
    policy: str
    matrix: dict[str, Counter[str]] = field(default_factory=lambda: {o: Counter() for o in _OUTCOMES})
    unsafe: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    n: int = 0
    exact: int = 0

    def add(self, case: CorpusCase, decision: Decision) -> None:
        got = decision.outcome
        self.n += 1
        self.matrix[case.expect.value][got.value] += 1
        if got is case.expect:
            self.exact += 1
        else:
            self.mismatched.append(case.id)
        if case.expect is not Outcome.ALLOW and got is Outcome.ALLOW:
            self.unsafe.append(case.id)
        if case.expect is Outcome.ALLOW and got is not Outcome.ALLOW:
            self.blocked.append(case.id)

    @property
    def exact_rate(self) -> float:
        return 100.0 * self.exact / self.n if self.n else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "policy": self.policy, "cases": self.n, "exact": self.exact,
            "exact_rate": round(self.exact_rate, 2),
            "matrix": {w: {g: self.matrix[w][g] for g in _OUTCOMES} for w in _OUTCOMES},
            "unsafe_allowed": self.unsafe, "safe_blocked": self.blocked, "mismatched": self.mismatched,
        }

    def render(self) -> str:
        width = max(len(o) for o in _OUTCOMES) + 2
        head = "expected \\ got".ljust(16) + "".join(o.rjust(width + 2) for o in _OUTCOMES)
        rows = [head] + [w.ljust(16) + "".join(str(self.matrix[w][g]).rjust(width + 2) for g in _OUTCOMES)
                         for w in _OUTCOMES]
        rows.append(f"exact {self.exact}/{self.n} ({self.exact_rate:.2f}%)")
        rows.append(f"unsafe allowed ({len(self.unsafe)}): {', '.join(self.unsafe) or 'none'}")
        rows.append(f"safe blocked ({len(self.blocked)}): {', '.join(self.blocked) or 'none'}")
        return "\n".join(rows)


def score_corpus(guard: Guard, cases: Iterable[CorpusCase], file: str,
                 coverage: Coverage | None = None) -> CorpusReport:
    """Decide every labelled case from its input alone, each as an independent world (a fresh
    single-use ledger: no confirmation is used up by another case), and tally the results."""
    report = CorpusReport(file, guard.policy.id)
    for case in cases:
        decision = guard.independent().check_envelope(case.envelope)  # each case its own world
        report.add(case, decision)
        if coverage is not None:
            coverage.add(decision)
    return report
