"""Hostile request bodies against a real ``txguard serve``: a repeated key anywhere is refused, never decided."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from txguard.audit import open_sink

from ..sessions.helpers import BASE
from ..helpers import value_at, with_repeated_key, object_paths
from .conftest import serve
from .test_service import kettle

pytestmark = pytest.mark.system


def test_a_key_repeated_at_any_depth_of_a_body_is_malformed_json(tmp_path: Path) -> None:
    rng = random.Random(12)
    envelope = kettle()
    audit = tmp_path / "audit.db"
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE, encoding="utf-8")
    bodies: list[tuple[str, str]] = []
    for path in object_paths(envelope):
        obj = value_at(envelope, path)
        for key in obj:
            # The first value differs from the one that follows: a reader keeping the last would judge the
            # confirmed kettle while an executor keeping the first would run something else.
            first = rng.choice(["card_2", "999.00", 7, None, {"sku": "222"}, ["x"]])
            text = with_repeated_key(envelope, path, key, first)
            bodies.append((key, text))
    assert len(bodies) > 20
    with serve(["--policy", str(policy), "--audit", f"sqlite:{audit}"], tmp_path / "log") as srv:
        for key, text in bodies:
            for route, body in (("/v1/check", text), ("/v1/check/batch", '{"cases": [' + text + "]}")):
                r = srv.client.post(route, content=text if route == "/v1/check" else body,
                                    headers={"content-type": "application/json"})
                assert r.status_code == 400, (route, text, r.text)
                problem = r.json()
                assert problem["type"] == "urn:txguard:problem:malformed-json"
                assert problem["detail"] == f"duplicate key `{key}` in a JSON object"
        # the unedited envelope is still decided (and allowed: the user confirmed it)
        assert srv.client.post("/v1/check", json=envelope).json()["outcome"] == "allow"
    sink = open_sink(f"sqlite:{audit}")
    try:  # nothing but the one decision was made, so nothing else was recorded
        assert [r.body["decision"]["outcome"] for r in sink.records()] == ["allow"]
    finally:
        sink.close()
