"""``txguard lint POLICY...``: problems beyond schema validity.

Rules that can never fire, rules shadowed by a stricter rule with the same condition, thresholds
in a currency other than the policy's, tools mapped to an intent kind without rules (with or
without a default), defaults for kinds no tool maps to. Each finding is printed as
``file:line:col: lint-code: message``.

Exit codes: 0 no findings; 2 findings; 3 a policy is invalid (its errors are printed); 1 tool error.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..policy.compile import compile_file
from ..core.errors import Diagnostic, PolicyError
from ..policy.lint import lint

HELP = "find rules that never fire, shadowed rules, wrong-currency thresholds, unguarded tools"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("policies", nargs="+", metavar="POLICY", help="policy YAML files")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    findings: list[Diagnostic] = []
    invalid: list[Diagnostic] = []
    for path in args.policies:
        try:
            policy = compile_file(path)
        except PolicyError as exc:
            invalid.extend(exc.diagnostics)
            continue
        findings.extend(lint(policy))
    findings.sort()
    if args.format == "json":
        print(json.dumps({
            "findings": [{"file": d.file, "line": d.line, "column": d.column, "code": d.code, "message": d.message}
                         for d in findings],
            "errors": [str(d) for d in sorted(invalid)],
        }, indent=2))
    else:
        for d in sorted(invalid):
            print(d, file=sys.stderr)
        for d in findings:
            print(d)
        if not invalid:
            print(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}", file=sys.stderr)
    if invalid:
        return 3
    return 2 if findings else 0
