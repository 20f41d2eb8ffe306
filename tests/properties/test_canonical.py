"""The canonical encoder's orjson fast path writes exactly what the RFC 8785 reference writes, and
on ordinary data JCS is the text txguard hashed before it (so old hashes and digests still hold).

"Ordinary data": object keys without characters beyond U+FFFF, strings, ``Decimal`` values
(written as strings), integers within +/-2**53, ``None`` and booleans. Floats, big integers and
keys beyond U+FFFF are where JCS differs from the old encoders; the first property covers them too.
"""

from __future__ import annotations

import enum
import hashlib
import json
import marshal
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.core.canonical import MAX_SAFE_INTEGER, _non_finite, canonical_json, direct_jcs, encode_jcs, policy_json
from txguard.core.jsonio import JSONNumber
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


# -- the direct path (orjson checked by marshal, its odd floats rewritten) -------------------------

class _Colour(enum.Enum):
    RED = "red"
    NAN = float("nan")


class _Level(enum.IntEnum):
    HIGH = 3


odd_leaf = st.one_of(
    every_leaf,
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.sampled_from([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, 5e-324, 1.7976931348623157e308,
                     float("nan"), float("inf"), -float("inf"), -0.0, _Colour.RED, _Colour.NAN, _Level.HIGH,
                     JSONNumber("0.79999999999999999"), JSONNumber("1.5"), Decimal("NaN"), b"bytes", {1, 2},
                     "a:1.0,", "[2e-7]", '"3.0,"', "x\\y 4.0}", "\ud800", "\U0001f600 5.0]", "\x7f\xf0"]),
    st.text(alphabet=st.characters(codec=None), max_size=8),
)
odd_key = every_key | st.sampled_from(["\U0001f600", "\ud800", "\ufb33", "1.0,", "e-5"]) | st.integers(0, 3)


def _odd(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=4) | st.lists(kids, max_size=3).map(tuple)
                        | st.dictionaries(keys, kids, max_size=5), max_leaves=24)


def _reference(value: Any) -> str | None:
    try:
        return encode_jcs(value)
    except (TypeError, ValueError):
        return None


@settings(max_examples=600, deadline=None)
@given(_odd(odd_leaf, odd_key))
def test_the_direct_path_writes_the_reference_text_or_declines(value: Any) -> None:
    """Never a text the reference would not write: NaN, infinities, big integers, JSON numbers,
    enums, sets, lone surrogates, keys beyond U+FFFF and strings that look like floats included."""
    text = direct_jcs(value)
    if text is not None:
        assert text == _reference(value)
    assert canonical_json(value) == _reference(value) if _reference(value) is not None else True


@settings(max_examples=300, deadline=None)
@given(_odd(every_leaf | floats, bmp_text))
def test_the_direct_path_takes_plain_json_with_floats(value: Any) -> None:
    """Plain JSON is never declined (escaped quotes and backslashes included): the fast path is the
    usual one. Only characters beyond U+FFFF, Decimals and 2**53 itself take the other paths."""
    if any(ord(c) > 0xFFFF for c in json.dumps(value, default=str, ensure_ascii=False)):
        return
    if _reference(value) is None or any(isinstance(x, Decimal) or (type(x) is int and abs(x) == MAX_SAFE_INTEGER)
                                        for x in _leaves(value)):  # orjson's strict integers stop one short of 2**53
        return
    direct = direct_jcs(value)
    # The NaN scan reads marshal's bytes from a float's high byte; an integer's bytes can look like
    # one (`[-25, -1]`: E7 FF FF FF FF FF FF FF), and then the path declines: the slower exact path
    # writes the text, never a wrong one. Any other decline is a regression.
    if direct is None and _non_finite(marshal.dumps(value, 4)):
        assert canonical_json(value) == encode_jcs(value)
        return
    assert direct == encode_jcs(value)


def test_an_integer_that_looks_like_a_nan_to_the_scan_is_declined_and_written_by_the_exact_path() -> None:
    value = [-25, -1]
    assert _non_finite(marshal.dumps(value, 4))  # the scan's false positive: safe, the caller goes on
    assert direct_jcs(value) is None
    assert canonical_json(value) == encode_jcs(value) == "[-25,-1]"


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _leaves(v)]
    return [value]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), [1, {"a": float("nan")}],
                                   {"p": -float("inf")}, [_Colour.NAN], [JSONNumber("0.1")], {"k": Decimal("1.5")},
                                   {1: "x"}, {"\U0001f600": 1}, 1 << 53, [-(1 << 60)], "\ud800"])
def test_the_direct_path_declines_what_it_cannot_vouch_for(value: Any) -> None:
    assert direct_jcs(value) is None


@pytest.mark.parametrize(("value", "text"), [
    (58.0, "58"), (-0.0, "0"), ([1e21, 1e-7, 1e16, 0.000001], "[1e+21,1e-7,10000000000000000,0.000001]"),
    ({"a": "x:1.0,", "b": [2.0, "3e-5", 3e-5]}, '{"a":"x:1.0,","b":[2,"3e-5",0.00003]}'),
    ({"d": "sha256:3e+45a1.0]", "e": ",2e-7}", "f": [1e-7, "[4.0,"]}, '{"d":"sha256:3e+45a1.0]","e":",2e-7}","f":[1e-7,"[4.0,"]}'),
    ({"q": 'say "x",1.0,"', "r": 7.0, "s": "a\\", "t": 1.0, "u": '\\",2.0,"\\\\', "v": [3.0]},
     '{"q":"say \\"x\\",1.0,\\"","r":7,"s":"a\\\\","t":1,"u":"\\\\\\",2.0,\\"\\\\\\\\","v":[3]}'),
    ({"arguments": '{"items":[{"price":58.0}],"total":"1.0"}', "confidence": 1.0},
     '{"arguments":"{\\"items\\":[{\\"price\\":58.0}],\\"total\\":\\"1.0\\"}","confidence":1}'),
])
def test_the_direct_path_rewrites_only_the_floats_outside_strings(value: Any, text: str) -> None:
    assert direct_jcs(value) == text == encode_jcs(value)


@settings(max_examples=100, deadline=None)
@given(corpus_envelopes)
def test_the_direct_path_takes_every_corpus_envelope(envelope: dict[str, Any]) -> None:
    raw = {**envelope, "proposal": {**envelope["proposal"], "arguments": json.dumps(envelope["proposal"]["arguments"])}}
    for value in (envelope, raw):  # arguments as data and as the JSON string a raw tool call carries
        assert direct_jcs(value) == encode_jcs(value)
