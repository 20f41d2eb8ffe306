"""``txguard demo``: the seed's failure stories as scripted conversations, decided by the guard.

Runs on embedded defaults, no network, no server: the retail policy and the demo catalog ship
inside the package (``txguard/data/``, copies of ``policies/retail.yaml`` and
``examples/catalog/catalog.json``). Each scenario (the script is :mod:`._demo_script`) plays what the user said, what the scripted
model emitted (in a real provider's tool-call shape, read by :mod:`txguard.adapters`), and what
the guard decided; the shop's own ``place_order`` is a guarded tool, so it runs only on ``allow``.
Every decision goes to a SQLite audit trail, verified at the end: the file given with ``--audit``,
else a temporary one that is removed when the demo ends.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

from ..policy.compile import CompiledPolicy, compile_file
from ..core.decision import Decision, Outcome
from ..core.errors import PolicyError
from .._guard import Guard
from ..integrations.guarded import Blocked, GuardedTool, render_confirmation
from ..core.jsonio import read_json
from ..audit import VerifyResult, open_sink, verify
from ._demo_script import SCENARIOS, SHAPES, USER, Confirm, Say, Scenario

HELP = "play the chat-to-buy failure stories against the retail policy (no network, no server)"

# -- the shop and the trail ----------------------------------------------------------------------


class Shop:
    """The developer's own tool: placing an order. It runs only when the guard allows."""

    def __init__(self) -> None:
        self.orders: list[dict[str, Any]] = []

    def place_order(self, **arguments: Any) -> str:
        self.orders.append(arguments)
        return f"order #TXG-{1000 + len(self.orders)} placed, {arguments.get('total')} {arguments.get('currency')} charged"


@dataclass
class Trail:
    """The guard, where its audit trail is, and how to verify and close it."""

    guard: Guard
    target: str
    verify: Callable[[], VerifyResult]
    close: Callable[[], None]


def open_trail(policy: CompiledPolicy, path: Path) -> Trail:
    """A guard writing every decision to the SQLite trail at ``path``."""
    target = f"sqlite:{path}"
    sink = open_sink(target)
    return Trail(Guard(policy, audit=sink), target, lambda: verify(target), sink.close)


@contextmanager
def _shipped(name: str) -> Iterator[Path]:
    # The whole directory, so the policy's relative taxonomy path resolves next to it.
    with as_file(files("txguard") / "data") as data:
        yield Path(data) / name


# -- output --------------------------------------------------------------------------------------


class _Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text


_OUTCOME_COLOUR = {Outcome.ALLOW: "1;32", Outcome.CLARIFY: "1;33", Outcome.ESCALATE: "1;31"}


def _describe(arguments: Any) -> list[str]:
    """The proposal as a person reads it; unreadable arguments are shown as they came."""
    if isinstance(arguments, str):
        try:
            arguments = read_json(arguments)
        except ValueError:
            return [f"arguments (unparseable): {arguments[:90]!r}"]
    if not isinstance(arguments, dict) or not isinstance(arguments.get("items"), list):
        return [f"arguments: {json.dumps(arguments)[:90]}"]
    cur = arguments.get("currency", "")
    lines = [f"{it.get('quantity')} x {it.get('title')} (sku {it.get('sku')}) at {it.get('unit_price')} {cur}"
             for it in arguments["items"] if isinstance(it, dict)]
    lines.append(f"total {arguments.get('total')} {cur}, paid with {arguments.get('payment_method_id')}, "
                 f"confidence {arguments.get('confidence')}")
    return lines


class Printer:
    def __init__(self, out: Any, colour: bool) -> None:
        self.out = out
        self.s = _Style(colour)

    def row(self, label: str, text: str, code: str = "") -> None:
        first, *rest = text.split("\n")
        head = self.s(f"{label:<9}", "2") if label else " " * 9
        self.out.write(f"  {head} {self.s(first, code) if code else first}\n")
        for more in rest:
            self.out.write(f"  {' ' * 9} {more}\n")

    def heading(self, number: int, title: str) -> None:
        self.out.write("\n" + self.s(f"{number}. {title}", "1") + "\n")

    def decision(self, decision: Decision) -> None:
        verdict = decision.outcome.value.upper() + (f" (route: {decision.route})" if decision.route else "")
        self.row("guard", verdict, _OUTCOME_COLOUR[decision.outcome])
        for reason in decision.reasons:
            self.row("", f"- {reason.code} [{reason.outcome.value}, rule {reason.rule}]: {reason.message}")


# -- running -------------------------------------------------------------------------------------


@dataclass
class Played:
    scenario: Scenario
    steps: list[dict[str, Any]] = field(default_factory=list)


def play(scenario: Scenario, trail: Trail, facts: Any, shop: Shop, pr: Printer | None) -> Played:
    """Play one scenario; every proposal goes through the shop's guarded ``place_order``."""
    session: dict[str, Any] = {"id": f"demo-{scenario.key}", "authenticated_user_id": USER,
                               "confirmed": list(scenario.confirmed_before)}
    context = {"request": scenario.request, "session": session, "facts": facts}
    place_order: GuardedTool[..., str, Blocked] = trail.guard.wrap(shop.place_order, tool="checkout", context=context)
    played = Played(scenario)
    last: Blocked | None = None
    if pr and scenario.note:
        pr.row("note", scenario.note, "2")
    for step in scenario.steps:
        if isinstance(step, Say):
            if pr:
                pr.row("user", step.text, "1")
            played.steps.append({"user": step.text})
        elif isinstance(step, Confirm):
            if last is None or last.confirmation is None:
                raise RuntimeError(f"scenario {scenario.key}: nothing to confirm")
            # The host records the user's explicit yes from its trusted screen, never the model's words.
            session["confirmed"].append({"digest": last.confirmation.digest})
            if pr:
                pr.row("user", f"taps Confirm on the confirmation screen; the host records {last.confirmation.digest[:19]}...", "1")
            played.steps.append({"confirmed": last.confirmation.digest})
        else:
            label, shape, read = SHAPES[step.source]
            for call in read(shape(step.text, step.arguments)):
                context_snapshot = {"request": scenario.request, "session": json.loads(json.dumps(session))}
                result = place_order.dispatch(call)
                decision = place_order.last_decision
                assert decision is not None
                last = result if isinstance(result, Blocked) else None
                if pr:
                    pr.row("agent", f"\"{step.text}\"")
                    pr.row("", f"calls checkout ({label})" + (f": {call.problem}" if call.problem else ""))
                    for text in _describe(call.proposal["arguments"]):
                        pr.row("", text)
                    pr.decision(decision)
                    if isinstance(result, Blocked):
                        if result.outcome is Outcome.CLARIFY:
                            pr.row("ask", "\n".join(f"- {q.text}" for q in result.questions))
                            if result.confirmation is not None:
                                pr.row("screen", render_confirmation(result.confirmation))
                        else:
                            pr.row("tell", result.message)
                        pr.row("tool", "place_order did not run", "2")
                    else:
                        pr.row("tool", f"place_order ran: {result}", "1;32")
                played.steps.append({
                    "agent": step.text, "source": step.source, "call_id": call.call_id, "problem": call.problem,
                    "proposal": call.proposal, **context_snapshot,
                    "decision": {k: v for k, v in decision.to_dict().items() if k != "elapsed_us"},
                    "ran": not isinstance(result, Blocked), "result": None if isinstance(result, Blocked) else result,
                })
    return played


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--audit", type=Path, metavar="PATH",
                   help="SQLite audit trail to write and keep (default: a temporary trail, removed on exit)")
    p.add_argument("--policy", type=Path, metavar="PATH", help="policy file (default: the shipped retail policy)")
    p.add_argument("--catalog", type=Path, metavar="PATH", help="catalog facts JSON (default: the shipped catalog)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    try:
        if args.policy is not None:
            policy = compile_file(args.policy)
        else:
            with _shipped("retail.yaml") as path:
                policy = compile_file(path)
        if args.catalog is not None:
            facts = read_json(args.catalog.read_text(encoding="utf-8"))
        else:
            with _shipped("catalog.json") as path:
                facts = read_json(path.read_text(encoding="utf-8"))
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        print(f"txguard demo: {exc}", file=sys.stderr)
        return 1
    if args.audit is not None:
        return _play_all(policy, facts, args, args.audit, kept=True)
    # Without --audit the trail lives in a temporary directory that is removed on the way out.
    with tempfile.TemporaryDirectory(prefix="txguard-demo-") as tmp:
        return _play_all(policy, facts, args, Path(tmp) / "audit.sqlite", kept=False)


def _play_all(policy: CompiledPolicy, facts: Any, args: argparse.Namespace, audit_path: Path, *, kept: bool) -> int:
    trail = open_trail(policy, audit_path)
    text = args.format == "text"
    colour = text and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    pr = Printer(sys.stdout, colour) if text else None
    if pr:
        ref = policy.ref
        pr.out.write(pr.s("txguard demo", "1") + f": policy {ref.id} {ref.version} ({ref.digest[:19]}...), "
                     f"catalog of {len(facts.get('products', {}))} products (tau2-bench, MIT), user {USER}\n")
    shop = Shop()
    played: list[Played] = []
    try:
        for number, scenario in enumerate(SCENARIOS, 1):
            if pr:
                pr.heading(number, scenario.title)
            played.append(play(scenario, trail, facts, shop, pr))
    finally:
        trail.close()
    return _report(policy, played, shop, trail, audit_path if kept else None, pr)


def _report(policy: CompiledPolicy, played: list[Played], shop: Shop, trail: Trail, kept: Path | None,
            pr: Printer | None) -> int:
    decisions = [s for p in played for s in p.steps if "decision" in s]
    counts = Counter(s["decision"]["outcome"] for s in decisions)
    result = trail.verify()
    audit: dict[str, Any] = {"path": None if kept is None else str(kept), "verified": bool(result.ok), "records": result.count,
                             "problem": None if result.ok else f"record {result.position}: {result.problem}"}
    status = 0 if result.ok else 4
    if pr:
        pr.out.write("\n" + pr.s("summary", "1") + f": {len(played)} scenarios, {len(decisions)} decisions "
                     f"({', '.join(f'{counts[o.value]} {o.value}' for o in Outcome)}), {len(shop.orders)} orders placed\n")
        where = audit["path"] or "temporary, removed on exit; --audit PATH keeps one"
        if audit["verified"]:
            pr.out.write(f"audit trail ({where}): {audit['records']} records, hash chain verified\n")
        else:
            pr.out.write(f"audit trail ({where}): VERIFY FAILED at {audit['problem']}\n")
    else:
        print(json.dumps({
            "policy": policy.ref.to_dict(),
            "scenarios": [{"key": p.scenario.key, "title": p.scenario.title, "note": p.scenario.note, "steps": p.steps}
                          for p in played],
            "orders": len(shop.orders),
            "audit": audit,
        }, indent=2, default=str))
    return status
