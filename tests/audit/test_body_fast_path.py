"""The audit body's one-pass encoding (``encode_body``) writes the reference's bytes, byte for byte.

Each body is built twice from the same decision, id and time: once as the guard builds it, once
with :func:`~txguard.audit._record.encode_body_reference` (the walk for lossy numbers, then the
general encoder). Odd values are planted in the inputs: unicode, lone surrogates, huge and
non-finite numbers, JSON numbers whose float is lossy, keys that are not strings; and masked fields.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.audit import MemorySink
from txguard.audit import _build, _record
from txguard.audit._build import build_entry
from txguard.audit._record import encode_body_reference
from txguard.core.jsonio import JSONNumber
from txguard.policy.compile import compile_policy

from ..conftest import POLICIES
from .conftest import RETAIL, envelopes
from .test_guard_audit import MASKED_POLICY

ENVS = envelopes(60)
PLAIN = Guard.from_file(RETAIL)
MASKED = Guard(compile_policy(RETAIL.read_text(encoding="utf-8") + MASKED_POLICY, str(POLICIES / "masked.yaml"),
                              POLICIES), audit=MemorySink(salt=b"s" * 32))
NOW = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=timezone.utc)

ODD = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=10),
    st.sampled_from(["\ud800", "caf\u00e9 \U0001f600", "a:1.0,", "2e-7]", "x\\y", "\x00\x1f", "$txguard"]),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([58.0, -0.0, 1e21, 1e-7, JSONNumber("0.79999999999999999"), JSONNumber("2.50")]),
    st.dictionaries(st.integers(0, 3) | st.text(max_size=3), st.integers(0, 9), max_size=2),
)


def _both(guard: Guard, env: dict[str, Any]) -> tuple[str, str]:
    decision = guard.check_envelope(copy.deepcopy(env))
    args = (guard.policy, decision, NOW, env.get("proposal"), env.get("request"), env.get("session"), env.get("facts"),
            {"source": "test"}, b"s" * 32, None, "01890a5d-ac96-774b-bcce-b302099a8057")
    fast, fast_ok = build_entry(*args)
    original = _build.encode_body
    _build.encode_body = encode_body_reference
    try:
        ref, ref_ok = build_entry(*args)
    finally:
        _build.encode_body = original
    assert fast_ok == ref_ok
    return fast.body_text, ref.body_text


def _raw(env: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its arguments as the JSON string a raw tool call carries."""
    return {**env, "proposal": {**env["proposal"], "arguments": json.dumps(env["proposal"]["arguments"])}}


@pytest.mark.parametrize("guard", [PLAIN, MASKED], ids=["plain", "masked"])
def test_every_corpus_body_is_the_reference_body(guard: Guard) -> None:
    for env in ENVS:
        for form in (env, _raw(env)):
            fast, ref = _both(guard, form)
            assert fast == ref


def test_corpus_bodies_never_take_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-pass encoding is the usual path: real cases (arguments as data or as a JSON string,
    with their quotes escaped in the body) never fall back to the walk."""
    def refuse(body: dict[str, Any]) -> tuple[str, bool]:
        raise AssertionError(f"decision `{body.get('id')}` took the reference path")

    monkeypatch.setattr(_record, "encode_body_reference", refuse)
    for env in ENVS:
        for form in (env, _raw(env)):
            decision = PLAIN.check_envelope(copy.deepcopy(form))
            build_entry(PLAIN.policy, decision, NOW, form["proposal"], form.get("request"), form.get("session"),
                        form.get("facts"), None, b"s" * 32)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ENVS), st.sampled_from(["facts", "request", "proposal", "session"]), st.text(max_size=4), ODD,
       st.booleans())
def test_odd_values_anywhere_give_the_reference_body(env: dict[str, Any], section: str, key: str, value: Any,
                                                     masked: bool) -> None:
    env = copy.deepcopy(env)
    target = env.get(section)
    if section == "proposal":
        target = env["proposal"].get("arguments")
    if not isinstance(target, dict):
        return
    target[key or "k"] = value
    fast, ref = _both(MASKED if masked else PLAIN, env)
    assert fast == ref
