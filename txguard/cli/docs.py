"""``txguard docs POLICY``: the reference of a policy's domain, as Markdown.

Each intent kind of the policy (a declared kind with every field, its type, whether consent binds
it and its description; a shipped kind with its field names), the tools mapped to it, its default
and the rules that apply to it; the declared fact collections and request fields; the built-in
checks with the kinds of this policy they apply to. Exit 3 if the policy is invalid.
"""

from __future__ import annotations

import argparse

from ..authoring.docs import policy_reference
from . import EXIT_POLICY_INVALID
from ._common import compile_or_report

HELP = "print the reference of a policy's domain (intent kinds with their fields, facts, request, checks) as Markdown"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("policy", metavar="POLICY", help="the policy YAML file")


def run(args: argparse.Namespace) -> int:
    policy = compile_or_report(args.policy)
    if policy is None:
        return EXIT_POLICY_INVALID
    print(policy_reference(policy))
    return 0
