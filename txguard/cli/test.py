"""``txguard test PATH...``: run policy test suites and labelled corpora.

A PATH is a suite file (``*.tests.yaml``), a directory (every ``*.tests.yaml`` under it), or, with
``--policy P``, a labelled corpus (``.jsonl`` / ``.jsonl.gz`` lines carrying ``expect``). Each
suite case prints ``PASS`` or ``FAIL`` (with the diff of wanted and got); each corpus prints its
confusion matrix, unsafe allows and safe cases blocked. The last line is ``N passed, M failed``
(corpus cases count as passed when the outcome matches the label exactly).

Exit codes: 0 all passed; 2 a suite case failed, a corpus gate (``--max-unsafe``,
``--max-blocked``, ``--min-exact``) was exceeded, or coverage is under ``--fail-under``;
3 a policy is invalid; 1 a tool error (unreadable path, a suite file with errors).
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ..policy.compile import CompiledPolicy
from ..core.errors import READ_ERRORS, Diagnostic, PolicyError
from .._guard import Guard
from ..authoring.corpus import CorpusReport, is_corpus, read_corpus, score_corpus
from ..authoring.coverage import Coverage
from ..authoring.suite import Result, SuiteError, describe_failure
from ..authoring.suite_load import load_suite
from ..authoring.suite_run import PolicyCache, find_suites, run_suite
from ._common import compile_or_report

HELP = "run policy test suites (*.tests.yaml) and labelled corpora"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="suite files, directories (searched for *.tests.yaml), or with --policy labelled .jsonl[.gz] corpora")
    p.add_argument("--policy", help="the policy that decides labelled corpora (suites name their own)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    p.add_argument("--coverage", action="store_true", help="report rule and reason-code coverage per policy")
    p.add_argument("--fail-under", type=float, metavar="PCT",
                   help="exit 2 if a policy's rule coverage is under PCT percent (implies --coverage)")
    p.add_argument("--max-unsafe", type=int, default=0, metavar="N",
                   help="corpora: most unsafe allows (expected not allow, decided allow) tolerated (default 0)")
    p.add_argument("--max-blocked", type=int, default=0, metavar="N",
                   help="corpora: most safe cases blocked (expected allow, decided otherwise) tolerated (default 0)")
    p.add_argument("--min-exact", type=float, default=0.0, metavar="PCT",
                   help="corpora: lowest exact-match rate tolerated, in percent (default 0)")
    p.add_argument("--failures-only", action="store_true", help="text: print only failing cases")


class _Run:
    def __init__(self) -> None:
        self.policies = PolicyCache()
        self.coverage: dict[str, Coverage] = {}
        self.suites: list[dict[str, Any]] = []
        self.corpora: list[CorpusReport] = []
        self.errors: list[Diagnostic] = []
        self.policy_invalid = False
        self.tool_error = False
        self.lines: list[str] = []

    def cover(self, policy: CompiledPolicy) -> Coverage:
        key = str(Path(policy.file).resolve())
        if key not in self.coverage:
            self.coverage[key] = Coverage(policy)
        return self.coverage[key]


def run(args: argparse.Namespace) -> int:
    state = _Run()
    corpus_policy: CompiledPolicy | None = None
    corpora = [p for p in args.paths if is_corpus(p)]
    if corpora:
        if args.policy is None:
            print("txguard test: a labelled corpus needs --policy P", file=sys.stderr)
            return 1
        corpus_policy = compile_or_report(args.policy)
        if corpus_policy is None:
            return 3
    for raw in args.paths:
        if not Path(raw).exists():
            print(f"txguard test: `{raw}` does not exist", file=sys.stderr)
            return 1
    suite_paths = find_suites([p for p in args.paths if not is_corpus(p)])
    for path in suite_paths:
        _run_suite(state, path, args)
    for raw in corpora:
        assert corpus_policy is not None
        _run_corpus(state, raw, corpus_policy, args)

    passed = sum(s["passed"] for s in state.suites) + sum(r.exact for r in state.corpora)
    failed = sum(s["failed"] for s in state.suites) + sum(r.n - r.exact for r in state.corpora)
    gates = _gate_failures(state, args)
    show_coverage = args.coverage or args.fail_under is not None
    under = [c for c in state.coverage.values()
             if args.fail_under is not None and c.percent < args.fail_under]

    if args.junit:
        try:
            _write_junit(args.junit, state)
        except OSError as exc:
            print(f"txguard test: cannot write `{args.junit}`: {exc.strerror}", file=sys.stderr)
            state.tool_error = True
    summary = f"{passed} passed, {failed} failed"
    if args.format == "json":
        doc: dict[str, Any] = {
            "suites": state.suites,
            "corpora": [r.to_dict() for r in state.corpora],
            "errors": [str(d) for d in sorted(state.errors)],
            "gates": gates,
            "passed": passed,
            "failed": failed,
        }
        if show_coverage:
            doc["coverage"] = [c.to_dict() for c in state.coverage.values()]
        print(json.dumps(doc, indent=2))
        print(summary, file=sys.stderr)
    else:
        for line in state.lines:
            print(line)
        for d in sorted(state.errors):
            print(d, file=sys.stderr)
        if show_coverage:
            for cov in state.coverage.values():
                print(_render_coverage(cov))
        for g in gates:
            print(f"gate: {g}")
        for c in under:
            print(f"coverage: policy `{c.policy.id}` covers {c.percent:.1f}% of its rules, under {args.fail_under:g}%")
        print(summary)
    if state.policy_invalid:
        return 3
    if state.tool_error:
        return 1
    if any(s["failed"] for s in state.suites) or gates or under:
        return 2
    return 0


def _run_suite(state: _Run, path: Path, args: argparse.Namespace) -> None:
    try:
        suite = load_suite(path)
    except SuiteError as exc:
        state.errors.extend(exc.diagnostics)
        state.tool_error = True
        return
    try:
        policy = state.policies.get(suite.policy_path)
    except PolicyError as exc:
        state.errors.extend(exc.diagnostics)
        state.policy_invalid = True
        return
    results = run_suite(suite, policy)
    cov = state.cover(policy)
    for r in results:
        cov.add_result(r)
        _print_result(state, suite.name, r, args.failures_only)
    state.suites.append({
        "file": suite.file, "suite": suite.name, "policy": policy.id,
        "passed": sum(r.passed for r in results), "failed": sum(not r.passed for r in results),
        "cases": [r.to_dict() for r in results],
    })


def _print_result(state: _Run, suite: str, r: Result, failures_only: bool) -> None:
    where = f"{r.case.file}:{r.case.line}:{r.case.column}"
    if r.passed:
        if not failures_only:
            state.lines.append(f"PASS {where} {suite} {r.case.name}: {r.case.note}")
        return
    state.lines.append(f"FAIL {where} {suite} {r.case.name}: {r.case.note}")
    if not r.turns:
        state.lines.append("     want: " + json.dumps(r.case.want.to_dict()))
        state.lines.append("     got:  " + json.dumps(r.got()))
    state.lines.extend("     " + line for line in describe_failure(r).splitlines()[1:])


def _run_corpus(state: _Run, path: str, policy: CompiledPolicy, args: argparse.Namespace) -> None:
    # The clock is the real one: corpus cases carry no time of their own.
    guard = Guard(policy)
    try:
        report = score_corpus(guard, read_corpus(path), path, state.cover(policy))
    except SuiteError as exc:
        state.errors.extend(exc.diagnostics)
        state.tool_error = True
        return
    except READ_ERRORS as exc:
        print(f"txguard test: cannot read `{path}`: {exc}", file=sys.stderr)
        state.tool_error = True
        return
    state.corpora.append(report)
    state.lines.append(f"CORPUS {path} (policy {policy.id}): {report.n} cases")
    state.lines.extend("  " + line for line in report.render().splitlines())


def _gate_failures(state: _Run, args: argparse.Namespace) -> list[str]:
    out = []
    for r in state.corpora:
        if len(r.unsafe) > args.max_unsafe:
            out.append(f"{r.file}: {len(r.unsafe)} unsafe allows, more than --max-unsafe {args.max_unsafe}")
        if len(r.blocked) > args.max_blocked:
            out.append(f"{r.file}: {len(r.blocked)} safe cases blocked, more than --max-blocked {args.max_blocked}")
        if r.exact_rate < args.min_exact:
            out.append(f"{r.file}: exact-match rate {r.exact_rate:.2f}%, under --min-exact {args.min_exact:g}%")
    return out


def _render_coverage(cov: Coverage) -> str:
    ids = cov.rule_ids
    fired = len(ids) - len(cov.never_fired)
    lines = [f"coverage {cov.policy.id} ({cov.policy.file}): {fired}/{len(ids)} rules fired ({cov.percent:.1f}%)"]
    lines.append("  never fired: " + (", ".join(cov.never_fired) or "none"))
    lines.append("  reason codes never asserted: " + (", ".join(cov.never_asserted) or "none"))
    return "\n".join(lines)


def _write_junit(path: str, state: _Run) -> None:
    root = ET.Element("testsuites")
    total = failures = 0
    for s in state.suites:
        el = ET.SubElement(root, "testsuite", name=s["suite"], file=s["file"],
                           tests=str(len(s["cases"])), failures=str(s["failed"]), errors="0")
        for c in s["cases"]:
            file, line, _ = c["location"].rsplit(":", 2)
            tc = ET.SubElement(el, "testcase", classname=s["suite"], name=f"{c['name']}: {c['note']}",
                               file=file, line=line)
            if c["status"] == "fail":
                f = ET.SubElement(tc, "failure", message="; ".join(c["diff"]))
                f.text = "\n".join(
                    [f"{c['location']}: {c['note']}", "want: " + json.dumps(c["want"]), "got:  " + json.dumps(c["got"])]
                    + [f"fired: {r['rule']} [{r['code']}, {r['outcome']}]: {r['message']}" for r in c["fired"]]
                )
        total += len(s["cases"])
        failures += s["failed"]
    for r in state.corpora:
        el = ET.SubElement(root, "testsuite", name=f"corpus {r.file}", file=r.file,
                           tests=str(r.n), failures=str(r.n - r.exact), errors="0")
        tc = ET.SubElement(el, "testcase", classname="corpus", name=f"{r.file} exact match")
        if r.mismatched:
            f = ET.SubElement(tc, "failure", message=f"{len(r.mismatched)} of {r.n} cases differ from their label")
            f.text = r.render()
        total += r.n
        failures += r.n - r.exact
    if state.errors:
        el = ET.SubElement(root, "testsuite", name="errors", tests=str(len(state.errors)), failures="0",
                           errors=str(len(state.errors)))
        for d in sorted(state.errors):
            tc = ET.SubElement(el, "testcase", classname="load", name=f"{d.file}:{d.line}:{d.column}")
            ET.SubElement(tc, "error", message=str(d))
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
