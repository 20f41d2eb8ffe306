"""Trusted facts with a hole fail closed: for every built-in check of the shipped policies and every
fact field it reads on real corpus inputs, deleting the field or giving it an ill-typed value never
lowers the decision, never turns it into ``allow``, and where the check allowed it yields
``missing_fact`` (escalate): a check never falls back to the agent's own claim or to a default.

Each rule is judged alone (a policy holding only that rule, every kind allowed by default), so the
hole shows in that rule's own outcome and is not hidden by another rule that fired. The reads are
recorded by wrapping the facts in mappings that note every key a check looks up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from txguard import Decision, Guard, compile_policy

from ..conftest import POLICIES, read_cases

Key = str | int
FieldPath = tuple[Key, ...]
CASES_PER_RULE = 12


class _Recorder(dict[Any, Any]):
    """A dict that records the path of every present key read through it (for the facts only)."""

    def __init__(self, data: dict[Any, Any], path: FieldPath, reads: set[FieldPath]) -> None:
        super().__init__({k: _wrap(v, path + (k,), reads) for k, v in data.items()})
        self._path = path
        self._reads = reads

    def _note(self, key: Any) -> None:
        if dict.__contains__(self, key):
            self._reads.add(self._path + (key,))

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._note(key)
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._note(key)
        return dict.__contains__(self, key)

    def items(self) -> Any:
        if self._path:  # the root's collections are listed by Facts itself, not read by a check
            for key in dict.keys(self):
                self._note(key)
        return dict.items(self)

    def values(self) -> Any:
        for key in dict.keys(self):
            self._note(key)
        return dict.values(self)


def _wrap(value: Any, path: FieldPath, reads: set[FieldPath]) -> Any:
    if isinstance(value, dict):
        return _Recorder(value, path, reads)
    if isinstance(value, list):
        return [_wrap(v, path + (i,), reads) for i, v in enumerate(value)]
    return value


_DELETE = object()


def _holes(value: Any) -> list[Any]:
    """The field deleted, or replaced by values of the wrong type (or no valid value of its type)."""
    out: list[Any] = [_DELETE, None]
    if isinstance(value, bool):
        return out + ["true", 1, []]
    if isinstance(value, (int, float)):
        return out + [str(value) + "x", "NaN", -1, [value], {}, True]
    if isinstance(value, str):
        return out + [123, [value], {"value": value}, True]
    if isinstance(value, dict):
        return out + [[value], "x", 0]
    if isinstance(value, list):
        return out + [{}, "x", [7]]
    return out + ["x"]


def _with_hole(data: Any, path: FieldPath, hole: Any) -> Any:
    """A copy of ``data`` (copied along ``path`` only) with the field at ``path`` deleted or replaced."""
    head, rest = path[0], path[1:]
    copy: Any = dict(data) if isinstance(data, dict) else list(data)
    if rest:
        copy[head] = _with_hole(data[head], rest, hole)
    elif hole is _DELETE:
        del copy[head]
    else:
        copy[head] = hole
    return copy


def _is_record(path: FieldPath) -> bool:
    """A whole collection or keyed record (an order, a product, a variant, a payment method): its
    absence is judged by the checks made for it (`unknown_order`, `unknown_item`, `payment_method`,
    `same_product`), so any escalation will do; a field inside a record must give `missing_fact`."""
    return len(path) <= 2 or path[-2] in ("variants", "payment_methods")


def _options_by_product(envelopes: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every product type of the corpus facts and its variants' option names."""
    out: dict[str, set[str]] = {}
    for env in envelopes:
        for product in env["facts"].get("products", {}).values():
            for var in product.get("variants", {}).values():
                out.setdefault(product["name"], set()).update(var.get("options", {}))
    return {name: sorted(opts) for name, opts in out.items()}


def _extra_rules(policy_file: str, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Built-in checks with the parameters the shipped policies leave at their defaults, so that
    the reads those parameters switch on are swept too."""
    if policy_file == "retail.yaml":
        return [{"id": "x-required-options", "check": "ambiguity",
                 "params": {"required_options": _options_by_product(envelopes[:200])}},
                {"id": "x-category-within", "check": "category", "params": {"match": "within"}},
                {"id": "x-category-caps", "check": "price_cap",
                 "params": {"max": {"USD": "100000"}, "per_category": {"default": {"USD": "100000"}}}}]
    return [{"id": "x-noop-address", "check": "noop", "params": {"address": True}},
            {"id": "x-refund-no-gift-cards", "check": "refund_destination", "params": {"allow_gift_cards": False}}]


def _single_rule_guards(policy_file: str, envelopes: list[dict[str, Any]]) -> Iterator[tuple[str, Guard]]:
    """One guard per built-in rule of a shipped policy (and per extra parametrisation): its tools,
    that rule alone, every kind allowed."""
    doc = Guard.from_file(POLICIES / policy_file).policy.document
    kinds = sorted({spec["intent"] for spec in doc["tools"].values() if isinstance(spec, dict) and "intent" in spec})
    for rule in doc["rules"] + _extra_rules(policy_file, envelopes):
        if "check" not in rule:
            continue
        single = {k: v for k, v in doc.items() if k not in ("rules", "session", "defaults")}
        single.update(id=f"hole-{rule['id']}", rules=[rule], defaults={k: "allow" for k in kinds})
        text = yaml.safe_dump(single, sort_keys=False)
        yield rule["id"], Guard(compile_policy(text, f"{policy_file}#{rule['id']}", POLICIES))


def _envelopes(corpus: str) -> list[dict[str, Any]]:
    cases = read_cases(corpus)
    # A stable order that does not follow the file (nor any label): a hash of the case's input.
    cases.sort(key=lambda c: hashlib.sha256(repr(c["proposal"]).encode()).hexdigest())
    return [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c} for c in cases]


SHIPPED = [("retail.yaml", "chat-to-buy-dev.jsonl.gz"), ("tau-retail.yaml", "tau-retail-dev.jsonl.gz")]


def _sweep(guard: Guard, envelopes: list[dict[str, Any]]) -> Iterator[tuple[str, FieldPath, Any, Decision, Decision]]:
    """For the first cases the rule reads facts in: (the proposal's text, field, hole, decision
    before, decision after)."""
    judged = 0
    for env in envelopes:
        reads: set[FieldPath] = set()
        # each decision on a guard of its own: a confirmation is single use, and every decision
        # here must see it unused
        before = guard.independent().check_envelope({**env, "facts": _wrap(env["facts"], (), reads)})
        if not reads:
            continue
        assert before == guard.independent().check_envelope(env)  # the recorder changes nothing
        judged += 1
        for path in sorted(reads, key=repr):
            value: Any = env["facts"]
            for key in path:
                value = value[key]
            for hole in _holes(value):
                after = guard.independent().check_envelope({**env, "facts": _with_hole(env["facts"], path, hole)})
                yield str(env["proposal"]), path, hole, before, after
        if judged == CASES_PER_RULE:
            return


@pytest.mark.parametrize(("policy_file", "corpus"), SHIPPED)
def test_a_hole_in_a_trusted_record_never_loosens_and_is_a_missing_fact(policy_file: str, corpus: str) -> None:
    envelopes = _envelopes(corpus)
    checked = 0
    for rule_id, guard in _single_rule_guards(policy_file, envelopes):
        for case, path, hole, before, after in _sweep(guard, envelopes):
            checked += 1
            where = (rule_id, case[:80], path, "deleted" if hole is _DELETE else repr(hole), before.codes, after.codes)
            if hole is _DELETE and _is_record(path) and str(path[-1]) not in case:
                continue  # another record than those the proposal names, gone: another catalog, not a hole
            assert after.outcome.rank >= before.outcome.rank, where
            assert "check_error" not in after.codes or "check_error" in before.codes, where
            if before.allowed:
                assert after.outcome.value == "escalate", where
                if not _is_record(path):
                    assert "missing_fact" in after.codes, where
    assert checked > 1000  # the sweep did judge holes


def test_the_shipped_policies_use_every_built_in_check() -> None:
    # So the sweep above covers every built-in check.
    from txguard.checks.spec import CHECKS

    used = {r.check for f, _ in SHIPPED for r in Guard.from_file(POLICIES / f).policy.rules}
    assert set(CHECKS) <= used

