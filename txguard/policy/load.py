"""Load: YAML text -> plain data plus the line and column of every node.

PyYAML's composer gives each node a start mark; we build plain Python values from the node tree
ourselves so every value's location is known by its path (``("rules", 3, "when", "gt")``).
Duplicate mapping keys are errors, not silent overwrites.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from ..core.diskcache import note_read
from ..core.errors import Diagnostic, DiagnosticsError

_SURROGATE = re.compile(r"[\ud800-\udfff]")

PathKey = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded document: its data, and the 1-based (line, column) of each path in it."""

    file: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: PathKey) -> tuple[int, int]:
        """The location of ``path``, or of its nearest located ancestor."""
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return self.marks.get((), (1, 1))

    def diagnostic(self, path: PathKey, code: str, message: str) -> Diagnostic:
        line, col = self.where(path)
        return Diagnostic(self.file, line, col, code, message)


_BOOL = {"true": True, "false": False}


def _scalar(node: yaml.ScalarNode, loader: yaml.SafeLoader) -> Any:
    return loader.construct_object(node, deep=True)


def read_source(path: Path, what: str, error: type[DiagnosticsError]) -> str:
    """The UTF-8 text of a policy or suite file; an unreadable file raises ``error`` with a
    located ``txg-io`` diagnostic naming ``what`` it is."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error([Diagnostic(str(path), 1, 1, "txg-io", f"cannot read the {what}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise error([Diagnostic(str(path), 1, 1, "txg-io", f"the {what} is not UTF-8 text")]) from None
    note_read(path, text)  # a cached result of compiling it (`txguard validate`) depends on it
    return text


MAX_DEPTH = 64
"""The deepest nesting of mappings and lists a policy or suite file may have."""
MAX_ALIASES = 1_000
"""The most aliases (``*name``) a file may use."""
MAX_VALUES = 500_000
"""The most values a file may expand to once its aliases are followed (an alias bomb of a few
hundred bytes would otherwise expand to billions)."""


class _Limit(Exception):
    """A bound on the document was passed: (line, column, message)."""

    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, with the nesting depth and the number of aliases bounded while composing
    (PyYAML's composer recurses once per nesting level and follows aliases without limit)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Limit(mark.line + 1, mark.column + 1,
                             f"more than {MAX_ALIASES} aliases (`*name`): a file may not repeat content this much")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Limit(mark.line + 1, mark.column + 1, f"values are nested more than {MAX_DEPTH} deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# PyYAML's problems, in plain words: (pattern of its problem text, what to say instead).
_PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    (r"expected <block end>, but found", "this line is not indented like the lines above it: "
                                         "align it with its siblings (or check the line before)"),
    (r"mapping values are not allowed here", "a `key: value` cannot start here: check this line's indentation, "
                                             "or quote a value that holds `: `"),
    (r"could not find expected ':'", "expected `key: value`: a `:` is missing or the line is indented wrongly"),
    (r"found character '\\t' that cannot start any token", "a tab cannot indent YAML: indent with spaces"),
    (r"found character .* that cannot start any token", "this character cannot start a value: quote the value"),
    (r"expected ',' or '\]'", "a `[` list is not closed by `]` (or its items are not separated by `,`)"),
    (r"expected ',' or '\}'", "a `{` mapping is not closed by `}` (or its entries are not separated by `,`)"),
    (r"found unexpected end of stream", "the file ends inside a quoted string: a closing quote is missing"),
    (r"found undefined alias", "an alias `*name` refers to no anchor `&name` above it"),
    (r"second occurrence", "an anchor `&name` is defined twice"),
    (r"but found another document", "the file holds more than one YAML document (`---`): a file is one document"),
    (r"found unknown escape character", "a quoted string holds an unknown escape (`\\`): use single quotes or `\\\\`"),
    (r"expected alphabetic or numeric character", "an anchor or alias name is empty or not alphanumeric"),
    (r"found a tab character", "a tab cannot indent YAML: indent with spaces"),
    (r"did not find expected", "the YAML structure is incomplete here: check the indentation and brackets"),
    (r"found unhashable key", "a mapping key must be a plain value, not a list or a mapping"),
)


def _plain(problem: str) -> str:
    for pattern, words in _PLAIN_WORDS:
        if re.search(pattern, problem):
            return words
    return f"this is not valid YAML ({problem})"


def _position(text: str, index: int) -> tuple[int, int]:
    """The 1-based (line, column) of a character index in ``text``."""
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def load_yaml(text: str, file: str) -> tuple[Located | None, list[Diagnostic]]:
    """Parse one YAML document with locations. Returns (document or None, diagnostics).

    Every problem is a located ``txg-yaml`` diagnostic in plain words; nesting depth, aliases and
    the expanded size are bounded (:data:`MAX_DEPTH`, :data:`MAX_ALIASES`, :data:`MAX_VALUES`).
    A plain document is read by libyaml when PyYAML has it (:func:`_load_fast`); whatever that
    path is not sure of, every problem included, is read by :func:`load_yaml_reference`.
    """
    fast = _load_fast(text, file)
    if fast is not None:
        return fast, []
    return load_yaml_reference(text, file)


def load_yaml_reference(text: str, file: str) -> tuple[Located | None, list[Diagnostic]]:
    """:func:`load_yaml` with PyYAML's pure-Python composer: the reference, which words every problem."""
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as exc:  # checked on the whole text before parsing
        line, col = _position(text, exc.position)
        return None, [Diagnostic(file, line, col, "txg-yaml", _reader_problem(exc))]
    try:
        try:
            root = loader.get_single_node()
        except _Limit as exc:
            return None, [Diagnostic(file, exc.line, exc.col, "txg-yaml", exc.message)]
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            return None, [Diagnostic(file, line, col, "txg-yaml", _plain((exc.problem or str(exc)).strip()))]
        except yaml.reader.ReaderError as exc:
            line, col = _position(text, exc.position)
            return None, [Diagnostic(file, line, col, "txg-yaml", _reader_problem(exc))]
        except yaml.YAMLError as exc:
            return None, [Diagnostic(file, 1, 1, "txg-yaml", _plain(str(exc).splitlines()[0]))]
        if root is None:
            return None, [Diagnostic(file, 1, 1, "txg-yaml", "the file is empty: expected a policy mapping")]
        try:
            _check_size(root)
            return _build(root, loader, file)
        except _Limit as exc:
            return None, [Diagnostic(file, exc.line, exc.col, "txg-yaml", exc.message)]
    finally:
        loader.dispose()


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    char = exc.character
    code = char if isinstance(char, int) else ord(char) if char else 0
    return f"character U+{code:04X} is not allowed in YAML text (a control character): remove it or escape it in double quotes"


def _check_size(root: yaml.Node) -> None:
    """Refuse, before building anything, a node graph whose aliases make it cyclic (a recursive
    alias), nest it deeper than :data:`MAX_DEPTH` or expand it to more than :data:`MAX_VALUES`
    values: linear in the size of the graph (each node is measured once)."""
    measured: dict[int, tuple[int, int]] = {}  # node -> (values it expands to, its height)
    open_nodes: set[int] = set()

    def fail(node: yaml.Node, message: str) -> NoReturn:
        raise _Limit(node.start_mark.line + 1, node.start_mark.column + 1, message)

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        key = id(node)
        if key in open_nodes:
            fail(node, "an alias refers to the value that contains it (a recursive alias)")
        found = measured.get(key)
        if found is None:
            if depth > MAX_DEPTH:
                fail(node, f"values are nested more than {MAX_DEPTH} deep (aliases included)")
            total, height = 1, 1
            if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
                open_nodes.add(key)
                children = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else node.value
                for child in children:
                    size, child_height = measure(child, depth + 1)
                    total += size
                    height = max(height, child_height + 1)
                    if total > MAX_VALUES:
                        fail(node, f"this value expands to more than {MAX_VALUES} values once its aliases are "
                                   "followed: the file is too large to load")
                open_nodes.discard(key)
            found = measured[key] = (total, height)
        if depth + found[1] - 1 > MAX_DEPTH:
            fail(node, f"values are nested more than {MAX_DEPTH} deep (aliases included)")
        return found

    measure(root, 1)


def _build(root: yaml.Node, loader: yaml.SafeLoader, file: str) -> tuple[Located, list[Diagnostic]]:
    """Plain values from the node tree (acyclic and bounded: see :func:`_check_size`), with the
    location of every path."""
    doc = Located(file, None)
    errors: list[Diagnostic] = []

    def build(node: yaml.Node, path: PathKey) -> Any:
        doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return build_collection(node, path)
        return construct(node)

    def build_collection(node: yaml.Node, path: PathKey) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [build(child, path + (i,)) for i, child in enumerate(node.value)]
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key_node.tag == "tag:yaml.org,2002:merge":
                errors.append(Diagnostic(file, *where, "txg-yaml", "merge keys `<<` are not supported in policies"))
                continue
            key = build_key(key_node)
            if key in out:
                errors.append(Diagnostic(file, *where, "txg-yaml", f"duplicate key `{key}`"))
                continue
            out[key] = build(value_node, path + (key,))
        return out

    def construct(node: yaml.Node) -> Any:
        # A bad explicit tag raises whatever PyYAML's constructor hits, not a YAMLError: `!!int x`
        # a ValueError, `!!int ` (empty) an IndexError, `!!binary x` a binascii.Error.
        try:
            value = loader.construct_object(node, deep=True)
            if isinstance(value, str) and _SURROGATE.search(value) is not None:
                # `"\ud800"` (or a pair escaped as two, JSON-style): not text; the digest could not encode it
                errors.append(Diagnostic(file, node.start_mark.line + 1, node.start_mark.column + 1, "txg-yaml",
                                         "a string holds a surrogate escape (`\\ud800`-`\\udfff`): not Unicode "
                                         "text (write a character beyond U+FFFF as `\\U0001F600`)"))
                return None
            return value
        except Exception as exc:  # noqa: BLE001 - any constructor failure is a located error
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            if isinstance(exc, yaml.constructor.ConstructorError) and "could not determine a constructor" in str(exc):
                message = f"unknown tag `{tag}`: a file holds plain YAML values"
            else:
                value = str(node.value)[:40] if isinstance(node, yaml.ScalarNode) else ""
                message = f"{f'`{value}`' if value else 'an empty value'} is not a valid `{tag}` value"
            errors.append(Diagnostic(file, node.start_mark.line + 1, node.start_mark.column + 1, "txg-yaml", message))
            return None

    def build_key(node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            errors.append(Diagnostic(file, node.start_mark.line + 1, node.start_mark.column + 1,
                                     "txg-yaml", "mapping keys must be scalars"))
            return f"<complex key at line {node.start_mark.line + 1}>"
        # Keys are text, as in JSON: an int key would break the schema's key comparisons.
        value = construct(node)
        return value if isinstance(value, str) else str(value)

    doc.data = build(root, ())
    return doc, errors


# -- the fast path: libyaml composes, and only a plain document is accepted ---------------------------------

_CLoader: type[yaml.SafeLoader] | None = None
if getattr(yaml, "__with_libyaml__", False) and yaml._yaml.get_version() >= (0, 2, 5):
    # libyaml before 0.2.5 does not bound the nesting (its composer recursion would overflow the C stack)
    _CLoader = yaml.CSafeLoader  # type: ignore[assignment]

_UNSURE = re.compile("[^\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]|[\u2028\u2029]")
"""A character the two readers may read differently (a tab, which PyYAML refuses in more places than
libyaml; a byte order mark, NEL, the Unicode line and paragraph separators, which they count
differently) or that the reference refuses (a control character): such a text takes the reference path."""

_FLOW_UNSURE = re.compile(r"[?#,\[\]{}]|^:|:$|:\s")
"""A character that may end a plain scalar inside a flow collection for one reader and not the other."""

_BLOCK_HEADER = re.compile(r"[|>]([+-][1-9]?|[1-9][+-]?)?( +(#.*)?)?")
"""The header of a block scalar as both readers read it alike: its indicators, then spaces and a comment."""

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Unsure(Exception):
    """The fast path cannot vouch for this document: the reference loader reads it."""


def _load_fast(text: str, file: str) -> Located | None:
    """The document as :func:`load_yaml_reference` reads it when that has no diagnostic, or None
    (no libyaml; an unusual character; any problem, alias, merge key, duplicate key or bound passed):
    the same data and the same line and column of every path (tests/test_compile_fast_load.py)."""
    if _CLoader is None or not isinstance(text, str) or _UNSURE.search(text) is not None:
        return None  # bytes or a stream (PyYAML reads those too): the reference's, as before the fast path
    try:
        loader = _CLoader(text)
    except Exception:  # noqa: BLE001 - a text libyaml cannot take is the reference's
        return None
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        return _build_fast(root, loader, file, text)
    except Exception:  # noqa: BLE001 - whatever libyaml or a constructor says, the reference words it
        return None
    finally:
        loader.dispose()


def _build_fast(root: yaml.Node, loader: yaml.SafeLoader, file: str, text: str) -> Located:
    """:func:`_build` of a tree in which each node occurs once (an alias raises :class:`_Unsure`),
    nested at most :data:`MAX_DEPTH` deep (the reference's bound on composing), with no problem."""
    marks: dict[PathKey, tuple[int, int]] = {}
    seen: set[int] = set()
    lines: list[str] = []  # the text's lines, split when a block scalar is met
    construct = loader.construct_object
    scalar_node, sequence_node = yaml.ScalarNode, yaml.SequenceNode

    def scalar(node: yaml.ScalarNode, flow: bool) -> Any:
        if not node.style and (not node.value or flow and _FLOW_UNSURE.search(node.value) is not None):
            # An empty value: the readers place it differently. In a flow collection, PyYAML ends a
            # plain scalar at `?` (libyaml does not).
            raise _Unsure
        if node.style in ("|", ">"):
            if not lines:
                lines.extend(text.splitlines())
            mark = node.start_mark
            if _BLOCK_HEADER.fullmatch(lines[mark.line], mark.column) is None:
                raise _Unsure  # PyYAML refuses more block scalar headers (`>#`) than libyaml
        value = node.value if node.tag == _STR else construct(node, deep=True)
        if isinstance(value, str) and _SURROGATE.search(value) is not None:
            raise _Unsure
        return value

    def build(node: yaml.Node, path: PathKey, depth: int, flow: bool) -> Any:
        if depth > MAX_DEPTH or id(node) in seen:
            raise _Unsure
        seen.add(id(node))
        mark = node.start_mark
        marks[path] = (mark.line + 1, mark.column + 1)
        kind = type(node)
        if isinstance(node, scalar_node):
            return scalar(node, flow)
        flow = bool(getattr(node, "flow_style", False))
        if kind is sequence_node:
            return [build(child, path + (i,), depth + 1, flow) for i, child in enumerate(node.value)]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, scalar_node) or key_node.tag == _MERGE or id(key_node) in seen or depth >= MAX_DEPTH:
                raise _Unsure
            seen.add(id(key_node))
            key = scalar(key_node, flow)
            key = key if isinstance(key, str) else str(key)
            if key in out:
                raise _Unsure
            out[key] = build(value_node, path + (key,), depth + 1, flow)
        return out

    data = build(root, (), 1, False)
    if len(seen) > MAX_VALUES:
        raise _Unsure
    return Located(file, data, marks)
