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
