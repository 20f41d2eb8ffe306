"""The canonical encoder's orjson fast path writes exactly what the RFC 8785 reference writes, and
on ordinary data JCS is the text txguard hashed before it (so old hashes and digests still hold).

"Ordinary data": object keys without characters beyond U+FFFF, strings, ``Decimal`` values
(written as strings), integers within +/-2**53, ``None`` and booleans. Floats, big integers and
keys beyond U+FFFF are where JCS differs from the old encoders; the first property covers them too.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.core.canonical import MAX_SAFE_INTEGER, canonical_json, encode_jcs, policy_json
from txguard.core.intents import INTENT_MODELS
from txguard.domain.digest import bound_fields, intent_digest

from .strategies import POLICIES, corpus_envelopes

_GUARD = Guard.from_file(POLICIES / "retail.yaml")

any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
bmp_text = st.text(alphabet=st.characters(codec="utf-8", max_codepoint=0xFFFF), max_size=8)
tricky = st.sampled_from(["", "a", "A", "é", "\u20ac", "\ufb33", "\U0001f600", "\x7f", "\u2028", "\x00", '"', "\\"])
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [0.0, -0.0, 1.0, 100.0, 1e-4, 1e-5, 1e-6, 1e-7, 1e15, 1e16, 1e21, 0.1, 1.5, 123456789012345.6])
safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**12, max_value=10**12)


def json_like(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=5),
        max_leaves=20,
    )


every_leaf = st.none() | st.booleans() | safe_ints | floats | any_text | tricky | decimals
every_key = any_text | tricky


@settings(max_examples=400, deadline=None)
@given(json_like(every_leaf, every_key))
def test_the_fast_path_equals_the_reference(value: Any) -> None:
    assert canonical_json(value) == encode_jcs(value)


ordinary_leaf = st.none() | st.booleans() | safe_ints | any_text | decimals
ordinary_key = bmp_text | st.sampled_from(["", "a", "A", "é", "\u20ac", "\ufb33", "\x7f", "\u2028", "\x00"])


@settings(max_examples=400, deadline=None)
@given(json_like(ordinary_leaf, ordinary_key))
def test_on_ordinary_data_jcs_is_the_text_hashed_before(value: Any) -> None:
    jcs = encode_jcs(value)
    before_audit = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    before_digest = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert jcs == before_audit == before_digest == canonical_json(value) == policy_json(value)


@settings(max_examples=300, deadline=None)
@given(json_like(every_leaf | st.integers() | st.just(float("nan")), every_key))
def test_the_policy_profile_is_json_dumps(value: Any) -> None:
    wanted = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert policy_json(value) == wanted


def test_the_two_differ_where_jcs_says_so() -> None:
    value = {"\U0001f600": 1, "\ufb33": 2, "n": [100.0, 1e21, Decimal("1.0")]}
    assert encode_jcs(value) == '{"n":[100,1e+21,"1.0"],"\U0001f600":1,"\ufb33":2}'
    assert json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) == (
        '{"n":[100.0,1e+21,"1.0"],"\ufb33":2,"\U0001f600":1}')


@settings(max_examples=150, deadline=None)
@given(corpus_envelopes)
def test_the_consent_digest_of_every_corpus_intent_is_unchanged(envelope: dict[str, Any]) -> None:
    """JCS of the bound fields is the text ``intent_digest`` hashed before RFC 8785 was adopted."""
    intent = _GUARD.check_envelope(envelope).intent
    if intent is None or intent.kind not in INTENT_MODELS:
        return
    before = json.dumps(bound_fields(intent), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    assert intent_digest(intent) == "sha256:" + hashlib.sha256(before.encode("utf-8")).hexdigest()
