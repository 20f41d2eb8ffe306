"""Invariant 2, monotonicity: adding a rule, tightening a threshold (price cap, confidence floor,
budget) or layering a stricter policy with ``extends`` never lowers an outcome."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard

from ..helpers import RETAIL
from .strategies import (
    CAPS,
    CORPUS_B,
    EXTRA_RULES,
    FLOORS,
    RETAIL_RULE_IDS,
    corpus_envelopes,
    envelope_of,
    retail_variant,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rank(guard: Guard, env: dict[str, Any]) -> int:
    return guard.independent().check_envelope(env).outcome.rank


subsets = st.sets(st.sampled_from(RETAIL_RULE_IDS)).map(frozenset)


@SETTINGS
@given(env=corpus_envelopes, kept=subsets, added=subsets, extra=st.sets(st.sampled_from(EXTRA_RULES)))
def test_adding_rules_never_lowers(env: dict[str, Any], kept: frozenset[str], added: frozenset[str],
                                   extra: set[str]) -> None:
    loose = retail_variant(keep=kept)
    tight = retail_variant(keep=kept | added, extra=tuple(sorted(extra)))
    assert rank(tight, env) >= rank(loose, env)


@SETTINGS
@given(env=corpus_envelopes, caps=st.lists(st.sampled_from(CAPS), min_size=2, max_size=2),
       floors=st.lists(st.sampled_from(FLOORS), min_size=2, max_size=2))
def test_tightening_the_cap_or_the_confidence_floor_never_lowers(env: dict[str, Any], caps: list[str],
                                                                  floors: list[float]) -> None:
    hi_cap, lo_cap = sorted(caps, key=Decimal, reverse=True)
    lo_floor, hi_floor = sorted(floors)
    loose = retail_variant(cap=hi_cap, floor=lo_floor)
    assert rank(retail_variant(cap=lo_cap, floor=lo_floor), env) >= rank(loose, env)
    assert rank(retail_variant(cap=hi_cap, floor=hi_floor), env) >= rank(loose, env)
    assert rank(retail_variant(cap=lo_cap, floor=hi_floor), env) >= rank(loose, env)


@SETTINGS
@given(env=corpus_envelopes, budgets=st.lists(st.integers(min_value=0, max_value=300_000), min_size=2, max_size=2))
def test_a_tighter_budget_never_lowers(env: dict[str, Any], budgets: list[int]) -> None:
    guard = retail_variant()
    lo, hi = sorted(budgets)
    loose = {**env, "request": {**(env.get("request") or {}), "budget": str(Decimal(hi).scaleb(-2))}}
    tight = {**env, "request": {**(env.get("request") or {}), "budget": str(Decimal(lo).scaleb(-2))}}
    assert rank(guard, tight) >= rank(guard, loose)
    # Stating a budget at all never lowers the outcome either.
    no_budget = {**env, "request": {k: v for k, v in (env.get("request") or {}).items() if k != "budget"}}
    assert rank(guard, loose) >= rank(guard, no_budget)


CHILDREN = {
    "team-cap": {"rules": [{"id": "team-cap", "check": "price_cap", "params": {"max": {"USD": "300.00"}}}]},
    "strict-floor": {"rules": [{"id": "team-floor", "check": "ambiguity", "params": {"min_confidence": 0.95}}]},
    "clarify-default": {"defaults": {"checkout": "clarify"}},
    "custom": {"rules": [json.loads(EXTRA_RULES[0])]},
    "within-category": {"rules": [{"id": "team-category", "check": "category", "params": {"match": "within"}}]},
}


@pytest.fixture(scope="module")
def layered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Guard]:
    """Team policies in their own folder, each extending the shipped retail policy."""
    folder: Path = tmp_path_factory.mktemp("teams")
    relative = os.path.relpath(RETAIL, folder)  # the base is found relative to the team's file
    guards = {}
    for name, body in CHILDREN.items():
        doc = {"apiVersion": "txguard/v1", "id": name, "version": "1", "extends": relative, **body}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        guards[name] = Guard.from_file(path, extends_root=RETAIL.parent)
    return guards


def test_layering_a_stricter_policy_never_lowers(layered: dict[str, Guard]) -> None:
    base = retail_variant()
    # Deterministic sweep over the whole dev corpus: cheap, and stronger than sampling it.
    raised = 0
    for case in CORPUS_B:
        env = envelope_of(case)
        b = rank(base, env)
        for name, team in layered.items():
            t = rank(team, env)
            assert t >= b, (name, case["id"])
            raised += t > b
    assert raised > 0  # the team policies do tighten something

