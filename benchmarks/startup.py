#!/usr/bin/env python
"""How long the ``txguard`` command takes to start: medians of N runs, as ratios to ``python -c pass``.

Rows (run interleaved, one of each per round, so that the load of the moment hits them alike):

  python -c pass                         the interpreter's own start: the unit of the ratios
  txguard --help                         start, list the subcommands, exit
  txguard validate policies/retail.yaml  start, and answer from the on-disk cache (warm: filled
                                         by the untimed round) that the unchanged policy is valid
  ... (cold cache)                       the same with an empty cache folder at every run: load,
                                         schema-check and compile the policy, parse its taxonomy,
                                         write both cache entries (no target: what a first run costs)

Each command runs as a user's would: ``PYTHONDONTWRITEBYTECODE`` is removed from its environment
and the package's bytecode is compiled first (``compileall``), as a normal install ships it; one
untimed round first fills the bytecode and the caches. The cache is a temporary folder of this run
(``TXGUARD_CACHE_DIR``), never the user's. The checkout next to this script is put first on
``PYTHONPATH``, so it is the code measured (the script prints the path it imported).
The target (issue 13): the --help and (warm) validate rows <= 3x ``python -c pass``.

Run ``python benchmarks/startup.py`` (``--runs 40`` for steadier medians, ``--json`` for a machine).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 3.0


COLD = "  ... (cold cache)"
"""The row run with an empty cache folder each time; it has no target."""


def _environment(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["TXGUARD_CACHE_DIR"] = str(cache)
    return env


def _rows(python: str) -> dict[str, list[str]]:
    txguard = [python, "-c", "import sys; from txguard.cli import entry; sys.argv[0] = 'txguard'; entry()"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "txguard --help": [*txguard, "--help"],
        "txguard validate policies/retail.yaml": [*txguard, "validate", "policies/retail.yaml"],
        COLD: [*txguard, "validate", "policies/retail.yaml"],
    }


def _time(cmd: list[str], env: dict[str, str], cold: Path | None = None) -> float:
    if cold is not None:  # an empty cache folder: nothing to find, everything to write
        shutil.rmtree(cold, ignore_errors=True)
        env = {**env, "TXGUARD_CACHE_DIR": str(cold)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"startup.py: `{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def _measure(python: str, runs: int, tmp: Path) -> tuple[dict[str, list[float]], str]:
    env = _environment(tmp / "cache")
    compileall.compile_dir(ROOT / "txguard", quiet=1)
    imported = subprocess.run([python, "-c", "import txguard; print(txguard.__file__)"], env=env, cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
    rows = _rows(python)
    for name, cmd in rows.items():  # untimed: bytecode and the caches are in place before timing
        _time(cmd, env, tmp / "cold" if name == COLD else None)
    samples: dict[str, list[float]] = {name: [] for name in rows}
    names = list(rows)
    for i in range(runs):
        for name in names[i % len(names):] + names[: i % len(names)]:
            samples[name].append(_time(rows[name], env, tmp / "cold" if name == COLD else None))
    return samples, imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each command (default 20)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure (default: this one)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="txguard-startup-") as tmp:
        samples, imported = _measure(args.python, args.runs, Path(tmp))
    load = os.getloadavg()
    unit = statistics.median(samples["python -c pass"])
    result = {
        "python": platform.python_version(),
        "executable": args.python,
        "imported": imported,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
        "runs": args.runs,
        "rows": {name: {"median_ms": round(statistics.median(s) * 1e3, 1), "min_ms": round(min(s) * 1e3, 1),
                        "ratio": round(statistics.median(s) / unit, 2)} for name, s in samples.items()},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"Python {result['python']} ({args.python}), {result['cpus']} CPUs, txguard from {imported}")
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in load)}; {args.runs} runs per row, interleaved")
    print(f"{'command':40s} {'median ms':>10s} {'min ms':>8s} {'ratio':>6s}")
    for name, row in result["rows"].items():
        mark = "" if name in ("python -c pass", COLD) else ("  ok" if row["ratio"] <= TARGET else f"  > {TARGET:g}x target")
        print(f"{name:40s} {row['median_ms']:10.1f} {row['min_ms']:8.1f} {row['ratio']:5.2f}x{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
