"""Hostile request bodies against a real ``txguard serve``: a repeated key anywhere is refused, never decided."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from txguard.audit import open_sink

from ..sessions.helpers import BASE
from .conftest import serve
from .test_service import kettle

pytestmark = pytest.mark.system


def _objects(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every non-empty object in ``value``, at any depth."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        if value:
            out.append(path)
        for k, v in value.items():
            out += _objects(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _objects(v, (*path, i))
    return out


def _with_repeat(value: Any, path: tuple[Any, ...], key: str, first: Any) -> str:
    """``value`` as JSON text where the object at ``path`` has ``key`` twice: ``first``, then its own value."""
    if not path:
        assert isinstance(value, dict)
        members = [f"{json.dumps(key)}: {json.dumps(first)}"]
        members += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in value.items()]
        return "{" + ", ".join(members) + "}"
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_with_repeat(v, rest, key, first) if k == head else json.dumps(v)}"
                               for k, v in value.items()) + "}"
    return "[" + ", ".join(_with_repeat(v, rest, key, first) if i == head else json.dumps(v)
                           for i, v in enumerate(value)) + "]"


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def test_a_key_repeated_at_any_depth_of_a_body_is_malformed_json(tmp_path: Path) -> None:
    rng = random.Random(12)
    envelope = kettle()
    audit = tmp_path / "audit.db"
    policy = tmp_path / "policy.yaml"
    policy.write_text(BASE, encoding="utf-8")
    bodies: list[tuple[str, str]] = []
    for path in _objects(envelope):
        obj = _at(envelope, path)
        for key in obj:
            # The first value differs from the one that follows: a reader keeping the last would judge the
            # confirmed kettle while an executor keeping the first would run something else.
            first = rng.choice(["card_2", "999.00", 7, None, {"sku": "222"}, ["x"]])
            text = _with_repeat(envelope, path, key, first)
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
