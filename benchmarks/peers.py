#!/usr/bin/env python
"""txguard against hand-written Python on the 610 real cases of the chat-to-buy dev corpus.

Contenders, each deciding every case of ``tests/corpus/chat-to-buy-dev.jsonl.gz`` with the retail
rules (``policies/retail.yaml``), timed in one interleaved run (every round visits every case, and
for each case every contender, in an order that rotates), so that the load of the moment hits them
alike:

  plain          a hand-written Python function of the whole job: parse the JSON arguments,
                 validate them, look up the catalog, match the consent, run the rules
                 (``PlainRetail`` of ``benchmarks/decide.py``; dicts in, outcome and codes out)
  txguard raw    ``Guard.check`` of the raw tool call ``{"name", "arguments": "<JSON string>"}``
                 with the case's request, session and facts as the wire-format dicts
  txguard intent ``Guard.check`` of the pre-validated ``Checkout`` intent with pre-built
                 ``Request`` / ``Session`` / ``Facts`` (only the cases whose arguments map to an
                 intent: a malformed proposal has none)

Before anything is timed, every contender must give the guard's outcome and reason codes on every
case; the script stops if one does not. Printed: p50 / p99 per decision (microseconds) and the
ratio of each p50 to txguard raw's.

Peers (AGT's ``PolicyEvaluator``, cedarpy, zen-engine, each with the adapter a user would write)
and the 100-rule rows are not here yet (issue 13); each would be one more entry of the ``calls``
table that ``build`` fills and checks, its package an optional ``bench`` extra, never a runtime or
test dependency.

Run ``python benchmarks/peers.py`` (``--rounds 3`` for a short run, ``--json`` for a machine).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever txguard is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from _reuse import reusable  # noqa: E402
from decide import CORPUS, POLICY, PlainRetail, machine, pin_one_core  # noqa: E402
from txguard import Facts, Guard, Proposal, Request, Session  # noqa: E402
from txguard.policy.compile import compile_file  # noqa: E402

Call = tuple[Callable[..., Any], tuple[Any, ...]]


def load_cases() -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _outcome(decision: Any) -> tuple[str, list[str]]:
    return decision.outcome.value, list(decision.codes)


def build(cases: list[dict[str, Any]]) -> tuple[dict[str, list[Call | None]], dict[str, Any]]:
    """Every contender's call for every case (None where a contender has no input for it), after
    checking that each gives the guard's outcome and codes."""
    guard = Guard(reusable(compile_file(POLICY)))  # the same confirmed case is decided many times
    plain = PlainRetail(yaml.safe_load(POLICY.read_text(encoding="utf-8")))
    calls: dict[str, list[Call | None]] = {"plain": [], "txguard raw": [], "txguard intent": []}
    for case in cases:
        proposal = case["proposal"]
        raw = {"name": proposal["name"], "arguments": json.dumps(proposal["arguments"])}
        context = (case.get("request"), case.get("session"), case.get("facts"))
        want = _outcome(guard.check(raw, *context))
        got = plain.decide(raw, *context)
        if got != want:
            sys.exit(f"peers.py: plain decides {case['id']} as {got}, the guard as {want}")
        calls["plain"].append((plain.decide, (raw, *context)))
        calls["txguard raw"].append((guard.check, (raw, *context)))
        try:
            intent = guard.policy.to_intent(Proposal(name=proposal["name"], arguments=proposal["arguments"]))
        except Exception:  # noqa: BLE001 - a malformed proposal has no intent: no input for this row
            calls["txguard intent"].append(None)
            continue
        models = (intent, Request.model_validate(context[0]), Session.model_validate(context[1]), Facts(context[2]))
        got = _outcome(guard.check(*models))
        if got != want:
            sys.exit(f"peers.py: the pre-validated intent of {case['id']} decides {got}, the raw call {want}")
        calls["txguard intent"].append((guard.check, models))
    return calls, {"cases": len(cases), "policy": str(POLICY.relative_to(ROOT))}


def run(rounds: int) -> dict[str, Any]:
    core = pin_one_core()
    cases = load_cases()
    calls, info = build(cases)
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
    rows = {}
    for name, s in samples.items():
        s.sort()
        rows[name] = {"n": len(s), "p50_us": s[len(s) // 2] / 1000, "p99_us": s[min(len(s) - 1, len(s) * 99 // 100)] / 1000}
    unit = rows["txguard raw"]["p50_us"]
    for r in rows.values():
        r["ratio_to_txguard_raw"] = r["p50_us"] / unit
    return {
        "machine": machine(core),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "settings": {**info, "rounds": rounds},
        "rows": rows,
        "targets": {"txguard raw p50 <= 1.5x plain": unit <= 1.5 * rows["plain"]["p50_us"]},
    }


def report(res: dict[str, Any]) -> str:
    m, s, load = res["machine"], res["settings"], res["load_average"]
    out = [
        f"machine: {m['cpu']}, {m['cores']} cores, pinned to core {m['pinned_core']}, {m['python']}",
        f"txguard: {m['txguard']}",
        f"load average before {' '.join(f'{x:.2f}' for x in load['before'])}, "
        f"after {' '.join(f'{x:.2f}' for x in load['after'])}",
        f"{s['cases']} real cases, {s['policy']}, {s['rounds']} interleaved rounds; "
        "every contender gave the guard's outcome and codes on every case",
        "",
        f"{'contender':<18}{'n':>8}{'p50 us':>9}{'p99 us':>9}{'p50 / txguard raw':>19}",
    ]
    for name, r in res["rows"].items():
        out.append(f"{name:<18}{r['n']:>8}{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}{r['ratio_to_txguard_raw']:>18.2f}x")
    plain = res["rows"]["plain"]["p50_us"]
    out.append("")
    out.append(f"txguard raw / plain: {res['rows']['txguard raw']['p50_us'] / plain:.2f}x (target <= 1.5x: "
               f"{'met' if res['targets']['txguard raw p50 <= 1.5x plain'] else 'MISSED'})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed passes over the 610 cases (default 10)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    res = run(args.rounds)
    print(json.dumps(res, indent=2) if args.json else report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
