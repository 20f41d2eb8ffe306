"""``txguard audit verify|show|replay|report TARGET``: read, check and backtest an audit trail.

TARGET is a sink URL (``jsonl:PATH``, ``sqlite:PATH``, ``postgresql://...``) or a file path
(``*.jsonl`` is read as JSON Lines, anything else as SQLite). ``verify`` exits 0 when the chain is
intact and 4 when it is not, naming the first broken link. ``replay`` is the backtest gate: it
exits 2 when ``--max-divergence`` or ``--max-loosened`` is exceeded.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..audit import AuditError, AuditSink, open_sink, replay, verify
from ..audit._report import render_html, render_replay_html, summarize
from ._common import compile_or_report

HELP = "verify, list, replay or report on an audit trail"

EXIT_VERIFY_FAILED = 4
EXIT_GATE_FAILED = 2


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got `{text}`")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number of decisions, got `{text}`")
    return int(text)


def target_url(target: str) -> str:
    """A sink URL for TARGET (a URL, or a path: ``*.jsonl`` is JSON Lines, anything else SQLite)."""
    if target.startswith(("memory:", "jsonl:", "sqlite:", "postgresql://", "postgres://")):
        return target
    return f"jsonl:{target}" if target.endswith(".jsonl") else f"sqlite:{target}"


def register(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    v = sub.add_parser("verify", help="walk the hash chain; exit 4 at the first broken link")
    v.add_argument("target")
    v.add_argument("--format", choices=("text", "json"), default="text")
    s = sub.add_parser("show", help="list records, filtered")
    s.add_argument("target")
    s.add_argument("--session", help="only this session id")
    s.add_argument("--outcome", choices=("allow", "clarify", "escalate"))
    s.add_argument("--since", help="only records at or after this ISO 8601 time")
    s.add_argument("--limit", type=int, default=0, help="only the last N matching records")
    s.add_argument("--format", choices=("text", "json"), default="text")
    r = sub.add_parser("replay", help="re-decide every recorded proposal under another policy")
    r.add_argument("target")
    r.add_argument("--policy", required=True, help="the policy YAML to replay under")
    r.add_argument("--format", choices=("text", "json"), default="text")
    r.add_argument("--html", metavar="FILE", help="also write the divergence report as a self-contained HTML page")
    r.add_argument("--max-divergence", type=_rate, metavar="RATE",
                   help="exit 2 if more than this fraction of the replayed decisions change outcome")
    r.add_argument("--max-loosened", type=_count, metavar="N",
                   help="exit 2 if more than N decisions become less strict (allow < clarify < escalate)")
    h = sub.add_parser("report", help="write a self-contained HTML report")
    h.add_argument("target")
    h.add_argument("--html", required=True, help="where to write the page")
    h.add_argument("--title", default=None)


def _open(target: str) -> AuditSink:
    return open_sink(target_url(target), readonly=True)


def run(args: argparse.Namespace) -> int:
    try:
        if args.audit_command == "verify":
            return _verify(args)
        if args.audit_command == "replay":
            policy = compile_or_report(args.policy)
            if policy is None:
                return 3
            return _with(args.target, lambda sink: _replay(sink, policy, args))
        if args.audit_command == "show":
            return _with(args.target, lambda sink: _show(sink, args))
        return _with(args.target, lambda sink: _report(sink, args))
    except BrokenPipeError:
        raise
    except (AuditError, OSError) as exc:
        print(f"txguard audit: {exc}", file=sys.stderr)
        return 1
    except (ValueError, KeyError, TypeError) as exc:  # a record that is not what a writer writes
        print(f"txguard audit: {args.target}: a record is unreadable ({type(exc).__name__}: {str(exc)[:120]}); "
              "run `txguard audit verify`", file=sys.stderr)
        return 1


def _with(target: str, fn: Any) -> int:
    sink = _open(target)
    try:
        return int(fn(sink))
    finally:
        sink.close()


def _verify(args: argparse.Namespace) -> int:
    result = verify(target_url(args.target))
    if args.format == "json":
        print(json.dumps(result.to_dict()))
    elif result.ok:
        head = f"; head {result.head[0]} {result.head[1][:16]}..." if result.head else ""
        notes = ""
        if result.unacknowledged:
            notes += (f"; record {result.count} was written but its writer stopped before acknowledging it "
                      "(the head announced it; the next writer adopts it)")
        if result.pending:
            notes += (f"; {result.pending} acknowledged record(s) not yet committed: they wait in group-commit "
                      "journals (flush or close the writers, or open the trail with a writer after a crash)")
        print(f"ok: {result.count} records, one unbroken chain{head}{notes}")
    else:
        where = f"record {result.position}: " if result.position is not None else ""
        print(f"{args.target}: {where}{result.problem}")
    return 0 if result.ok else EXIT_VERIFY_FAILED


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _show(sink: AuditSink, args: argparse.Namespace) -> int:
    try:
        since = _since(args.since)
    except ValueError:
        print(f"txguard audit show: --since `{args.since}` is not an ISO 8601 time", file=sys.stderr)
        return 1
    rows = []
    for rec in sink.records():
        body = rec.body
        d = body.get("decision") or {}
        lineage = body.get("lineage") or {}
        if args.session is not None and lineage.get("session_id") != args.session:
            continue
        if args.outcome is not None and d.get("outcome") != args.outcome:
            continue
        if since is not None and datetime.fromisoformat(body["time"]) < since:
            continue
        rows.append((rec, body, d, lineage))
    if args.limit > 0:
        rows = rows[-args.limit:]
    for rec, body, d, lineage in rows:
        if args.format == "json":
            print(json.dumps(rec.to_dict(), sort_keys=True))
            continue
        codes = ",".join(r["code"] for r in d.get("reasons", [])) or "-"
        route = f" ({d['route']})" if d.get("route") else ""
        session = f" session={lineage['session_id']}" if lineage.get("session_id") else ""
        print(f"{rec.seq:>7} {body.get('time')} {d.get('outcome')}{route} {d.get('kind') or '-'} [{codes}]{session} {body.get('id')}"
              + _shadow_text(body.get("shadow")))
    return 0


def _replay(sink: AuditSink, policy: Any, args: argparse.Namespace) -> int:
    report = replay(sink.records(), policy)
    gated = args.max_divergence is not None or args.max_loosened is not None
    gate = report.gate(args.max_divergence, args.max_loosened) if gated else None
    data = report.to_dict(gate)
    if args.html:
        title = f"txguard backtest: {policy.id} {policy.version} on {args.target}"
        Path(args.html).write_text(render_replay_html(data, title), encoding="utf-8")
    code = EXIT_GATE_FAILED if gate is not None and not gate.ok else 0
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return code
    print(f"replayed {report.total} decisions under {policy.id} {policy.version} ({policy.digest[:19]}...): "
          f"{len(report.changes)} would change, {report.identical} identical"
          + (f", {report.masked} with masked fields" if report.masked else ""))
    print(f"  outcome changed: {report.outcome_changed} ({report.divergence:.2%}); less strict: {report.loosened}; "
          f"stricter: {report.tightened}")
    for (before, after), n in sorted(report.transitions.items()):
        marker = "" if before == after else "  *"
        print(f"  {before:>8} -> {after:<8} {n:>7}{marker}")
    for (rule, rcode, change), n in sorted(report.rules.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {n:>7} {rule} [{rcode}] {change}")
    for c in report.changes:
        rule = f"{c.rule} [{c.code}] {c.why}" if c.rule else c.why
        print(f"  seq {c.seq} {c.kind or '-'}: {c.before} -> {c.after}: {rule}")
    if args.html:
        print(f"wrote {args.html}")
    if gate is not None:
        print("gate: ok" if gate.ok else "\n".join(f"gate failed: {f}" for f in gate.failures))
    return code


def _shadow_text(shadow: Any) -> str:
    """`` shadow=<outcome> [codes] <policy version> (diverged)`` for a record a shadow policy also decided."""
    if not isinstance(shadow, dict):
        return ""
    d = shadow.get("decision") or {}
    codes = ",".join(r["code"] for r in d.get("reasons", [])) or "-"
    version = (shadow.get("policy") or {}).get("version")
    note = " error" if shadow.get("error") else " diverged" if shadow.get("diverged") else ""
    return f" | shadow {version}: {d.get('outcome')} [{codes}]{note}"


def _report(sink: AuditSink, args: argparse.Namespace) -> int:
    summary = summarize(sink.records())
    title = args.title or f"txguard audit report: {args.target}"
    Path(args.html).write_text(render_html(summary, title), encoding="utf-8")
    print(f"wrote {args.html}: {summary['total']} decisions")
    return 0
