"""The public API type-checks under mypy --strict (``tests/typing/api.py``), and wrong use does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
         "--no-error-summary", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )


def test_public_api_usage_type_checks() -> None:
    proc = mypy(str(ROOT / "tests" / "typing" / "api.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_wrong_use_of_the_public_api_is_a_type_error(tmp_path: Path) -> None:
    # If the API lost its types (Any everywhere), this would type-check and the file above prove nothing.
    bad = (
        "from txguard import Guard, Outcome, parse_amount\n"
        "def f(g: Guard) -> None:\n"
        "    x: int = g.check({}).outcome\n"
        "    y: float = parse_amount('1.00')\n"
        "    g.check_envelop({})\n"
        "    z: str = Outcome.ALLOW.rank\n"
    )
    snippet = tmp_path / "bad_use.py"
    snippet.write_text(bad)
    proc = mypy(str(snippet))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    # (mypy's incremental cache may name the file by an earlier tmp path: compare names and lines.)
    located = [line.split(": error: ")[0].rsplit(":", 1) for line in lines]
    assert [(Path(f).name, int(n)) for f, n in located] == [("bad_use.py", n) for n in (3, 4, 5, 6)]
    assert "[assignment]" in lines[0] and "[attr-defined]" in lines[2]


def test_wrong_inputs_to_the_guard_are_type_errors(tmp_path: Path) -> None:
    """The named input types (``ProposalInput``, ...) reject what the guard would only escalate."""
    bad = (
        "from txguard import Blocked, Decision, Guard, GuardedTool\n"
        "def f(g: Guard, d: Decision, t: GuardedTool[[int], int, Blocked]) -> None:\n"
        "    g.check(5)\n"
        "    g.check({'name': 'refund'}, request=3)\n"
        "    g.check({'name': 'refund'}, facts={'users': 1})\n"
        "    g.check({'name': 'refund'}, session='u1')\n"
        "    g.check_envelope([])\n"
        "    t.dispatch(3)\n"
        "    d.intent.kind\n"
    )
    snippet = tmp_path / "bad_inputs.py"
    snippet.write_text(bad)
    proc = mypy(str(snippet))
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    located = [line.split(": error: ")[0].rsplit(":", 1) for line in lines]
    assert [(Path(f).name, int(n)) for f, n in located] == [("bad_inputs.py", n) for n in range(3, 10)]
    codes = [line.rsplit("[", 1)[1].rstrip("]") for line in lines]
    # (a literal dict is checked entry by entry: its wrong record is a `dict-item` error)
    assert codes == ["arg-type", "arg-type", "dict-item", "arg-type", "arg-type", "arg-type", "union-attr"]
