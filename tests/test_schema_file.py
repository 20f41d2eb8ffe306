"""The published schema file (used by editors through yaml-language-server) is the live schema."""

from __future__ import annotations

import json

import jsonschema
import pytest

from txguard import compile_file, policy_schema
from txguard.policy.schema import _validator

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


def test_every_published_schema_is_valid_for_the_draft_it_declares() -> None:
    # The run-time validator never meta-validates (it would cost every start ~100 ms): this does.
    files = sorted((ROOT / "txguard" / "schema").glob("*.json"))
    assert files
    for path in [*files, None]:
        schema = policy_schema() if path is None else json.loads(path.read_text(encoding="utf-8"))
        assert "$schema" in schema, path
        validator = jsonschema.validators.validator_for(schema)
        assert schema["$schema"] in (validator.META_SCHEMA["$id"], validator.META_SCHEMA["$id"].rstrip("#")), path
        validator.check_schema(schema)


def test_the_meta_validation_catches_a_broken_schema() -> None:
    broken = {**policy_schema(), "type": "mapping"}  # not a JSON Schema type
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.validators.validator_for(broken).check_schema(broken)


def test_compiling_a_policy_never_meta_validates_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("check_schema ran at run time")

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", classmethod(refuse))
    _validator.cache_clear()  # build the run-time validator again, under the patch
    try:
        compile_file(POLICIES / "retail.yaml")
    finally:
        _validator.cache_clear()
