"""benchmarks/declared.py compares like with like: the declared kind decides as the built-in one.

The benchmark times a policy whose ``checkout`` tool maps to the shipped ``checkout`` kind against
the same policy mapping it to ``purchase``, declared with the shipped checkout's fields. Both must
give the same outcome and reason codes on every case (the benchmark checks all 610 before timing);
here on 40 real cases spread over the dev corpus, at 9 and at 96 rules, and the sample must reach
every outcome (a benchmark where every case is malformed would time nothing of interest).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import declared  # noqa: E402


@pytest.mark.parametrize("n_extra", [0, 87])
def test_the_declared_kind_decides_as_the_builtin_kind(n_extra: int) -> None:
    every = declared.cases()
    sample = every[:: len(every) // 40][:40]
    builtin, own = declared.guard("checkout", n_extra), declared.guard("purchase", n_extra)
    assert own.policy.domain.specs["purchase"].model is not builtin.policy.domain.models["checkout"]
    outcomes = set()
    for case in sample:
        a, b = builtin.check(*case), own.check(*case)
        assert (a.outcome, a.codes) == (b.outcome, b.codes)
        if a.kind is not None:  # a malformed call has no kind on either side
            assert (a.kind, b.kind) == ("checkout", "purchase")
        outcomes.add(a.outcome.value)
    assert outcomes == {"allow", "clarify", "escalate"}
