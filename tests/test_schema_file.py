"""The published schema file (used by editors through yaml-language-server) is the live schema."""

from __future__ import annotations

import json

from txguard import policy_schema

from .conftest import POLICIES, ROOT


def test_published_schema_file_matches_the_code() -> None:
    published = json.loads((ROOT / "txguard" / "schema" / "policy-v1.json").read_text(encoding="utf-8"))
    assert published == policy_schema(), "regenerate with: txguard schema > txguard/schema/policy-v1.json"


def test_shipped_policies_point_editors_at_the_schema() -> None:
    for path in sorted(POLICIES.glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../txguard/schema/policy-v1.json", path.name
