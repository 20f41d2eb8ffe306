"""Tool mappings: how an agent's tool call becomes an intent (renames, constants, required, lists).

A mapping is compiled once per policy (:func:`compile_tools`, located errors for targets that are
not fields of the intent) and applied per proposal (:meth:`ToolMap.build`, which raises
:class:`ProposalError` with the reason code ``malformed`` or ``unknown_tool``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ..core.context import validate
from ..core.intents import INTENT_MODELS, ReadOnly
from ..core.paths import PathSyntaxError, _unwrap, dotted_steps


class ProposalError(Exception):
    """A proposal that cannot become an intent: ``code`` is ``unknown_tool`` or ``malformed``."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


# -- tools -------------------------------------------------------------------------------------------

_NOTHING = object()


def _dig(data: Any, dotted_path: str) -> Any:
    cur = data
    for part in dotted_steps(dotted_path):
        if not isinstance(cur, Mapping) or part not in cur:
            return _NOTHING
        cur = cur[part]
    return cur


def _put(out: dict[str, Any], dotted_path: str, value: Any) -> None:
    *parents, last = dotted_steps(dotted_path)
    cur = out
    for part in parents:
        nxt = cur.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ProposalError("malformed", f"argument mapping conflict at `{dotted_path}`")
        cur = nxt
    cur[last] = value


@dataclass(frozen=True)
class ToolMap:
    """How one agent tool becomes an intent."""

    name: str
    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    ignore: frozenset[str] = frozenset()
    model: type[BaseModel] | None = field(default=None, compare=False)
    """The intent kind's model (None: ``read``)."""

    @cached_property
    def _sources(self) -> list[str]:
        """The argument paths the mapping reads (a list mapping's ``from`` too), when one of them is
        nested (else empty)."""
        sources = [s if isinstance(s, str) else str(s["from"]) for s in self.fields.values()]
        return sources if any("." in s for s in sources) else []

    @cached_property
    def _filled(self) -> dict[str, str]:
        """Intent fields the mapping fills from other arguments: an argument of that name is refused."""
        out: dict[str, list[str]] = {}
        for target, source in self.fields.items():
            src = source if isinstance(source, str) else source["from"]
            if src.split(".")[0] != target.split(".")[0]:
                out.setdefault(target.split(".")[0], []).append(f"`{src}`")
        return {k: ", ".join(v) for k, v in out.items()}

    @cached_property
    def _model_fields(self) -> frozenset[str]:
        """The field names of the intent kind's model (read once, not through pydantic's class property)."""
        return frozenset(self._model.model_fields)

    @property
    def _model(self) -> type[BaseModel]:
        return self.model if self.model is not None else INTENT_MODELS[self.kind]

    @cached_property
    def _as_given(self) -> frozenset[str] | None:
        """When the mapping renames and fixes nothing: the argument names :meth:`map` copies as they
        are (the intent's fields but ``kind``, not ignored); else None."""
        if self.kind == "read" or self.fields or self.constants or (self.model is None and self.kind not in INTENT_MODELS):
            return None
        return self._model_fields - {"kind"} - self.ignore

    def build(self, arguments: Mapping[str, Any]) -> BaseModel:
        """Map and validate; raises :class:`ProposalError` (``malformed``) with a readable message."""
        plain = self._as_given
        if plain is not None and type(arguments) is dict and arguments.keys() <= plain:
            # What `map` does when nothing is renamed and every argument is a field: a copy
            out = dict(arguments)
            self._check_required(out)
            out["kind"] = self.kind
        else:
            if self.kind == "read":
                return ReadOnly(tool=self.name, arguments=dict(arguments))
            out = self.map(arguments)
        try:
            intent: BaseModel = validate(self._model, out)
            return intent
        except ValidationError as exc:
            raise ProposalError("malformed", validation_summary(exc)) from None

    def _check_required(self, out: Mapping[str, Any]) -> None:
        for key in self.required:
            if _dig(out, key) in (_NOTHING, None):
                raise ProposalError("malformed", f"required field `{key}` is missing")

    def map(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The intent's fields from the arguments (renamed, fixed, checked for leftovers and the
        required ones), before validation; raises :class:`ProposalError` (``malformed``)."""
        out: dict[str, Any] = {}
        consumed: set[str] = set(self.ignore)
        if self._sources:
            _refuse_leftovers(arguments, self._sources, self.ignore)
        for target, source in self.fields.items():
            if isinstance(source, str):
                value = _dig(arguments, source)
                consumed.add(source.split(".")[0])
                if value is not _NOTHING:
                    _put(out, target, value)
            else:
                src = source["from"]
                consumed.add(src.split(".")[0])
                seq = _dig(arguments, src)
                if seq is _NOTHING:
                    continue
                if not isinstance(seq, list):
                    raise ProposalError("malformed", f"argument `{src}` must be a list")
                renames = source.get("fields", {})
                lines = []
                for elem in seq:
                    if not isinstance(elem, Mapping):
                        raise ProposalError("malformed", f"each entry of `{src}` must be an object")
                    line: dict[str, Any] = {}
                    used = set()
                    _refuse_leftovers(elem, list(renames.values()), frozenset(), f"{src}[].")
                    for t, s in renames.items():
                        v = _dig(elem, s)
                        used.add(s.split(".")[0])
                        if v is not _NOTHING:
                            _put(line, t, v)
                    for k, v in elem.items():
                        if k in used:
                            continue
                        if k in line:
                            raise ProposalError("malformed", f"argument `{src}[].{k}` is given twice (directly and by the mapping)")
                        if any(t.split(".")[0] == k for t in renames):
                            raise ProposalError("malformed", f"argument `{src}[].{k}` is not named by the mapping of tool"
                                                             f" `{self.name}` (it fills `{k}` from another argument)")
                        line[k] = v
                    lines.append(line)
                _put(out, target, lines)
        known = self._model_fields  # the intent model's fields (an unknown kind fails here, as before)
        for key, value in arguments.items():
            if key in consumed:
                continue
            if key in out:
                raise ProposalError("malformed", f"argument `{key}` is given twice (directly and by the mapping)")
            if key in self._filled:
                raise ProposalError("malformed", f"argument `{key}` is not named by the mapping of tool `{self.name}`"
                                                 f" (it fills `{key}` from {self._filled[key]})")
            if key == "kind":
                raise ProposalError("malformed", f"argument `kind` is not named by the mapping of tool `{self.name}`"
                                                 f" (the mapping fixes the intent kind to `{self.kind}`)")
            if key not in known:
                raise ProposalError("malformed", f"argument `{key}` is not named by the mapping of tool `{self.name}`"
                                                 f" (not a field of intent `{self.kind}`; a policy can `ignore` it)")
            out[key] = value
        for key, value in self.constants.items():
            have = _dig(out, key)
            if have is not _NOTHING and have != value:
                raise ProposalError("malformed", f"argument `{key}` is `{have}`, but the tool fixes it to `{value}`")
            _put(out, key, value)
        self._check_required(out)
        out["kind"] = self.kind
        return out


def _refuse_leftovers(data: Mapping[str, Any], sources: list[str], ignore: frozenset[str], label: str = "") -> None:
    """A mapping that reads ``cart.total`` must not silently drop ``cart.extra_charge``: every key
    under a partly mapped object is read by some source (or ignored), else the call is malformed."""
    nested = [s for s in sources if "." in s]
    if not nested:
        return
    paths = set(sources) | set(ignore)
    for top in {s.split(".")[0] for s in nested} - paths:
        for leftover in _leftovers(data.get(top), paths, f"{top}."):
            raise ProposalError("malformed", f"argument `{label}{leftover}` is not mapped to any field of the intent")


def _leftovers(value: Any, paths: set[str], prefix: str) -> list[str]:
    if not isinstance(value, Mapping):
        return []
    out: list[str] = []
    for key, sub in value.items():
        full = f"{prefix}{key}"
        if full in paths:
            continue
        if any(p.startswith(full + ".") for p in paths):
            out.extend(_leftovers(sub, paths, full + "."))
        else:
            out.append(full)
    return out


def validation_summary(exc: ValidationError, limit: int = 3, root: str = "") -> str:
    """``path: what was expected`` for the first ``limit`` errors; paths start at ``root`` when
    given (``session.confirmed[0].expires_at``), else at the arguments (``items[0].quantity``)."""
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        loc = (root + loc) if root else (loc.lstrip(".") or "arguments")
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        given = err.get("input")
        if root and err["type"] == "extra_forbidden":
            parts.append(f"{loc}: unexpected field")
            continue
        if (root and isinstance(given, (str, int, float, bool)) and err["type"] != "missing"
                and f"`{given}`" not in msg and f"`'{given}'`" not in msg):
            msg += f", got `{str(given)[:40]}`"
        parts.append(f"{loc}: {msg}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _element_model(annotation: Any) -> type[BaseModel] | None:
    """``LineItem`` for ``tuple[LineItem, ...]`` (under Annotated/Optional), else None."""
    args = get_args(_unwrap(annotation))
    if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0]
    return None


def _mapping_paths(spec: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """The argument paths a tool mapping reads, with where each is written (its intent fields are
    checked against the intent's model by :func:`compile_tools`)."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for target, src in spec.get("fields", {}).items():
        if isinstance(src, str):
            out.append((("fields", target), src))
        elif isinstance(src, Mapping):
            out.append((("fields", target, "from"), src.get("from", "")))
            out += [(("fields", target, "fields", inner), isrc) for inner, isrc in src.get("fields", {}).items()]
    return out


def compile_tools(tools: Mapping[str, Any], error: Callable[[tuple[str | int, ...], str, str], None],
                  models: Mapping[str, type[BaseModel]] | None = None) -> dict[str, ToolMap]:
    """Each tool's :class:`ToolMap`, its targets checked against the intent's model (``models``: the
    policy's kinds, by default the shipped ones); problems go to ``error``."""
    models = INTENT_MODELS if models is None else models
    out: dict[str, ToolMap] = {}
    for name, spec in tools.items():
        for where, path in _mapping_paths(spec):
            try:
                dotted_steps(path)
            except PathSyntaxError as exc:
                error(("tools", name) + where, "txg-path", str(exc))
        kind = spec["intent"]
        model = models.get(kind)
        if model is None and kind != "read":
            error(("tools", name, "intent"), "txg-param", f"`{kind}` is not an intent kind of this policy (expected one "
                                                         f"of: {', '.join(sorted(models) + ['read'])})")
            continue
        if model is not None:
            fields = spec.get("fields", {})
            targets = ([(("fields", t), t) for t in fields] + [(("constants", t), t) for t in spec.get("constants", {})]
                       + [(("required", i), t) for i, t in enumerate(spec.get("required", []))])
            for where, target in targets:
                top = target.split(".")[0]
                if top not in model.model_fields or top == "kind":
                    error(("tools", name) + where, "txg-path",
                            f"`{target}` is not a field of intent `{kind}` (expected one of: "
                            f"{', '.join(f for f in sorted(model.model_fields) if f != 'kind')})")
                elif where[0] == "fields" and isinstance(fields[target], Mapping):
                    # A list mapping renames the fields of each element: check them against its model.
                    elem = _element_model(model.model_fields[top].annotation)
                    for inner in fields[target].get("fields", {}):
                        if elem is not None and inner.split(".")[0] not in elem.model_fields:
                            error(("tools", name, "fields", target, "fields", inner), "txg-path",
                                    f"`{inner}` is not a field of {elem.__name__} (expected one of: "
                                    f"{', '.join(sorted(elem.model_fields))})")
            sources = {(src if isinstance(src, str) else src["from"]).split(".")[0] for src in fields.values()}
            for i, ignored in enumerate(spec.get("ignore", [])):
                if ignored in model.model_fields or ignored in sources:
                    # An ignored argument never reaches the decision: it cannot be one the intent reads.
                    error(("tools", name, "ignore", i), "txg-param",
                            f"`{ignored}` is {'a field of intent `' + kind + '`' if ignored in model.model_fields else 'read by the mapping'}:"
                            " an ignored argument must be one the decision never needs")
        out[name] = ToolMap(
            name=name,
            kind=kind,
            fields=dict(spec.get("fields", {})),
            constants=dict(spec.get("constants", {})),
            required=tuple(spec.get("required", ())),
            ignore=frozenset(spec.get("ignore", ())),
            model=model,
        )
    return out
