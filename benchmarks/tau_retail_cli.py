"""CPU time of deciding the whole tau retail dev corpus with the plain CLI.

    python benchmarks/tau_retail_cli.py [CASES.jsonl.gz]

Runs ``python -m txguard.cli check --policy policies/tau-retail.yaml --cases CASES --out <tmp>``
in a child process, several times, and prints the child's user + system CPU seconds (the target is
under 10 s for the 2,261 dev cases). Interpreter start-up and policy compilation are included.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = ROOT / "tests" / "corpus" / "tau-retail-dev.jsonl.gz"


def cpu_seconds(cases: Path) -> float:
    """Run the CLI once over ``cases``; return the child's user + system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "txguard.cli", "check", "--policy", str(ROOT / "policies" / "tau-retail.yaml"),
             "--cases", str(cases), "--out", os.path.join(tmp, "pred.jsonl")],
            check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL,
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    cases = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CASES
    runs = sorted(cpu_seconds(cases) for _ in range(5))
    print(f"{cases.name}: CPU seconds per full run: min {runs[0]:.2f}, median {runs[2]:.2f}, max {runs[-1]:.2f}")


if __name__ == "__main__":
    main()
