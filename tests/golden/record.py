"""Golden records: what txguard decides today, in a form a later version can be compared with.

One module computes the records, for both ``scripts/record_golden.py`` (which writes them to
``tests/golden/*.jsonl.gz``) and ``tests/test_golden.py`` (which recomputes them and compares).
It uses the public API only (``txguard``, ``txguard.audit``, ``txguard.sessions`` and the
``txguard`` command), so that it keeps working when the private modules move. See
``tests/golden/README.md`` for what is recorded and what is dropped.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import txguard
from txguard.audit import MemorySink
from txguard.sessions import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
"""The clock of every recorded decision (the policy suites set their own)."""

MASK_SALT = b"txguard-golden-records-mask-salt"
"""A fixed audit mask salt, so that a masked value (none of the shipped policies masks one yet)
records the same digest every time instead of one under a random per-sink salt."""

VOLATILE_BODY_FIELDS: tuple[tuple[str, ...], ...] = (
    ("id",),  # the decision id, a UUIDv7: wall-clock milliseconds and random bits
    ("elapsed_ns",),  # measured evaluation time
    ("shadow", "elapsed_ns"),  # the same for a shadow policy's decision (no recorded guard has one)
)
"""Paths of the audit body that differ from run to run, dropped from the records. The chain
fields beside the body (``seq``, ``prev``, ``hash``) are not recorded either: ``hash`` covers the
body's random ``id``. Everything else of the body is kept; its ``time`` is the fixed :data:`NOW`."""

DIGESTED_BODY_FIELDS: tuple[str, ...] = ("context",)
"""Top-level audit body fields recorded as ``sha256:<hex>`` of their canonical JSON (the
:func:`canonical` text) instead of in full. ``context`` is the request, session and facts as given
to the guard, a copy of the case's input that the corpus file already holds; in full it would make
the golden files four times larger. Its digest still changes with any change to what is recorded."""

CASE_FIELDS = ("proposal", "request", "session", "facts")
"""The input fields of a corpus case (wire format v1): never its label, variant or origin."""


def canonical(value: Any) -> str:
    """The JSON text a record is stored and compared as: sorted keys, no whitespace, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def clock() -> datetime:
    return NOW


@dataclass(frozen=True)
class Corpus:
    """A labelled corpus decided by one policy, each case as an independent world."""

    name: str
    """The golden file's stem: ``tests/golden/<name>.jsonl.gz``."""
    corpus: str
    """The corpus file, under ``tests/corpus``."""
    policy: str
    """The policy file, under ``policies``."""
    conversation: bool = False
    """Decide each case as its own one-turn conversation, on a fresh session store (for a policy
    with session rules, which needs a store and a session ``id``)."""


CORPORA = (
    Corpus("chat-to-buy-dev", "chat-to-buy-dev.jsonl.gz", "retail.yaml"),
    Corpus("tau-retail-dev", "tau-retail-dev.jsonl.gz", "tau-retail.yaml"),
    Corpus("chat-to-buy-dev.retail-session", "chat-to-buy-dev.jsonl.gz", "retail-session.yaml", conversation=True),
)
SUITES = "suites"
"""The golden file of every policy test suite under ``policies/`` (``txguard test --format json``)."""
NAMES = tuple(c.name for c in CORPORA) + (SUITES,)


def read_corpus(name: str) -> list[dict[str, Any]]:
    with gzip.open(ROOT / "tests" / "corpus" / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _drop(body: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = body
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


def _reasons(reasons: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(reasons, key=lambda r: (r["rule"], r["code"], r["message"], r["outcome"]))


def record_corpus(source: Corpus) -> list[dict[str, Any]]:
    """One record per case, in corpus order: the decision and the audit body written for it."""
    cases = read_corpus(source.corpus)
    policy = txguard.compile_file(ROOT / "policies" / source.policy)
    sink = MemorySink(salt=MASK_SALT)
    shared = None if source.conversation else txguard.Guard(policy, clock=clock, audit=sink)
    decisions = []
    for case in cases:
        envelope = {k: case[k] for k in CASE_FIELDS if k in case}
        if shared is None:
            # A conversation of its own: a fresh store (no earlier turn, nothing spent, no
            # confirmation used) and a session id, which a policy with session rules requires.
            session = dict(envelope.get("session") or {})
            session["id"] = f"golden:{case['id']}"
            envelope["session"] = session
            guard = txguard.Guard(policy, clock=clock, audit=sink, sessions=MemoryStore())
        else:
            guard = shared.independent()  # a fresh single-use ledger: confirmations are not shared
        decisions.append(guard.check_envelope(envelope))
    bodies = [r.body for r in sink.records()]
    if len(bodies) != len(cases):
        raise AssertionError(f"{source.name}: {len(cases)} decisions wrote {len(bodies)} audit records")
    records = []
    for case, decision, body in zip(cases, decisions, bodies):
        for path in VOLATILE_BODY_FIELDS:
            _drop(body, path)
        for key in DIGESTED_BODY_FIELDS:
            if key in body:
                body[key] = "sha256:" + hashlib.sha256(canonical(body[key]).encode("utf-8")).hexdigest()
        data = decision.to_dict()
        records.append({
            "id": case["id"],
            "outcome": data["outcome"],
            "route": data["route"],
            "kind": data["kind"],
            "reasons": _reasons(data["reasons"]),
            "questions": data["questions"],
            "confirmation": data["confirmation"],
            "audit": body,
        })
    return records


def txguard_command() -> list[str]:
    """The ``txguard`` command of this interpreter (its console-script entry point), run with
    ``sys.executable``: never whatever ``txguard`` comes first on ``PATH``."""
    found = list(entry_points(group="console_scripts", name="txguard"))
    if not found:
        raise RuntimeError("the `txguard` command is not installed in this environment (pip install -e .)")
    ep = found[0]
    return [sys.executable, "-c", f"import sys; from {ep.module} import {ep.attr}; sys.exit({ep.attr}())"]


def _got(got: dict[str, Any]) -> dict[str, Any]:
    return {"outcome": got.get("outcome"), "reasons": sorted(got.get("reasons") or []), "route": got.get("route")}


def record_suites() -> list[dict[str, Any]]:
    """One record per policy test case: ``txguard test policies --format json``, its results only.

    Kept: the suite, the case name, pass/fail and what the case got (outcome, reason codes, route,
    every fired rule), turn by turn for a multi-turn case. Dropped: what the suite wants (that is
    input), the note and the case's line in the suite file.
    """
    env = dict(os.environ)
    # The command imports the same txguard as this process (a checkout on sys.path, e.g. under pytest).
    package_root = str(Path(txguard.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = txguard_command() + ["test", "policies", "--format", "json"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode not in (0, 2):  # 2: some case failed, which is a result to record
        raise RuntimeError(f"`txguard test policies` exited {done.returncode}: {done.stderr.strip()}")
    report = json.loads(done.stdout)
    if report.get("errors"):
        raise RuntimeError(f"`txguard test policies` could not run every suite: {report['errors']}")
    records = []
    for suite in report["suites"]:
        for case in suite["cases"]:
            records.append({
                "id": f"{suite['suite']}/{case['name']}",
                "suite": suite["suite"],
                "file": suite["file"],
                "case": case["name"],
                "status": case["status"],
                "got": _got(case["got"]),
                "fired": _reasons(case["fired"]),
                "turns": [{"turn": t["turn"], "status": t["status"], "got": _got(t["got"]), "fired": _reasons(t["fired"])}
                          for t in case.get("turns") or []],
            })
    records.sort(key=lambda r: (r["file"], r["case"]))
    return records


def record(name: str) -> list[dict[str, Any]]:
    """The records of the golden file ``name`` (one of :data:`NAMES`), computed now."""
    if name == SUITES:
        records = record_suites()
    else:
        sources = [c for c in CORPORA if c.name == name]
        if not sources:
            raise ValueError(f"unknown golden file `{name}` (expected one of {', '.join(NAMES)})")
        records = record_corpus(sources[0])
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"{name}: record ids are not unique")
    # Through JSON text, as a read record is: a value JSON cannot hold fails here, loudly.
    return [json.loads(canonical(r)) for r in records]


def path_of(name: str, directory: Path = GOLDEN) -> Path:
    return directory / f"{name}.jsonl.gz"


def write(name: str, records: Sequence[dict[str, Any]], directory: Path = GOLDEN) -> Path:
    """Write the records as gzipped JSON Lines, byte for byte the same for the same records."""
    text = "".join(canonical(r) + "\n" for r in records).encode("utf-8")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text)
    path = path_of(name, directory)
    path.write_bytes(buf.getvalue())
    return path


def read(name: str, directory: Path = GOLDEN) -> list[dict[str, Any]]:
    with gzip.open(path_of(name, directory), "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


_FIRST = ("outcome", "status", "route", "kind", "reasons", "got", "fired", "questions", "confirmation", "turns", "decision")
"""Fields compared first, at every level: a decision's own fields come before the rest of its
audit body, so that a report names a changed outcome rather than the policy digest beside it."""


def _keys(keys: set[str]) -> list[str]:
    return [k for k in _FIRST if k in keys] + sorted(keys - set(_FIRST))


def _first_field(recorded: Any, now: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first field (dotted path) where two records differ, with both values; None if equal."""
    if isinstance(recorded, dict) and isinstance(now, dict):
        for key in _keys(set(recorded) | set(now)):
            where = f"{path}.{key}" if path else key
            if key not in recorded or key not in now:
                return where, recorded.get(key, "<absent>"), now.get(key, "<absent>")
            found = _first_field(recorded[key], now[key], where)
            if found:
                return found
        return None
    if isinstance(recorded, list) and isinstance(now, list):
        for i, (a, b) in enumerate(zip(recorded, now)):
            found = _first_field(a, b, f"{path}[{i}]")
            if found:
                return found
        if len(recorded) != len(now):
            return f"{path}.length", len(recorded), len(now)
        return None
    if canonical(recorded) != canonical(now):  # 1 is not 1.0
        return path, recorded, now
    return None


def _in_decision(field: str) -> bool:
    return not field.startswith("audit.") or field.startswith("audit.decision.")


def _short(value: Any, limit: int = 300) -> str:
    text = canonical(value)
    return text if len(text) <= limit else text[:limit] + "..."


def differences(name: str, recorded: Sequence[dict[str, Any]], now: Sequence[dict[str, Any]]) -> Iterator[str]:
    """Describe how ``now`` differs from ``recorded``, the first difference first."""
    old_ids, new_ids = [r["id"] for r in recorded], [r["id"] for r in now]
    if old_ids != new_ids:
        for i, (a, b) in enumerate(zip(old_ids, new_ids)):
            if a != b:
                yield f"{name}: record {i} is case `{a}` in the golden file but `{b}` now"
                break
        else:
            yield f"{name}: {len(old_ids)} records in the golden file, {len(new_ids)} now"
        return
    changed = [(a["id"], where) for a, b in zip(recorded, now) if (where := _first_field(a, b)) is not None]
    if changed:
        decided = [c for c in changed if _in_decision(c[1][0])]
        case, (field, was, is_) = (decided or changed)[0]
        yield (f"{name}: {len(changed)} of {len(recorded)} records differ ({len(decided)} in the decision, the others "
               f"only elsewhere in the audit body); the first is case `{case}`, field `{field}`: golden {_short(was)}, "
               f"now {_short(is_)}")
        shown = decided or changed
        yield (f"changed {'decisions' if decided else 'records'}: " + ", ".join(f"`{c}`" for c, _ in shown[:20])
               + (" ..." if len(shown) > 20 else ""))
