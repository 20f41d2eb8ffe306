"""What ``txguard validate`` remembers of the policies that compiled, so that validating an
unchanged policy again prints the same thing without importing or running the compiler.

An entry says: this policy file, at this absolute path, with every file its compilation read (the
policy, the base policies of ``extends``, the taxonomy files) holding exactly the bytes it lists,
compiled by this txguard code under this Python, is valid, with this id, version, digest and
number of rules. It is data (JSON), named after a SHA-256 of the policy's path and of the code
(:func:`_code_key`); it is used only when every file it lists still resolves to the same place and
holds content of the SHA-256 it lists (:func:`txguard.core.diskcache.unchanged`), so any byte
changed in any input is a miss, and the compile that follows rewrites the entry. Failures are never
recorded: an invalid policy is compiled, and its errors printed, every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.diskcache import Read, cache_dir, read_entry, unchanged, write_entry

FORMAT = 1
"""Part of every entry's name and content: bump it when what an entry holds changes."""

_PACKAGE = Path(__file__).resolve().parent.parent
_DEPENDENCIES = ("yaml", "jsonschema", "referencing", "pydantic", "pydantic_core")
"""The libraries whose behaviour decides whether a policy compiles (YAML, the schema, the models)."""


def _code_key() -> list[Any]:
    """What identifies the code that compiles a policy: the txguard version, the Python, and the
    size and modification time of every txguard module and of the libraries it compiles with (a
    checkout edited in place, or a library upgraded, is new code for the cache)."""
    files: list[Any] = []
    for root, dirs, names in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith(".py"):
                st = os.stat(os.path.join(root, name))
                files.append([os.path.relpath(os.path.join(root, name), _PACKAGE), st.st_size, st.st_mtime_ns])
    for dependency in _DEPENDENCIES:
        files.append([dependency, *_installed(dependency)])
    return [__version__, sys.version, sys.implementation.cache_tag, files]


def _installed(module: str) -> list[Any]:
    """Where ``module`` is installed and when its folder last changed (an upgrade replaces it),
    found without importing it."""
    for entry in sys.path:
        folder = os.path.join(entry or ".", module)
        try:
            st = os.stat(os.path.join(folder, "__init__.py"))
            parent = os.stat(entry or ".")
        except OSError:
            continue
        return [os.path.abspath(folder), st.st_size, st.st_mtime_ns, parent.st_mtime_ns]
    return [None]


def _entry(policy: str) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    key = json.dumps([FORMAT, _code_key(), str(Path(policy).absolute())], separators=(",", ":"))
    return directory / f"validate-v{FORMAT}-{hashlib.sha256(key.encode('utf-8')).hexdigest()}.json"


def recalled(policy: str) -> dict[str, Any] | None:
    """The summary (``id``, ``version``, ``digest``, ``rules``) recorded for ``policy`` when it
    compiled, if the record is well-formed and every file it lists is unchanged; else None."""
    entry = _entry(policy)
    if entry is None:
        return None
    doc = read_entry(entry)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("name") != entry.name:
        return None
    reads, summary = doc.get("reads"), doc.get("summary")
    if not isinstance(reads, list) or not reads or not isinstance(reads[0], list) \
            or reads[0][:1] != [str(Path(policy).absolute())] or not all(unchanged(r) for r in reads):
        return None
    return _summary(summary)


def _summary(summary: Any) -> dict[str, Any] | None:
    if not isinstance(summary, dict) or set(summary) != {"id", "version", "digest", "rules"}:
        return None
    if not all(isinstance(summary[k], str) for k in ("id", "version", "digest")):
        return None
    if type(summary["rules"]) is not int or summary["rules"] < 0:
        return None
    return {"id": summary["id"], "version": summary["version"], "digest": summary["digest"],
            "rules": summary["rules"]}


def remember(policy: str, reads: list[Read], summary: dict[str, Any]) -> None:
    """Record that ``policy`` compiled to ``summary`` after reading ``reads`` (the policy first)."""
    entry = _entry(policy)
    if entry is None or not reads or reads[0][0] != str(Path(policy).absolute()) or _summary(summary) is None:
        return
    write_entry(entry, {"format": FORMAT, "name": entry.name, "reads": [list(r) for r in reads],
                        "summary": summary})
