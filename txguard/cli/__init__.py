"""The ``txguard`` command line: one module per subcommand.

Exit codes (stable, documented in the README):

====  ==========================================================
0     success
1     tool error: bad arguments, an unreadable input file
2     a test failed (``txguard test``), findings (``txguard lint``), a file would be
      reformatted (``txguard fmt --check/--diff``), or a backtest limit
      was exceeded (``txguard audit replay --max-divergence/--max-loosened``)
3     a policy is invalid
4     an audit trail does not verify (``txguard audit verify``, ``txguard demo``)
====  ==========================================================
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from types import ModuleType
from typing import Any

from .. import __version__
from ..core import diskcache

EXIT_OK = 0
EXIT_TOOL_ERROR = 1
EXIT_TEST_FAILED = 2
EXIT_POLICY_INVALID = 3
EXIT_AUDIT_FAILED = 4

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "play the chat-to-buy failure stories against the retail policy (no network, no server)"),
    "validate": ("validate", "check policy files against the schema and compile them"),
    "check": ("check", "decide a case (wire-format envelope) or a file of cases"),
    "explain": ("explain", "explain a decision rule by rule (inputs, fired / skipped / not fired, and why)"),
    "test": ("test", "run policy test suites (*.tests.yaml) and labelled corpora"),
    "lint": ("lint", "find rules that never fire, shadowed rules, wrong-currency thresholds, unguarded tools"),
    "fmt": ("fmt", "format policy and suite YAML files (canonical key order and quoting, comments kept)"),
    "audit": ("audit", "verify, list, replay or report on an audit trail"),
    "schema": ("schema", "print the policy (or intent) JSON Schema, or with --policy the argument schema of each tool"),
    "tools": ("tools", "print the tool definitions (openai, anthropic or mcp) whose arguments the policy's guard accepts"),
    "docs": ("docs", "print the reference of a policy's domain (intent kinds with their fields, facts, request, checks) "
             "as Markdown"),
    "serve": ("serve", "run the decision service (HTTP): check, reload, metrics"),
    "mcp-proxy": ("mcp_proxy", "guard an MCP server: decide every tools/call before forwarding it "
                  "(stdio or streamable HTTP upstream)"),
}
"""Subcommand -> (module under ``txguard.cli``, one-line help). The help lives here so that
``txguard --help`` lists every subcommand without importing any of them; a test keeps each
module's ``HELP`` identical to its line here."""


def command_module(name: str) -> ModuleType:
    """The module of subcommand ``name``, imported on first use."""
    return importlib.import_module(f".{COMMANDS[name][0]}", __name__)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; given ``argv``, only the subcommand it names is imported and registered
    (the others are listed with their help line and no arguments, which is all ``--help`` shows)."""
    parser = argparse.ArgumentParser(
        prog="txguard",
        description="A rules-first transaction guard for LLM agents that buy, refund and cancel.",
    )
    parser.add_argument("--version", action="version", version=f"txguard {__version__}")
    parser.add_argument("--no-cache", action="store_true", help=NO_CACHE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    for name, (_, help_line) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=help_line)
        if argv is None or name == chosen:
            command_module(name).register(p)
            # Also after the subcommand; SUPPRESS: not given there, it keeps the top-level value.
            p.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS, help=NO_CACHE_HELP)
    return parser


NO_CACHE_HELP = ("neither read nor write the on-disk cache (parsed taxonomies, policies validated before); "
                 "also: TXGUARD_CACHE_DIR= (empty)")


def _chosen(argv: Sequence[str] | None) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option (the top-level parser's
    only options, ``-h``, ``--version`` and ``--no-cache``, take no value)."""
    for word in argv or ():
        if word == "--":
            continue
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words)
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) and exc.code != 2 else EXIT_TOOL_ERROR
    try:
        with _printable_streams(), diskcache.disabled() if args.no_cache else nullcontext():
            return int(command_module(args.command).run(args))
    except BrokenPipeError:
        return EXIT_OK
    except KeyboardInterrupt:
        print("txguard: interrupted", file=sys.stderr)
        return EXIT_TOOL_ERROR


@contextmanager
def _printable_streams() -> Iterator[None]:
    """Text the terminal cannot encode (a lone surrogate from an agent's arguments, any non-ASCII
    character on an ASCII terminal) is printed as a backslash escape instead of raising."""
    changed: list[tuple[Callable[..., Any], Any]] = []
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        errors = getattr(stream, "errors", None)
        if reconfigure is not None and errors != "backslashreplace":
            reconfigure(errors="backslashreplace")
            changed.append((reconfigure, errors))
    try:
        yield
    finally:
        for reconfigure, errors in changed:
            reconfigure(errors=errors)


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
