"""The audit's fast paths against their references, on random and adversarial values.

- :func:`~txguard.audit._fastbody.fast_body` (one ``marshal`` proof for the whole body, the proposal
  digest from it) writes what :func:`~txguard.audit._record.encode_body_reference` writes, sets the
  same ``proposal_digest``, and answers ``None`` with the body untouched wherever it is not sure.
- :func:`~txguard.audit._fastbody.float_spans` finds the float tokens the canonical encoder's own
  ``_float_spans`` finds, on orjson's texts and on arbitrary bytes.
- A journal's precomputed MAC (``_MacKey``) is :func:`~txguard.audit.sinks.journal.journal_mac`,
  and the lines a journal writes are the ones :func:`read_journal` authenticates.
"""

from __future__ import annotations

import enum
import marshal
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard.audit import AuditEntry
from txguard.audit._fastbody import SIGNED_EXPONENT, fast_body, float_spans
from txguard.audit._record import encode_body, encode_body_reference
from txguard.audit.sinks.journal import _Journal, _MacKey, journal_mac, read_journal
from txguard.core import canonical
from txguard.core.jsonio import JSONNumber

MAX = 1 << 53


class Colour(enum.Enum):
    RED = "red"
    NAN = float("nan")


class Text(str):
    pass


class Number(int):
    pass


ODD_LEAVES = st.sampled_from([
    float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 58.0, 1e21, 1e-7, 1e16, 1.5e300, 5e-324, 0.1,
    MAX, MAX + 1, -MAX - 1, 1 << 64, True, False, None, JSONNumber("0.79999999999999999"), JSONNumber("2.5"),
    "\ud800", "caf\u00e9", "\U0001f600", "e-5", "1.0,", 'a"b', "\\", '\\"', "\x00\x1f", "$txguard", "",
    Colour.RED, Colour.NAN, uuid.UUID(int=7), orjson.Fragment(b"[1"), Text("t"), Number(3), (1, 2), b"x",
    frozenset({1}), 1j, Ellipsis,
])
LEAVES = (st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70)
          | st.floats() | st.text(alphabet=st.characters(codec=None), max_size=6) | ODD_LEAVES)
KEYS = st.text(max_size=4) | st.sampled_from(["\U0001f600", "\ufb33", "a", "e-1", "0.0,", '"', "\ud800"])
ODD_KEYS = KEYS | st.sampled_from([1, 2.5, None, True, ("t",), Text("k")])


def values(keys: st.SearchStrategy[Any] = KEYS, leaves: st.SearchStrategy[Any] = LEAVES) -> st.SearchStrategy[Any]:
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(keys, kids, max_size=4),
                        max_leaves=16)


PLAIN = values(st.text(max_size=4), st.none() | st.booleans() | st.integers(-MAX + 1, MAX - 1)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6))
ANY = values(ODD_KEYS) | PLAIN


def _clone(value: Any) -> Any:
    """A fresh copy of the containers (both builds mutate the body); leaves are shared."""
    if type(value) is dict:
        return {k: _clone(v) for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) for v in value]
    return value


def _deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


BODIES = st.fixed_dictionaries({
    "v": st.just(1), "id": st.sampled_from(["01890a5d-ac96-774b-bcce-b302099a8057", "x"]) | st.builds(Text, st.just("t")),
    "time": st.just("2026-03-01T09:00:00.123456+00:00"),
    "policy": st.just({"id": "retail", "version": "1", "digest": "sha256:" + "0" * 64}),
    "proposal": st.fixed_dictionaries({"name": st.text(max_size=5), "arguments": ANY}) | ANY,
    "intent": PLAIN | st.none(), "context": st.fixed_dictionaries({"request": ANY, "session": ANY, "facts": ANY}),
    "decision": st.fixed_dictionaries({"outcome": st.sampled_from(["allow", "refuse"]), "reasons": st.lists(PLAIN, max_size=2),
                                       "route": st.none() | st.text(max_size=3)}),
    "elapsed_ns": st.integers(0, 10**9) | st.sampled_from([1 << 60, 2.5]), "lineage": ANY, "masked": st.just([]),
    "salt": st.none(),
}, optional={"shadow": ANY, "proposal_digest": st.just("sha256:" + "1" * 64)})


def _check(body: dict[str, Any]) -> None:
    fast_in, ref_in, usual_in = _clone(body), _clone(body), _clone(body)
    ref, ref_ok = encode_body_reference(ref_in)  # never raises: an unrecordable part is left out, said why
    usual, usual_ok = encode_body(usual_in)
    assert (usual, usual_ok) == (ref, ref_ok)
    assert usual_in.get("proposal_digest") == ref_in.get("proposal_digest")
    text = fast_body(fast_in)
    if text is None:
        assert fast_in.keys() == body.keys()  # untouched: no digest set behind a refusal
    else:
        assert ref_ok and text == ref
        assert fast_in["proposal_digest"] == ref_in["proposal_digest"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(BODIES)
def test_the_fast_body_is_the_reference_body(body: dict[str, Any]) -> None:
    _check(body)


def test_a_body_whose_shadow_cannot_be_recorded_is_recorded_alike_without_it() -> None:
    """A generated body the reference once refused (an integer beyond 2**53 sends it to the escaped
    encoding, where a complex cannot be recorded) failed the differential above; both paths now
    write the record without the shadow part, saying why."""
    body = {"v": 1, "id": "i", "time": "2026-03-01T09:00:00.123456+00:00", "proposal": None, "intent": None,
            "context": {"session": [], "request": [], "facts": []}, "masked": [], "salt": None,
            "shadow": [9_007_199_254_740_993, 1j]}
    text, complete = encode_body_reference(_clone(body))
    assert not complete and '"shadow"' not in text and '"unrecordable":"TypeError: ' in text
    _check(body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PLAIN, PLAIN)
def test_plain_bodies_take_the_fast_path(proposal: Any, facts: Any) -> None:
    """Plain JSON with no key beyond U+FFFF: the fast path answers, and answers the reference's text."""
    body = {"v": 1, "id": "i", "proposal": {"name": "n", "arguments": proposal}, "context": {"facts": facts}}
    if any(ord(c) > 0xFFFF for c in orjson.dumps(body).decode("utf-8")):
        return  # a character beyond U+FFFF may sit in a key: the fast path rightly declines
    text = fast_body(_clone(body))
    if text is None and canonical._non_finite(marshal.dumps(body, 4)):
        return  # an integer's bytes looked like a NaN to the scan (`[-25, -1]`): declined, safe
    if SIGNED_EXPONENT:
        assert text is not None
    assert text == encode_body_reference(_clone(body))[0]


@pytest.mark.parametrize("depth", [250, 251, 252, 253, 254, 300])
def test_depth_at_the_limit(depth: int) -> None:
    _check({"v": 1, "id": "i", "proposal": {"name": "n", "arguments": _deep(depth)}, "context": {"facts": None}})
    _check({"v": 1, "id": "i", "proposal": None, "context": {"facts": _deep(depth)}})


@pytest.mark.parametrize("leaf", [float("nan"), Colour.RED, uuid.UUID(int=1), orjson.Fragment(b"1"), Text("a"),
                                  JSONNumber("0.1"), b"b", 1 << 60, "\ud800", "\U0001f600"])
def test_each_odd_leaf_anywhere(leaf: Any) -> None:
    for where in ("proposal", "facts", "lineage"):
        body: dict[str, Any] = {"v": 1, "id": "i", "proposal": {"name": "n", "arguments": {}},
                                "context": {"facts": {}}, "lineage": {}}
        if where == "proposal":
            body["proposal"]["arguments"]["x"] = leaf
        elif where == "facts":
            body["context"]["facts"]["x"] = [leaf]
        else:
            body["lineage"]["x"] = leaf
        _check(body)
        assert fast_body(_clone(body)) is None


# -- float spans -------------------------------------------------------------------------------------

signed = pytest.mark.skipif(not SIGNED_EXPONENT, reason="this orjson writes exponents without a sign")

SPAN_ALPHABET = st.sampled_from(list('0123456789.-+eE",:[]{}\\ an'))


@signed
@settings(max_examples=500, deadline=None)
@given(PLAIN)
def test_float_spans_on_orjson_texts(value: Any) -> None:
    out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    assert float_spans(out) == canonical._float_spans(out)


@signed
@settings(max_examples=500, deadline=None)
@given(st.lists(SPAN_ALPHABET, max_size=40).map("".join) | st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_float_spans_on_any_bytes(text: str) -> None:
    out = text.encode("latin-1")
    assert float_spans(out) == canonical._float_spans(out)


# -- the journal's MAC -------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=150), st.text(max_size=20), st.integers(0, 10**6), st.text(min_size=1, max_size=10),
       st.text(max_size=60))
def test_the_precomputed_mac_is_journal_mac(key: bytes, name: str, index: int, ident: str, body: str) -> None:
    try:
        raw_ident, raw_body, _ = ident.encode("utf-8"), body.encode("utf-8"), name.encode("utf-8")
    except UnicodeEncodeError:
        return
    mac = _MacKey(key, name).mac(index, raw_ident, raw_body)
    assert mac.decode("ascii") == journal_mac(key, name, index, ident, body)


def test_journal_lines_authenticate_in_order(tmp_path: Path) -> None:
    key = b"k" * 32
    journal = _Journal(tmp_path, key)
    entries = [AuditEntry(f"id-{i}", '{"n":%d,"t":"caf\u00e9 \U0001f600"}' % i) for i in range(5)]
    for i, e in enumerate(entries):
        journal.write(e, e.body_text.encode("utf-8") if i % 2 else None)
    data = journal.path.read_bytes()
    assert read_journal(journal.name, data, key) == (entries, [])
    first = data.split(b"\n")[0].decode("utf-8")
    assert first == f"id-0 {journal_mac(key, journal.name, 0, 'id-0', entries[0].body_text)} {entries[0].body_text}"
    swapped = b"\n".join([data.split(b"\n")[1], data.split(b"\n")[0], b""])
    assert read_journal(journal.name, swapped, key)[0] == []
    journal.close()


def test_an_unrecordable_shadow_part_does_not_stop_the_record() -> None:
    body = {"v": 1, "id": "i", "time": "t", "policy": {}, "proposal": {"name": "n", "arguments": {"x": 1j}},
            "decision": {"outcome": "escalate"}, "elapsed_ns": 1, "shadow": {"odd": 2j}}
    text, complete = encode_body_reference(body)
    assert not complete
    assert '"unrecordable":"TypeError: cannot record a value of type complex"' in text
    assert '"shadow"' not in text and '"decision":{"outcome":"escalate"}' in text
