"""The guarded-tool API keeps its static types: wrap preserves parameters, results and Blocked."""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent


def test_guarded_tool_usage_type_checks() -> None:
    stdout, stderr, status = api.run(["--strict", "--no-error-summary", "--config-file", str(ROOT / "pyproject.toml"),
                                      str(ROOT / "tests" / "typing" / "guarded_tools.py")])
    assert status == 0, stdout + stderr
