"""``txguard schema [policy|intent]``: print a JSON Schema for editors and tools;
``txguard schema --policy P``: ``{tool: the JSON Schema of its arguments}`` for a policy's tools;
``txguard schema intent --policy P``: ``{kind: the JSON Schema of its fields}`` for each intent kind
of the policy (its declared kinds, and the shipped ones when it has them)."""

from __future__ import annotations

import argparse
import json
import sys

from ..policy.schema import intent_schema, policy_schema
from ..policy.kindschema import kind_schemas
from ..policy.tooldefs import ToolDefinitionError, argument_schemas
from . import EXIT_POLICY_INVALID, EXIT_TOOL_ERROR
from ._common import compile_or_report

HELP = "print the policy (or intent) JSON Schema, or with --policy the argument schema of each tool"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", nargs="?", choices=("policy", "intent"), default=None)
    p.add_argument("--policy", metavar="POLICY",
                   help="print {tool: argument JSON Schema} for this policy's tools instead (with `intent`: "
                        "{kind: JSON Schema} for each of its intent kinds)")


def run(args: argparse.Namespace) -> int:
    if args.policy is not None:
        if args.which == "policy":
            print("txguard schema: give `policy` or --policy, not both", file=sys.stderr)
            return EXIT_TOOL_ERROR
        policy = compile_or_report(args.policy)
        if policy is None:
            return EXIT_POLICY_INVALID
        if args.which == "intent":
            print(json.dumps(kind_schemas(policy.domain), indent=2, ensure_ascii=False))
            return 0
        try:
            schemas = argument_schemas(policy)
        except ToolDefinitionError as exc:
            print(f"{args.policy}: {exc}", file=sys.stderr)
            return EXIT_POLICY_INVALID
        print(json.dumps(schemas, indent=2, ensure_ascii=False))
        return 0
    schema = policy_schema() if args.which in (None, "policy") else intent_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0
