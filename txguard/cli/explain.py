"""``txguard explain --policy P CASE.json``: why a decision came out the way it did.

Prints the decision, then every rule considered for the intent kind in evaluation order, each
with its inputs, whether it fired, was skipped (a precondition it needs failed) or raised, and
why; for custom ``when`` rules every comparison with its left value, operator, right value and
result. ``--format json`` for tools. ``--clock`` fixes the time (ISO 8601 with a timezone).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

from .._compile import compile_file
from .._errors import PolicyError
from .._explain import explain
from .._guard import utc_now

HELP = "explain a decision rule by rule (inputs, fired / skipped / not fired, and why)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help="the policy YAML file")
    p.add_argument("case", help="a JSON file with one wire-format envelope ('-' for stdin)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--clock", help="the time of the decision, ISO 8601 with a timezone (default: now)")


def run(args: argparse.Namespace) -> int:
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
    try:
        policy = compile_file(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 3
    try:
        if args.case == "-":
            text = sys.stdin.read()
        else:
            with open(args.case, encoding="utf-8") as fh:
                text = fh.read()
        envelope = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"txguard explain: cannot read `{args.case}`: {exc}", file=sys.stderr)
        return 1
    except (ValueError, RecursionError) as exc:
        print(f"txguard explain: `{args.case}` is not JSON: {str(exc)[:120]}", file=sys.stderr)
        return 1
    result = explain(policy, envelope, clock)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.render())
    return 0
