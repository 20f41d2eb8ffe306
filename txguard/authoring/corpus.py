"""Labelled corpora (JSON Lines, optionally gzipped): read the cases, decide them, score them.

Only a case's input (``proposal``, ``request``, ``session``, ``facts``) reaches the guard; its
labels (``expect``, ``violates``) are read only to score the decision.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from .._guard import Guard
from ..core.decision import Decision, Outcome
from ..core.errors import READ_ERRORS, Diagnostic
from ..core.jsonio import read_json
from ..policy.types import read_datetime
from .coverage import Coverage
from .suite import CODE, OUTCOMES, PARTS, SuiteError

INPUT_KEYS = PARTS
"""The only keys of a corpus case a decision may read."""


def is_corpus(path: str | Path) -> bool:
    """A JSON Lines file of labelled cases (``.jsonl`` or ``.jsonl.gz``)."""
    name = str(path)
    return name.endswith(".jsonl") or name.endswith(".jsonl.gz")


@dataclass(frozen=True)
class CorpusCase:
    """One labelled line: its id, the input envelope (only the four input keys), and the label."""

    id: str
    line: int
    envelope: Mapping[str, Any]
    expect: Outcome
    violates: tuple[str, ...] | None
    clock: datetime | None = None
    """The instant the case is decided at (its ``clock``), else the guard's clock."""


def numbered_lines(fh: IO[str], name: str) -> Iterator[tuple[int, str]]:
    """``enumerate(fh, 1)``, where a read that fails (a corrupted gzip stream, bytes that are not
    UTF-8) is a :class:`SuiteError` at the line it happened on."""
    n = 0
    lines = iter(fh)
    while True:
        try:
            text = next(lines)
        except StopIteration:
            return
        except READ_ERRORS as exc:
            raise SuiteError([Diagnostic(name, n + 1, 1, CODE, f"cannot read the file here: {exc}")]) from None
        n += 1
        yield n, text


def read_corpus(path: str | Path) -> Iterator[CorpusCase]:
    """Labelled cases; a line without a valid ``expect`` raises :class:`SuiteError` with its line."""
    name = str(path)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(name, "rt", encoding="utf-8") as fh:
        for n, text in numbered_lines(fh, name):
            if not text.strip():
                continue
            try:
                raw = read_json(text)
            except (ValueError, RecursionError) as exc:
                raise SuiteError([Diagnostic(name, n, 1, CODE, f"not a JSON object: {str(exc)[:120]}")]) from None
            if not isinstance(raw, dict) or raw.get("expect") not in OUTCOMES:
                raise SuiteError([Diagnostic(name, n, 1, CODE, "a labelled case needs `expect`: allow, clarify or escalate")])
            violates = raw.get("violates")
            clock = None
            if "clock" in raw:  # the instant the case's situation was built at (slots, periods, cut-offs)
                try:
                    clock = read_datetime(raw["clock"])
                except ValueError as exc:
                    raise SuiteError([Diagnostic(name, n, 1, CODE, f"`clock`: {exc}")]) from None
            yield CorpusCase(
                id=str(raw.get("id", f"line {n}")),
                line=n,
                # Only the input reaches the guard: the labels never influence a decision.
                envelope={k: raw[k] for k in INPUT_KEYS if k in raw},
                expect=Outcome(raw["expect"]),
                violates=tuple(violates) if isinstance(violates, list) else None,
                clock=clock,
            )


@dataclass
class CorpusReport:
    """The confusion matrix of a labelled corpus, with the unsafe allows and the safe cases blocked."""

    file: str
    policy: str
    matrix: dict[str, Counter[str]] = field(default_factory=lambda: {o: Counter() for o in OUTCOMES})
    unsafe: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    n: int = 0
    exact: int = 0

    def add(self, case: CorpusCase, decision: Decision) -> None:
        got = decision.outcome
        self.n += 1
        self.matrix[case.expect.value][got.value] += 1
        if got is case.expect:
            self.exact += 1
        else:
            self.mismatched.append(case.id)
        if case.expect is not Outcome.ALLOW and got is Outcome.ALLOW:
            self.unsafe.append(case.id)
        if case.expect is Outcome.ALLOW and got is not Outcome.ALLOW:
            self.blocked.append(case.id)

    @property
    def exact_rate(self) -> float:
        return 100.0 * self.exact / self.n if self.n else 100.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "policy": self.policy, "cases": self.n, "exact": self.exact,
            "exact_rate": round(self.exact_rate, 2),
            "matrix": {w: {g: self.matrix[w][g] for g in OUTCOMES} for w in OUTCOMES},
            "unsafe_allowed": self.unsafe, "safe_blocked": self.blocked, "mismatched": self.mismatched,
        }

    def render(self) -> str:
        width = max(len(o) for o in OUTCOMES) + 2
        head = "expected \\ got".ljust(16) + "".join(o.rjust(width + 2) for o in OUTCOMES)
        rows = [head] + [w.ljust(16) + "".join(str(self.matrix[w][g]).rjust(width + 2) for g in OUTCOMES)
                         for w in OUTCOMES]
        rows.append(f"exact {self.exact}/{self.n} ({self.exact_rate:.2f}%)")
        rows.append(f"unsafe allowed ({len(self.unsafe)}): {', '.join(self.unsafe) or 'none'}")
        rows.append(f"safe blocked ({len(self.blocked)}): {', '.join(self.blocked) or 'none'}")
        return "\n".join(rows)


def score_corpus(guard: Guard, cases: Iterable[CorpusCase], file: str,
                 coverage: Coverage | None = None) -> CorpusReport:
    """Decide every labelled case from its input alone, each as an independent world (a fresh
    single-use ledger: no confirmation is used up by another case), and tally the results."""
    report = CorpusReport(file, guard.policy.id)
    for case in cases:
        decision = guard.independent(at=case.clock).check_envelope(case.envelope)  # each case its own world
        report.add(case, decision)
        if coverage is not None:
            coverage.add(decision)
    return report
