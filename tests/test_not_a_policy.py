"""A file that is not a policy (no ``apiVersion: txguard/v1``) is refused without quoting any of it:
a suite's ``policy:`` may name any file, and the diagnostics reach whoever runs the suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import PolicyError, compile_file
from txguard.cli import main

SECRET = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=10,
                 max_size=60).filter(lambda s: len(s.strip()) >= 10)
# The secret as a whole document, a value under some key, a list item, or under a wrong apiVersion.
SHAPES = st.sampled_from(["{s}", "KEY={s}", "token: {j}", "- {j}\n- 2", "apiVersion: {j}\nid: t",
                          "apiVersion: txguard/v2\nsecret: {j}", "id: t\nversion: '1'\nnote: {j}"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(secret=SECRET, shape=SHAPES)
def test_no_diagnostic_of_a_file_that_is_no_policy_quotes_it(tmp_path: Path, secret: str, shape: str) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(shape.format(s=secret, j=json.dumps(secret)) + "\n", encoding="utf-8")
    try:
        compile_file(path)
    except PolicyError as exc:
        text = str(exc)
    else:  # pragma: no cover - none of these is a policy
        raise AssertionError("compiled")
    # What the diagnostics say for the same shape with a neutral value: a secret that happens to be
    # a word of that fixed text (hypothesis found `000 policy`) is not a leak.
    path.write_text(shape.format(s="q" * 12, j=json.dumps("q" * 12)) + "\n", encoding="utf-8")
    with pytest.raises(PolicyError) as neutral:
        compile_file(path)
    fixed = str(neutral.value)
    words = [w for w in secret.split() if len(w) >= 6 and w not in fixed]
    assert (secret.strip() in fixed or secret.strip() not in text) and not any(w in text for w in words), text


def test_a_suite_naming_a_secret_file_as_its_policy_never_prints_it(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".env").write_text("SECRET_TOKEN=hunter2-very-secret\n", encoding="utf-8")
    suite = tmp_path / "s.tests.yaml"
    suite.write_text("policy: .env\ncases:\n  - id: x\n    note: n\n    proposal: {name: checkout, arguments: {}}\n"
                     "    want: {outcome: escalate}\n", encoding="utf-8")
    assert main(["test", str(suite)]) == 3
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert (f"{tmp_path / '.env'}:1:1: txg-schema: (document): not a txguard policy: a policy is a YAML mapping "
            "that declares `apiVersion: txguard/v1`") in err
