"""RFC 8785 (JCS): the reference encoder and the dispatching one against the RFC's vectors.

The structured vectors are the test data of the JCS authors (cyberphone/json-canonicalization,
``testdata/input`` and ``testdata/output``); the numbers are RFC 8785 Appendix B.
"""

from __future__ import annotations

import json
import struct
from decimal import Decimal

import pytest

from txguard.core.canonical import MAX_DEPTH, canonical_json, encode_jcs, es_number, policy_json

VECTORS = {
    "values": (
        '{"numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],'
        ' "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/", "literals": [null, true, false]}',
        '{"escaping":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
        '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}',
    ),
    "weird": (
        '{"\\u20ac": "Euro Sign", "1": "One", "\\u0080": "Control\\u007f", "\\ud83d\\ude02": "Smiley",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "</script>": "Browser Challenge"}',
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\U0001f602":"Smiley",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
    "structures": (
        '{"1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0}, "10": { }, "": "empty", "a": { }, "111": [ { } ], "A": { }}',
        '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ),
    "arrays": ('[56, {"d": true, "10": null, "1": [ ]}]', '[56,{"1":[],"10":null,"d":true}]'),
    "french": (
        '{"peach": "This sorting order", "p\u00e9ch\u00e9": "is wrong according to French",'
        ' "p\u00eache": "but canonicalization MUST", "sin": "ignore locale"}',
        '{"peach":"This sorting order","p\u00e9ch\u00e9":"is wrong according to French",'
        '"p\u00eache":"but canonicalization MUST","sin":"ignore locale"}',
    ),
    "unicode": ('{"Unnormalized Unicode":"A\\u030a"}', '{"Unnormalized Unicode":"A\u030a"}'),
    "rfc-3.2.3-sorting": (
        '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}',
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
        '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ),
}


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_the_jcs_test_vectors(name: str) -> None:
    source, wanted = VECTORS[name]
    value = json.loads(source)
    assert encode_jcs(value) == wanted
    assert canonical_json(value) == wanted


NUMBERS = [  # RFC 8785 Appendix B: IEEE 754 bits -> ECMAScript text
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), NUMBERS)
def test_the_rfc_number_vectors(bits: str, text: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert es_number(value) == text
    assert canonical_json([value]) == f"[{text}]"


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_are_refused(bits: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(ValueError, match="JCS numbers are finite"):
        canonical_json({"x": value})


def test_integers_beyond_two_to_the_53_are_refused() -> None:
    assert canonical_json([2**53, -(2**53)]) == "[9007199254740992,-9007199254740992]"
    for big in (2**53 + 1, -(2**53) - 1, 2**64):
        with pytest.raises(ValueError, match=r"beyond \+/-2\*\*53"):
            canonical_json({"n": big})


def test_a_lone_surrogate_and_a_key_that_is_not_a_string_are_refused() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        encode_jcs({"t": "caf\ud800"})
    with pytest.raises((TypeError, ValueError)):
        canonical_json({"t": "caf\ud800"})
    with pytest.raises(TypeError, match="not a string"):
        canonical_json({1: "x"})
    with pytest.raises(TypeError, match="cannot record a value of type object"):
        canonical_json({"x": object()})


def test_nesting_stops_where_orjson_stops() -> None:
    def nest(n: int, leaf: object) -> object:
        for _ in range(n):
            leaf = [leaf]
        return leaf

    for leaf in (1, 1.5e300):  # the fast path and the reference
        assert canonical_json(nest(MAX_DEPTH, leaf)).startswith("[" * MAX_DEPTH)
        with pytest.raises(TypeError, match="Recursion limit"):
            canonical_json(nest(MAX_DEPTH + 1, leaf))


def test_integral_floats_are_written_as_integers_on_both_paths() -> None:
    value = {"balance": 58.0, "zero": -0.0, "price": 287.79, "big": 2.0**53}
    assert canonical_json(value) == encode_jcs(value) == '{"balance":58,"big":9007199254740992,"price":287.79,"zero":0}'


def test_non_json_values_are_converted_as_the_audit_trail_always_has() -> None:
    assert canonical_json({"a": Decimal("12.50"), "s": {3, 1}}) == '{"a":"12.50","s":[1,3]}'
    assert encode_jcs({"a": Decimal("12.50"), "s": {3, 1}}) == '{"a":"12.50","s":[1,3]}'


def test_the_policy_profile_is_json_dumps() -> None:
    value = {"b": [1.0, float("nan"), 10**30], "a": "é\n", 2: None, "\U0001f600": 1, "\ufb33": 2}
    value.pop(2)
    assert policy_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                                            default=str)
    assert policy_json({2: "x", 10: "y"}) == '{"2":"x","10":"y"}'
