"""Compile: a validated policy document -> an immutable :class:`CompiledPolicy`.

The stages run in order; ``load`` is ``_load``, the others are the functions of ``STAGES``
(``compile_document(..., timings=...)`` reports the time each took):

1. ``load``      YAML text -> data with locations (``_load``)
2. ``schema``    JSON Schema validation (``_schema``)
3. ``extends``   merge the base policy (the child may only tighten it) and the domain files it ``imports``
4. ``domain``    declared intent kinds, facts and request -> models (``txguard/domain``)
5. ``tools``     tool name -> intent kind, argument mapping
6. ``categories`` taxonomy file, product types, synonyms
7. ``audit``     ``audit.mask`` paths parsed and type-checked like ``when`` paths
8. ``rules``     each rule parsed once into the located IR (``policy/rules.py``, ``policy/ir.py``):
                 a built-in check with compiled parameters, or a condition tree with type-checked paths
9. ``index``     rules by intent kind, preconditions first
10. ``lint``     (on demand: :func:`txguard.policy.lint.lint`) findings computed over the IR alone

All problems are collected and raised together as one :class:`PolicyError`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..core.context import Proposal
from ..core.decision import Outcome, PolicyRef, Route
from ..core.errors import MAX_DIAGNOSTICS, MoneyError, PolicyError
from ..core.canonical import policy_json
from ..domain.domain import BUILTIN, Domain, build_domain
from ..core.jsonio import DuplicateKeyError, read_json, unusable_problem
from ..core.money import currency_exponent
from ..core.paths import Any_, check_mask_path, root_types
from ..core.taxonomy import Categories
from .categories import compile_categories
from .ir import Loc, PathKey
from .load import Located, load_yaml, read_source
from .rules import CompiledRule, compile_rules, stage_rank
from .schema import validate_document
from .session import EMPTY_SESSION_POLICY, SessionPolicy, compile_session
from .extends import API_VERSION, Build, merge_base, merge_imports, load_policy_data
from .tools import ProposalError, ToolMap, compile_tools

__all__ = ["API_VERSION", "STAGES", "CompiledPolicy", "CompiledRule", "compile_document", "compile_file",
           "compile_policy", "load_policy_data"]

# -- the compiled policy ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class CompiledPolicy:
    """An immutable, validated policy ready to evaluate. Build it with :func:`compile_policy`."""

    id: str
    version: str
    digest: str
    file: str
    currency: str
    tools: Mapping[str, ToolMap]
    defaults: Mapping[str, Outcome]
    categories: Categories
    rules: tuple[CompiledRule, ...]
    by_kind: Mapping[str, tuple[CompiledRule, ...]]
    mask: tuple[str, ...]
    document: Mapping[str, Any]
    session: SessionPolicy = EMPTY_SESSION_POLICY
    domain: Domain = BUILTIN
    """The policy's intent kinds, facts layout and request model (declared, or the shipped commerce ones)."""
    route_precedence: tuple[Route, ...] = ("refuse", "human")
    """When escalating rules name both routes, the first of these wins (``routes.precedence``)."""
    locations: Mapping[PathKey, Loc] = field(default_factory=dict)
    """Where each tool (``("tools", name)``) and default (``("defaults", kind)``) is written (one
    that comes from a base policy: at ``extends``)."""

    def locate(self, path: PathKey) -> Loc:
        """Where ``path`` of the merged policy is written (see ``locations``)."""
        return self.locations.get(tuple(path), Loc(self.file, 1, 1, ()))

    def route(self, routes: Iterable[str]) -> Route:
        """The escalation's route among the routes the fired rules name (``human`` if none)."""
        named = set(routes)
        return next((r for r in self.route_precedence if r in named), "human")

    @cached_property
    def ref(self) -> PolicyRef:
        return PolicyRef(self.id, self.version, self.digest)

    def to_intent(self, proposal: Proposal) -> BaseModel:
        """Map a proposal through the tool mapping; raises :class:`ProposalError`."""
        tool, args = self.tool_arguments(proposal)
        return tool.build(args)

    def tool_arguments(self, proposal: Proposal) -> tuple[ToolMap, Mapping[str, Any]]:
        """The proposal's tool mapping and its arguments, parsed; raises :class:`ProposalError`."""
        tool = self.tools.get(proposal.name)
        problem = unusable_problem(proposal.arguments)
        if problem is not None and (tool is not None or not proposal.name):
            # What an adapter or a guarded tool could not read: say why, not "not valid JSON".
            raise ProposalError("malformed", f"the tool call could not be read: {problem[:160]}")
        if tool is None:
            if not proposal.name:
                raise ProposalError("unknown_tool", "the tool call names no tool")
            raise ProposalError("unknown_tool", f"tool `{proposal.name}` is not mapped by policy `{self.id}`")
        args = proposal.arguments
        if isinstance(args, (str, bytes, bytearray)):
            try:
                args = read_json(args)
            except DuplicateKeyError as exc:
                raise ProposalError("malformed", f"arguments repeat the key `{exc.key[:80]}`: which value counts is ambiguous") from None
            except (ValueError, RecursionError) as exc:
                raise ProposalError("malformed", f"arguments are not valid JSON ({str(exc)[:80]})") from None
        if args is None and tool.kind == "read":
            args = {}
        if type(args) is not dict and not isinstance(args, Mapping):
            raise ProposalError("malformed", f"arguments must be a JSON object, got {type(args).__name__}")
        return tool, args


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(policy_json(data).encode("utf-8")).hexdigest()


# -- compilation -----------------------------------------------------------------------------------------

def _stage_schema(b: Build) -> None:
    errors = validate_document(b.doc)
    if errors:
        raise PolicyError(errors[:MAX_DIAGNOSTICS], max(0, len(errors) - MAX_DIAGNOSTICS))


def _stage_extends(b: Build) -> None:
    b.data = merge_imports(b, merge_base(b, dict(b.doc.data), (Path(b.doc.file).resolve(),)))


def _stage_domain(b: Build) -> None:
    b.currency = b.data.get("currency", "USD")
    try:
        currency_exponent(b.currency)
    except MoneyError as exc:
        b.error(("currency",), "txg-param", str(exc))
        return
    b.domain = build_domain(b.data, b.currency, b.domain_error)


def _stage_tools(b: Build) -> None:
    b.tools = compile_tools(b.data.get("tools", {}), b.error, b.domain.models)


def _stage_categories(b: Build) -> None:
    b.categories = compile_categories(b.data.get("categories", {}), b.base_dir, b.error)


def _stage_audit(b: Build) -> None:
    """``audit.mask`` paths are parsed and type-checked like ``when`` paths (:func:`check_mask_path`)."""
    own = b.doc.data.get("audit", {}).get("mask", []) if isinstance(b.doc.data, dict) else []
    roots = {"proposal": [Any_], "lineage": [Any_], **root_types([*b.domain.kinds, "read"], None, b.domain)}
    for text in b.data.get("audit", {}).get("mask", []):
        problem = check_mask_path(text, roots)  # against the policy's kinds, request and facts
        if problem is not None:  # a base policy's mask is located at `extends`
            b.error(("audit", "mask", own.index(text)) if text in own else ("extends",), "txg-path", problem)


def _stage_rules(b: Build) -> None:
    b.rules = compile_rules(b.data.get("rules", []), b.domain.kinds, b.doc, b.rule_paths, b.rule_sites, b.error,
                            tables=b.data.get("tables") or {}, currency=b.currency, domain=b.domain)
    b.session = replace(compile_session(b.data.get("session"), {r.id for r in b.rules}, b.error,
                                        kinds=[k for k in b.domain.kinds if k != "read"]),
                        consequential=b.domain.consequential)
    # (A declared request next to the shipped kinds keeps every field of the shipped one, which their
    # checks read: the domain stage refuses it otherwise; on declared kinds the checks read `roles`.)
    if b.session.budgets and ("checkout" not in b.domain.models or "checkout" in b.domain.specs):
        # budgets charge checkouts: without the kind a budget would silently never be charged
        b.error(("session", "budgets"), "txg-param", "budgets count the amounts of checkouts and this policy has no "
                                                     "`checkout` kind (write `builtin_kinds: commerce`, or drop them)")


def _stage_index(b: Build) -> None:
    if b.errors:
        raise PolicyError(b.errors[:MAX_DIAGNOSTICS], max(0, len(b.errors) - MAX_DIAGNOSTICS))
    for kind in b.domain.kinds + ["read"]:
        applicable = [r for r in b.rules if kind in r.kinds]
        # Preconditions first (their failure skips dependent checks), then by id: file order never matters.
        applicable.sort(key=lambda r: (stage_rank(r), r.id))
        b.by_kind[kind] = tuple(applicable)



STAGES: tuple[tuple[str, Callable[[Build], None]], ...] = (
    ("schema", _stage_schema),
    ("extends", _stage_extends),
    ("domain", _stage_domain),
    ("tools", _stage_tools),
    ("categories", _stage_categories),
    ("audit", _stage_audit),
    ("rules", _stage_rules),
    ("index", _stage_index),
)
"""The compile stages after ``load`` (YAML with locations), in order. Each stage collects its
located errors; ``schema`` stops at its own errors, ``index`` at everyone else's."""


def compile_document(doc: Located, base_dir: Path, *, timings: dict[str, float] | None = None,
                     extends_root: Path | None = None) -> CompiledPolicy:
    """Validate and compile a loaded document; raises :class:`PolicyError` with every problem.

    ``timings``, when given, receives the seconds each stage of :data:`STAGES` took. A base policy
    named by ``extends`` must be a ``.yaml``/``.yml`` file under ``extends_root`` (default:
    ``base_dir``, the policy's own folder).
    """
    if not isinstance(doc.data, dict) or doc.data.get("apiVersion") != API_VERSION:
        # Not a policy: nothing of it is quoted (a suite's `policy:` or a reload may name any file,
        # and the diagnostics reach whoever runs them), as for a base policy (`_NotAPolicy`).
        where = ("apiVersion",) if isinstance(doc.data, dict) and "apiVersion" in doc.data else ()
        raise PolicyError([doc.diagnostic(where, "txg-schema",
                                          f"{'apiVersion' if where else '(document)'}: not a txguard policy: a policy "
                                          f"is a YAML mapping that declares `apiVersion: {API_VERSION}`")])
    b = Build(doc, base_dir, extends_root)
    for name, stage in STAGES:
        start = time.perf_counter()
        stage(b)
        if timings is not None:
            timings[name] = time.perf_counter() - start
    data = b.data
    return CompiledPolicy(
        id=data["id"],
        version=str(data["version"]),
        digest=_digest(data),
        file=doc.file,
        currency=b.currency,
        tools=b.tools,
        defaults={k: Outcome(v) for k, v in data.get("defaults", {}).items()},
        categories=b.categories,
        rules=tuple(sorted(b.rules, key=lambda r: r.id)),
        by_kind=b.by_kind,
        mask=tuple(data.get("audit", {}).get("mask", ())),
        document=data,
        session=b.session,
        domain=b.domain,
        route_precedence=tuple(data.get("routes", {}).get("precedence", ("refuse", "human"))),
        locations=_locations(doc, data),
    )


def _locations(doc: Located, data: Mapping[str, Any]) -> dict[PathKey, Loc]:
    """Where the merged policy's tools, defaults, declared kinds (and their ``unbound`` entries) and
    fact collections are written: in this file, or at ``extends``."""
    own = doc.data
    out: dict[PathKey, Loc] = {}
    for section in ("tools", "defaults", "intents", "facts"):
        for key in data.get(section) or {}:
            mine = key in (own.get(section) or {})
            path: PathKey = (section, key) if mine else ("extends",)
            line, col = doc.where(path)
            out[(section, key)] = Loc(doc.file, line, col, path)
            unbound = (data[section][key] or {}).get("unbound") if section == "intents" else None
            for i, _ in enumerate(unbound if isinstance(unbound, list) else ()):
                sub: PathKey = (section, key, "unbound", i) if mine else ("extends",)
                line, col = doc.where(sub)
                out[(section, key, "unbound", i)] = Loc(doc.file, line, col, sub)
    return out


def compile_policy(text: str, file: str = "<policy>", base_dir: Path | None = None, *,
                   extends_root: str | Path | None = None) -> CompiledPolicy:
    """Load, validate and compile policy text. Raises :class:`PolicyError` listing every problem.

    ``base_dir`` is the folder relative paths in the policy start from (default: the file's).
    A base policy named by ``extends`` must be a ``.yaml`` or ``.yml`` file under ``extends_root``
    (default: ``base_dir``); any other file is refused without being read.
    """
    doc, errors = load_yaml(text, file)
    if doc is None or errors:
        raise PolicyError(errors)
    return compile_document(doc, base_dir if base_dir is not None else Path(file).parent,
                            extends_root=Path(extends_root) if extends_root is not None else None)


def compile_file(path: str | Path, *, extends_root: str | Path | None = None) -> CompiledPolicy:
    """Load, validate and compile a policy file (see :func:`compile_policy` for ``extends_root``)."""
    p = Path(path)
    return compile_policy(read_source(p, "policy", PolicyError), str(p), p.parent, extends_root=extends_root)

