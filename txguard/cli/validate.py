"""``txguard validate POLICY...``: every error as ``file:line:col: code: message``; exit 3."""

from __future__ import annotations

import argparse
import json
import sys

from ..policy.compile import compile_file
from ..core.errors import PolicyError

HELP = "check policy files against the schema and compile them"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("policies", nargs="+", metavar="POLICY", help="policy YAML files")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    diagnostics = []
    results = []
    for path in args.policies:
        try:
            policy = compile_file(path)
        except PolicyError as exc:
            diagnostics.extend(exc.diagnostics)
            results.append({"file": path, "valid": False, "errors": [str(d) for d in exc.diagnostics],
                            "omitted": exc.omitted})
            continue
        results.append({"file": path, "valid": True, "id": policy.id, "version": policy.version,
                        "digest": policy.digest, "rules": len(policy.rules)})
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
