"""The compiled rule loop's path reads (``engine/compiled.py``: ``fast_get`` and the per-decision memo)
read exactly what the reference getter (``core/paths.compile_path``) reads.

Differential: random paths of names and indexes over hostile values (models, plain dicts, ``Mapping``
subclasses, objects lying about their ``__class__``, lists and tuples with negative and out-of-range
indexes, ``None``, missing roots) give the same value through both getters; a class registered as a
``Mapping`` after it was read is read as one from then on; and on real corpus cases a policy of many
``when`` rules sharing paths decides the same untraced (compiled, memoised) as traced (``eval_node``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Checkout, Guard, compile_policy
from txguard.core.paths import compile_path, parse_path
from txguard.engine.compiled import MEMO, compile_node, fast_get
from txguard.engine.conditions import eval_node
from txguard.engine.evaluate import evaluate
from txguard.engine.trace import Trace
from txguard.policy.ir import Ref

from .helpers import RETAIL, Box, checkout_args, line

ROOT = Path(__file__).resolve().parent.parent
CLOCK = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


class Liar:
    """An object that says it is a ``Box`` (``isinstance`` believes it) but has attributes."""

    total = "attr"
    items = ("a",)

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return Box


class Plain:
    """A class that becomes a ``Mapping`` when registered as one."""

    def __init__(self) -> None:
        self.total = "attr"

    def get(self, key: str, default: Any = None) -> Any:
        return f"mapped {key}" if key == "total" else default


INTENT = Checkout.model_validate(checkout_args(line(quantity=2), line(sku="2", quantity=1)))
values = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.sampled_from([INTENT, INTENT.items[0], Liar()])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from(["total", "items", "quantity", "sku", "x"]), inner, max_size=3),
        st.dictionaries(st.sampled_from(["total", "items", "quantity", "x"]), inner, max_size=3).map(Box)),
    max_leaves=8)
steps = st.lists(st.one_of(st.sampled_from([".total", ".items", ".quantity", ".sku", ".x", ".currency"]),
                           st.integers(-3, 3).map(lambda i: f"[{i}]")), min_size=1, max_size=4)


def read(get: Any, env: Any) -> tuple[str, Any]:
    """What a getter gives: its value (by identity for an object) or the error it raises."""
    try:
        value = get(env)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return "raised", (type(exc).__name__, str(exc))
    return "value", value if isinstance(value, (str, int, type(None))) else id(value)


def _ref(text: str) -> Ref:
    path = parse_path(text)
    return Ref(path, compile_path(path))


@settings(max_examples=800, deadline=None)
@given(root=st.sampled_from(["intent", "facts", "nothing"]), tail=steps, value=values)
def test_fast_get_reads_what_the_reference_getter_reads(root: str, tail: list[str], value: Any) -> None:
    ref = _ref(root + "".join(tail))
    env = {"intent": INTENT, "facts": value, "$memo": True}
    reference = read(ref.get, env)
    assert read(fast_get(ref), env) == reference
    memoised = fast_get(ref, top=True)
    assert read(memoised, env) == reference
    assert read(memoised, env) == reference  # read once, then the memo's


def test_a_class_registered_as_a_mapping_is_read_as_one_from_then_on() -> None:
    ref = _ref("facts.total")
    env = {"facts": Plain()}
    assert fast_get(ref)(env) == ref.get(env) == "attr"
    Mapping.register(Plain)
    assert fast_get(ref)(env) == ref.get(env) == "mapped total"


def test_an_object_lying_about_its_class_is_asked_every_time() -> None:
    for text in ("facts.total", "facts.items", "facts.items[0]"):
        ref = _ref(text)
        env = {"facts": Liar()}
        assert read(fast_get(ref), env) == read(ref.get, env)
    assert read(fast_get(_ref("facts.total")), {"facts": Liar()})[0] == "raised"  # a "Box" without `get`


def test_the_memo_is_per_environment_and_never_used_inside_for_each() -> None:
    ref = _ref("intent.total")
    memoised = fast_get(ref, top=True)
    a: dict[str, Any] = {"intent": INTENT, "$memo": True}
    b: dict[str, Any] = {"intent": Checkout.model_validate(checkout_args(line(quantity=5))), "$memo": True}
    assert memoised(a) == INTENT.total and memoised(b) == b["intent"].total
    assert memoised({"intent": INTENT}) == INTENT.total  # no memo: read each time


def _many_rules_policy() -> str:
    doc = yaml.safe_load(RETAIL.read_text(encoding="utf-8"))
    extra = []
    for i in range(40):
        when: Any = [{"path": "intent.total", "gt": f"{300 + 10 * i}.00"},
                     {"path": "intent.payment_method_id", "eq": f"pm-{i}"},
                     {"path": "intent.items[0].quantity", "gt": i % 4},
                     {"not": {"path": "intent.items[1].sku", "eq": "x"}},
                     {"for_each": "intent.items", "as": "l", "any": {"path": "l.quantity", "gt": 1 + i % 3}}][i % 5]
        extra.append({"id": f"x-{i:02d}", "kinds": ["checkout"], "when": when,
                      "outcome": "escalate" if i % 2 else "clarify", "code": f"x_{i}",
                      **({} if i % 2 else {"question": "Sure?"})})
    doc["rules"] = list(doc["rules"]) + extra
    return yaml.safe_dump(doc, allow_unicode=True)


@pytest.mark.parametrize("start", [0, 1, 2])
def test_many_when_rules_decide_the_same_untraced_and_traced_on_real_cases(start: int) -> None:
    policy = compile_policy(_many_rules_policy(), str(RETAIL.parent / "many.yaml"), RETAIL.parent)
    guard = Guard(policy, clock=lambda: CLOCK)
    with gzip.open(ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        cases = [json.loads(text) for text in fh if text.strip()][start::6]
    fired = 0
    for case in cases:
        p = case["proposal"]
        raw = {"name": p["name"], "arguments": json.dumps(p["arguments"])}
        fast = guard.independent().check(raw, case.get("request"), case.get("session"), case.get("facts"))
        traced = evaluate(policy, raw, case.get("request"), case.get("session"), case.get("facts"),
                          lambda: CLOCK, trace=Trace())
        assert (fast.outcome, fast.reasons, fast.route, fast.questions, fast.confirmation) == \
            (traced.outcome, traced.reasons, traced.route, traced.questions, traced.confirmation), case["id"]
        fired += any(r.rule.startswith("x-") for r in fast.reasons)
    assert fired > 0  # the extra rules do fire on some cases


def test_compiled_node_with_and_without_memo_agree_with_eval_node() -> None:
    policy = compile_policy(_many_rules_policy(), str(RETAIL.parent / "many.yaml"), RETAIL.parent)
    for intent in (INTENT, Checkout.model_validate(checkout_args(line(quantity=1, unit_price="999.00")))):
        env: dict[str, Any] = {"intent": intent, "request": None, "session": None, "facts": {}}
        memo_env = {**env, MEMO: True}
        for rule in policy.by_kind["checkout"]:
            if rule.check is None:
                want = read(lambda e, t=rule.test: eval_node(t, e), env)
                assert read(compile_node(rule.test), env) == want
                assert read(compile_node(rule.test), memo_env) == want
                assert read(compile_node(rule.test), memo_env) == want  # from the memo
