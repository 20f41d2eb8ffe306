"""Adversarial review of the issue-13 fast paths (rules and compile): each case is an input where a
fast path once behaved differently from the reference it skips."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any

import pytest

from txguard import Guard, compile_policy
from txguard.engine import compiled
from txguard.policy.load import load_yaml, load_yaml_reference

from .helpers import RETAIL, checkout_args, envelope, line

CLOCK = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_policy_bytes_load_as_before_the_libyaml_path() -> None:
    # PyYAML reads bytes (and streams): compile_policy(bytes) compiled on main; the libyaml fast
    # path ran a str regex over the bytes and let a TypeError escape.
    data = RETAIL.read_bytes()
    assert compile_policy(data, str(RETAIL), RETAIL.parent).id == compile_policy(  # type: ignore[arg-type]
        data.decode("utf-8"), str(RETAIL), RETAIL.parent).id
    for given in (b"a: 1\nb: [x, 2]\n", io.StringIO("a: 1\nb: [x, 2]\n")):
        doc, errors = load_yaml(given, "f")  # type: ignore[arg-type]
        ref, ref_errors = load_yaml_reference(b"a: 1\nb: [x, 2]\n", "f")  # type: ignore[arg-type]
        assert doc is not None and ref is not None and not errors and not ref_errors
        assert (doc.data, doc.marks) == (ref.data, ref.marks)


def test_steps_survive_a_cache_cleared_by_another_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # `steps` stored a rule list's steps and read them back from the module cache; a thread that
    # cleared the full cache in between (512 rule lists: many policies in one server) made the
    # rule loop raise a KeyError instead of deciding.
    class Cleared(dict):  # type: ignore[type-arg]
        def __setitem__(self, key: Any, value: Any) -> None:
            super().__setitem__(key, value)
            self.clear()  # what another thread's `_STEPS.clear()` does at that moment

    monkeypatch.setattr(compiled, "_STEPS", Cleared())
    policy = compile_policy(RETAIL.read_text(encoding="utf-8"), str(RETAIL), RETAIL.parent)
    order = policy.by_kind["checkout"]
    assert [step[0] for step in compiled.steps(order)] == list(order)
    guard = Guard(policy, clock=lambda: CLOCK)
    decision = guard.independent().check_envelope(envelope(checkout_args(line())))
    assert not any(r.code == "internal_error" for r in decision.reasons)
    assert decision.outcome.value == "allow"
