"""Reference tables of ``docs/policy-guide.md``, generated from the registries.

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


def checks_table() -> str:
    """The built-in checks: name, parameters, default kinds, outcome, reason code, route, what fires it."""
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
        kinds = "all" if set(c.kinds) == set(INTENT_KINDS) else ", ".join(c.kinds)
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
