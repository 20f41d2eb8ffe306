"""The durable_rules (Rete) evaluator of session rules, with the engine's hazards contained.

durable-rules 2.0.28 is installed by the ``rete`` extra. Its hazards and how each is contained here,
by construction (each has a test in ``tests/sessions/test_rete.py`` that fails without it):

* **Session ids are compared by a 32-bit hash** (``conv-579599`` and ``conv-762382`` collide):
  no conversation id ever reaches the engine. Each evaluation replays the conversation's events,
  read from txguard's own log, into one scratch session with a constant id, reads the matches and
  deletes the state before returning; a leftover fact makes the next replay fail (escalate).
* **At most 1,024 sessions per ruleset per process, never freed**: only the one scratch session
  is ever used, so the slot count does not grow with conversations.
* **An exception inside an action is swallowed into the state**: the state's exception slot and
  the completion callback are checked after every call; either raises :class:`RuleEngineError`
  and the guard escalates.
* **Host timer threads take pending actions**: no ``durable.engine.Host`` (nor ``durable.lang``,
  whose ``get_host`` starts one) is ever created; rulesets are built directly and their actions
  run synchronously in the calling thread.
* **get_host() is not thread-safe; the C extension never releases the GIL**: one process-wide
  lock serialises every use of the engine (nothing is lost: the GIL serialised it already).
* **Events without an explicit unique id are de-duplicated by a content hash**: every fact gets
  ``id`` = ``e<seq>`` (the log's sequence number), or ``cur`` for the proposal being decided.
* **Deleting a session in which no action ever ran corrupts the heap** (found here by the
  differential test: segfault, ``free(): invalid pointer``): a sentinel fact that one rule always
  matches is asserted last; its action having run is checked (else escalate).

Matching is the engine's (``where`` filters, windows, the pairing of sequence rules by Rete
joins); aggregation is shared with txguard's own evaluator (see ``_rules``).
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Sequence
from typing import Any

from ..core.decision import Reason
from ..core.errors import UsageError
from ..policy.session import EVENT_FIELDS, SessionPolicy, SessionRule
from ._events import Event
from ._rules import fire_all, last_decision

SCRATCH_SID = "txguard-scratch"
"""The only session id the engine ever sees."""

_ENGINE_LOCK = threading.Lock()
_RULESETS: dict[int, tuple[SessionPolicy, Any]] = {}
_COUNTER = [0]


class RuleEngineError(Exception):
    """The rule engine failed or reported an exception: the decision escalates."""


class _NoHost:
    """Stands in for ``durable.engine.Host``: actions here never post to other rulesets."""

    def get_action(self, name: str) -> Any:
        raise RuleEngineError(f"no action named `{name}`")

    def __getattr__(self, name: str) -> Any:
        raise RuleEngineError(f"the scratch ruleset has no host (`{name}`)")


def _engine() -> tuple[Any, Any]:
    try:
        durable_rules_engine = importlib.import_module("durable_rules_engine")
        engine = importlib.import_module("durable.engine")
    except ImportError as exc:
        raise UsageError(
            "the durable_rules evaluator needs the `rete` extra: pip install 'txguard[rete]' "
            f"(durable-rules does not build on Python 3.13 and later) ({exc})"
        ) from None
    return engine, durable_rules_engine


def _where(rule: SessionRule) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, values in rule.where:
        alts = [{name: v} for v in sorted(values)]
        out.append(alts[0] if len(alts) == 1 else {"$or": alts})
    return out


def _window(rule: SessionRule) -> list[dict[str, Any]]:
    return [{"$lt": {"age": rule.within_us}}] if rule.within_us is not None else []


def _terms(*terms: dict[str, Any]) -> list[dict[str, Any]]:
    return list(terms)


def _and(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def definition(policy: SessionPolicy) -> dict[str, dict[str, Any]]:
    """The durable_rules ruleset (JSON form, without actions) for a policy's session rules."""
    out: dict[str, dict[str, Any]] = {"sentinel": {"all": [{"m": {"txg_sentinel": 1}}]}}
    for i, rule in enumerate(policy.rules):
        if rule.form != "sequence":
            out[f"r{i}"] = {"all": [{"m": _and(_where(rule) + _window(rule))}]}
        elif rule.pattern == "changed_after_confirmation":
            out[f"r{i}"] = {"all": [
                {"cur": _and([{"cur": 1}, {"cons": 1}])},
                {"m": _and(_terms({"type": "confirmation"}, {"kind": {"cur": "kind"}}) + _window(rule))},
            ]}
        else:
            out[f"r{i}"] = {"all": [
                {"cur": {"cur": 1}},
                {"m": _and(_terms({"last": 1}, {"type": "decision"}, {"outcome": "escalate"}, {"kind": {"cur": "kind"}})
                           + _window(rule))},
            ]}
    return out


def _fact(e: Event, ident: str, now_us: int) -> dict[str, Any]:
    fact: dict[str, Any] = {"id": ident, "sid": SCRATCH_SID, "age": now_us - e.at_us}
    for name in EVENT_FIELDS:
        value = getattr(e, name)
        if value is not None:
            fact[name] = value
    return fact


class RuleEngineEvaluator:
    """Session rules evaluated by durable_rules (``pip install 'txguard[rete]'``), hazards contained.

    Same semantics as txguard's own evaluator; slower. Raises :class:`~txguard.UsageError` at
    construction when durable-rules is not installed.
    """

    name = "durable_rules"

    def __init__(self) -> None:
        self._engine, self._dre = _engine()
        self._matched: dict[int, set[str]] = {}

    def _record(self, index: int, fact_id: str) -> None:
        self._matched.setdefault(index, set()).add(fact_id)

    def _ruleset(self, policy: SessionPolicy) -> Any:
        cached = _RULESETS.get(id(policy))
        if cached is not None and cached[0] is policy:
            return cached[1]
        spec = definition(policy)
        for name in spec:
            spec[name]["run"] = _action(-1 if name == "sentinel" else int(name[1:]))
        _COUNTER[0] += 1
        ruleset = self._engine.Ruleset(f"txguard_session_{_COUNTER[0]}", _NoHost(), spec)
        _RULESETS[id(policy)] = (policy, ruleset)
        return ruleset

    def evaluate(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
        if not policy.rules:
            return []
        with _ENGINE_LOCK:
            _CURRENT[0] = self
            self._matched = {}
            try:
                matched = self._replay(policy, events, current, now_us)
            finally:
                _CURRENT[0] = None
                self._matched = {}
        rule_index = {r.id: i for i, r in enumerate(policy.rules)}

        def hit(rule: SessionRule, e: Event) -> bool:
            return ("cur" if e is current else f"e{e.seq}") in matched.get(rule_index[rule.id], ())

        return fire_all(policy, events, current, hit)

    def _replay(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> dict[int, set[str]]:
        ruleset = self._ruleset(policy)
        dre = self._dre
        handle = ruleset._handle
        last = last_decision(events)
        facts: list[dict[str, Any]] = []
        for e in events:
            fact = _fact(e, f"e{e.seq}", now_us)
            if e is last:
                fact["last"] = 1
            facts.append(fact)
        cur = _fact(current, "cur", now_us)
        cur["cur"] = 1
        if current.kind in policy.consequential and current.digest is not None:
            cur["cons"] = 1
        facts.append(cur)
        errors: list[Any] = []
        # A sentinel fact that one rule always matches, asserted last: durable-rules 2.0.28 corrupts
        # its heap (segfault, "free(): invalid pointer") when deleting a session in which no action
        # ever ran, and its action having run proves the replay was processed to the end.
        facts.append({"id": "sentinel", "sid": SCRATCH_SID, "txg_sentinel": 1})
        try:
            state_handle = None
            for fact in facts:
                code, result = dre.assert_fact(handle, json.dumps(fact, ensure_ascii=False))[:2]
                if code == 0:
                    state_handle = result
                elif code == 2:
                    raise RuleEngineError(f"fact `{fact['id']}` was already in the scratch session (state leaked)")
                elif code not in (1, 3):
                    raise RuleEngineError(f"assert_fact returned code {code}")
            if state_handle is not None:
                ruleset.do_actions(state_handle, lambda e, s: errors.append(e) if e else None)
            if errors:
                raise RuleEngineError(f"an action failed: {errors[0]}")
            state = json.loads(dre.get_state(handle, SCRATCH_SID))
            if "exception" in state:
                raise RuleEngineError(f"an action raised: {str(state['exception']).splitlines()[0][:200]}")
            if "sentinel" not in self._matched.get(-1, ()):
                raise RuleEngineError("the engine did not run every pending action")
            return dict(self._matched)
        finally:
            dre.delete_state(handle, SCRATCH_SID)


_CURRENT: list[Any] = [None]
"""The evaluator holding the engine lock: rulesets are shared, so their actions record into it."""


def _action(index: int) -> Any:
    # One positional parameter: durable_rules runs a one-argument action synchronously (two
    # arguments would make it asynchronous, with a timer thread).
    def run(c: Any) -> None:
        _CURRENT[0]._record(index, c.m["id"])

    return run
