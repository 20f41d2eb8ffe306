"""The exception tree and the documented diagnostic codes."""

from __future__ import annotations

from typing import get_args

from txguard import ERROR_CODES, Diagnostic, DiagnosticsError, ErrorCode, PolicyError, TxguardError
from txguard.authoring.suite import SuiteError


def test_every_error_code_is_documented_and_every_documented_code_exists() -> None:
    assert set(get_args(ErrorCode)) == set(ERROR_CODES)
    assert all(text and not text.endswith(".") for text in ERROR_CODES.values())


def test_policy_and_suite_errors_share_the_located_form() -> None:
    diags = [Diagnostic("b.yaml", 3, 1, "txg-suite", "second"), Diagnostic("a.yaml", 9, 2, "txg-schema", "first")]
    for cls in (PolicyError, SuiteError):
        err = cls(diags, omitted=2)
        assert isinstance(err, DiagnosticsError) and isinstance(err, TxguardError)
        assert [d.file for d in err.diagnostics] == ["a.yaml", "b.yaml"]
        assert str(err) == "a.yaml:9:2: txg-schema: first\nb.yaml:3:1: txg-suite: second\n... and 2 more"
