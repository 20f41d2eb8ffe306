"""Re-record the golden decisions in ``tests/golden/`` (compared by ``tests/test_golden.py``).

    python scripts/record_golden.py            # every golden file
    python scripts/record_golden.py suites     # only some (names: see --help)
    python scripts/record_golden.py --check    # compare only, write nothing (exit 1 on a difference)

Re-record only for a change that is meant to change decisions, reasons or audit bodies, and say
why in the commit message (see ``tests/golden/README.md``). The records are computed by
``tests/golden/record.py``, the same code the test runs.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: tests.golden and its txguard

from tests.golden.record import NAMES, differences, path_of, read, record, write  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="record_golden.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"golden files to record (default: all of {', '.join(NAMES)})")
    parser.add_argument("--check", action="store_true", help="compare with the golden files instead of writing them")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown golden file `{unknown[0]}` (expected one of {', '.join(NAMES)})")
    failed = False
    for name in args.names or NAMES:
        records = record(name)
        if args.check:
            found = list(differences(name, read(name), records)) if path_of(name).exists() else [f"{name}: no golden file"]
            failed |= bool(found)
            print("\n".join(found) or f"{name}: {len(records)} records, unchanged")
            continue
        path = write(name, records)
        outcomes = Counter(r["outcome"] if "outcome" in r else r["status"] for r in records)
        print(f"{path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}: {len(records)} records "
              f"({', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}), {path.stat().st_size} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
