"""The grocery-delivery example domain (policies/grocery/): its generated corpus decided by the policy,
the corpus reproducible from its generator, and the policy lint-clean.

The corpus is labelled by ``scripts/gen_grocery_corpus.py`` from the mutation it applied, never by
running txguard; each case carries the ``clock`` its situation was built at (slots and cut-offs are
relative to it), and only ``proposal``, ``request``, ``session`` and ``facts`` reach the guard.
"""

from __future__ import annotations

import copy
import gzip
import importlib.util
import json
from collections import Counter
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import yaml

from txguard import Guard, compile_file
from txguard.cli import main

from .conftest import POLICIES, ROOT

GROCERY = POLICIES / "grocery"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_grocery_corpus", ROOT / "scripts" / "gen_grocery_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    with gzip.open(GROCERY / "corpus.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_the_corpus_is_decided_exactly(cases: list[dict[str, Any]]) -> None:
    policy = compile_file(GROCERY / "grocery.yaml")
    unsafe: list[str] = []
    blocked: list[str] = []
    wrong: list[str] = []
    missing_code: list[str] = []
    for case in cases:
        at = datetime.fromisoformat(case["clock"])
        guard = Guard(policy, clock=lambda at=at: at)  # each case its own world, at its own time
        envelope = {k: case[k] for k in ("proposal", "request", "session", "facts") if k in case}
        decision = guard.check_envelope(envelope)
        got = decision.outcome.value
        if case["expect"] != "allow" and got == "allow":
            unsafe.append(case["id"])
        if case["expect"] == "allow" and got != "allow":
            blocked.append(case["id"])
        if got != case["expect"]:
            wrong.append(f"{case['id']}: want {case['expect']}, got {got} {decision.codes}")
        # What the mutation breaks is reported; other codes may only be the fail-closed ones an
        # unknown record brings along (a rule that reads a record that is not there).
        codes = set(decision.codes)
        if not set(case["violates"]) <= codes or not codes - set(case["violates"]) <= {"missing_fact", "payment_method", "not_requested"}:
            missing_code.append(f"{case['id']}: violates {case['violates']}, got {sorted(codes)}")
    assert unsafe == []
    assert blocked == []
    assert wrong == []
    assert missing_code == []


def test_the_corpus_is_what_its_generator_writes(cases: list[dict[str, Any]]) -> None:
    gen = _generator()
    assert gen.render(gen.generate()) == (GROCERY / "corpus.jsonl.gz").read_bytes()
    assert 150 <= len(cases) <= 320
    assert len({c["id"] for c in cases}) == len(cases)


def test_every_mutation_is_in_the_corpus(cases: list[dict[str, Any]]) -> None:
    """A mutation that never applies would leave its rule untested without anyone noticing."""
    gen = _generator()
    wanted = {f"{prefix}/{variant}" for prefix, _build, mutations in gen.KINDS for variant, _m in mutations}
    got = Counter(c["variant"] for c in cases)
    assert {v for v in wanted if got[v] < gen.WORLDS} == set()
    expect = Counter(c["expect"] for c in cases)
    assert expect["allow"] >= 40 and expect["clarify"] >= 40 and expect["escalate"] >= 40


def test_the_policy_is_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(GROCERY / "grocery.yaml")]) == 0
    assert capsys.readouterr().err.strip() == "0 findings"


def test_the_suite_covers_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(GROCERY), "--coverage", "--fail-under", "100", "--failures-only"]) == 0
    out = capsys.readouterr().out
    assert "never fired: none" in out and "reason codes never asserted: none" in out


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, path + (k,))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, path + (i,))]
    return [(path, value)]


def _changed(key: Any, value: Any) -> Any:
    """Another value of the same type: what an agent might quietly change after the user said yes."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if key in ("start", "end"):
        return value.replace(":00:00", ":30:00")
    if key == "weight_kg":
        return str(Decimal(value) + Decimal("0.001"))
    if key in ("unit_price", "line_total", "subtotal", "delivery_fee", "total"):
        return str(Decimal(value) + Decimal("0.01"))
    return value + "X"


@pytest.mark.parametrize("name", ["order", "substitution", "slot-change", "cancellation"])
def test_consent_binds_every_field_of_each_kind(name: str) -> None:
    """Change any one leaf of a confirmed proposal of the suite: consent fires, it is never allowed."""
    suite = yaml.safe_load((GROCERY / "grocery.tests.yaml").read_text(encoding="utf-8"))
    fixtures = suite["fixtures"]
    proposal = fixtures["proposals"][name]
    at = datetime.fromisoformat(suite["clock"].replace("Z", "+00:00"))
    guard = Guard(compile_file(GROCERY / "grocery.yaml"), clock=lambda: at)
    envelope = {"request": fixtures["requests"]["weekly"], "facts": fixtures["facts"]["store"]}
    leaves = _leaves(proposal["arguments"])
    assert len(leaves) >= 2
    for path, value in leaves:
        arguments = copy.deepcopy(proposal["arguments"])
        target = arguments
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = _changed(path[-1], value)
        session = {"authenticated_user_id": "ana", "confirmed": [proposal]}
        decision = guard.independent().check_envelope(
            dict(envelope, proposal={"name": proposal["name"], "arguments": arguments}, session=session))
        assert decision.outcome.value != "allow", path
        assert "consent" in decision.codes or "malformed" in decision.codes, (path, decision.codes)
    same = guard.independent().check_envelope(dict(envelope, proposal=proposal, session={"authenticated_user_id": "ana", "confirmed": [proposal]}))
    assert same.outcome.value == "allow", same.codes
