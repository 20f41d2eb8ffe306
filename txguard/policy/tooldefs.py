"""Tool definitions: the JSON Schema of the arguments each tool of a policy accepts, for the model.

Two steps, so that a kind declared in YAML later plugs into the second one unchanged:

1. :func:`~txguard.policy.kindschema.intent_argument_schema` -- a kind's argument schema: the JSON Schema of the intent's
   fields exactly as the guard validates them (pydantic's schema with the money, currency and
   confidence validators described as they behave, ``$defs`` inlined, titles and defaults dropped).
   An amount carries the internal marker ``x-txguard-money`` naming its currency field, so that
   step 2 can make its pattern exact when a tool fixes the currency; a declared kind's schema
   marks its money fields the same way.
2. :func:`tool_argument_schema` -- that schema seen through a tool's mapping
   (:class:`~txguard.policy.tools.ToolMap`): what the agent must send so that
   :meth:`ToolMap.build` accepts the call.

The inversion follows ``ToolMap.build``:

- a field filled by ``fields`` appears under its source name; a dotted source (``cart.total``)
  becomes a nested object; a list ``from`` carries its element renames; an intent field the
  mapping fills from another argument is not an argument (the guard refuses it by that name);
- ``constants`` appear as an optional ``const``: the guard fixes the value, and accepts the
  argument only when it is absent or equal (a money field of a tool whose currency is a
  constant gets that currency's exact decimal pattern);
- ``required`` fields are required and not nullable (the guard refuses them missing or null);
- ``ignore``d arguments are free properties (any value, never read);
- ``kind`` is never an argument; every object is closed (``additionalProperties: false``):
  the guard refuses any argument its mapping does not name, and the intent models forbid
  unknown fields;
- a read-only tool (``intent: read``) accepts any object.

What JSON Schema does not say (the guard still refuses these as ``malformed``):

- an amount with more decimals than the ISO 4217 exponent of a currency given in the same call
  (``"1.5"`` with ``JPY``); exact when the tool fixes the currency by a constant;
- ``item_ids`` and ``new_item_ids`` of different lengths (``modify_order_items``,
  ``exchange_items``);
- a JSON number written with a fraction where an integer is wanted (``1.0`` as a quantity):
  JSON Schema calls it an integer, the guard does not;
- a nested target under an optional parent (``shipping_address.city`` from ``city``) given
  without its siblings: the parent object is then incomplete;
- of a declared kind: an amount outside its declared ``min``/``max`` (said in its description),
  an amount with more decimals than a currency given in the same call allows, lists of a
  ``same_length`` group of different lengths.

Money is asked for as a decimal string only. The guard also accepts a JSON integer of whole
units, but a JSON number is where floats creep in; the schema is stricter than the guard there,
never looser.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal


from ..core.errors import TxguardError
from ..core.intents import INTENT_MODELS
from ..core.money import CURRENCY_EXPONENTS
from .compile import CompiledPolicy
from .kindschema import MONEY_MARK, intent_argument_schema, money_description, money_pattern, strip_marks
from .tools import ToolMap

ToolFormat = Literal["openai", "anthropic", "mcp"]
FORMATS: tuple[ToolFormat, ...] = ("openai", "anthropic", "mcp")
"""The tool-definition formats :func:`tool_definitions` writes."""

READ_SCHEMA: dict[str, Any] = {"type": "object"}
"""The arguments of a read-only tool: any object, kept as given."""


class ToolDefinitionError(TxguardError, ValueError):
    """A tool mapping that has no argument schema: a target the intent's schema does not have, a
    source path used both as a value and as an object, or a required field no argument fills. The
    guard refuses every call of such a tool (or cannot map it)."""


# -- 2. through a tool's mapping ---------------------------------------------------------------------

def _object_branch(node: Mapping[str, Any]) -> dict[str, Any] | None:
    """``node`` if it is an object schema, else its one object branch under ``anyOf`` (``X | None``)."""
    if node.get("type") == "object":
        return node if isinstance(node, dict) else dict(node)
    branches = [b for b in node.get("anyOf", ()) if isinstance(b, dict) and b.get("type") == "object"]
    return branches[0] if len(branches) == 1 else None


def _array_branch(node: Mapping[str, Any]) -> dict[str, Any] | None:
    if node.get("type") == "array":
        return dict(node)
    branches = [b for b in node.get("anyOf", ()) if isinstance(b, dict) and b.get("type") == "array"]
    return dict(branches[0]) if len(branches) == 1 else None


def _steps(schema: dict[str, Any], dotted: str, tool: str) -> list[tuple[dict[str, Any], str]]:
    """The (object schema, property name) pairs along ``dotted``; raises :class:`ToolDefinitionError`."""
    out = []
    node: Mapping[str, Any] = schema
    for part in dotted.split("."):
        obj = _object_branch(node)
        if obj is None or part not in obj.get("properties", {}):
            raise ToolDefinitionError(f"tool `{tool}`: `{dotted}` is not a field of its intent's schema")
        out.append((obj, part))
        node = obj["properties"][part]
    return out


def _at(schema: dict[str, Any], dotted: str, tool: str) -> tuple[dict[str, Any], bool]:
    """The schema at ``dotted`` and whether it is required all the way down."""
    steps = _steps(schema, dotted, tool)
    required = all(part in obj.get("required", ()) for obj, part in steps)
    obj, part = steps[-1]
    return obj["properties"][part], required


def _not_null(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` without its ``null`` branch (a required field may not be null)."""
    branches = node.get("anyOf")
    if not branches:
        return node
    kept = [b for b in branches if b.get("type") != "null"]
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _require(schema: dict[str, Any], dotted: str, tool: str) -> None:
    """``ToolMap.build`` refuses a required path that is missing or null, at any level."""
    _steps(schema, dotted, tool)  # the path exists
    node: dict[str, Any] = schema
    for part in dotted.split("."):
        obj = _object_branch(node)
        assert obj is not None
        obj["required"] = [*obj.get("required", ()), *([part] if part not in obj.get("required", ()) else [])]
        node = obj["properties"][part] = _not_null(obj["properties"][part])


def _fix(schema: dict[str, Any], dotted: str, value: Any, tool: str) -> None:
    """A constant: the argument may be absent or equal to the value the tool fixes. The guard
    puts it in place, creating its parents: they are then always there, so required."""
    if "." in dotted:
        _require(schema, dotted.rsplit(".", 1)[0], tool)
    obj, part = _steps(schema, dotted, tool)[-1]
    old = obj["properties"][part]
    fixed: dict[str, Any] = {"const": value}
    if "description" in old:
        fixed["description"] = old["description"]
    fixed["description"] = (fixed.get("description", "") + " The tool fixes this value: send it only equal, or omit it.").strip()
    obj["properties"][part] = fixed
    if part in obj.get("required", ()):
        obj["required"] = [r for r in obj["required"] if r != part]


def _closed_object() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


def _place(args: dict[str, Any], dotted: str, node: dict[str, Any], required: bool, tool: str,
           built: list[int]) -> None:
    """Put ``node`` at argument path ``dotted``, creating the closed objects on the way.

    ``built`` holds the ids of the objects this module created: only those may gain properties
    (a source that is both a value and an object is a conflict the guard refuses on every call).
    """
    parts = dotted.split(".")
    cur = args
    for part in parts[:-1]:
        nxt = cur["properties"].get(part)
        if nxt is None:
            nxt = _closed_object()
            built.append(id(nxt))
            cur["properties"][part] = nxt
        elif id(nxt) not in built:
            raise ToolDefinitionError(f"tool `{tool}`: argument `{part}` of `{dotted}` is both a value and an object")
        if required and part not in cur["required"]:
            cur["required"].append(part)
        cur = nxt
    last = parts[-1]
    have = cur["properties"].get(last)
    if have is not None and id(have) in built:
        raise ToolDefinitionError(f"tool `{tool}`: argument `{dotted}` is both a value and an object")
    if have is not None and have != node:
        node = {"allOf": [have, node]}  # one argument fills two fields: it must suit both
    cur["properties"][last] = node
    if required and last not in cur["required"]:
        cur["required"].append(last)


def _passthrough(obj: Mapping[str, Any], skip: set[str]) -> dict[str, Any]:
    out = _closed_object()
    for name, sub in obj.get("properties", {}).items():
        if name not in skip:
            out["properties"][name] = sub
    out["required"] = [r for r in obj.get("required", ()) if r in out["properties"]]
    if "description" in obj:
        out["description"] = obj["description"]
    return out


def _element(items: Mapping[str, Any], renames: Mapping[str, str], tool: str) -> dict[str, Any]:
    """The schema of one element of a list argument read by ``{from, fields}``."""
    obj = _object_branch(items)
    if obj is None:
        raise ToolDefinitionError(f"tool `{tool}`: a list mapping's target does not hold objects")
    used = {s.split(".")[0] for s in renames.values()}
    renamed = {t.split(".")[0] for t in renames}
    out = _passthrough(obj, used | renamed)
    _check_covered(obj, set(renames), set(out["properties"]), tool, "each element's field ")
    built = [id(out)]
    for target, source in renames.items():
        node, required = _at(obj, target, tool)
        _place(out, source, node, required, tool, built)
    return out


def _uncovered(obj: Mapping[str, Any], prefix: str, filled: set[str], passthrough: set[str]) -> list[str]:
    """The required paths of ``obj`` that no argument fills: neither passed through under their
    own name, nor a mapping target (or wholly made of required paths that are)."""
    out = []
    for name in obj.get("required", ()):
        path = prefix + name
        if path in filled or (not prefix and name in passthrough):
            continue
        sub = _object_branch(obj["properties"][name])
        if sub is not None and any(f.startswith(path + ".") for f in filled):
            out.extend(_uncovered(sub, path + ".", filled, set()))
        else:
            out.append(path)
    return out


def _check_covered(obj: Mapping[str, Any], filled: set[str], passthrough: set[str], tool: str, where: str) -> None:
    missing = _uncovered(obj, "", filled, passthrough)
    if missing:
        raise ToolDefinitionError(f"tool `{tool}`: {where}`{missing[0]}` is required, but the mapping fills it from"
                                  " no argument: the guard refuses every call")


def _currencies(node: Any, constants: Mapping[str, Any]) -> Any:
    """Each amount whose currency field the tool fixes gets that currency's exact pattern."""
    if isinstance(node, list):
        return [_currencies(x, constants) for x in node]
    if not isinstance(node, dict):
        return node
    currency = constants.get(node.get(MONEY_MARK, ""))
    if isinstance(currency, str) and currency in CURRENCY_EXPONENTS:
        return {**node, "pattern": money_pattern(CURRENCY_EXPONENTS[currency]),
                "description": money_description(currency)}
    return {k: _currencies(v, constants) for k, v in node.items()}


def tool_argument_schema(kind_schema: Mapping[str, Any], tool: ToolMap) -> dict[str, Any]:
    """The JSON Schema of the arguments ``tool`` accepts, from its kind's argument schema.

    Args:
        kind_schema: the intent kind's argument schema (:func:`intent_argument_schema`): an object
            schema with ``properties``, ``required`` and no ``$ref``.
        tool: the tool's compiled mapping.

    Raises:
        ToolDefinitionError: a mapping path the schema does not have, a conflicting one, or a
            required field no argument fills.

    >>> from txguard.policy.tools import ToolMap
    >>> s = tool_argument_schema(intent_argument_schema("cancel_order"), ToolMap("cancel", "cancel_order"))
    >>> sorted(s["properties"]), s["required"], s["additionalProperties"]
    (['order_id', 'reason'], ['order_id'], False)
    """
    if tool.kind == "read":
        return dict(READ_SCHEMA)
    intent = copy.deepcopy(dict(kind_schema))
    intent["properties"] = {k: v for k, v in intent.get("properties", {}).items() if k != "kind"}
    intent["required"] = [r for r in intent.get("required", ()) if r != "kind"]
    for path, value in tool.constants.items():
        _fix(intent, path, value, tool.name)
    for path in tool.required:
        _require(intent, path, tool.name)

    def source_of(spec: Any) -> str:
        return spec if isinstance(spec, str) else str(spec["from"])

    sources = {source_of(s).split(".")[0] for s in tool.fields.values()}
    filled = {t.split(".")[0] for t, s in tool.fields.items() if source_of(s).split(".")[0] != t.split(".")[0]}
    args = _passthrough(intent, sources | filled)
    _check_covered(intent, set(tool.fields), set(args["properties"]), tool.name, "intent field ")
    built = [id(args)]
    for target, spec in tool.fields.items():
        node, required = _at(intent, target, tool.name)
        if not isinstance(spec, str):
            array = _array_branch(node)
            if array is None:
                raise ToolDefinitionError(f"tool `{tool.name}`: `{target}` is not a list, but its mapping reads a list")
            array["items"] = _element(array.get("items", {}), spec.get("fields", {}), tool.name)
            node = array
        _place(args, source_of(spec), node, required, tool.name, built)
    for path in sorted(tool.ignore):
        _place(args, path, {"description": "Not read by the guard: any value."}, False, tool.name, built)
    result: dict[str, Any] = strip_marks(_currencies(args, tool.constants))
    return result


def argument_schemas(policy: CompiledPolicy, tools: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{tool: argument schema}`` for the policy's tools (all, or those named, in that order)."""
    names = list(policy.tools) if tools is None else list(tools)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        tool = policy.tools.get(name)
        if tool is None:
            raise ToolDefinitionError(f"tool `{name}` is not mapped by policy `{policy.id}`")
        kind_schema = READ_SCHEMA if tool.kind == "read" else intent_argument_schema(tool.kind, policy.domain)
        out[name] = tool_argument_schema(kind_schema, tool)
    return out


# -- 3. the formats ----------------------------------------------------------------------------------

_STRICT_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "anyOf", "enum", "const",
    "description", "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minItems", "maxItems",
})
"""The keywords OpenAI's strict mode (Structured Outputs) supports; ``minLength``/``maxLength``,
``allOf`` and untyped schemas are not among them."""


def strict_compatible(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI's strict mode takes ``schema`` as it is: an object root without ``anyOf``,
    every object closed with every property required, every node typed, only supported keywords."""
    if schema.get("type") != "object" or "anyOf" in schema:
        return False
    return _strict_node(schema)


def _strict_node(node: Any) -> bool:
    if not isinstance(node, Mapping) or not set(node) <= _STRICT_KEYWORDS:
        return False
    if not ({"type", "anyOf", "enum", "const"} & set(node)):
        return False
    if node.get("type") == "object":
        props = node.get("properties", {})
        if node.get("additionalProperties") is not False or set(node.get("required", ())) != set(props):
            return False
        if not all(_strict_node(p) for p in props.values()):
            return False
    if "items" in node and not _strict_node(node["items"]):
        return False
    return all(_strict_node(b) for b in node.get("anyOf", ()))


def tool_description(policy: CompiledPolicy, name: str) -> str:
    """The tool's ``description`` in the policy, else one naming its intent kind."""
    spec = policy.document.get("tools", {}).get(name, {})
    given = spec.get("description") if isinstance(spec, Mapping) else None
    if isinstance(given, str) and given.strip():
        return given
    kind = policy.tools[name].kind
    if kind == "read":
        return f"A read-only tool (txguard intent `read`, policy `{policy.id}`): it changes nothing."
    spec = policy.domain.specs.get(kind)
    if spec is not None:
        head = " ".join((spec.description or f"Intent `{kind}`.").split())
    else:
        doc = (INTENT_MODELS[kind].__doc__ or "").strip().splitlines()
        head = doc[0].replace("``", "`") if doc else kind
    return (f"{head} Checked by txguard before it runs (intent `{kind}`, policy `{policy.id}`): "
            "arguments outside this schema are refused.")


def tool_definitions(policy: CompiledPolicy, format: ToolFormat = "openai",
                     tools: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The definitions of the policy's tools in an agent framework's format.

    Args:
        policy: a compiled policy.
        format: ``openai`` (a Chat Completions function tool; ``strict`` only when the schema
            meets strict mode's rules), ``anthropic`` (``input_schema``) or ``mcp``
            (``inputSchema``, as in an MCP ``tools/list`` result).
        tools: the tool names to define, in that order (default: every tool of the policy).

    >>> from txguard import compile_file
    >>> defs = tool_definitions(compile_file("policies/tau-retail.yaml"), "anthropic", ["cancel_pending_order"])
    >>> defs[0]["name"], defs[0]["input_schema"]["required"]
    ('cancel_pending_order', ['order_id'])
    """
    if format not in FORMATS:
        raise ValueError(f"unknown tool format `{format}` (expected one of: {', '.join(FORMATS)})")
    out: list[dict[str, Any]] = []
    for name, schema in argument_schemas(policy, tools).items():
        description = tool_description(policy, name)
        if format == "openai":
            out.append({"type": "function", "function": {"name": name, "description": description,
                                                         "parameters": schema, "strict": strict_compatible(schema)}})
        elif format == "anthropic":
            out.append({"name": name, "description": description, "input_schema": schema})
        else:
            out.append({"name": name, "description": description, "inputSchema": schema})
    return out
