"""The durable_rules evaluator: every hazard of durable-rules 2.0.28 is contained, and each test
here fails if its containment is removed (see the ``_rete`` module docstring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard, Outcome
from txguard.sessions import Event, OwnEvaluator, RuleEngineEvaluator, open_store
from txguard.sessions._rete import SCRATCH_SID

from .helpers import Clock, checkout, policy, session
from .rete import require_durable_rules

pytestmark = pytest.mark.usefixtures("_durable")

SESSION = """  rules:
    - id: cart-changed
      sequence: {pattern: changed_after_confirmation, within: 1h}
    - id: checkout-velocity
      count: {where: {kind: checkout}, within: 1h, at_least: 3}
"""


@pytest.fixture
def _durable() -> None:
    require_durable_rules()


def rete_guard(clock: Clock, session_yaml: str = SESSION) -> Guard:
    return Guard.from_text(policy(session_yaml), clock=clock, sessions=open_store("memory:"),
                           session_evaluator="durable_rules")


def test_the_two_colliding_ids_collide_in_the_raw_engine() -> None:
    """The hazard is real: durable_rules keys sessions by a 32-bit hash of the id."""
    from durable import engine
    import durable_rules_engine as dre

    class NoHost:
        pass

    rs = engine.Ruleset("txguard_test_collision", NoHost(), {"r": {"all": [{"m": {"t": "x"}}], "run": lambda c: None}})
    dre.update_state(rs._handle, json.dumps({"sid": "conv-579599", "consent": "cart-1", "$s": 1}))
    assert rs.get_state("conv-762382")["consent"] == "cart-1"


def test_conversations_with_colliding_ids_share_nothing() -> None:
    clock = Clock()
    g = rete_guard(clock)
    cart_x, cart_y = checkout("10.00", sku="X"), checkout("10.00", sku="Y")
    assert g.check(cart_x, session=session("conv-579599", cart_x)).allowed
    # A confirmation in conv-579599 neither authorises nor taints anything in conv-762382.
    d = g.check(cart_y, session=session("conv-762382", cart_y))
    assert d.allowed, d.reasons
    # In conv-762382 the user confirmed Y only: X is unconfirmed there, and a change from Y.
    d = g.check(cart_x, session=session("conv-762382"))
    assert d.codes == ("cart_changed", "consent")
    # and conv-579599's log still holds only its own turns
    clock.advance(minutes=1)
    d = g.check(cart_y, session=session("conv-579599", cart_x, cart_y))
    assert d.allowed, d.reasons


def test_five_thousand_conversations_in_one_process() -> None:
    g = rete_guard(Clock())
    results = set()
    for i in range(5000):
        c = checkout("10.00", sku=f"s{i % 7}")
        results.add((g.check(c, session=session(f"conv-{i}", c)).outcome, i % 7 == 0))
    assert results == {(Outcome.ALLOW, True), (Outcome.ALLOW, False)}


def test_an_exception_inside_an_action_escalates(monkeypatch: Any) -> None:
    real = RuleEngineEvaluator._record

    def boom(self: Any, index: int, fact_id: str) -> None:
        if index >= 0:  # the rules' actions fail; the sentinel's still runs
            raise RuntimeError("action failed")
        real(self, index, fact_id)

    monkeypatch.setattr(RuleEngineEvaluator, "_record", boom)
    g = rete_guard(Clock())
    c = checkout("10.00")
    d = g.check(c, session=session("conv-boom", c))
    assert d.outcome is Outcome.ESCALATE
    assert d.codes == ("session_engine_error",)
    assert "action failed" in d.reasons[0].message


def test_no_timer_threads_are_started() -> None:
    before = {t.ident for t in threading.enumerate()}
    g = rete_guard(Clock())
    for i in range(50):
        c = checkout("10.00", sku=str(i))
        g.check(c, session=session("conv-t", c))
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert started == []
    assert "durable.lang" not in sys.modules or not getattr(sys.modules["durable.lang"], "_main_host", None)


def test_facts_with_identical_content_are_not_deduplicated() -> None:
    from txguard.policy.session import compile_session

    errors: list[Any] = []
    sp = compile_session({"rules": [{"id": "three", "count": {"where": {"kind": "checkout"}, "at_least": 3}}]},
                         set(), lambda *a: errors.append(a))
    assert errors == []
    same = dict(type="decision", at_us=0, kind="checkout", outcome="allow", digest="d", payment_method="p")
    events = [Event(seq=0, **same), Event(seq=1, **same)]  # type: ignore[arg-type]
    current = Event(seq=2, **same)  # type: ignore[arg-type]
    own = OwnEvaluator().evaluate(sp, events, current, 10)
    rete = RuleEngineEvaluator().evaluate(sp, events, current, 10)
    assert [r.code for r in own] == ["three"]
    assert rete == own


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``threads_probe`` in a subprocess: a crash of the engine must fail a test, not the run."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "tests.sessions.threads_probe", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_evaluations_where_nothing_matches_do_not_corrupt_the_engine() -> None:
    proc = probe("unmatched")
    assert proc.returncode == 0, f"the probe died (return code {proc.returncode}): {proc.stderr[-500:]}"
    assert proc.stdout.strip().endswith("unmatched ok")


def test_four_threads_at_once_give_the_own_evaluators_answers() -> None:
    proc = probe()
    assert proc.returncode == 0, f"the probe died (return code {proc.returncode}): {proc.stderr[-500:]}"
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("mismatches=0 errors=0 fired="), proc.stdout
    assert int(lines[-1].split("fired=")[1]) > 100


def test_the_scratch_session_is_empty_after_every_evaluation() -> None:
    g = rete_guard(Clock())
    c = checkout("10.00")
    g.check(c, session=session("conv-s", c))
    from txguard.sessions._rete import _RULESETS

    for _, ruleset in _RULESETS.values():
        with pytest.raises(Exception):  # noqa: B017 - durable_rules raises a bare Exception for a deleted state
            ruleset.get_state(SCRATCH_SID)
