"""``txguard validate POLICY...``: every error as ``file:line:col: code: message``; exit 3.

A policy that compiled before, with none of the files it read changed since, is not compiled
again: its summary comes from the cache (:mod:`txguard.cli._validated`), and the compiler is not
even imported (it is most of the command's start-up time).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.diskcache import recording_reads
from ._validated import recalled, remember

HELP = "check policy files against the schema and compile them"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("policies", nargs="+", metavar="POLICY", help="policy YAML files")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    diagnostics: list[Any] = []
    results = []
    for path in args.policies:
        summary = recalled(path)
        results.append({"file": path, "valid": True, **summary} if summary is not None
                       else _compile(path, diagnostics))
    if args.format == "json":
        print(json.dumps({"policies": results}, indent=2))
    else:
        for d in sorted(diagnostics):
            print(d)
        for r in results:
            if r.get("omitted"):
                print(f"{r['file']}: ... and {r['omitted']} more errors")
        valid = sum(1 for r in results if r["valid"])
        print(f"{valid} valid, {len(results) - valid} invalid", file=sys.stderr)
    return 0 if all(r["valid"] for r in results) else 3


def _compile(path: str, diagnostics: list[Any]) -> dict[str, Any]:
    """Compile ``path``: its result row (and its errors added to ``diagnostics``); a policy that
    compiles is remembered with every file the compilation read."""
    from ..core.errors import PolicyError
    from ..policy.compile import compile_file

    with recording_reads() as reads:
        try:
            policy = compile_file(path)
        except PolicyError as exc:
            diagnostics.extend(exc.diagnostics)
            return {"file": path, "valid": False, "errors": [str(d) for d in exc.diagnostics], "omitted": exc.omitted}
    summary = {"id": policy.id, "version": policy.version, "digest": policy.digest, "rules": len(policy.rules)}
    remember(path, reads, summary)
    return {"file": path, "valid": True, **summary}
