"""``txguard schema [policy|intent]``: print a JSON Schema for editors and tools."""

from __future__ import annotations

import argparse
import json

from ..policy.schema import intent_schema, policy_schema

HELP = "print the policy (or intent) JSON Schema"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", nargs="?", choices=("policy", "intent"), default="policy")


def run(args: argparse.Namespace) -> int:
    schema = policy_schema() if args.which == "policy" else intent_schema()
    print(json.dumps(schema, indent=2, sort_keys=True))
    return 0
