"""The ``txguard`` command line: one module per subcommand.

Exit codes (stable, documented in the README):

====  ==========================================================
0     success
1     tool error: bad arguments, an unreadable input file
2     a test failed (``txguard test``), findings (``txguard lint``), or a backtest limit
      was exceeded (``txguard audit replay --max-divergence/--max-loosened``)
3     a policy is invalid
4     an audit trail does not verify (``txguard audit verify``, ``txguard demo``)
====  ==========================================================
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from . import audit, check, demo, explain, lint, mcp_proxy, schema, serve, test, validate

EXIT_OK = 0
EXIT_TOOL_ERROR = 1
EXIT_TEST_FAILED = 2
EXIT_POLICY_INVALID = 3
EXIT_AUDIT_FAILED = 4

_COMMANDS = {
    "demo": demo,
    "validate": validate,
    "check": check,
    "explain": explain,
    "test": test,
    "lint": lint,
    "audit": audit,
    "schema": schema,
    "serve": serve,
    "mcp-proxy": mcp_proxy,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="txguard",
        description="A rules-first transaction guard for LLM agents that buy, refund and cancel.",
    )
    parser.add_argument("--version", action="version", version=f"txguard {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in _COMMANDS.items():
        module.register(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def _version() -> str:
    from .. import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) and exc.code != 2 else EXIT_TOOL_ERROR
    try:
        with _printable_streams():
            return int(_COMMANDS[args.command].run(args))
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
