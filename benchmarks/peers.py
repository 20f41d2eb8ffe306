#!/usr/bin/env python
"""txguard against hand-written Python and three peer engines on the 610 real cases of the chat-to-buy dev corpus.

Contenders, each deciding every case of ``tests/corpus/chat-to-buy-dev.jsonl.gz`` with the retail
rules (``policies/retail.yaml``, 13 rules) and again with 100 rules (retail's 13 plus 87 generated
ones, the same in every contender: ``peer_common.extra_rules``), timed in one interleaved run
(every round visits every case, and for each case every row of both sizes, in an order that
rotates), so that the load of the moment hits them alike:

  plain            a hand-written Python function of the whole job: parse the JSON arguments,
                   validate them, look up the catalog, match the consent, run the rules
                   (``PlainRetail`` of ``benchmarks/decide.py``; dicts in, outcome and codes out);
                   at 100 rules, 87 more hand-written conditions
  txguard raw      ``Guard.check`` of the raw tool call ``{"name", "arguments": "<JSON string>"}``
                   with the case's request, session and facts as the wire-format dicts; at 100
                   rules, retail.yaml plus 87 ``when`` rules, compiled from the same folder
  txguard intent   ``Guard.check`` of the pre-validated ``Checkout`` intent with pre-built
                   ``Request`` / ``Session`` / ``Facts`` (only the cases whose arguments map to an
                   intent: a malformed proposal has none)
  agt+adapter      Microsoft Agent Governance Toolkit's ``PolicyEvaluator`` (``peer_agt.py``)
  cedar+adapter    Cedar through ``cedarpy`` (``peer_cedar.py``)
  zen+adapter      the ZEN decision engine, a JDM decision table (``peer_zen.py``)
  <peer> engine    the same engine with its input pre-built: the engine's own cost (only the cases
                   that reach the rules: a malformed or unknown call is decided by the adapter)

Each peer's module says what its language expresses and what its adapter (the Python a user would
write around it) does instead; ``peer_common.py`` holds the part they share with the baseline
(parsing, validation, catalog lookup, consent matching: no peer language can do those on the raw
documents). The peers are the optional ``bench`` extra (``pip install -e '.[bench]'``); a peer
whose package is missing is skipped with a note.

Before anything is timed, every contender must give the guard's outcome and reason codes on every
case at both sizes; the script stops if one does not (``tests/test_bench_peers.py`` runs that
check on 20 cases). Printed: p50 / p99 per decision (microseconds), the ratio of each p50 to
txguard raw's at the same size, and issue 13's targets as ratios of this run.

The process is pinned to one core, as in ``decide.py``; ``--no-pin`` leaves it free, for
zen-engine, whose Python ``evaluate`` starts a thread per call (``peer_zen.py``).

Run ``python benchmarks/peers.py`` (``--rounds 3`` for a short run, ``--peers cedar,zen`` for some
peers only, ``--json`` for a machine).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import importlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever txguard is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from _reuse import reusable  # noqa: E402
from decide import CORPUS, POLICY, PlainRetail, machine, pin_one_core  # noqa: E402
from txguard import Facts, Guard, Proposal, Request, Session  # noqa: E402
from peer_common import RETAIL_RULES, TOTAL_RULES, Extra, derive, extra_rules, extras_as_txguard  # noqa: E402
from txguard.policy.compile import compile_file, compile_policy  # noqa: E402

Call = tuple[Callable[..., Any], tuple[Any, ...]]

# The peers: (row name, module in this folder, the package it needs). Each module's
# ``build(plain, extras)`` returns (adapter, engine, to_input): see peer_common.py.
PEERS = (("agt", "peer_agt", "agent-governance-toolkit-core"),
         ("cedar", "peer_cedar", "cedarpy"),
         ("zen", "peer_zen", "zen-engine"))
SIZES = (RETAIL_RULES, TOTAL_RULES)


class Disagreement(Exception):
    """A contender decided a case otherwise than the guard."""


def load_cases() -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _outcome(decision: Any) -> tuple[str, list[str]]:
    return decision.outcome.value, list(decision.codes)


def txguard_policy(extras: list[Extra]) -> Any:
    """policies/retail.yaml, plus ``extras`` as ``when`` rules (compiled from the retail folder,
    so its relative taxonomy path holds)."""
    if not extras:
        return compile_file(POLICY)
    doc = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    doc["id"] = f"retail-{RETAIL_RULES + len(extras)}"
    doc["rules"] = list(doc["rules"]) + extras_as_txguard(extras)
    return compile_policy(yaml.safe_dump(doc, sort_keys=False), str(POLICY.parent / f"{doc['id']}.yaml"), POLICY.parent)


Fires = Callable[[Decimal, str, int], bool]  # (total, payment method id, first line's quantity)


def _total_over(limit: Decimal) -> Fires:
    return lambda total, pm, q1: total > limit


def _payment_method_is(value: str) -> Fires:
    return lambda total, pm, q1: pm == value


def _first_quantity_over(n: int) -> Fires:
    return lambda total, pm, q1: q1 > n


def plain_extras(extras: list[Extra]) -> list[tuple[str, Fires]]:
    """The extra rules as hand-written conditions, for ``PlainRetail``."""
    out = []
    for e in extras:
        if e.field == "total":
            out.append((e.code, _total_over(Decimal(e.value) / 100)))
        elif e.field == "pm":
            out.append((e.code, _payment_method_is(str(e.value))))
        else:
            out.append((e.code, _first_quantity_over(int(e.value))))
    return out


def load_peers(wanted: list[str] | None = None, *, quiet: bool = False) -> list[tuple[str, Any]]:
    """The peer modules whose packages are installed (a note for each that is not)."""
    found = []
    for name, module, package in PEERS:
        if wanted is not None and name not in wanted:
            continue
        try:
            with warnings.catch_warnings():
                # agent-governance-toolkit-core 5.0 ships the evaluator in `agent_os`, whose package
                # __init__ (and those of the packages it imports) warn that their older separate
                # distributions (agent-os-kernel, agentmesh-primitives, ...) are deprecated in
                # favour of agent-governance-toolkit-core: the one installed here.
                warnings.filterwarnings("ignore", r".* is deprecated\b.*agent-governance-toolkit-core", DeprecationWarning)
                importlib.import_module({"peer_agt": "agent_os.policies", "peer_cedar": "cedarpy", "peer_zen": "zen"}[module])
        except ImportError:
            if not quiet:
                print(f"peers.py: {package} is not installed, {name} skipped (pip install -e '.[bench]')", file=sys.stderr)
            continue
        found.append((name, importlib.import_module(module)))
    return found


def build(cases: list[dict[str, Any]], peers: list[tuple[str, Any]] | None = None,
          sizes: tuple[int, ...] = SIZES) -> tuple[dict[str, list[Call | None]], dict[str, Any]]:
    """Every contender's call for every case (None where a contender has no input for it), after
    checking that each gives the guard's outcome and codes; rows are named ``"<contender> @<n>"``.
    Raises ``Disagreement`` naming the case and both answers when one does not."""
    if peers is None:
        peers = load_peers()
    policy_doc = yaml.safe_load(POLICY.read_text(encoding="utf-8"))
    calls: dict[str, list[Call | None]] = {}
    for size in sizes:
        extras = extra_rules(size - RETAIL_RULES)
        guard = Guard(reusable(txguard_policy(extras)))  # the same confirmed case is decided many times
        plain = PlainRetail(policy_doc, plain_extras(extras))
        built = [(name, *mod.build(plain, extras)) for name, mod in peers]
        row: dict[str, list[Call | None]] = {
            f"{n} @{size}": [] for n in ["plain", "txguard raw", "txguard intent"]
            + [f"{name}{kind}" for name, *_ in built for kind in ("+adapter", " engine")]}
        for case in cases:
            proposal = case["proposal"]
            raw = {"name": proposal["name"], "arguments": json.dumps(proposal["arguments"])}
            context = (case.get("request"), case.get("session"), case.get("facts"))
            want = _outcome(guard.check(raw, *context))

            def agree(who: str, got: Any) -> None:
                if got != want:
                    raise Disagreement(f"{who} decides {case['id']} as {got}, the guard ({size} rules) as {want}")

            agree(f"plain @{size}", plain.decide(raw, *context))
            row[f"plain @{size}"].append((plain.decide, (raw, *context)))
            row[f"txguard raw @{size}"].append((guard.check, (raw, *context)))
            derived = derive(plain, raw, *context)
            for name, adapter, engine, to_input in built:
                agree(f"{name}+adapter @{size}", adapter(raw, *context))
                row[f"{name}+adapter @{size}"].append((adapter, (raw, *context)))
                if isinstance(derived, tuple):  # decided before any rule: no engine input
                    row[f"{name} engine @{size}"].append(None)
                    continue
                inp = to_input(derived)
                args = inp if isinstance(inp, tuple) else (inp,)
                agree(f"{name} engine @{size}", engine(*args))
                row[f"{name} engine @{size}"].append((engine, args))
            try:
                intent = guard.policy.to_intent(Proposal(name=proposal["name"], arguments=proposal["arguments"]))
            except Exception:  # noqa: BLE001 - a malformed proposal has no intent: no input for this row
                row[f"txguard intent @{size}"].append(None)
                continue
            models = (intent, Request.model_validate(context[0]), Session.model_validate(context[1]), Facts(context[2]))
            agree(f"txguard intent @{size}", _outcome(guard.check(*models)))
            row[f"txguard intent @{size}"].append((guard.check, models))
        calls.update(row)
    return calls, {"cases": len(cases), "policy": str(POLICY.relative_to(ROOT)), "sizes": list(sizes),
                   "peers": [name for name, _m in peers]}


def run(rounds: int, peers: list[str] | None = None, *, pin: bool = True) -> dict[str, Any]:
    core = pin_one_core() if pin else None
    cases = load_cases()
    calls, info = build(cases, load_peers(peers))
    names = list(calls)
    samples: dict[str, list[int]] = {name: [] for name in names}
    clock = time.perf_counter_ns
    load_before = os.getloadavg()
    for _ in range(1):  # warm-up round, untimed
        for i in range(len(cases)):
            for name in names:
                call = calls[name][i]
                if call is not None:
                    call[0](*call[1])
    gc.collect()
    turn = 0
    for _ in range(rounds):
        for i in range(len(cases)):
            turn += 1
            for name in names[turn % len(names):] + names[: turn % len(names)]:
                call = calls[name][i]
                if call is None:
                    continue
                fn, args = call
                t0 = clock()
                fn(*args)
                samples[name].append(clock() - t0)
    rows: dict[str, dict[str, Any]] = {}
    for name, s in samples.items():
        s.sort()
        rows[name] = {"n": len(s), "p50_us": s[len(s) // 2] / 1000, "p99_us": s[min(len(s) - 1, len(s) * 99 // 100)] / 1000}
    for name, r in rows.items():
        r["ratio_to_txguard_raw"] = r["p50_us"] / rows[f"txguard raw @{name.rsplit('@', 1)[1]}"]["p50_us"]
    return {
        "machine": machine(core),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "settings": {**info, "rounds": rounds},
        "rows": rows,
        "targets": targets(rows),
    }


def targets(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Issue 13's targets, as (measured ratio, limit, met): a ratio of p50s in this run."""
    out: dict[str, dict[str, Any]] = {}

    def target(label: str, num: str, den: str, limit: float) -> None:
        if num in rows and den in rows:
            ratio = rows[num]["p50_us"] / rows[den]["p50_us"]
            out[label] = {"ratio": ratio, "limit": limit, "met": ratio <= limit}

    small, large = SIZES
    target(f"txguard raw / plain @{small} <= 1.5", f"txguard raw @{small}", f"plain @{small}", 1.5)
    target(f"txguard raw / plain @{large} <= 2", f"txguard raw @{large}", f"plain @{large}", 2.0)
    for size in SIZES:
        target(f"txguard raw / agt+adapter @{size} <= 1 (goal 0.5)", f"txguard raw @{size}", f"agt+adapter @{size}", 1.0)
        for peer in ("cedar", "zen"):
            target(f"txguard raw / {peer}+adapter @{size} <= 0.2", f"txguard raw @{size}", f"{peer}+adapter @{size}", 0.2)
    return out


def report(res: dict[str, Any]) -> str:
    m, s, load = res["machine"], res["settings"], res["load_average"]
    pinned = "not pinned" if m["pinned_core"] is None else f"pinned to core {m['pinned_core']}"
    out = [
        f"machine: {m['cpu']}, {m['cores']} cores, {pinned}, {m['python']}",
        f"txguard: {m['txguard']}",
        f"load average before {' '.join(f'{x:.2f}' for x in load['before'])}, "
        f"after {' '.join(f'{x:.2f}' for x in load['after'])}",
        f"{s['cases']} real cases, {s['policy']} ({' and '.join(map(str, s['sizes']))} rules), peers: "
        f"{', '.join(s['peers']) or 'none installed'}; {s['rounds']} interleaved rounds; "
        "every contender gave the guard's outcome and codes on every case",
    ]
    for size in s["sizes"]:
        out += ["", f"{size} rules", f"{'contender':<18}{'n':>8}{'p50 us':>9}{'p99 us':>9}{'p50 / txguard raw':>19}"]
        for name, r in res["rows"].items():
            contender, at = name.rsplit(" @", 1)
            if int(at) == size:
                out.append(f"{contender:<18}{r['n']:>8}{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}{r['ratio_to_txguard_raw']:>18.2f}x")
    out += ["", "targets (ratio of p50s, this run):"]
    for label, t in res["targets"].items():
        out.append(f"  {label:<48} {t['ratio']:6.2f}  {'met' if t['met'] else 'MISSED'}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed passes over the 610 cases (default 10)")
    parser.add_argument("--peers", help="comma-separated peers to run (default: every installed one of agt, cedar, zen)")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the process to one core (zen-engine starts a thread per evaluation: see peer_zen.py)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        res = run(args.rounds, args.peers.split(",") if args.peers else None, pin=not args.no_pin)
    except Disagreement as exc:
        print(f"peers.py: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
