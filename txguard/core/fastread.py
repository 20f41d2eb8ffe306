"""A faster reader of the frozen models a decision validates on every case, with pydantic as referee.

:func:`fast_reader` compiles a model's pydantic core schema, once, into closures that check exactly
what the schema says (types by exact ``type``, lengths, bounds, extra and missing keys, the model's
own before/after validators) and build the frozen instances directly, as pydantic would
(``__dict__`` in field order, the fields set, no extra, no private state). The closures are generated
Python source (one function per model, each field's checks inlined), compiled with ``compile()``.
It knows only a subset of core schemas: a model with any part outside it gets no fast reader (None), and reads through
pydantic only.

The reader is never the judge of a bad value: on anything it is not sure of (an unexpected type, a
``str``/``dict`` subclass, a bool for an int, a huge int, a string that is not Unicode text, a
missing or extra key, a constraint not met, a validator that raises) it returns None, and the
caller validates with pydantic, which words the located error. What it returns is equal to what
pydantic returns, field for field and type for type (``tests/test_fast_read*.py`` check both
against each other on generated and adversarial inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

__all__ = ["fast_reader", "inline", "reader_of"]

Reader = Callable[[Any], Any]


class _Unknown(Exception):
    """A core schema this module does not read: the model gets no fast reader."""


class _Unsure(Exception):
    """A value the fast reader is not sure of: pydantic decides it."""


_MISSING = object()
_MAX_INT = 2**63 - 1
_SLOT = {name: BaseModel.__dict__[name].__set__
         for name in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")}
"""What ``model_construct`` stores on an instance, through each slot's own descriptor."""


def _utf8(value: str) -> bool:
    """A non-ASCII ``str`` that is Unicode text (no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_INLINE: dict[Any, tuple[str, dict[str, Any]]] = {}


def inline(func: Callable[[Any], Any], template: str, **env: Any) -> None:
    """Read a before-validator ``func`` through ``template``'s statements (``{v}``: the variable) in
    the generated source. The template must leave in ``{v}`` what ``func`` returns, or call ``func``
    itself for any value it does not handle (``tests/test_fast_read*.py`` check the readers)."""
    _INLINE[func] = (template, env)


def fast_reader(model: type[BaseModel]) -> Callable[[Any], BaseModel | None] | None:
    """A reader of ``model`` from plain data that returns the instance pydantic's ``model_validate``
    would, or None when it is not sure (then ``model_validate`` must run); None when the model's
    schema has a part the fast reader does not know."""
    gen = _Generator()
    try:
        top = gen.function(model.__pydantic_core_schema__)
    except (_Unknown, KeyError, TypeError):
        return None
    gen.lines += ["def __read(v):", "    try:", f"        v = {top}(v)", "    except Exception:",
                  "        return None", "    return v if type(v) is __model else None"]
    gen.env["__model"] = model
    exec(compile("\n".join(gen.lines) + "\n", f"<fast reader {model.__qualname__}>", "exec"), gen.env)  # noqa: S102
    reader: Callable[[Any], BaseModel | None] = gen.env["__read"]
    return reader


def reader_of(model: type[BaseModel]) -> Callable[[Any], BaseModel | None] | None:
    """``fast_reader(model)``, compiled once per model class (kept on the class)."""
    cached = model.__dict__.get("__txguard_fast_reader__", _MISSING)
    if cached is _MISSING:
        cached = fast_reader(model)
        setattr(model, "__txguard_fast_reader__", cached)  # noqa: B010 - a class-level cache
    return cached  # type: ignore[no-any-return]


def _only(schema: dict[str, Any], *allowed: str) -> None:
    unknown = set(schema) - {"type", "metadata", "ref", "serialization", *allowed}
    if unknown:
        raise _Unknown(f"{schema['type']}: {sorted(unknown)}")


class _Generator:
    """Python source of the readers: ``check`` emits the statements that check variable ``v`` in
    place (raising ``__U`` when unsure); ``function`` a named function for a schema."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {"__U": _Unsure, "__utf8": _utf8, "__MISSING": _MISSING, "__new": object.__new__,
                                    "__Decimal": Decimal, "__MAXI": _MAX_INT, "__set_dict": _SLOT["__dict__"],
                                    "__set_fields": _SLOT["__pydantic_fields_set__"],
                                    "__set_extra": _SLOT["__pydantic_extra__"], "__set_private": _SLOT["__pydantic_private__"]}
        self.refs: dict[str, str] = {}
        self.count = 0

    def name(self, value: Any, prefix: str = "__c") -> str:
        self.count += 1
        name = f"{prefix}{self.count}"
        self.env[name] = value
        return name

    def function(self, schema: dict[str, Any]) -> str:
        """The name of a generated function ``f(v) -> v`` reading ``schema``."""
        ref = schema.get("ref")
        if ref is not None and ref in self.refs:
            return self.refs[ref]
        self.count += 1
        fname = f"__f{self.count}"
        if ref is not None:
            self.refs[ref] = fname
        body = self.dispatch(schema, "v", 1) if schema.get("type") != "model" else self.model(schema)
        self.lines += [f"def {fname}(v):", *body, "    return v"]
        return fname

    def check(self, schema: dict[str, Any], v: str, depth: int) -> list[str]:
        kind = schema.get("type")
        if "ref" in schema and kind != "definitions":
            return [f"{'    ' * depth}{v} = {self.function(schema)}({v})"]
        return self.dispatch(schema, v, depth)

    def dispatch(self, schema: dict[str, Any], v: str, depth: int) -> list[str]:
        kind = schema.get("type")
        if kind == "model":
            return [f"{'    ' * depth}{v} = {self.function(schema)}({v})"]
        method = getattr(self, "_" + str(kind).replace("-", "_"), None)
        if method is None:
            raise _Unknown(str(kind))
        out: list[str] = method(schema, v, "    " * depth, depth)
        return out

    @staticmethod
    def _bounds(schema: dict[str, Any], v: str) -> str:
        ops = {"ge": ">=", "le": "<=", "gt": ">", "lt": "<"}
        return "".join(f" or not {v} {op} {schema[k]!r}" for k, op in ops.items() if schema.get(k) is not None)

    @staticmethod
    def _sized(schema: dict[str, Any], v: str) -> str:
        low, high = schema.get("min_length"), schema.get("max_length")
        if low is not None and high is not None:
            return f" or not {int(low)} <= len({v}) <= {int(high)}"
        return (f" or len({v}) < {int(low)}" if low is not None else "") + \
               (f" or len({v}) > {int(high)}" if high is not None else "")

    def _definitions(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "schema", "definitions")
        for sub in schema["definitions"]:
            self.function(sub)
        return self.check(schema["schema"], v, depth)

    def _definition_ref(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "schema_ref")
        if schema["schema_ref"] not in self.refs:
            raise _Unknown("ref before its definition")
        return [f"{pad}{v} = {self.refs[schema['schema_ref']]}({v})"]

    def _any(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema)
        return []

    def _str(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "strict", "min_length", "max_length")
        return [f"{pad}if type({v}) is not str{self._sized(schema, v)} or not ({v}.isascii() or __utf8({v})): raise __U"]

    def _int(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "strict", "ge", "le", "gt", "lt")
        return [f"{pad}if type({v}) is not int or not -__MAXI <= {v} <= __MAXI{self._bounds(schema, v)}: raise __U"]

    def _bool(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "strict")
        return [f"{pad}if type({v}) is not bool: raise __U"]

    def _decimal(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "strict", "ge", "le", "gt", "lt")
        return [f"{pad}if type({v}) is not __Decimal or not {v}.is_finite(){self._bounds(schema, v)}: raise __U"]

    def _instance(self, schema: dict[str, Any], v: str, pad: str, cls: type) -> list[str]:
        _only(schema, "strict", "microseconds_precision")
        if schema.get("microseconds_precision", "truncate") != "truncate":
            raise _Unknown("microseconds_precision")
        return [f"{pad}if type({v}) is not {self.name(cls)}: raise __U"]

    def _datetime(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        return self._instance(schema, v, pad, datetime)

    def _date(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        return self._instance(schema, v, pad, date)

    def _timedelta(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        return self._instance(schema, v, pad, timedelta)

    def _literal(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "expected")
        expected = schema["expected"]
        if not expected or any(type(e) is not str for e in expected):
            raise _Unknown("literal")
        return [f"{pad}if type({v}) is not str or {v} not in {self.name(frozenset(expected))}: raise __U"]

    def _nullable(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "schema", "strict")
        inner = self.check(schema["schema"], v, depth + 1)
        return [f"{pad}if {v} is not None:", *inner] if inner else []

    def _union(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        """Only a union of strict scalars of distinct types: at most one choice can take a value."""
        _only(schema, "choices", "mode", "strict")
        choices = [c[0] if isinstance(c, tuple) else c for c in schema["choices"]]
        types = [c.get("type") for c in choices]
        if schema.get("mode", "smart") != "smart" or len(set(types)) != len(types) \
                or any(t not in ("str", "int", "bool") or not c.get("strict") for t, c in zip(types, choices)):
            raise _Unknown("union")
        out = []
        for i, (t, c) in enumerate(zip(types, choices)):
            out += [f"{pad}{'el' if i else ''}if type({v}) is {t}:", *self.check(c, v, depth + 1)]
        return out + [f"{pad}else: raise __U"]

    def _function_before(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "function", "schema")
        twin = _INLINE.get(schema["function"].get("function"))
        if twin is not None and schema["function"].get("type") == "no-info":
            template, env = twin
            self.env.update(env)
            return [pad + line.format(v=v) for line in template.splitlines()] + self.check(schema["schema"], v, depth)
        return [f"{pad}{v} = {self._function(schema)}({v})", *self.check(schema["schema"], v, depth)]

    def _function_after(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "function", "schema")
        return [*self.check(schema["schema"], v, depth), f"{pad}{v} = {self._function(schema)}({v})"]

    def _function(self, schema: dict[str, Any]) -> str:
        spec = schema["function"]
        if spec.get("type") != "no-info" or set(spec) != {"type", "function"}:
            raise _Unknown("function with info")
        return self.name(spec["function"], "__fn")

    def _tuple(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "items_schema", "variadic_item_index", "min_length", "max_length", "strict")
        if schema.get("variadic_item_index") != 0 or len(schema["items_schema"]) != 1:
            raise _Unknown("fixed tuple")
        return self._sequence(schema, schema["items_schema"][0], v, pad, "tuple")

    def _list(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "items_schema", "min_length", "max_length", "strict")
        return self._sequence(schema, schema.get("items_schema", {"type": "any"}), v, pad, "list")

    def _sequence(self, schema: dict[str, Any], item: dict[str, Any], v: str, pad: str, out: str) -> list[str]:
        head = f"{pad}if (type({v}) is not list and type({v}) is not tuple){self._sized(schema, v)}: raise __U"
        if item.get("type") == "any" and set(item) <= {"type", "metadata"}:
            return [head, f"{pad}{v} = {out}({v})"]
        return [head, f"{pad}{v} = {out}([{self.function(item)}(x) for x in {v}])"]

    def _dict(self, schema: dict[str, Any], v: str, pad: str, depth: int) -> list[str]:
        _only(schema, "keys_schema", "values_schema", "min_length", "max_length", "strict")
        key = self.function(schema.get("keys_schema", {"type": "any"}))
        val = self.function(schema.get("values_schema", {"type": "any"}))
        return [f"{pad}if type({v}) is not dict{self._sized(schema, v)}: raise __U",
                f"{pad}__d = {{{key}(k): {val}(x) for k, x in {v}.items()}}",
                f"{pad}if len(__d) != len({v}): raise __U", f"{pad}{v} = __d"]

    def model(self, schema: dict[str, Any]) -> list[str]:
        """The body of a model's function: every field read and checked, then the instance built
        as pydantic builds it (an instance of the class is kept: ``revalidate_instances="never"``)."""
        _only(schema, "cls", "schema", "config", "custom_init", "root_model", "post_init")
        cls: type[BaseModel] = schema["cls"]
        config = schema.get("config", {})
        if schema.get("custom_init") or schema.get("root_model") or schema.get("post_init") \
                or cls.__pydantic_post_init__ or cls.__private_attributes__ \
                or config.get("extra_fields_behavior") != "forbid" \
                or set(config) - {"extra_fields_behavior", "hide_input_in_errors", "title"}:
            raise _Unknown("model")
        inner = schema["schema"]
        if inner.get("type") != "model-fields":
            raise _Unknown("model schema")
        _only(inner, "fields", "model_name", "computed_fields")
        if inner.get("computed_fields"):
            raise _Unknown("computed fields")
        c = self.name(cls)
        keys = self.name(frozenset(inner["fields"]))
        out = [f"    if type(v) is {c}: return v", f"    if type(v) is not dict or not v.keys() <= {keys}: raise __U"]
        names = []
        for i, (fname, spec) in enumerate(inner["fields"].items()):
            if spec.get("type") != "model-field":
                raise _Unknown("field")
            _only(spec, "schema", "frozen")
            fschema, var = spec["schema"], f"x{i}"
            names.append(f"{fname!r}: {var}")
            out.append(f"    {var} = v.get({fname!r}, __MISSING)")
            if fschema.get("type") != "default":
                out += [f"    if {var} is __MISSING: raise __U", *self.check(fschema, var, 1)]
                continue
            _only(fschema, "schema", "default", "default_factory", "default_factory_takes_data")
            if "default_factory" in fschema:
                if fschema.get("default_factory_takes_data") or fschema["default_factory"] not in (dict, list, tuple):
                    raise _Unknown("default factory")
                default = f"{self.name(fschema['default_factory'])}()"
            else:
                try:
                    hash(fschema["default"])
                except TypeError:
                    raise _Unknown("unhashable default") from None  # pydantic copies it
                default = self.name(fschema["default"])
            body = self.check(fschema["schema"], var, 2)
            out += [f"    if {var} is __MISSING: {var} = {default}", *(["    else:", *body] if body else [])]
        out += ["    m = __new(" + c + ")",
                "    __set_dict(m, {" + ", ".join(names) + "})", "    __set_fields(m, set(v))",
                "    __set_extra(m, None)", "    __set_private(m, None)", "    v = m"]
        return out
