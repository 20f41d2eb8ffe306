"""The policy guide stays true: generated tables equal the registries, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from txguard import compile_policy
from txguard.checks.spec import CHECKS
from txguard.authoring.docs import blocks, regenerate, tables
from txguard.engine.evaluate import ENGINE_CODES
from txguard.policy.lint import LINT_CODES, lint
from txguard.cli import main

from .conftest import POLICIES, ROOT

GUIDE = ROOT / "docs" / "policy-guide.md"


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


def test_generated_tables_equal_the_registries() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert blocks(text) == tables()
    assert regenerate(text) == text


def test_every_check_code_and_lint_code_is_in_the_guide() -> None:
    found = blocks(GUIDE.read_text(encoding="utf-8"))
    for name, spec in CHECKS.items():
        assert f"| `{name}` |" in found["checks"] and f"`{spec.code}`" in found["checks"]
    for code in ENGINE_CODES:
        assert f"| `{code}` |" in found["engine-codes"]
    for code in LINT_CODES:
        assert f"| `{code}` |" in found["lint-codes"]


def test_the_guide_policy_compiles_and_is_lint_clean() -> None:
    (policy,) = [b for b in _yaml_blocks(GUIDE.read_text(encoding="utf-8")) if b.startswith("apiVersion: txguard/v1\nid:")]
    compiled = compile_policy(policy, str(POLICIES / "shop.yaml"), POLICIES)
    assert len(compiled.rules) == 17
    assert lint(compiled) == []


def test_the_guide_suite_output_is_what_txguard_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    text = GUIDE.read_text(encoding="utf-8")
    yamls = _yaml_blocks(text)
    (policy,) = [b for b in yamls if b.startswith("apiVersion: txguard/v1\nid:")]
    (suite,) = [b for b in yamls if b.startswith("apiVersion: txguard/v1\nsuite:")]
    shown = text[text.index("Run it:\n\n```\n") + len("Run it:\n\n```\n"):]
    shown = shown[: shown.index("```")]
    command, *expected = shown.splitlines()
    assert command == "$ txguard test policies/ --coverage --fail-under 100"
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "shop.yaml").write_text(
        policy.replace("taxonomy: taxonomy/", f"taxonomy: {POLICIES}/taxonomy/"), encoding="utf-8")
    (tmp_path / "policies" / "shop.tests.yaml").write_text(suite, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(command.split()[2:]) == 2
    assert capsys.readouterr().out.splitlines() == expected
