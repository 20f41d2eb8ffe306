"""A policy's domain: its intent kinds, its trusted facts and its request, as declared in YAML.

A policy that declares none of ``intents``, ``facts`` or ``request`` has the shipped commerce
domain (the ten retail kinds, the wire-format v1 facts layout, :class:`~txguard.Request`). A policy
that declares ``intents`` has exactly the kinds it declares (plus ``read``), and the commerce kinds
too when it says ``builtin_kinds: commerce``. Declared facts replace the commerce layout for ``when``
paths; a declared request replaces :class:`~txguard.Request`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from ..core.canonical import policy_json
from ..core.context import EMPTY_REQUEST, Request
from ..core.intents import CONSEQUENTIAL_KINDS, INTENT_MODELS
from ..core.paths import FACTS_SCHEMA, ListOf, MapOf
from .bind import ASSESSMENT_ROLES, compile_bound
from ..policy.types import MoneyIn
from .amounts import amounts, is_code, markers
from .declare import IDENT, FieldType, Report, Where, leaf_steps, leaves, parse_named, parse_record, resolve
from .models import annotation, money_checker, optional, record_model

ROLES = ("amount", "owner", "payment", "confidence", "candidates", "quantity", "lines", "order")
"""What a built-in check may read of a declared kind, each named by a field path of the kind."""


@dataclass(frozen=True, eq=False)
class KindSpec:
    """A declared intent kind: its model and what consent and the built-in checks read of it."""

    name: str
    model: type[BaseModel]
    fields: FieldType
    consequential: bool = True
    description: str | None = None
    unbound: tuple[str, ...] = ()
    """Dotted field paths consent ignores (linted: each is a field the user never confirms)."""
    roles: Mapping[str, str] = field(default_factory=dict)
    money: tuple[tuple[tuple[str, ...], str, bool], ...] = ()
    """Each amount's leaf path, its currency (a code, or a dotted path in the intent) and whether it is a path."""
    same_length: tuple[tuple[str, ...], ...] = ()

    def bound(self, intent: Any) -> dict[str, Any]:
        """What consent binds of ``intent`` (see :mod:`txguard.domain.bind`)."""
        return self._bound(intent)

    @functools.cached_property
    def _bound(self) -> Callable[[Any], dict[str, Any]]:
        """:func:`~txguard.domain.bind.bound_form` compiled for this kind, once."""
        return compile_bound(self)

    def currency_of(self, steps: tuple[str, ...]) -> tuple[str, bool] | None:
        for path, cur, is_path in self.money:
            if path == steps:
                return cur, is_path
        return None


@dataclass(frozen=True, eq=False)
class FactCollection:
    name: str
    key: str | None
    record: FieldType
    description: str | None = None


@dataclass(frozen=True, eq=False)
class Domain:
    """Every intent kind a policy knows, its facts layout and its request model."""

    models: Mapping[str, type[BaseModel]]
    specs: Mapping[str, KindSpec]
    consequential: frozenset[str]
    facts: Mapping[str, FactCollection] | None = None
    """Declared fact collections (None: the commerce layout, :data:`~txguard.core.paths.FACTS_SCHEMA`)."""
    undeclared_facts: str = "ignore"
    request_model: type[BaseModel] = Request
    empty_request: BaseModel | None = EMPTY_REQUEST
    """The request when none is given (None: the declared request has a required field)."""
    request_type: FieldType | None = None
    digest: str = ""
    currency: str = "USD"
    """The policy's currency: a declared fact's amount that names no currency is in it."""

    @property
    def kinds(self) -> list[str]:
        return sorted(self.models)

    def facts_schema(self) -> Any:
        """The facts layout ``when`` paths are checked against."""
        if self.facts is None:
            return FACTS_SCHEMA
        return {name: MapOf(path_schema(c.record, f"facts.{name}", self.currency)) for name, c in self.facts.items()}

    def fact_type(self, steps: list[tuple[str, Any]]) -> FieldType | None:
        """The declared type reached by a path's steps below ``facts`` (``attr``/``key``/``index``), or
        None (not declared: the commerce layout, or a step the declaration does not type)."""
        if self.facts is None or not steps or steps[0][0] != "attr" or steps[0][1] not in self.facts:
            return None
        coll = self.facts[str(steps[0][1])]
        rest = steps[1:]
        if not rest:
            return None
        if rest[0][0] not in ("key", "ref"):
            return None
        cur: FieldType | None = coll.record
        for op, name in rest[1:]:
            if cur is None:
                return None
            if op == "attr" and cur.kind == "record":
                cur = cur.fields.get(str(name))
            elif op == "index" and cur.kind == "list":
                cur = cur.of
            elif op in ("key", "ref") and cur.kind == "map":
                cur = cur.of
            else:
                return None
        return cur


BUILTIN = Domain(models=dict(INTENT_MODELS), specs={}, consequential=frozenset(CONSEQUENTIAL_KINDS), digest="builtin")
"""The shipped commerce domain: what a policy that declares nothing has."""


def path_schema(tp: FieldType, name: str, currency: str = "USD") -> Any:
    """A declared type as the layout :func:`~txguard.core.paths.check_path` walks: records as dicts,
    lists as :class:`ListOf`, maps as :class:`MapOf`, scalars as their validating annotation (an
    amount marked with its currency: its own code, else ``currency``)."""
    if tp.kind == "record":
        return {k: path_schema(v, f"{name}.{k}", currency) for k, v in tp.fields.items()}
    if tp.kind == "list" and tp.of is not None:
        return ListOf(path_schema(tp.of, f"{name}[]", currency))
    if tp.kind == "map" and tp.of is not None:
        return MapOf(path_schema(tp.of, f"{name}{{}}", currency))
    marker = MoneyIn(code=tp.currency or currency) if tp.kind == "money" else None
    return optional(tp, annotation(tp, name, {}, money_for=(lambda _: marker) if marker is not None else None))


# -- building ---------------------------------------------------------------------------------------------

_CACHE: dict[tuple[str, str], Domain] = {}
"""Domains by (declaration digest, policy currency): one set of models per declaration, so that
every policy of a process that declares the same kinds shares their classes."""

DECLARING = ("types", "intents", "facts", "request", "undeclared_facts", "builtin_kinds")


def build_domain(data: Mapping[str, Any], currency: str, report: Report) -> Domain:
    """The domain of a merged policy document (imports merged in); problems go to ``report``.

    A kind named like a shipped kind must be declared exactly as the shipped commerce domain
    declares it (``policies/domains/commerce.yaml``): it then runs on the engine's typed model.
    """
    declared = {k: data[k] for k in DECLARING if k in data}
    if not declared:
        return BUILTIN
    digest = "sha256:" + hashlib.sha256(policy_json(declared).encode("utf-8")).hexdigest()
    cached = _CACHE.get((digest, currency))
    if cached is not None:
        return cached
    problems: list[tuple[Where, str, str]] = []

    def note(at: Where, code: str, message: str) -> None:
        problems.append((at, code, message))
        report(at, code, message)

    named = parse_named(data.get("types"), ("types",), note)
    builtin = data.get("builtin_kinds") == "commerce" or "intents" not in data
    models: dict[str, type[BaseModel]] = dict(INTENT_MODELS) if builtin else {}
    consequential = set(CONSEQUENTIAL_KINDS) if builtin else set()
    specs: dict[str, KindSpec] = {}
    for name, raw in (data.get("intents") or {}).items():
        at: Where = ("intents", name)
        if name == "read":
            note(at, "txg-type", "`read` is the kind of read-only tools: declare your kind under another name")
            continue
        spec = _kind(name, raw, at, currency, note, named, INTENT_MODELS.get(name))
        if spec is None:
            continue
        # A shipped kind's name, declared as the shipped domain declares it, is the shipped kind; with
        # the shipped kinds in the policy any other declaration under that name is refused; without
        # them the name is free (a declared kind of its own, generated like any other).
        shipped = name in INTENT_MODELS and (builtin or "builtin_kinds" in data or _same(spec, shipped_specs().get(name))
                                             or any(k in INTENT_MODELS and k != name for k in data.get("intents") or {}))
        if not shipped and name in INTENT_MODELS:
            spec = _kind(name, raw, at, currency, note, named)
            if spec is None:
                continue
        if shipped:
            if not _same(spec, shipped_specs().get(name)):
                note(at, "txg-type", f"`{name}` is a shipped kind: it must be declared exactly as the shipped commerce "
                                     "domain declares it (policies/domains/commerce.yaml); declare your own kind under "
                                     "another name")
                continue
            models[name] = INTENT_MODELS[name]
            if spec.consequential:
                consequential.add(name)
            else:
                consequential.discard(name)
            continue
        specs[name] = spec
        models[name] = spec.model
        if spec.consequential:
            consequential.add(name)
    facts = None
    if "facts" in data:
        facts = {}
        for cname, raw in data["facts"].items():
            coll = _collection(cname, raw, ("facts", cname), note, named, currency)
            if coll is not None:
                facts[cname] = coll
    request_model: type[BaseModel] = Request
    empty: BaseModel | None = EMPTY_REQUEST
    request_type = None
    if "request" in data:
        rtype = parse_record(data["request"], ("request",), note, named)
        shipped_request = _shipped().request
        if rtype is not None and rtype != shipped_request and shipped_request is not None \
                and any(k in INTENT_MODELS for k in models):
            # The commerce checks read the shipped request's fields: a policy with those kinds keeps them.
            lost = [k for k, t in shipped_request.fields.items() if rtype.fields.get(k) != t]
            if lost:
                note(("request",), "txg-type", "a policy with the shipped commerce kinds declares every field of the "
                                               f"shipped request as it is ({', '.join(lost)} differ or are missing)")
                rtype = None
        if rtype is not None and rtype != shipped_request:
            request_type = rtype
            rmoney, _ = amounts(rtype, "the request", currency, ("request",), note)
            request_model = record_model(rtype, "request", {}, validator=money_checker(rmoney, []),
                                         money_for=markers(rmoney, "request"))
            try:
                empty = request_model()
            except Exception:  # noqa: BLE001 - a request with a required field has no empty form
                empty = None
    domain = Domain(models=models, specs=specs, consequential=frozenset(consequential), facts=facts,
                    undeclared_facts=data.get("undeclared_facts", "ignore"), request_model=request_model,
                    empty_request=empty, request_type=request_type, digest=digest, currency=currency)
    if not problems:
        _CACHE[(digest, currency)] = domain
    return domain


def _same(a: KindSpec, b: KindSpec | None) -> bool:
    return (b is not None and a.fields == b.fields and a.consequential == b.consequential and a.unbound == b.unbound
            and a.same_length == b.same_length and dict(a.roles) == dict(b.roles))


def _kind(name: str, raw: Mapping[str, Any], at: Where, currency: str, report: Report,
          named: Mapping[str, FieldType] | None = None, model: type[BaseModel] | None = None) -> KindSpec | None:
    """A declared kind's spec; its model is generated (``model``: a shipped kind's typed model)."""
    tp = parse_record(raw.get("fields") or {}, at + ("fields",), report, named)
    if tp is None:
        return None
    tp = replace(tp, description=raw.get("description"))  # the kind's description documents its model
    money, ok = amounts(tp, f"intent `{name}`", currency, at + ("fields",), report)
    same: list[tuple[str, ...]] = []
    for i, group in enumerate(raw.get("same_length") or []):
        if (not isinstance(group, list) or len(group) < 2
                or not all(isinstance(g, str) and g in tp.fields and tp.fields[g].kind == "list" for g in group)):
            report(at + ("same_length", i), "txg-type", "a `same_length` group names two or more list fields of the kind")
            ok = False
        elif len({tp.fields[g].unordered for g in group}) > 1:
            # consent sorts an unordered list on its own: paired with an ordered one, the pairs would be unbound
            report(at + ("same_length", i), "txg-type", "the lists of a `same_length` group are paired row by row: "
                                                        "make them all `unordered: true` or none")
            ok = False
        else:
            same.append(tuple(group))
    unbound = []
    for i, path in enumerate(raw.get("unbound") or []):
        if not isinstance(path, str) or resolve(tp, path) is None:
            report(at + ("unbound", i), "txg-path", f"`{path}` is not a field of intent `{name}`")
            ok = False
        else:
            unbound.append(path)
    roles: dict[str, str] = {}
    for role, path in (raw.get("roles") or {}).items():
        if role not in ROLES:
            report(at + ("roles", role), "txg-type", f"`{role}` is not a role (expected one of: {', '.join(ROLES)})")
            ok = False
        elif not isinstance(path, str) or resolve(tp, path) is None:
            report(at + ("roles", role), "txg-path", f"`{path}` is not a field of intent `{name}`")
            ok = False
        else:
            roles[role] = path
    for role, path in roles.items():  # consent leaves these out: they must be the agent's assessment, nothing else
        if role not in ASSESSMENT_ROLES:
            continue
        want = "decimal" if role == "confidence" else "list"
        kind = resolve(tp, path).kind  # type: ignore[union-attr]  # resolved above
        shared = [r for r, p in roles.items() if r != role and (p == path or p.startswith(path + ".")
                                                                or path.startswith(p + "."))]
        if kind != want or any(s in ("[]", "{}") for s in leaf_steps(tp, path)) or shared:
            why = (f"it is also role `{shared[0]}`" if shared else
                   f"it must be one {want} field, not {'an' if kind[:1] in 'aeiou' else 'a'} {kind}" if kind != want
                   else "it must be one field, not inside a list or map")
            report(at + ("roles", role), "txg-type", f"role `{role}` names `{path}`, which consent does not bind: {why}")
            ok = False
    consequential = raw.get("consequential", True)
    if not ok:
        return None
    if model is None:
        model = record_model(tp, name, {}, kind=name, validator=money_checker(money, same),
                             money_for=markers(money, "intent"))
        declared = True
    else:
        declared = False
    spec = KindSpec(name=name, model=model, fields=tp, consequential=bool(consequential),
                    description=raw.get("description"), unbound=tuple(unbound), roles=roles,
                    money=tuple(money), same_length=tuple(same))
    if declared:
        model.__txguard_kind__ = spec  # type: ignore[attr-defined]
    return spec


@dataclass(frozen=True)
class _Shipped:
    kinds: Mapping[str, KindSpec]
    request: FieldType | None


SHIPPED_FILE = Path(__file__).resolve().parent.parent / "data" / "domains" / "commerce.yaml"
"""The shipped commerce domain, as the package carries it (``policies/domains/commerce.yaml``)."""


@functools.cache
def _shipped() -> _Shipped:
    data = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    problems: list[str] = []

    def fail(at: Where, code: str, message: str) -> None:
        problems.append(f"{at}: {message}")

    named = parse_named(data.get("types"), ("types",), fail)
    kinds = {name: _kind(name, raw, ("intents", name), "USD", fail, named, INTENT_MODELS[name])
             for name, raw in data["intents"].items()}
    request = parse_record(data["request"], ("request",), fail, named)
    if problems or any(k is None for k in kinds.values()):
        raise RuntimeError(f"the shipped commerce domain does not load: {problems[:3]}")
    return _Shipped({k: v for k, v in kinds.items() if v is not None}, request)


def shipped_specs() -> Mapping[str, KindSpec]:
    """The shipped kinds as ``commerce.yaml`` declares them (what consent binds of them)."""
    return _shipped().kinds


def _collection(name: str, raw: Any, at: Where, report: Report,
                named: Mapping[str, FieldType] | None = None, currency: str = "USD") -> FactCollection | None:
    if not isinstance(name, str) or not IDENT.match(name):
        report(at, "txg-type", f"`{name}` is not a collection name")
        return None
    record = parse_record(raw.get("record") or {}, at + ("record",), report, named)
    if record is None:
        return None
    for steps, leaf in leaves(record):
        if leaf.kind == "money" and leaf.currency is not None and not is_code(leaf.currency):
            # no path can name the record a fact's amount sits in: its currency is a code (or the policy's)
            report(at + ("record",) + tuple(s for s in steps if s not in ("[]", "{}")) + ("money", "currency"),
                   "txg-type", f"the currency of a fact's amount is an ISO 4217 code such as {currency}, not a field "
                               f"(`{leaf.currency}`)")
            return None
    key = raw.get("key")
    if key is not None and (key not in record.fields or record.fields[key].kind not in ("id", "string", "int")):
        report(at + ("key",), "txg-type", f"`key` names an `id`, `string` or `int` field of the record, got `{key}`")
        return None
    return FactCollection(name, key, record, raw.get("description"))


def kind_spec(intent: Any) -> KindSpec | None:
    """The declaration of a declared kind's intent (None for a shipped kind)."""
    spec = getattr(type(intent), "__txguard_kind__", None)
    return spec if isinstance(spec, KindSpec) else None


FactChecker = Callable[[Any], bool]
