#!/usr/bin/env python
"""What ``txguard check --cases`` costs per case, as a ratio to the in-process decision.

The 610 cases of ``tests/corpus/chat-to-buy-dev.jsonl.gz`` are written ``--copies`` (N) times and
2N times into two JSON Lines files, and ``txguard check --policy policies/retail.yaml --cases FILE
--out OUT`` runs on each, interleaved, ``--rounds`` times. The marginal cost of one case is
``(t(2N) - t(N)) / (N * 610)`` of each round (start-up, imports and the policy's compile cancel
out); its median over the rounds is compared with the in-process cost of the same decisions,
``Guard.check`` on the already parsed cases, each on a fresh ``guard.independent()`` as the CLI
decides them (only the ``check`` call is timed), measured in the same run between the commands.

Also printed, in-process on the same lines: ``read_json`` of one line (the project's exact reader,
which the CLI must use) and the CLI's own per-case loop (``txguard.cli.check`` deciding the lines
from memory into a buffer, no start-up and no file I/O). Before timing, the script checks that
the command's outcomes are the in-process ones, case by case.

Commands run as a user's would (``PYTHONDONTWRITEBYTECODE`` removed, the package compiled
first, a temporary cache folder); the checkout next to this script is the code measured, in the
commands and in-process. Target (issue 13): marginal cost <= 1.5x the in-process mean.

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
from typing import Any

_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
ROOT = _pre.parse_known_args()[0].checkout.resolve()
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever txguard is installed

import txguard  # noqa: E402
from txguard import Guard  # noqa: E402
try:
    from txguard.cli import _lines as cli_lines  # noqa: E402
except ImportError:  # a checkout from before the loop had a module of its own
    cli_lines = None  # type: ignore[assignment]
from txguard.core.jsonio import read_json  # noqa: E402
from txguard.policy.compile import compile_file  # noqa: E402

CORPUS = ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz"
POLICY = "policies/retail.yaml"
TARGET = 1.5


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


def _parse(lines: list[str]) -> list[float]:
    times = []
    for line in lines:
        t0 = time.process_time()
        read_json(line)
        times.append(time.process_time() - t0)
    return times


def _cli_loop(text: str) -> float:
    """Seconds per case of the CLI's loop over ``text`` (in memory: no start-up, no file I/O)."""
    guard = cli_lines.fresh(compile_file(ROOT / POLICY), None)
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


def _mean_us(samples: list[float]) -> float:
    return statistics.fmean(samples) * 1e6


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

    decide: list[float] = []
    parse: list[float] = []
    loop: list[float] = []
    marginal: list[float] = []
    short: list[float] = []
    long: list[float] = []
    with tempfile.TemporaryDirectory(prefix="txguard-check-cases-") as tmp_name:
        tmp = Path(tmp_name)
        env = _environment(tmp / "cache")
        files = {n: tmp / f"cases-{n}.jsonl" for n in (args.copies, 2 * args.copies)}
        for n, path in files.items():
            path.write_text(text * n, encoding="utf-8")
        out = tmp / "out.jsonl"
        _run(_command(args.python, files[args.copies], out), env)  # untimed: bytecode and cache in place
        _check_outcomes(out, guard, envelopes)
        for r in range(args.rounds):
            order = (args.copies, 2 * args.copies) if r % 2 == 0 else (2 * args.copies, args.copies)
            took = {n: _run(_command(args.python, files[n], out), env) for n in order}
            short.append(took[args.copies])
            long.append(took[2 * args.copies])
            marginal.append((took[2 * args.copies] - took[args.copies]) / n_cases)
            decide.extend(_in_process(guard, envelopes))
            parse.extend(_parse(lines))
            if cli_lines is not None:
                loop.append(_cli_loop(text))
    load = os.getloadavg()
    unit = _mean_us(decide)
    result = {
        "python": platform.python_version(), "cpus": os.cpu_count(), "imported": txguard.__file__,
        "load_average": [round(x, 2) for x in load], "rounds": args.rounds, "copies": args.copies,
        "cases_per_copy": len(lines),
        "command_s": {"N": round(statistics.median(short), 3), "2N": round(statistics.median(long), 3)},
        "rows": {
            "in-process Guard.check": {"p50_us": round(statistics.median(decide) * 1e6, 1), "mean_us": round(unit, 1)},
            "read_json of one line": {"p50_us": round(statistics.median(parse) * 1e6, 1),
                                      "mean_us": round(_mean_us(parse), 1)},
            **({"CLI loop, in memory": {"mean_us": round(statistics.median(loop) * 1e6, 1)}} if loop else {}),
            "check --cases, marginal": {"mean_us": round(statistics.median(marginal) * 1e6, 1)},
        },
    }
    for row in result["rows"].values():
        row["ratio"] = round(row["mean_us"] / unit, 2)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Python {result['python']}, {result['cpus']} CPUs, txguard from {result['imported']}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in load)}; {args.rounds} rounds; "
          f"N = {args.copies} x {len(lines)} cases: {result['command_s']['N']:.2f} s, "
          f"2N: {result['command_s']['2N']:.2f} s (medians)")
    print(f"{'per case':32s} {'p50 us':>8s} {'mean us':>8s} {'ratio':>6s}")
    for name, row in result["rows"].items():
        p50 = f"{row['p50_us']:8.1f}" if "p50_us" in row else f"{'':8s}"
        mark = ""
        if name == "check --cases, marginal":
            mark = "  ok" if row["ratio"] <= TARGET else f"  > {TARGET:g}x target"
        print(f"{name:32s} {p50} {row['mean_us']:8.1f} {row['ratio']:5.2f}x{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
