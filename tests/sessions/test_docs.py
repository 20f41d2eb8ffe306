from __future__ import annotations

import re
from pathlib import Path

from txguard.sessions import SESSION_CODES

DOC = Path(__file__).resolve().parents[2] / "docs" / "sessions.md"


def test_every_session_reason_code_is_documented_with_its_meaning() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (.+?) \|$", DOC.read_text(encoding="utf-8"), flags=re.M))
    assert rows == SESSION_CODES
