"""``txguard check``: decide one case file, or a whole JSON Lines file of cases.

``txguard check --policy P CASE.json`` prints one decision (``--format json`` for the full
decision). ``txguard check --policy P --cases CASES.jsonl[.gz] --out PRED.jsonl`` writes one
``{"id", "outcome", "reasons"}`` line per case, in input order. A line that is not a JSON object
is decided ``escalate`` (``malformed``) and reported on stderr; it is never skipped.

A policy that keeps state across turns (session rules, budgets, ``single_use_confirmations``)
decides each case as a fresh conversation in a memory store, as ``txguard explain`` and
``txguard test`` do: its budgets and session rules are applied, never silently dropped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from ..core.decision import Decision, Outcome
from ..core.errors import READ_ERRORS
from .._guard import Guard
from ..core.jsonio import read_json
from ..authoring.suite import SuiteError
from ..audit import AuditError, AuditSink, open_sink
from ._common import compile_or_report, open_text
from ._lines import decide_lines
from ._lines import fresh as _fresh  # its old name: tests build the guard the command builds

HELP = "decide a case (wire-format envelope) or a file of cases"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help="the policy YAML file")
    p.add_argument("case", nargs="?", help="one case: a JSON file with a wire-format envelope ('-' for stdin)")
    p.add_argument("--cases", help="a JSON Lines file of cases (.gz is read compressed)")
    p.add_argument("--out", help="with --cases: where to write the predictions (default: stdout)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format of a single decision")
    p.add_argument("--audit", metavar="URL", help="append one audit record per decision (e.g. sqlite:audit.db)")


def render_text(decision: Decision) -> str:
    """A decision as a few human-readable lines."""
    head = decision.outcome.value
    if decision.route:
        head += f"  (route: {decision.route})"
    if decision.kind:
        head += f"  [{decision.kind}]"
    lines = [head]
    for r in decision.reasons:
        lines.append(f"  - {r.rule} [{r.code}, {r.outcome.value}]: {r.message}")
    for q in decision.questions:
        lines.append(f"  ? {q.text}")
    c = decision.confirmation
    if c is not None:
        lines.append(f"  confirm ({c.digest[:19]}...):")
        for line in c.lines:
            lines.append(f"      {line.quantity} x {line.title} ({line.sku}) at {line.unit_price} {c.currency}")
        if c.total is not None:
            lines.append(f"      total {c.total} {c.currency}, paid with {c.payment_method_id}")
        elif not c.lines:
            lines.append("      " + json.dumps(c.summary, sort_keys=True))
    p = decision.policy
    lines.append(f"  policy {p.id} {p.version} {p.digest[:19]}...  ({decision.elapsed_us:.0f} us)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if (args.case is None) == (args.cases is None):
        print("txguard check: give one CASE file or --cases FILE", file=sys.stderr)
        return 1
    policy = compile_or_report(args.policy)
    if policy is None:
        return 3
    try:
        sink = open_sink(args.audit) if args.audit else None
    except AuditError as exc:
        print(f"txguard check: {exc}", file=sys.stderr)
        return 1
    guard = _fresh(policy, sink)
    try:
        if args.case is not None:
            return _single(guard, args)
        return _batch(guard, args, sink)
    finally:
        if sink is not None:
            sink.close()


def _where(exc: BaseException) -> str:
    """``line:col`` of a JSON syntax error, ``1:1`` when the reader gives no position."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.lineno}:{exc.colno}"
    return "1:1"


def _single(guard: Guard, args: argparse.Namespace) -> int:
    try:
        with open_text(args.case) as fh:
            text = fh.read()
    except READ_ERRORS as exc:
        print(f"txguard check: cannot read `{args.case}`: {exc}", file=sys.stderr)
        return 1
    try:
        envelope = read_json(text)
    except (ValueError, RecursionError) as exc:
        # The case file itself is unusable: a tool error (exit 1), never a decision made (exit 0).
        # With an audit trail the attempt is still recorded, as the escalation it is.
        print(f"{args.case}:{_where(exc)}: malformed case: {str(exc)[:120]}", file=sys.stderr)
        if args.audit:
            guard.check_envelope(None)
        return 1
    decision = guard.check_envelope(envelope)
    if args.format == "json":
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        print(render_text(decision))
    return 0


def _batch(guard: Guard, args: argparse.Namespace, sink: AuditSink | None) -> int:
    try:
        source = open_text(args.cases)
        out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    except OSError as exc:
        print(f"txguard check: {exc}", file=sys.stderr)
        return 1
    tty = sys.stderr.isatty()
    t0 = time.perf_counter()
    try:
        with source:
            counts, n, malformed = decide_lines(guard, source, out, args.cases, sink, progress=tty)
    except SuiteError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    except READ_ERRORS as exc:
        print(f"\ntxguard check: cannot read `{args.cases}`: {exc}", file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    elapsed = time.perf_counter() - t0
    if tty:
        sys.stderr.write("\r")
    rate = n / elapsed if elapsed > 0 else 0.0
    summary = ", ".join(f"{counts[o.value]} {o.value}" for o in Outcome)
    print(f"{n} cases: {summary}; {malformed} malformed lines; {rate:,.0f} decisions/s", file=sys.stderr)
    return 0
