"""``txguard explain --policy P CASE.json``: why a decision came out the way it did.

Prints the decision, then every rule considered for the intent kind in evaluation order, each
with its inputs, whether it fired, was skipped (a precondition it needs failed) or raised, and
why; for custom ``when`` rules every comparison with its left value, operator, right value and
result. ``--format json`` for tools. ``--clock`` fixes the time (ISO 8601 with a timezone).

For a policy with a ``session:`` section the session rules, budgets and single-use confirmations
are traced too. A JSON case is a conversation with no earlier events; to explain a turn after the
turns before it, name a suite case instead: ``txguard explain --suite S.tests.yaml --case ID
[--turn N]`` replays turns 1..N-1 into a fresh memory store and explains turn N (default: the
last) on its own time; the policy is the suite's unless ``--policy`` is given.

``--consent-key ID=FILE`` (repeatable) gives the keys the guard verifies signed consent tokens
with (``Guard(consent_keys=...)``): the file holds the raw key bytes (at least 32). Without it, a
signed token is judged as by a guard that holds no key.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from ..policy.compile import CompiledPolicy, compile_file
from ..consent.tokens import keyring
from ..core.errors import READ_ERRORS, PolicyError, UsageError
from ..engine.evaluate import Clock
from ..authoring.explain import explain
from ..authoring.suite import SuiteError
from ..authoring.suite_load import load_suite
from ..authoring.suite_run import keeps_state, play, with_session_id
from .._guard import utc_now
from ..core.jsonio import read_json
from ..sessions import MemoryStore
from ._common import compile_or_report, open_text

HELP = "explain a decision rule by rule (inputs, fired / skipped / not fired, and why)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="the policy YAML file (required unless --suite names one)")
    p.add_argument("case", nargs="?", help="a JSON file with one wire-format envelope ('-' for stdin)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--clock", help="the time of the decision, ISO 8601 with a timezone (default: now)")
    p.add_argument("--suite", metavar="FILE", help="explain a case of this suite (*.tests.yaml) instead of a JSON file")
    p.add_argument("--case", dest="case_name", metavar="ID",
                   help="with --suite: the case's id (or `case[i]`)")
    p.add_argument("--consent-key", action="append", default=[], metavar="ID=FILE",
                   help="a consent token key: its id and a file holding its raw bytes (repeatable), as the guard has them")
    p.add_argument("--turn", type=int, metavar="N",
                   help="with --suite: the turn of a multi-turn case to explain, after replaying the ones before (default: the last)")


def _keys(specs: list[str]) -> dict[str, bytes] | None:
    """``{key id: key}`` from ``ID=FILE`` options; raises ValueError saying what is wrong."""
    keys: dict[str, bytes] = {}
    for spec in specs:
        key_id, sep, file = spec.partition("=")
        if not sep or not key_id or not file:
            raise ValueError(f"`{spec}` is not ID=FILE")
        try:
            with open(file, "rb") as fh:
                keys[key_id] = fh.read()
        except OSError as exc:
            raise ValueError(f"cannot read `{file}`: {exc.strerror}") from None
    try:
        return keyring(keys) or None
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    try:
        args.keys = _keys(args.consent_key)
    except ValueError as exc:
        print(f"txguard explain: --consent-key: {exc}", file=sys.stderr)
        return 1
    clock = utc_now
    if args.clock is not None:
        try:
            moment = datetime.fromisoformat(args.clock.replace("Z", "+00:00"))
        except ValueError as exc:
            print(f"txguard explain: --clock: {exc}", file=sys.stderr)
            return 1
        if moment.tzinfo is None:
            print("txguard explain: --clock needs a timezone (e.g. 2026-01-01T12:00:00Z)", file=sys.stderr)
            return 1
        clock = lambda: moment  # noqa: E731
    if args.suite is not None:
        return _from_suite(args, clock if args.clock is not None else None)
    if args.policy is None or args.case is None:
        print("txguard explain: give --policy P and a CASE.json, or --suite FILE --case ID", file=sys.stderr)
        return 1
    policy = compile_or_report(args.policy)
    if policy is None:
        return 3
    try:
        with open_text(args.case) as fh:
            envelope = read_json(fh.read())
    except READ_ERRORS as exc:
        print(f"txguard explain: cannot read `{args.case}`: {exc}", file=sys.stderr)
        return 1
    except (ValueError, RecursionError) as exc:
        print(f"txguard explain: `{args.case}` is not JSON: {str(exc)[:120]}", file=sys.stderr)
        return 1
    _print(args, explain(policy, envelope, clock, consent_keys=args.keys))
    return 0


def _from_suite(args: argparse.Namespace, clock: Clock | None) -> int:
    if args.case is not None:
        print("txguard explain: give either a CASE.json or --suite FILE --case ID, not both", file=sys.stderr)
        return 1
    if args.case_name is None:
        print("txguard explain: --suite needs --case ID", file=sys.stderr)
        return 1
    try:
        suite = load_suite(args.suite)
    except SuiteError as exc:
        print(exc, file=sys.stderr)
        return 1
    cases = {c.name: c for c in suite.cases}
    case = cases.get(args.case_name)
    if case is None:
        print(f"txguard explain: no case `{args.case_name}` in `{args.suite}` (cases: {', '.join(cases)})",
              file=sys.stderr)
        return 1
    try:
        policy: CompiledPolicy = compile_file(args.policy if args.policy is not None else suite.policy_path)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 3
    store = MemoryStore()
    if case.turns:
        n = args.turn if args.turn is not None else len(case.turns)
        if not 1 <= n <= len(case.turns):
            print(f"txguard explain: case `{case.name}` has turns 1 to {len(case.turns)}, not {n}", file=sys.stderr)
            return 1
        play(policy, case, n - 1, store)
        turn = case.turns[n - 1]
        envelope: Any = turn.envelope
        at = turn.at
        when: Clock = clock if clock is not None else (lambda: at)
    else:
        if args.turn not in (None, 1):
            print(f"txguard explain: case `{case.name}` has one turn", file=sys.stderr)
            return 1
        envelope = with_session_id(case.envelope, case.session_id) if keeps_state(policy) else case.envelope
        fixed = suite.clock
        when = clock if clock is not None else ((lambda: fixed) if fixed is not None else utc_now)
    _print(args, explain(policy, envelope, when, store=store, consent_keys=args.keys))
    return 0


def _print(args: argparse.Namespace, result: Any) -> None:
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.render())
