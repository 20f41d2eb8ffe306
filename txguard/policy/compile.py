"""Compile: a validated policy document -> an immutable :class:`CompiledPolicy`.

The stages run in order; ``load`` is ``_load``, the others are the functions of ``STAGES``
(``compile_document(..., timings=...)`` reports the time each took):

1. ``load``      YAML text -> data with locations (``_load``)
2. ``schema``    JSON Schema validation (``_schema``)
3. ``extends``   merge the base policy; the child may only tighten it
4. ``tools``     tool name -> intent kind, argument mapping
5. ``categories`` taxonomy file, product types, synonyms
6. ``rules``     each rule parsed once into the located IR (``policy/rules.py``, ``policy/ir.py``):
                 a built-in check with compiled parameters, or a condition tree with type-checked paths
7. ``index``     rules by intent kind, preconditions first
8. ``lint``      (on demand: :func:`txguard.policy.lint.lint`) findings computed over the IR alone

All problems are collected and raised together as one :class:`PolicyError`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..core.context import Proposal
from ..core.decision import Outcome, PolicyRef, Route
from ..core.errors import MAX_DIAGNOSTICS, Diagnostic, MoneyError, PolicyError
from ..core.intents import INTENT_MODELS, canonical_json
from ..core.jsonio import DuplicateKeyError, read_json, unusable_problem
from ..core.money import currency_exponent
from ..core.taxonomy import Categories
from .categories import compile_categories
from .ir import Loc, PathKey
from .load import Located, load_yaml, read_source
from .rules import CompiledRule, Site, compile_rules, stage_rank
from .schema import dotted, validate_document
from .session import EMPTY_SESSION_POLICY, SessionPolicy, compile_session, merge_session
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
        if not isinstance(args, Mapping):
            raise ProposalError("malformed", f"arguments must be a JSON object, got {type(args).__name__}")
        return tool, args


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


# -- compilation -----------------------------------------------------------------------------------------

class _Build:
    """The state of one compilation, passed through the stages."""

    def __init__(self, doc: Located, base_dir: Path, extends_root: Path | None = None) -> None:
        self.doc = doc
        self.base_dir = base_dir
        # The folder every base policy (`extends`, at any depth) must be in: the caller's, or ours.
        self.extends_root = (extends_root if extends_root is not None else base_dir).resolve()
        self.errors: list[Diagnostic] = []
        self.data: dict[str, Any] = {}
        self.tools: dict[str, ToolMap] = {}
        self.currency = "USD"
        self.categories = Categories()
        self.rules: list[CompiledRule] = []
        self.session: SessionPolicy = EMPTY_SESSION_POLICY
        self.by_kind: dict[str, tuple[CompiledRule, ...]] = {}
        self.rule_sites: dict[str, Site] = {}
        self.rule_paths: list[tuple[str | int, ...]] = []
        """The document path of each merged rule (empty without ``extends``: ``rules[i]``)."""
        """Where each rule is written, for rules of a base policy (its own file) and of this one."""

    def error(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        self.errors.append(self.doc.diagnostic(path, code, f"{dotted(path, self.doc.data)}: {message}"))


def _merge_base(b: _Build, data: dict[str, Any], chain: tuple[Path, ...]) -> dict[str, Any]:
    """Merge the base policy named by ``extends``: the child can only add and tighten."""
    if "extends" not in data:
        return data
    base_path = _base_policy_path(b, data["extends"])
    if base_path is None:
        return data
    if base_path in chain:
        b.error(("extends",), "txg-extends", f"`{data['extends']}` extends itself (a cycle)")
        return data
    try:
        base, base_sites = load_policy_data(base_path, chain + (base_path,), b.extends_root)
    except _NotAPolicy as exc:
        b.error(("extends",), "txg-extends", f"`{data['extends']}` {exc}")
        return data
    except PolicyError as exc:
        for d in exc.diagnostics:
            b.errors.append(d)
        b.error(("extends",), "txg-extends", f"base policy `{data['extends']}` does not load")
        return data
    except OSError as exc:
        b.error(("extends",), "txg-io", f"cannot read base policy `{data['extends']}`: {exc.strerror}")
        return data
    except UnicodeDecodeError:
        b.error(("extends",), "txg-io", f"base policy `{data['extends']}` is not UTF-8 text")
        return data
    merged = dict(data)
    del merged["extends"]
    if base.get("currency", "USD") != data.get("currency", base.get("currency", "USD")):
        b.error(("currency",), "txg-extends", "a policy cannot change the currency of its base")
    merged["currency"] = base.get("currency", "USD")
    tools = dict(base.get("tools", {}))
    for name, spec in data.get("tools", {}).items():
        if name in tools and tools[name] != spec:
            b.error(("tools", name), "txg-extends", f"tool `{name}` is mapped by the base policy and cannot be remapped")
        tools[name] = spec
    merged["tools"] = tools
    defaults = dict(base.get("defaults", {}))
    for kind, outcome in data.get("defaults", {}).items():
        if kind in defaults and Outcome(outcome).rank < Outcome(defaults[kind]).rank:
            b.error(("defaults", kind), "txg-extends",
                    f"`{outcome}` is looser than the base policy's `{defaults[kind]}`: a policy can only tighten its base")
        elif kind not in defaults and outcome != "escalate":
            b.error(("defaults", kind), "txg-extends",
                    f"the base policy escalates `{kind}` (not in its defaults): a policy can only tighten its base")
        defaults[kind] = outcome
    merged["defaults"] = defaults
    base_ids = {r["id"] for r in base.get("rules", [])}
    b.rule_sites.update(base_sites)
    for i, r in enumerate(data.get("rules", [])):
        if r.get("id") in base_ids:
            b.error(("rules", i, "id"), "txg-extends",
                    f"rule `{r['id']}` is defined by the base policy: add a rule with a new id to tighten it")
    own = [(j, r) for j, r in enumerate(data.get("rules", [])) if r.get("id") not in base_ids]
    merged["rules"] = list(base.get("rules", [])) + [r for _, r in own]
    # Where each merged rule is written: a base rule's problems are reported at `extends`.
    b.rule_paths = [("extends",)] * len(base.get("rules", [])) + [("rules", j) for j, _ in own]
    cats = dict(base.get("categories", {}))
    if "taxonomy" in cats:
        # The base names its taxonomy relative to its own folder; the merged policy compiles from ours.
        cats["taxonomy"] = os.path.relpath(base_path.parent / cats["taxonomy"], b.base_dir)
    judged = any(r.get("check") == "category" for r in base.get("rules", []))
    for key, value in data.get("categories", {}).items():
        new = {**cats.get(key, {}), **value} if isinstance(value, dict) else value
        if judged and new != cats.get(key):
            # A synonym or a product type more can make the base's category rule match more products.
            b.error(("categories", key), "txg-extends",
                    f"the base policy's category rule reads `categories.{key}`: a policy cannot change it")
        cats[key] = new
    if cats:
        merged["categories"] = cats
    mask = list(base.get("audit", {}).get("mask", [])) + list(data.get("audit", {}).get("mask", []))
    if mask:
        merged["audit"] = {"mask": sorted(set(mask))}
    session = merge_session(base.get("session"), data.get("session"))
    if session:
        merged["session"] = session
    if "routes" in base:
        if "routes" in data and data["routes"] != base["routes"]:
            b.error(("routes",), "txg-extends", "the base policy sets `routes`: a policy cannot change them")
        merged["routes"] = base["routes"]
    return merged


API_VERSION = "txguard/v1"
"""What a policy file declares as its ``apiVersion``; a file that does not is never quoted."""

POLICY_SUFFIXES = (".yaml", ".yml")
"""The file names a base policy may have."""


class _NotAPolicy(Exception):
    """A file named by ``extends`` is not a txguard policy: nothing of it is shown."""


def _base_policy_path(b: _Build, name: str) -> Path | None:
    """The file ``extends: name`` names, if it is a policy file under the allowed root; else a
    located error (that never shows anything of the file) and None."""
    path = (b.base_dir / name).resolve()  # symbolic links followed: where the file really is
    root = b.extends_root
    if not path.is_relative_to(root):
        b.error(("extends",), "txg-extends",
                f"`{name}` is outside `{root}`: a base policy must be in the policy's folder "
                "or in the root the caller allows")
        return None
    if path.suffix not in POLICY_SUFFIXES or any(part.startswith(".") for part in path.relative_to(root).parts):
        b.error(("extends",), "txg-extends",
                f"`{name}` is not a policy file: a base policy is a `.yaml` or `.yml` file, not hidden")
        return None
    return path


def load_policy_data(path: Path, chain: tuple[Path, ...] = (),
                     extends_root: Path | None = None) -> tuple[dict[str, Any], dict[str, Site]]:
    """Load and schema-validate a policy file, with its base merged in (no compilation).

    Returns the merged data and where each rule is written (rule id -> its document and path). A
    file that is not valid YAML or does not declare ``apiVersion: txguard/v1`` raises
    :class:`_NotAPolicy`, so that a base's diagnostics (which quote its values) are shown only for
    a file that says it is a policy.
    """
    text = path.read_text(encoding="utf-8")
    doc, errors = load_yaml(text, str(path))
    if doc is None or not isinstance(doc.data, dict) or doc.data.get("apiVersion") != API_VERSION:
        raise _NotAPolicy("is not a txguard policy (valid YAML with `apiVersion: txguard/v1`)")
    if errors:
        raise PolicyError(errors)
    errors = validate_document(doc)
    if errors:
        raise PolicyError(errors[:MAX_DIAGNOSTICS], max(0, len(errors) - MAX_DIAGNOSTICS))
    b = _Build(doc, path.parent, extends_root)
    data = _merge_base(b, dict(doc.data), chain or (path.resolve(),))
    if b.errors:
        raise PolicyError(b.errors)
    return data, {**b.rule_sites, **_own_rule_sites(b)}


def _own_rule_sites(b: _Build) -> dict[str, Site]:
    out: dict[str, Site] = {}
    for i, rule in enumerate(b.doc.data.get("rules") or []):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            out[rule["id"]] = (b.doc, ("rules", i))
    return out


def _stage_schema(b: _Build) -> None:
    errors = validate_document(b.doc)
    if errors:
        raise PolicyError(errors[:MAX_DIAGNOSTICS], max(0, len(errors) - MAX_DIAGNOSTICS))


def _stage_extends(b: _Build) -> None:
    b.data = _merge_base(b, dict(b.doc.data), (Path(b.doc.file).resolve(),))


def _stage_tools(b: _Build) -> None:
    b.tools = compile_tools(b.data.get("tools", {}), b.error)
    b.currency = b.data.get("currency", "USD")
    try:
        currency_exponent(b.currency)
    except MoneyError as exc:
        b.error(("currency",), "txg-param", str(exc))


def _stage_categories(b: _Build) -> None:
    b.categories = compile_categories(b.data.get("categories", {}), b.base_dir, b.error)


def _stage_rules(b: _Build) -> None:
    b.rules = compile_rules(b.data.get("rules", []), sorted(INTENT_MODELS), b.doc, b.rule_paths, b.rule_sites, b.error,
                            tables=b.data.get("tables") or {}, currency=b.currency)
    b.session = compile_session(b.data.get("session"), {r.id for r in b.rules}, b.error)


def _stage_index(b: _Build) -> None:
    if b.errors:
        raise PolicyError(b.errors[:MAX_DIAGNOSTICS], max(0, len(b.errors) - MAX_DIAGNOSTICS))
    for kind in sorted(INTENT_MODELS) + ["read"]:
        applicable = [r for r in b.rules if kind in r.kinds]
        # Preconditions first (their failure skips dependent checks), then by id: file order never matters.
        applicable.sort(key=lambda r: (stage_rank(r), r.id))
        b.by_kind[kind] = tuple(applicable)


STAGES: tuple[tuple[str, Callable[[_Build], None]], ...] = (
    ("schema", _stage_schema),
    ("extends", _stage_extends),
    ("tools", _stage_tools),
    ("categories", _stage_categories),
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
    b = _Build(doc, base_dir, extends_root)
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
        route_precedence=tuple(data.get("routes", {}).get("precedence", ("refuse", "human"))),
        locations=_locations(doc, data),
    )


def _locations(doc: Located, data: Mapping[str, Any]) -> dict[PathKey, Loc]:
    """Where the merged policy's tools and defaults are written: in this file, or at ``extends``."""
    own = doc.data
    out: dict[PathKey, Loc] = {}
    for section in ("tools", "defaults"):
        for key in data.get(section, {}):
            path: PathKey = (section, key) if key in (own.get(section) or {}) else ("extends",)
            line, col = doc.where(path)
            out[(section, key)] = Loc(doc.file, line, col, path)
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

