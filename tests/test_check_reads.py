"""Built-in checks declare what they read where they read it (``ctx.read``).

Over every case of both corpora and the shipped suites, each built-in check that applies to the
case's intent kind runs twice on a context built the way the engine builds it: once plain, once
traced (``ctx.reads = {}``). Tracing must never change what the check returns or raises, may record
only the labels declared below, and every declared label must really be recorded somewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from decimal import localcontext
from typing import Any

from txguard import compile_file
from txguard.authoring.suite_load import load_suite
from txguard.policy.ir import Check
from txguard.checks.ctx import Ctx
from txguard.checks.spec import CHECKS, CheckSpec
from txguard.core.context import EMPTY_REQUEST, EMPTY_SESSION, Facts, Proposal, Request, Session
from txguard.engine.evaluate import EXACT
from txguard.policy.compile import CompiledPolicy

from .conftest import POLICIES, read_cases

READS: dict[str, set[str]] = {
    "authentication": {"session.authenticated_user_id"},
    "consent": {"intent digest", "session.confirmed (count)"},
    "price_cap": {"currency", "amount", "cap", "stated total", "catalog total", "per-category caps",
                  "default category cap", "category totals"},
    "budget": {"request.budget", "cart currency", "budget currency", "amount"},
    "total": {"stated total", "sum of lines"},
    "item_exists": {"lines", "item_ids", "order items"},
    "availability": {"lines", "new items"},
    "catalog_price": {"cart currency", "policy currency", "compare_title", "lines"},
    "category": {"request.product_type", "request.category", "match", "lines"},
    "quantity": {"request.quantity", "cart units"},
    "ambiguity": {"confidence", "min_confidence", "alternatives", "max_alternatives", "required_options",
                  "request.options"},
    "payment_method": {"payment_method_id", "acting user", "user's methods"},
    "balance": {"payment_method_id", "acting user", "user's methods", "balance", "amount due"},
    "refund_destination": {"payment_method_id", "original method", "allow_gift_cards", "acting user",
                           "user's methods"},
    "order_exists": {"order_id", "in facts.orders"},
    "ownership": {"authenticated user", "owner"},
    "order_status": {"status", "allowed"},
    "same_product": {"item_ids", "new_item_ids"},
    "noop": {"item_ids", "new_item_ids", "payment_method_id", "original method", "address", "current address",
             "new address"},
}
"""Every label each check may record."""

FIRST: dict[str, set[str]] = {
    "authentication": {"session.authenticated_user_id"},
    "consent": {"intent digest", "session.confirmed (count)"},
    "price_cap": {"currency"},
    "budget": {"request.budget"},
    "total": {"stated total", "sum of lines"},
    "catalog_price": {"cart currency", "policy currency"},
    "category": {"request.product_type", "request.category"},
    "quantity": {"request.quantity"},
    "ambiguity": {"confidence", "min_confidence"},
    "payment_method": {"payment_method_id"},
    "balance": {"payment_method_id"},
    "refund_destination": {"payment_method_id"},
    "order_exists": {"order_id", "in facts.orders"},
    "ownership": {"authenticated user"},
    "same_product": {"item_ids", "new_item_ids"},
}
"""Labels recorded on every run, before the check can return or raise."""

EXTRA_PARAMS: dict[str, list[dict[str, Any]]] = {
    # Parameters the shipped policies leave at their defaults, so their branches are traced too.
    "price_cap": [{"max": {"USD": "1000.00"}, "per_category": {"Coffee Maker": {"USD": "150.00"},
                                                              "default": {"USD": "300.00"}}},
                  {"max": {"EUR": "10.00"}, "per_category": {"Yoga Mat": {"USD": "100.00"}}}],
    "ambiguity": [{"max_alternatives": 0, "required_options": {"Cycling Helmet": ["size", "color"],
                                                                "Skateboard": ["length"]}}],
    "catalog_price": [{"compare_title": False}],
    "category": [{"match": "within"}],
    "refund_destination": [{"allow_gift_cards": False}],
    "noop": [{"address": True}],
    "order_status": [{"allowed": {"cancel_order": ["pending"]}}],
}

POLICY_FILES = ("retail.yaml", "tau-retail.yaml")
CORPORA = {"retail.yaml": "chat-to-buy-dev.jsonl.gz", "tau-retail.yaml": "tau-retail-dev.jsonl.gz"}
SUITES = {"retail.yaml": "retail.tests.yaml", "tau-retail.yaml": "tau-retail.tests.yaml"}
NOW = datetime.now(timezone.utc)


def _envelopes(policy_file: str) -> Iterator[Mapping[str, Any]]:
    for case in read_cases(CORPORA[policy_file]):
        yield {k: case[k] for k in ("proposal", "request", "session", "facts") if k in case}
    for suite_case in load_suite(POLICIES / SUITES[policy_file]).cases:
        for turn in suite_case.turns:
            yield turn.envelope
        yield suite_case.envelope


def _context(policy: CompiledPolicy, env: Mapping[str, Any]) -> Ctx | None:
    """The engine's context of the case (``engine/evaluate.py``), or None when the engine would
    escalate before any rule runs (a malformed proposal or context)."""
    try:
        prop = Proposal.model_validate(env["proposal"])
        tool, arguments = policy.tool_arguments(prop)
        intent = tool.build(arguments)
        req = Request.model_validate(env["request"]) if env.get("request") is not None else EMPTY_REQUEST
        ses = Session.model_validate(env["session"]) if env.get("session") is not None else EMPTY_SESSION
        fac = Facts(env.get("facts"))
    except Exception:  # noqa: BLE001 - decided without any rule: nothing to trace
        return None
    return Ctx(intent, req, ses, fac, NOW, policy, prop, arguments)


def _run(spec: CheckSpec, ctx: Ctx, params: Any) -> tuple[Any, ...]:
    try:
        return ("returned", spec.fn(ctx, params))
    except Exception as exc:  # noqa: BLE001 - what it raises is part of the result compared
        return ("raised", type(exc).__name__, str(exc))


def _param_sets(policies: list[CompiledPolicy]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {name: [] for name in CHECKS}
    for policy in policies:
        for rule in policy.rules:
            if isinstance(rule.test, Check):
                out[rule.test.spec.name].append(rule.test.params)
    for name, raws in EXTRA_PARAMS.items():
        out[name] += [CHECKS[name].compile_params(raw) for raw in raws]
    for name, sets in out.items():
        if not sets:
            sets.append(CHECKS[name].compile_params({}))
    return out


def test_the_declared_labels_cover_every_check() -> None:
    assert set(READS) == set(CHECKS)
    assert all(FIRST[name] <= READS[name] for name in FIRST)


def test_tracing_records_the_declared_reads_and_never_changes_a_result() -> None:
    policies = {f: compile_file(POLICIES / f) for f in POLICY_FILES}
    params = _param_sets(list(policies.values()))
    seen: dict[str, set[str]] = {name: set() for name in CHECKS}
    runs = 0
    for policy_file, policy in policies.items():
        for env in _envelopes(policy_file):
            plain, traced = _context(policy, env), _context(policy, env)
            if plain is None or traced is None:
                continue
            kind = plain.kind
            with localcontext(EXACT):
                # The checks run in registry order on one context per mode, as the engine runs a
                # policy's rules: the caches a check fills are the next one's.
                for name, spec in CHECKS.items():
                    if kind not in spec.kinds:
                        continue
                    for p in params[name]:
                        want = _run(spec, plain, p)
                        traced.reads = {}
                        got = _run(spec, traced, p)
                        reads = traced.reads
                        traced.reads = None
                        runs += 1
                        where = f"{name} on {env['proposal'].get('name')} with {p!r}"
                        assert got == want, where
                        assert set(reads) <= READS[name], (where, set(reads) - READS[name])
                        assert FIRST.get(name, set()) <= set(reads), (where, reads)
                        if want[0] == "returned":
                            assert reads, where  # a check that returns has read something
                        for label in ("lines", "new items"):
                            if label in reads:
                                rows = reads[label]
                                assert isinstance(rows, list) and all(isinstance(r, Mapping) for r in rows), where
                        seen[name] |= set(reads)
    assert runs > 10_000
    for name in CHECKS:
        assert seen[name] == READS[name], (name, READS[name] - seen[name])


def test_read_returns_its_value_and_records_only_when_traced() -> None:
    policy = compile_file(POLICIES / "tau-retail.yaml")
    env = {k: v for k, v in read_cases("tau-retail-dev.jsonl.gz")[0].items() if k in ("proposal", "session", "facts")}
    ctx = _context(policy, env)
    assert ctx is not None and ctx.reads is None
    assert ctx.read("x", 1) == 1 and ctx.reads is None
    ctx.reads = {}
    assert ctx.read("x", 2) == 2 and ctx.reads == {"x": 2}
