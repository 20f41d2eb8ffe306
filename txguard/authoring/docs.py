"""Reference tables of ``docs/policy-guide.md``, generated from the registries, and the reference
of one policy's domain (``txguard docs POLICY``: its intent kinds with their fields, its facts, its
request, the built-in checks that apply to its kinds).

The guide holds each table between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``;
a test keeps them identical to :func:`tables`. Regenerate with ``python -m txguard.authoring.docs FILE``.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ..checks.spec import CHECKS
from ..engine.codes import ENGINE_CODES
from ..policy.ir import EXPRESSIONS, OPERATORS
from ..core.intents import INTENT_KINDS
from ..domain.declare import FieldType
from ..domain.domain import BUILTIN, Domain, KindSpec
from ..policy.compile import CompiledPolicy
from ..policy.lint import LINT_CODES


def _param_type(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "oneOf" in schema:
        return "amount"
    t = schema.get("type", "any")
    if t == "object" and "enum" in schema.get("propertyNames", {}):
        return "{kind: [status, ...]}"
    if t == "object" and "propertyNames" in schema:
        return "{CUR: amount}"
    if t == "object":
        return "mapping"
    if t == "array":
        return "list"
    return str(t)


def _params(schema: dict[str, Any]) -> str:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    if not props:
        return "none"
    return "<br>".join(f"`{name}`{' (required)' if name in required else ''}: {_param_type(s)}"
                       for name, s in props.items())


def _flat(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def checks_table(domain: Domain = BUILTIN) -> str:
    """The built-in checks: name, parameters, default kinds (of ``domain``: the shipped one by
    default), outcome, reason code, route, what fires it."""
    rows = ["| check | parameters | default kinds | outcome | reason code | route | fires when |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in sorted(CHECKS):
        c = CHECKS[name]
        route = c.route if c.outcome == "escalate" else "-"
        deps = []
        if c.provides:
            deps.append(f"provides `{c.provides}`")
        if c.needs:
            deps.append("needs " + ", ".join(f"`{n}`" for n in sorted(c.needs)))
        fires = _flat(c.doc) + (f" ({'; '.join(deps)})" if deps else "")
        applies = c.kinds_for(domain) if domain is not BUILTIN else c.kinds
        everything = INTENT_KINDS if domain is BUILTIN else domain.kinds
        kinds = "all" if set(applies) == set(everything) else ", ".join(applies) or "none"
        rows.append(f"| `{name}` | {_params(c.params_schema)} | {kinds} | {c.outcome} | "
                    f"`{c.code}` | {route} | {fires} |")
    return "\n".join(rows)


def engine_codes_table() -> str:
    """Reason codes the engine emits itself (rule ids starting with ``txguard:``)."""
    rows = ["| reason code | meaning |", "| --- | --- |"]
    rows += [f"| `{code}` | {text} |" for code, text in ENGINE_CODES.items()]
    return "\n".join(rows)


def lint_codes_table() -> str:
    """The codes of ``txguard lint`` findings."""
    rows = ["| lint code | meaning |", "| --- | --- |"]
    rows += [f"| `{code}` | {text} |" for code, text in LINT_CODES.items()]
    return "\n".join(rows)


def operators_table() -> str:
    """The comparison operators of a ``when`` condition (the IR's operator table)."""
    rows = ["| operator | holds when the value is | orders (numbers, datetimes, dates, durations) |",
            "| --- | --- | --- |"]
    rows += [f"| `{name}` | {op.doc} | {'yes' if op.orders else ''} |" for name, op in OPERATORS.items()]
    return "\n".join(rows)


def expressions_table() -> str:
    """The expressions written as a mapping (the IR's expression table)."""
    rows = ["| expression | other keys | value | example |", "| --- | --- | --- | --- |"]
    for name, form in EXPRESSIONS.items():
        others = ", ".join(f"`{k}`" + (" (required)" if k in form.required else "") for k in form.schema if k != name)
        rows.append(f"| `{name}` | {others or '-'} | {_flat(form.doc)} | `{form.example}` |")
    return "\n".join(rows)


def tables() -> dict[str, str]:
    """Every generated table of the guide, by name."""
    return {"checks": checks_table(), "engine-codes": engine_codes_table(), "lint-codes": lint_codes_table(),
            "operators": operators_table(), "expressions": expressions_table()}


# -- one policy's domain ----------------------------------------------------------------------------

def type_text(tp: FieldType, currency: str | None = None) -> str:
    """A declared type in words: ``money in USD``, ``int from 0 to 20``, ``list of id (1 to 9)``;
    ``currency``: the currency (a code or a field path) of an amount that does not name its own."""
    k = tp.kind
    if k == "enum":
        text = "one of " + ", ".join(f"`{v}`" for v in tp.values)
    elif k == "list" and tp.of is not None:
        size = f"{tp.min_length} to {tp.max_length}" if tp.min_length else f"at most {tp.max_length}"
        text = f"list of {type_text(tp.of, currency)} ({size}{', any order' if tp.unordered else ''})"
    elif k == "map" and tp.of is not None:
        text = f"map of {type_text(tp.of, currency)}"
    else:
        text = k
        lo, hi = tp.minimum, tp.maximum
        bounds = ([f"from {lo} to {hi}"] if lo is not None and hi is not None else [f"at least {lo}"] if lo is not None
                  else [f"at most {hi}"] if hi is not None else [])
        cur = tp.currency or (currency if k == "money" else None)
        if cur:
            bounds.insert(0, f"in {cur}" if len(cur) == 3 and cur.isupper() else f"in the currency of `{cur}`")
        if tp.pattern is not None:
            bounds.append(f"matching `{tp.pattern}`")
        if tp.max_length is not None and k == "string":
            bounds.append(f"at most {tp.max_length} characters")
        if bounds:
            text += " " + " ".join(bounds)
    return text + (" or null" if tp.optional else "")


def _field_rows(tp: FieldType, prefix: str, unbound: tuple[str, ...] | None, dotted: str = "",
                spec: KindSpec | None = None, steps: tuple[str, ...] = ()) -> list[str]:
    rows = []
    for name, sub in tp.fields.items():
        path, dot = f"{prefix}{name}", f"{dotted}{name}"
        inner = sub
        suffix = ""
        while inner.kind in ("list", "map") and inner.of is not None:
            suffix += "[]" if inner.kind == "list" else "{}"
            inner = inner.of
        here = steps + (name,) + tuple(suffix[i:i + 2] for i in range(0, len(suffix), 2))
        found = spec.currency_of(here) if spec is not None and inner.kind == "money" else None
        shown = type_text(sub, found[0] if found else None)
        consent = "" if unbound is None else (" | unbound" if dot in unbound else " | bound")
        rows.append(f"| `{path}` | {shown}{consent} | {_flat(sub.description or '')} |")
        if inner.kind == "record":
            rows += _field_rows(inner, f"{path}{suffix}.", unbound, f"{dot}.", spec, here)
    return rows


def _fields_table(tp: FieldType, spec: KindSpec | None = None) -> list[str]:
    """A kind's fields (``spec``: with what consent binds and each amount's currency) or a record's."""
    head = ["| field | type | consent | description |", "| --- | --- | --- | --- |"] if spec is not None \
        else ["| field | type | description |", "| --- | --- | --- |"]
    return head + _field_rows(tp, "", spec.unbound if spec is not None else None, spec=spec)


def policy_reference(policy: CompiledPolicy) -> str:
    """The reference of a policy's domain, as Markdown: each intent kind (a declared one with its
    fields, its consequence and what consent binds), the tools mapped to it, its default and its
    rules; the declared facts and request; the built-in checks with the kinds they apply to."""
    domain = policy.domain
    out = [f"# Policy `{policy.id}` (version {policy.version})", "", "## Intent kinds", ""]
    for kind in domain.kinds:
        spec = domain.specs.get(kind)
        tools = [f"`{t}`" for t, m in policy.tools.items() if m.kind == kind]
        rules = [f"`{r.id}`" for r in policy.by_kind.get(kind, ())]
        default = policy.defaults.get(kind)
        out += [f"### `{kind}`" + (" (declared)" if spec is not None else " (shipped)"), ""]
        if spec is not None and spec.description:
            out += [_flat(spec.description), ""]
        elif spec is None:
            doc = (domain.models[kind].__doc__ or "").strip().splitlines()
            out += [doc[0].replace("``", "`"), ""] if doc else []
        out += [f"- consequential: {'yes (needs consent)' if kind in domain.consequential else 'no'}",
                f"- tools: {', '.join(tools) or 'none'}",
                f"- default: {f'`{default.value}`' if default is not None else 'none (escalate)'}",
                f"- rules: {', '.join(rules) or 'none'}", ""]
        if spec is not None:
            out += _fields_table(spec.fields, spec) + [""]
        else:
            out += ["Fields: " + ", ".join(f"`{f}`" for f in domain.models[kind].model_fields if f != "kind"), ""]
    if domain.facts is not None:
        out += ["## Facts", "", f"Undeclared collections: `{domain.undeclared_facts}`.", ""]
        for name, coll in domain.facts.items():
            key = f" (keyed by `{coll.key}`)" if coll.key else ""
            out += [f"### `facts.{name}`{key}", ""] + ([_flat(coll.description), ""] if coll.description else [])
            out += _fields_table(coll.record) + [""]
    if domain.request_type is not None:
        out += ["## Request", ""] + _fields_table(domain.request_type) + [""]
    out += ["## Built-in checks", "", checks_table(domain), ""]
    return "\n".join(out)


_BLOCK = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)\n?(<!-- /generated:(?P=name) -->)", re.S)


def blocks(text: str) -> dict[str, str]:
    """The generated blocks found in a document, by name."""
    return {m.group("name"): m.group("body") for m in _BLOCK.finditer(text)}


def regenerate(text: str) -> str:
    """``text`` with every generated block replaced by the current table."""
    current = tables()
    return _BLOCK.sub(lambda m: m.group(1) + current[m.group("name")] + "\n" + m.group(4), text)


def main(argv: list[str]) -> int:
    for path in argv:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(regenerate(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
