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
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from ..core.decision import Decision, Outcome, Reason
from ..core.errors import READ_ERRORS
from .._guard import Guard, utc_now
from ..engine.case import Clock
from ..core.jsonio import read_json
from ..authoring.corpus import numbered_lines
from ..authoring.suite import SuiteError
from ..audit import AuditError, AuditSink, open_sink
from ..policy.compile import CompiledPolicy
from ..sessions import MemoryStore
from ._common import compile_or_report, open_text

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


def _malformed(policy_ref: Any, message: str) -> Decision:
    return Decision(Outcome.ESCALATE, (Reason("txguard:malformed", "malformed", message, Outcome.ESCALATE),),
                    policy_ref, route="refuse")


def _cases(stream: IO[str], name: str) -> Iterator[tuple[int, Any, str | None]]:
    for n, line in numbered_lines(stream, name):
        if not line.strip():
            continue
        try:
            yield n, read_json(line), None
        except (ValueError, RecursionError) as exc:
            yield n, None, f"{name}:{n}: malformed line: {str(exc)[:120]}"


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


def _fresh(policy: CompiledPolicy, sink: AuditSink | None, clock: Clock = utc_now) -> Guard:
    """A guard for one case as its own world: with a fresh conversation store when the policy keeps
    state (else its session layer would be skipped, and explain would disagree with check)."""
    return Guard(policy, clock=clock, audit=sink,
                 sessions=MemoryStore() if policy.session.needs_session_id else None)


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
    counts: Counter[str] = Counter()
    malformed = 0
    t0 = time.perf_counter()
    n = 0
    try:
        with source:
            for n_line, envelope, problem in _cases(source, args.cases):
                case_id = envelope.get("id") if isinstance(envelope, dict) else None
                if problem is not None or not isinstance(envelope, dict):
                    malformed += 1
                    problem = problem or f"{args.cases}:{n_line}: malformed line: not a JSON object"
                    print(problem, file=sys.stderr)
                    decision = guard.check_envelope(None) if args.audit else _malformed(guard.policy.ref, problem)
                else:
                    world = _fresh(guard.policy, sink) if guard.policy.session.needs_session_id else guard.independent()
                    decision = world.check_envelope(envelope)  # each case its own world
                counts[decision.outcome.value] += 1
                row = {"id": case_id, "outcome": decision.outcome.value,
                       "reasons": [{"rule": r.rule, "code": r.code, "message": r.message} for r in decision.reasons]}
                if case_id is None:
                    row["line"] = n_line
                out.write(json.dumps(row) + "\n")
                n += 1
                if tty and n % 500 == 0:
                    sys.stderr.write(f"\r{n} decided ...")
                    sys.stderr.flush()
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
