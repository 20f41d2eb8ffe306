"""Pieces every subcommand shares: compiling the policy it was given, reading an input file."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path
from typing import IO

from ..policy.compile import CompiledPolicy, compile_file
from ..core.errors import PolicyError


def compile_or_report(path: str | Path) -> CompiledPolicy | None:
    """The compiled policy, or None after printing every located error (the caller exits 3)."""
    try:
        return compile_file(path)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return None


def open_text(path: str) -> IO[str]:
    """A text input: ``-`` is standard input, ``*.gz`` is read compressed."""
    if path == "-":
        return sys.stdin
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")
