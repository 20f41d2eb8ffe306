#!/usr/bin/env python
"""What ``txguard check --cases`` costs per case, as a ratio to the in-process decision.

The 610 cases of ``tests/corpus/chat-to-buy-dev.jsonl.gz`` are written ``--copies`` (N) times and
2N times into two JSON Lines files (uncompressed), and ``txguard check --policy
policies/retail.yaml --cases FILE --out OUT`` runs on each, interleaved, ``--rounds`` times. The
marginal cost of one case is ``(t(2N) - t(N)) / (N * 610)`` of each round, so that start-up,
imports and the policy's compile cancel out; its median over the rounds is compared with the
in-process cost of the same decisions: ``Guard.check`` on the already parsed cases, each on a fresh
``guard.independent()`` as the command decides them (only the ``check`` call is timed), measured
in the same run, between the commands. Times are CPU time (user + system of the command,
``time.process_time`` in-process): on a shared machine, wall time mostly measures the neighbours.

Also printed, in-process on the same lines: ``read_json`` of one line (the project's exact reader
of outside JSON, which the command uses), ``orjson.loads`` of it (not exact: it keeps the last of a
repeated key, reads huge integers inexactly and drops the text of fractions; the floor of a faster
exact reader), and the command's own loop over the lines
(``txguard.cli._lines.decide_lines`` from memory into memory: no start-up, no file). Before
timing, the script checks that the command decides every case as ``Guard.check`` does.

Commands run as a user's would (``PYTHONDONTWRITEBYTECODE`` removed, the package compiled first,
a temporary cache folder). ``--checkout DIR`` measures another checkout (e.g. an export of
``main``: ``git archive main | tar -x -C DIR``) with this script. Target (issue 13): the marginal
cost <= 1.5x the in-process mean.

Run ``python benchmarks/check_cases.py`` (``--copies 4 --rounds 5`` by default, ``--json``).
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import orjson

_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
ROOT = _pre.parse_known_args()[0].checkout.resolve()
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever txguard is installed

import txguard  # noqa: E402
from txguard import CompiledPolicy, Guard  # noqa: E402
try:
    from txguard.cli import _lines as cli_lines  # noqa: E402
except ImportError:  # a checkout from before the loop had a module of its own
    cli_lines = None  # type: ignore[assignment]
from txguard.core.jsonio import read_json  # noqa: E402
from txguard.policy.compile import compile_file  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz"
POLICY = "policies/retail.yaml"
TARGET = 1.5
DECIDE, PARSE, FLOOR, LOOP, MARGINAL = ("in-process Guard.check", "read_json of one line", "orjson.loads (inexact)",
                                        "CLI loop, in memory", "check --cases, marginal")
ROWS = (DECIDE, PARSE, FLOOR, LOOP, MARGINAL)


def _environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["TXGUARD_CACHE_DIR"] = str(cache)
    return env


def _command(python: str, cases: Path, out: Path) -> list[str]:
    return [python, "-c", "import sys; from txguard.cli import entry; sys.argv[0] = 'txguard'; entry()",
            "check", "--policy", POLICY, "--cases", str(cases), "--out", str(out)]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str]) -> float:
    """The CPU time (user + system) the command took."""
    start = _cpu_of_children()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = _cpu_of_children() - start
    if proc.returncode != 0:
        sys.exit(f"check_cases.py: `{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def _in_process(guard: Guard, envelopes: list[dict[str, Any]]) -> list[float]:
    """Seconds of each ``check`` call, each case on a fresh independent guard (built untimed)."""
    times = []
    for env in envelopes:
        world = guard.independent()
        proposal: Any = env.get("proposal")
        request, session, facts = env.get("request"), env.get("session"), env.get("facts")
        t0 = time.process_time()
        world.check(proposal, request, session, facts)
        times.append(time.process_time() - t0)
    return times


def _parse(lines: list[str], reader: Callable[[str], Any] = read_json) -> list[float]:
    times = []
    for line in lines:
        t0 = time.process_time()
        reader(line)
        times.append(time.process_time() - t0)
    return times


def _cli_loop(policy: CompiledPolicy, text: str) -> float:
    """Seconds per case of the CLI's loop over ``text`` (in memory: no start-up, no file I/O)."""
    guard = cli_lines.fresh(policy, None)
    out = io.StringIO()
    n = text.count("\n")
    t0 = time.process_time()
    cli_lines.decide_lines(guard, io.StringIO(text), out, "<memory>", None)
    return (time.process_time() - t0) / n


def _check_outcomes(out: Path, guard: Guard, envelopes: list[dict[str, Any]]) -> None:
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for row, env in zip(rows, envelopes):
        want = guard.independent().check_envelope(env)
        if row["id"] != env.get("id") or row["outcome"] != want.outcome.value:
            sys.exit(f"check_cases.py: case {env.get('id')}: the command decided {row['outcome']}, "
                     f"in-process {want.outcome.value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="N: the short file holds N copies of the corpus")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the commands")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--checkout", type=Path, help="the checkout to measure (default: the one of this script)")
    args = parser.parse_args()

    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()]
    envelopes = [read_json(line) for line in lines]
    text = "".join(line + "\n" for line in lines)
    guard = Guard(compile_file(ROOT / POLICY))
    n_cases = len(lines) * args.copies
    compileall.compile_dir(ROOT / "txguard", quiet=1)

    decide: list[float] = []  # every sample, for the p50
    rounds: dict[str, list[float]] = {name: [] for name in ROWS}  # seconds per case, one per round
    took: dict[int, list[float]] = {args.copies: [], 2 * args.copies: []}  # seconds per command
    with tempfile.TemporaryDirectory(prefix="txguard-check-cases-") as tmp_name:
        tmp = Path(tmp_name)
        env = _environment(tmp / "cache")
        files = {n: tmp / f"cases-{n}.jsonl" for n in took}
        for n, path in files.items():
            path.write_text(text * n, encoding="utf-8")
        out = tmp / "out.jsonl"
        _run(_command(args.python, files[args.copies], out), env)  # untimed: bytecode and cache in place
        _check_outcomes(out, guard, envelopes)
        for r in range(args.rounds):
            for n in (list(took) if r % 2 == 0 else list(took)[::-1]):
                took[n].append(_run(_command(args.python, files[n], out), env))
            rounds[MARGINAL].append((took[2 * args.copies][-1] - took[args.copies][-1]) / n_cases)
            samples = _in_process(guard, envelopes)
            decide.extend(samples)
            rounds[DECIDE].append(statistics.fmean(samples))
            rounds[PARSE].append(statistics.fmean(_parse(lines)))
            rounds[FLOOR].append(statistics.fmean(_parse(lines, orjson.loads)))
            if cli_lines is not None:
                rounds[LOOP].append(_cli_loop(guard.policy, text))
    load = os.getloadavg()
    # The best round of each: the least disturbed by the neighbours (the marginal cost from the
    # best time of each command).
    best = {name: min(v) for name, v in rounds.items() if v}
    best[MARGINAL] = (min(took[2 * args.copies]) - min(took[args.copies])) / n_cases
    median = {name: statistics.median(v) for name, v in rounds.items() if v}
    result: dict[str, Any] = {
        "python": platform.python_version(), "cpus": os.cpu_count(), "imported": txguard.__file__,
        "load_average": [round(x, 2) for x in load], "rounds": args.rounds, "copies": args.copies,
        "cases_per_copy": len(lines), "decide_p50_us": round(statistics.median(decide) * 1e6, 1),
        "command_cpu_s": {"N": round(statistics.median(took[args.copies]), 3),
                          "2N": round(statistics.median(took[2 * args.copies]), 3)},
        "rows": {name: {"median_us": round(median[name] * 1e6, 1), "best_us": round(best[name] * 1e6, 1),
                        "ratio_median": round(median[name] / median[DECIDE], 2),
                        "ratio_best": round(best[name] / best[DECIDE], 2)} for name in ROWS if name in median},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Python {result['python']}, {result['cpus']} CPUs, txguard from {result['imported']}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in load)}; {args.rounds} rounds; "
          f"N = {args.copies} x {len(lines)} cases: {result['command_cpu_s']['N']:.2f} s CPU, "
          f"2N: {result['command_cpu_s']['2N']:.2f} s (medians); in-process p50 {result['decide_p50_us']} us")
    print(f"{'mean CPU us per case':32s} {'median':>8s} {'ratio':>6s} {'best':>8s} {'ratio':>6s}")
    for name, row in result["rows"].items():
        mark = ""
        if name == MARGINAL:
            mark = "  ok" if row["ratio_median"] <= TARGET else f"  > {TARGET:g}x target"
        print(f"{name:32s} {row['median_us']:8.1f} {row['ratio_median']:5.2f}x {row['best_us']:8.1f} "
              f"{row['ratio_best']:5.2f}x{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
