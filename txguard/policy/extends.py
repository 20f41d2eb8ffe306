"""The ``extends`` stage: merge a base policy into its child, which may only add and tighten.

A base is a ``.yaml``/``.yml`` policy file under the root the caller allows (default: the child's
folder); it is loaded, schema-validated and merged recursively (a cycle is an error), and a file
that is not a txguard policy is refused without anything of it being quoted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.decision import Outcome
from ..core.diskcache import note_read
from ..core.errors import MAX_DIAGNOSTICS, Diagnostic, PolicyError
from ..core.taxonomy import Categories
from .load import Located, load_yaml
from .rules import CompiledRule, Site
from .schema import dotted, validate_document, validate_domain_document
from .session import EMPTY_SESSION_POLICY, SessionPolicy, merge_session
from .tools import ToolMap
from ..domain.domain import BUILTIN, Domain


class Build:
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
        self.domain: Domain = BUILTIN
        self.categories = Categories()
        self.rules: list[CompiledRule] = []
        self.session: SessionPolicy = EMPTY_SESSION_POLICY
        self.by_kind: dict[str, tuple[CompiledRule, ...]] = {}
        self.rule_sites: dict[str, Site] = {}
        self.origin: dict[tuple[str, ...], Located | None] = {}
        """Which imported domain file each merged ``types``/``intents``/``facts`` entry (and
        ``request``) comes from (None: this policy), so that its problems are located there."""
        self.rule_paths: list[tuple[str | int, ...]] = []
        """The document path of each merged rule (empty without ``extends``: ``rules[i]``)."""
        """Where each rule is written, for rules of a base policy (its own file) and of this one."""

    def error(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        self.errors.append(self.doc.diagnostic(path, code, f"{dotted(path, self.doc.data)}: {message}"))

    def domain_error(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        """A problem of a domain declaration, located in the file that declares it (an import or this one)."""
        doc = self.origin.get(tuple(str(p) for p in path[:2])) or self.origin.get((str(path[0]),)) if path else None
        if doc is None:
            self.error(path, code, message)
        else:
            self.errors.append(doc.diagnostic(path, code, f"{dotted(path, doc.data)}: {message}"))


def merge_base(b: Build, data: dict[str, Any], chain: tuple[Path, ...]) -> dict[str, Any]:
    """Merge the base policy named by ``extends``: the child can only add and tighten."""
    if "extends" not in data:
        return data
    base_path = _allowed_file(b, data["extends"], ("extends",), "txg-extends", "policy file", "a base policy")
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
    for key in DOMAIN_KEYS:  # the base's domain is the child's: a child cannot change what its rules read
        if key not in base:
            continue
        if key in data and data[key] != base[key]:
            b.error((key,), "txg-extends", f"the base policy declares `{key}`: a policy cannot change it")
        merged[key] = ([name if name.startswith(SHIPPED_PREFIX) else os.path.relpath(base_path.parent / name, b.base_dir)
                        for name in base[key]] if key == "imports" else base[key])
    tables = dict(base.get("tables") or {})
    for name, table in (data.get("tables") or {}).items():
        if name in tables and tables[name] != table:
            b.error(("tables", name), "txg-extends", f"table `{name}` is defined by the base policy and cannot be changed")
        tables[name] = table
    if tables:
        merged["tables"] = tables
    if "routes" in base:
        if "routes" in data and data["routes"] != base["routes"]:
            b.error(("routes",), "txg-extends", "the base policy sets `routes`: a policy cannot change them")
        merged["routes"] = base["routes"]
    return merged


DOMAIN_KEYS = ("imports", "types", "intents", "builtin_kinds", "facts", "undeclared_facts", "request")
"""The keys that declare a policy's domain (its kinds, facts and request)."""

DOMAIN_SECTIONS = ("types", "intents", "facts")
"""The keyed sections an imported domain file contributes entries to."""


def merge_imports(b: Build, data: dict[str, Any]) -> dict[str, Any]:
    """The policy with the domain files it ``imports`` merged in: their named ``types``, ``intents``,
    ``facts`` and ``request``. An entry declared twice is an error; problems in an imported file are
    located in that file (:attr:`Build.origin` says which file each merged entry comes from)."""
    names = data.get("imports") or []
    if not names:
        return data
    merged = {k: v for k, v in data.items() if k != "imports"}
    for section in DOMAIN_SECTIONS:
        for key in merged.get(section) or {}:
            b.origin[(section, key)] = None
    for i, name in enumerate(names):
        at: tuple[str | int, ...] = ("imports", i)
        if name.startswith(SHIPPED_PREFIX):
            path = _shipped_domain(b, name, at)
        else:
            path = _allowed_file(b, name, at, "txg-import", "domain file", "an imported domain")
        doc = _read_domain(b, path, name, at) if path is not None else None
        if doc is None:
            continue
        for section in DOMAIN_SECTIONS:
            entries = dict(merged.get(section) or {})
            for key, value in (doc.data.get(section) or {}).items():
                if (section, key) in b.origin:
                    src = b.origin[(section, key)]
                    b.error(at, "txg-import", f"`{section}.{key}` of `{name}` is already declared "
                                              f"{'by this policy' if src is None else 'in `' + src.file + '`'}")
                    continue
                entries[key] = value
                b.origin[(section, key)] = doc
            if entries:
                merged[section] = entries
        for key in ("request", "undeclared_facts"):
            if key in doc.data:
                if key in merged:
                    b.error(at, "txg-import", f"`{key}` is declared by `{name}` and again here or by another import")
                    continue
                merged[key] = doc.data[key]
                b.origin[(key,)] = doc
    return merged


SHIPPED_PREFIX = "txguard:"
"""``imports: [txguard:commerce]`` names a domain the package ships (``txguard/data/domains/``)."""
SHIPPED_DOMAINS = Path(__file__).resolve().parent.parent / "data" / "domains"


def _shipped_domain(b: Build, name: str, at: tuple[str | int, ...]) -> Path | None:
    shipped = sorted(p.stem for p in SHIPPED_DOMAINS.glob("*.yaml"))
    stem = name[len(SHIPPED_PREFIX):]
    if stem not in shipped:
        b.error(at, "txg-import", f"`{name}` is not a domain txguard ships (expected one of: "
                                  f"{', '.join(SHIPPED_PREFIX + s for s in shipped)})")
        return None
    return SHIPPED_DOMAINS / f"{stem}.yaml"


def _read_domain(b: Build, path: Path, name: str, at: tuple[str | int, ...]) -> Located | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        b.error(at, "txg-io", f"cannot read imported domain `{name}`: {exc.strerror}")
        return None
    except UnicodeDecodeError:
        b.error(at, "txg-io", f"imported domain `{name}` is not UTF-8 text")
        return None
    note_read(path, text)  # a cached result of compiling the policy depends on what it imports
    doc, errors = load_yaml(text, str(path))
    if doc is None or not isinstance(doc.data, dict) or doc.data.get("apiVersion") != API_VERSION \
            or "domain" not in doc.data:
        b.error(at, "txg-import", f"`{name}` is not a txguard domain file (a YAML mapping with `apiVersion: "
                                  f"{API_VERSION}` and `domain: <name>`)")
        return None
    problems = errors + validate_domain_document(doc)
    if problems:
        b.errors.extend(problems)
        b.error(at, "txg-import", f"imported domain `{name}` does not load")
        return None
    return doc


def _allowed_file(b: Build, name: str, at: tuple[str | int, ...], code: str, file: str, what: str) -> Path | None:
    """The file ``name`` (relative to the policy's folder) if it is a YAML file under the allowed root;
    else a located error (that never shows anything of the file) and None. ``file`` and ``what`` name
    it in the errors (``policy file``, ``a base policy``)."""
    path = (b.base_dir / name).resolve()  # symbolic links followed: where the file really is
    root = b.extends_root
    if not path.is_relative_to(root):
        b.error(at, code, f"`{name}` is outside `{root}`: {what} must be in the policy's folder "
                          "or in the root the caller allows")
        return None
    if path.suffix not in POLICY_SUFFIXES or any(part.startswith(".") for part in path.relative_to(root).parts):
        b.error(at, code, f"`{name}` is not a {file}: {what} is a `.yaml` or `.yml` file, not hidden")
        return None
    return path


API_VERSION = "txguard/v1"
"""What a policy file declares as its ``apiVersion``; a file that does not is never quoted."""

POLICY_SUFFIXES = (".yaml", ".yml")
"""The file names a base policy may have."""


class _NotAPolicy(Exception):
    """A file named by ``extends`` is not a txguard policy: nothing of it is shown."""


def load_policy_data(path: Path, chain: tuple[Path, ...] = (),
                     extends_root: Path | None = None) -> tuple[dict[str, Any], dict[str, Site]]:
    """Load and schema-validate a policy file, with its base merged in (no compilation).

    Returns the merged data and where each rule is written (rule id -> its document and path). A
    file that is not valid YAML or does not declare ``apiVersion: txguard/v1`` raises
    :class:`_NotAPolicy`, so that a base's diagnostics (which quote its values) are shown only for
    a file that says it is a policy.
    """
    text = path.read_text(encoding="utf-8")
    note_read(path, text)
    doc, errors = load_yaml(text, str(path))
    if doc is None or not isinstance(doc.data, dict) or doc.data.get("apiVersion") != API_VERSION:
        raise _NotAPolicy("is not a txguard policy (valid YAML with `apiVersion: txguard/v1`)")
    if errors:
        raise PolicyError(errors)
    errors = validate_document(doc)
    if errors:
        raise PolicyError(errors[:MAX_DIAGNOSTICS], max(0, len(errors) - MAX_DIAGNOSTICS))
    b = Build(doc, path.parent, extends_root)
    data = merge_base(b, dict(doc.data), chain or (path.resolve(),))
    if b.errors:
        raise PolicyError(b.errors)
    return data, {**b.rule_sites, **_own_rule_sites(b)}


def _own_rule_sites(b: Build) -> dict[str, Site]:
    out: dict[str, Site] = {}
    for i, rule in enumerate(b.doc.data.get("rules") or []):
        if isinstance(rule, dict) and isinstance(rule.get("id"), str):
            out[rule["id"]] = (b.doc, ("rules", i))
    return out


