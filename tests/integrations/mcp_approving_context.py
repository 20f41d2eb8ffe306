"""A context provider whose host records approvals out of band: ``session.confirmed`` is read from
the JSON file named by ``TXGUARD_TEST_APPROVALS`` (the host's trusted screen writes it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalog" / "catalog.json"
CATALOG = json.loads(_EXAMPLE.read_text(encoding="utf-8"))


def context(tool: str, arguments: Any) -> dict[str, Any]:
    path = Path(os.environ["TXGUARD_TEST_APPROVALS"])
    confirmed = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    return {
        "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
        "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": confirmed},
        "facts": CATALOG,
    }
