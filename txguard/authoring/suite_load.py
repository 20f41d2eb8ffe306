"""Load a suite file: every problem a located diagnostic, every case resolved into an envelope.

A suite is loaded with locations, every problem is collected as a located
:class:`~txguard.Diagnostic` (``file:line:col: txg-suite: message``), and each case is resolved
into one wire-format envelope: fixtures, then ``unset`` and ``set`` overrides, then ``confirmed``
(where the literal ``proposal`` names the case's own final proposal).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.decision import Outcome
from ..core.errors import MAX_DIAGNOSTICS, Diagnostic
from ..policy.load import Located, PathKey, load_yaml, read_source
from .suite import CODE, OUTCOMES, SUITE_SUFFIX, Case, Suite, SuiteError, Turn, Want
from .suite_paths import apply_set, apply_unset

FIXTURE_SECTIONS = {"facts": "facts", "sessions": "session", "requests": "request", "proposals": "proposal"}
"""Fixture section -> the envelope part its entries fill."""
_SUITE_KEYS = {"apiVersion", "suite", "policy", "clock", "description", "fixtures", "cases"}
_CASE_KEYS = {"note", "id", "proposal", "request", "session", "facts", "confirmed", "set", "unset", "want", "turns"}
_TURN_KEYS = {"note", "at", "proposal", "request", "session", "facts", "confirmed", "set", "unset", "want"}
_RELATIVE = re.compile(r"\+([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WANT_KEYS = {"outcome", "reasons", "route"}
_ROUTES = ("human", "refuse")


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
    if outcome not in OUTCOMES:
        ld.error(at + ("want", "outcome") if "outcome" in raw else at + ("want",),
                 f"`outcome` must be one of {', '.join(OUTCOMES)}, got `{outcome}`")
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
