"""``txguard fmt PATH...``: write policy and suite files in the canonical layout, comments kept.

A directory is searched for ``*.yaml`` and ``*.yml`` files that are txguard policies or suites
(other YAML files there are skipped); a file named on the command line must be one. The layout is
described in ``txguard.authoring.fmt``. Needs the ``txguard[fmt]`` extra (ruamel.yaml).

Exit codes: 0 nothing to do (or every file written); 2 with ``--check`` or ``--diff``, a file
would change (nothing is written); 1 an error (invalid YAML, not a policy or suite, unreadable):
each is printed as ``file:line:col: message`` and that file is left untouched.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from ..authoring.fmt import FormatError, MissingExtra, NotTxguardFile, format_file

HELP = "format policy and suite YAML files (canonical key order and quoting, comments kept)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="policy or suite files, or directories to search")
    p.add_argument("--check", action="store_true", help="write nothing; list the files that would change and exit 2 if any")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of each change and exit 2 if any")


def files(paths: list[str]) -> list[tuple[Path, bool]]:
    """(file, named) for every path: a directory gives its ``*.yaml``/``*.yml`` files, sorted,
    skipping hidden directories; ``named`` is True for a file given on the command line."""
    out: list[tuple[Path, bool]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = [q for q in p.rglob("*") if q.suffix in (".yaml", ".yml") and q.is_file()
                     and not any(part.startswith(".") for part in q.relative_to(p).parts)]
            out.extend((q, False) for q in sorted(found))
        else:
            out.append((p, True))
    return out


def run(args: argparse.Namespace) -> int:
    dry = args.check or args.diff
    changed = unchanged = errors = 0
    for path, named in files(args.paths):
        try:
            old, new = format_file(path, write=not dry)
        except MissingExtra as exc:
            print(f"txguard: {exc}", file=sys.stderr)
            return 1
        except NotTxguardFile as exc:
            if named:
                print(exc, file=sys.stderr)
                errors += 1
            continue
        except FormatError as exc:
            if named or _looks_like_ours(path):
                print(exc, file=sys.stderr)
                errors += 1
            continue
        if new == old:
            unchanged += 1
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                                       f"{path}", f"{path} (formatted)"))
        elif args.check:
            print(path)
        else:
            print(f"reformatted {path}", file=sys.stderr)
    verb = "would be reformatted" if dry else "reformatted"
    print(f"{changed} file{'s' if changed != 1 else ''} {verb}, {unchanged} unchanged"
          + (f", {errors} error{'s' if errors != 1 else ''}" if errors else ""), file=sys.stderr)
    if errors:
        return 1
    return 2 if dry and changed else 0


def _looks_like_ours(path: Path) -> bool:
    """A YAML file found in a directory that failed to load is reported when it is named like a
    suite or mentions the policy apiVersion (other YAML files there are not ours to judge)."""
    if path.name.endswith(".tests.yaml"):
        return True
    try:
        return "txguard/v1" in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return True
