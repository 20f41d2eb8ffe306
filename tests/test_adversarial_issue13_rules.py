"""Adversarial review of the issue-13 fast paths (rules and compile): each case is an input where a
fast path once behaved differently from the reference it skips."""

from __future__ import annotations

import io

from txguard import compile_policy
from txguard.policy.load import load_yaml, load_yaml_reference

from .helpers import RETAIL


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
