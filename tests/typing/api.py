"""Public-API usage that must type-check under ``mypy --strict`` (run by ``tests/test_typing.py``).

Not collected by pytest: it is read by mypy only.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from typing_extensions import assert_never

import txguard
from txguard import (
    LINT_CODES,
    Checkout,
    CompiledPolicy,
    ConfirmationRequest,
    Confirmed,
    ConsentSigner,
    ConsentTokenError,
    Decision,
    Diagnostic,
    EnvelopeInput,
    Explanation,
    Facts,
    FactsInput,
    Guard,
    LineItem,
    MoneyError,
    Observer,
    Outcome,
    PolicyError,
    Proposal,
    ProposalInput,
    Question,
    ReadOnly,
    Reason,
    Request,
    RequestInput,
    Route,
    Session,
    SessionInput,
    TxguardError,
    compile_file,
    compile_policy,
    explain,
    intent_digest,
    lint,
    parse_amount,
    policy_schema,
    utc_now,
)


def fixed_clock() -> datetime:
    return datetime(2026, 1, 1, tzinfo=timezone.utc)


def guard_from_file(path: Path) -> Guard:
    return Guard.from_file(path, clock=fixed_clock)


def act(decision: Decision) -> str:
    match decision.outcome:
        case Outcome.ALLOW:
            return "run the tool"
        case Outcome.CLARIFY:
            questions: tuple[Question, ...] = decision.questions
            confirmation: ConfirmationRequest | None = decision.confirmation
            digest = confirmation.digest if confirmation is not None else ""
            return " / ".join(q.text for q in questions) + digest
        case Outcome.ESCALATE:
            route: Route | None = decision.route
            return f"hand over ({route})"
        case _ as unreachable:
            assert_never(unreachable)


def reasons(decision: Decision) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for reason in decision.reasons:
        r: Reason = reason
        out.append((r.rule, r.code, r.message))
    codes: tuple[str, ...] = decision.codes
    allowed: bool = decision.allowed
    data: dict[str, Any] = decision.to_dict()
    elapsed: float = decision.elapsed_us
    del codes, allowed, data, elapsed
    return out


def check_everything(guard: Guard) -> list[Decision]:
    args = {"items": [{"sku": "s", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "1.00"}],
            "currency": "USD", "total": "1.00", "payment_method_id": "pm", "confidence": 0.9}
    proposal = Proposal(name="checkout", arguments=args)
    request = Request(product_type="Coffee Maker", budget=Decimal("300"), quantity=1)
    intent = Checkout(
        items=(LineItem(sku="s", product_id="p", title="t", quantity=1, unit_price=Decimal("1.00")),),
        total=Decimal("1.00"),
        currency="USD",
        payment_method_id="pm",
    )
    digest: str = intent_digest(intent)
    session = Session(authenticated_user_id="u", confirmed=(Confirmed(digest=digest),))
    facts = Facts({"users": {}, "products": {}})
    return [
        guard.check(proposal, request, session, facts),
        guard.check({"name": "checkout", "arguments": "{\"items\": ["}),
        guard.check(intent, session=session),
        guard.check_envelope({"proposal": {"name": "checkout", "arguments": args}}),
    ]


def load(text: str) -> CompiledPolicy | list[str]:
    try:
        policy = compile_policy(text, "inline.yaml")
    except PolicyError as exc:
        diagnostics: list[Diagnostic] = exc.diagnostics
        return [f"{d.file}:{d.line}:{d.column}: {d.code}: {d.message}" for d in diagnostics]
    ref = policy.ref
    _: str = ref.digest
    return policy


def money(text: str) -> Decimal | None:
    try:
        return parse_amount(text, 2)
    except MoneyError:
        return None
    except TxguardError:
        raise


def misc() -> None:
    schema: dict[str, Any] = policy_schema()
    policy: CompiledPolicy = compile_file("policies/retail.yaml")
    version: str = txguard.__version__
    del schema, policy, version


def tokens(request: ConfirmationRequest, key: bytes) -> Guard:
    signer = ConsentSigner(key, key_id="host-1")
    token: str = signer.issue(request, expires_at=datetime.now(timezone.utc), single_use_id="c1")
    try:
        confirmed: Confirmed = signer.verify(token)
    except ConsentTokenError as exc:
        why: str = str(exc)
        del why
    else:
        del confirmed
    return Guard.from_file("policies/retail.yaml", consent_keys=[signer])


def operate(guard: Guard, path: str) -> str:
    from prometheus_client import CollectorRegistry

    from txguard.metrics import PrometheusObserver
    from txguard.otel import OTelObserver
    from txguard.serve import ServeConfig, create_app

    observers: list[Observer] = [PrometheusObserver(CollectorRegistry()), OTelObserver(mode="span")]
    watched = Guard(guard.policy, observers=observers)
    try:
        new: CompiledPolicy = watched.reload(path)
    except PolicyError as exc:
        return str(exc.diagnostics[0])
    watched.reload(new)
    create_app(ServeConfig(policy=path, workers=1))
    return new.digest


def shadow_rollout(candidate: CompiledPolicy) -> int:
    guard = Guard.from_file("policies/retail.yaml", shadow=candidate, shadow_sample=0.25)
    by_path = Guard.from_text("apiVersion: txguard/v1", shadow=Path("next.yaml"))
    stats: txguard.ShadowStats = guard.shadow_stats
    staged: CompiledPolicy | None = by_path.shadow
    del staged
    return stats.sampled - stats.diverged + stats.loosened + stats.tightened + stats.errors


def backtest(records: list[Any], policy: CompiledPolicy) -> bool:
    from txguard.audit import ReplayGate, ReplayReport, replay

    report: ReplayReport = replay(records, policy)
    gate: ReplayGate = report.gate(max_divergence=0.01, max_loosened=0)
    rate: float = report.divergence
    del rate
    return gate.ok and report.loosened == 0 and not gate.failures


def held_decisions(blocked: txguard.Blocked, guard: Guard) -> str:
    from txguard.integrations import ToolCallHook, Verdict

    verdict: Verdict = ToolCallHook(guard, framework="mine").check("checkout", {}, call_id="c1")
    outcomes: tuple[Outcome, Outcome] = (blocked.outcome, verdict.outcome)
    routes: tuple[Route | None, Route | None] = (blocked.route, verdict.route)
    questions: tuple[Question, ...] = blocked.questions + verdict.questions
    shown: ConfirmationRequest | None = verdict.confirmation or blocked.confirmation
    del outcomes, routes, questions, shown
    return blocked.message + verdict.message + blocked.reasons[0].code + verdict.reasons[0].code


def typed_inputs(guard: Guard, proposal: ProposalInput, request: RequestInput, session: SessionInput,
                 facts: FactsInput, envelope: EnvelopeInput) -> list[Decision]:
    raw: dict[str, object] = {"name": "refund", "arguments": {"order_id": "#W1"}}
    return [
        guard.check(proposal, request, session, facts),
        guard.check(raw, {"budget": "300"}, {"authenticated_user_id": "u1", "confirmed": []},
                    {"orders": {"#W1": {"status": "delivered"}}}),
        guard.check(raw, Request(), Session(), Facts({})),
        guard.check_envelope(envelope),
        guard.check_envelope(None),  # a case that could not be read: decided escalate
    ]


def what_was_decided(decision: Decision) -> str:
    intent = decision.intent
    if intent is None:
        return "no intent: the proposal did not become one"
    if isinstance(intent, ReadOnly):
        return intent.tool
    if isinstance(intent, Checkout):
        total: Decimal = intent.total
        return f"{total} {intent.currency}"
    kind: str = intent.kind
    return kind


def author(policy: CompiledPolicy, envelope: EnvelopeInput) -> str:
    findings: list[Diagnostic] = lint(policy)
    known = [d for d in findings if d.code in LINT_CODES]
    explanation: Explanation = explain(policy, envelope, utc_now)
    why: Decision = explanation.decision
    return explanation.render() + why.outcome.value + str(len(known))
