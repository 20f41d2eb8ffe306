"""``txguard tools --policy P [--format openai|anthropic|mcp] [--tool NAME]``: the tool definitions
an agent needs, as a JSON list, so the model is told exactly what the guard will accept."""

from __future__ import annotations

import argparse
import json
import sys

from ..policy.tooldefs import ToolDefinitionError, tool_definitions
from . import EXIT_POLICY_INVALID, EXIT_TOOL_ERROR
from ._common import compile_or_report

HELP = "print the tool definitions (openai, anthropic or mcp) whose arguments the policy's guard accepts"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, metavar="POLICY", help="the policy YAML file")
    p.add_argument("--format", choices=("openai", "anthropic", "mcp"), default="openai",
                   help="openai: a Chat Completions function tool; anthropic: input_schema; mcp: inputSchema")
    p.add_argument("--tool", action="append", metavar="NAME",
                   help="only this tool (repeatable; default: every tool the policy maps)")


def run(args: argparse.Namespace) -> int:
    policy = compile_or_report(args.policy)
    if policy is None:
        return EXIT_POLICY_INVALID
    unknown = [t for t in args.tool or () if t not in policy.tools]
    if unknown:
        print(f"txguard tools: tool `{unknown[0]}` is not mapped by policy `{policy.id}` (it maps: "
              f"{', '.join(policy.tools)})", file=sys.stderr)
        return EXIT_TOOL_ERROR
    try:
        definitions = tool_definitions(policy, args.format, args.tool)
    except ToolDefinitionError as exc:
        print(f"{args.policy}: {exc}", file=sys.stderr)
        return EXIT_POLICY_INVALID
    print(json.dumps(definitions, indent=2, ensure_ascii=False))
    return 0
