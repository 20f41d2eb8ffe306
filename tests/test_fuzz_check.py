"""A 10**4-input slice of the check fuzz harness (``scripts/fuzz_check.py``, 10**6 by default):
``Guard.check`` on every shipped policy never raises and never allows malformed input."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from .conftest import ROOT


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_check", ROOT / "scripts" / "fuzz_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_check"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_ten_thousand_fuzzed_inputs_never_raise_nor_allow_malformed_input() -> None:
    fuzz = _harness()
    tally = fuzz.run(10_000, seed=0)
    assert tally.exceptions == 0, tally.failures
    assert tally.malformed_allows == 0, tally.failures
    assert tally.failures == []
    # The slice reaches every kind of input: malformed ones, and valid ones that are allowed.
    assert tally.malformed_inputs > 1000
    assert tally.outcomes["allow"] > 100 and tally.outcomes["clarify"] > 100
    assert tally.decisions == 10_000 * len(fuzz.guards())


def test_inputs_are_reproducible_from_the_seed_alone() -> None:
    import random

    fuzz = _harness()
    envelopes = fuzz.load_envelopes()
    first = [fuzz.dumps(fuzz.generate(random.Random(f"3:{i}"), envelopes)) for i in range(50)]
    again = [fuzz.dumps(fuzz.generate(random.Random(f"3:{i}"), envelopes)) for i in range(50)]
    assert first == again
    assert len(set(first)) > 40  # and they differ from one another
    # An input found malformed is escalated with a reason of the malformed family.
    policy_guard = fuzz.guards()[0][1]
    bad = {"proposal": {"name": "checkout", "arguments": "{\"items\": ["}}
    assert fuzz.malformed(policy_guard, bad)
    assert fuzz.MALFORMED_CODES.intersection(policy_guard.check(bad["proposal"]).codes)
