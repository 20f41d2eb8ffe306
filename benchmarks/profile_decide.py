#!/usr/bin/env python
"""Where one decision's time goes: ``Guard.check`` on the 610 cases of the chat-to-buy dev corpus.

Decides every case of ``tests/corpus/chat-to-buy-dev.jsonl.gz`` with ``policies/retail.yaml`` (raw
tool calls, the wire-format dicts, as ``peers.py``'s "txguard raw" row), first timed without a
profiler (per-decision p50 and mean in microseconds, best of ``--rounds``), then once under
cProfile, printing the top functions by tottime and by cumtime.

``--mode reusable`` (default) decides on a copy of the policy whose confirmations are reusable (the
benchmarks' setting); ``--mode single-use`` keeps the policy as written (the guard's own ledger
runs, and a repeated confirmation is refused as used).

The txguard imported is the one in the current directory (``cd /other/checkout && python
/this/checkout/benchmarks/profile_decide.py`` profiles the other checkout). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import gzip
import json
import os
import pstats
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(os.getcwd())
sys.path.insert(0, str(ROOT))  # profile the checkout in the current directory

from txguard import Guard  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz"
POLICY = ROOT / "policies" / "retail.yaml"


def calls() -> list[tuple[Any, ...]]:
    """Each case as ``(raw tool call, request, session, facts)``."""
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    out = []
    for case in cases:
        p = case["proposal"]
        raw = {"name": p["name"], "arguments": json.dumps(p["arguments"])}
        out.append((raw, case.get("request"), case.get("session"), case.get("facts")))
    return out


def guard(mode: str) -> Guard:
    policy = Guard.from_file(POLICY).policy  # the public entry point: old checkouts have it too
    if mode == "reusable":
        policy = replace(policy, session=replace(policy.session, reusable_confirmations=True))
    return Guard(policy)


def timed(g: Guard, args: list[tuple[Any, ...]], rounds: int) -> tuple[float, float]:
    """Best p50 and best mean over ``rounds`` (microseconds per decision)."""
    check = g.check
    p50s, means = [], []
    for _ in range(rounds):
        gc.collect()
        times = []
        for a in args:
            t = time.perf_counter_ns()
            check(*a)
            times.append(time.perf_counter_ns() - t)
        p50s.append(statistics.median(times) / 1000)
        means.append(statistics.fmean(times) / 1000)
    return min(p50s), min(means)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mode", choices=("reusable", "single-use"), default="reusable")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--no-profile", action="store_true", help="timing only")
    ns = ap.parse_args(argv)
    args = calls()
    g = guard(ns.mode)
    for a in args:  # warm-up (caches, lazy imports)
        g.check(*a)
    p50, mean = timed(g, args, ns.rounds)
    print(f"{ROOT}: {len(args)} cases, mode {ns.mode}: p50 {p50:.1f} us, mean {mean:.1f} us per decision "
          f"(best of {ns.rounds}); load {os.getloadavg()[0]:.2f}")
    if ns.no_profile:
        return 0
    prof = cProfile.Profile()
    prof.enable()
    for a in args:
        g.check(*a)
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout)
    stats.strip_dirs()
    stats.sort_stats("tottime").print_stats(ns.top)
    stats.sort_stats("cumtime").print_stats(ns.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
