"""``txguard fmt``: write policy and suite files in one canonical layout, keeping their comments.

The file is read with ruamel.yaml's round-trip loader (PyYAML drops comments), changed in place,
and written back:

- **Key order.** The keys of a policy, of each tool, rule, condition and session rule or budget,
  and of a suite, each case, turn and ``want`` follow :data:`KEY_ORDER` (one list per kind of
  object; a test keeps it equal to the policy JSON Schema). Keys it does not know keep their
  relative order after the known ones. Keys that are data (tool names, ``params``, fixtures,
  facts) are never reordered. A comment moves with the key it is written above.
- **Quoting.** Quotes are double quotes. A quoted string keeps its quotes when a plain scalar
  would be read back as something else (``"yes"``, ``"1.0"``, ``""``) or when it looks like a
  number (it starts with a digit, or with ``-``, ``+`` or ``.`` and a digit: ``"1000.00"``,
  ``"1.0.0"``, ``"+20s"``), so that an amount or a version is never re-typed by a later edit;
  other quoted strings are written plain. Plain scalars stay plain; block scalars (``>-``,
  ``|``) stay as written; a null is written ``null``.
- **Layout.** Two-space indentation, sequences indented under their key (``rules:\\n  - id:``),
  lines never re-wrapped. A flow collection (``{...}``, ``[...]``) written on one line stays on
  one line; one written over several lines becomes block style.

Formatting never changes what the file means: the plain YAML load (``yaml.safe_load``) of the
result must equal that of the input, and every full-line comment must still be there, or
:class:`FormatError` is raised and nothing is written. A file that is neither a policy
(``apiVersion: txguard/v1``) nor a suite (``*.tests.yaml``) is refused.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import TxguardError
from .fmt_order import _CHILDREN, KEY_ORDER

API_VERSION = "txguard/v1"
SUITE_SUFFIX = ".tests.yaml"
EXTRA = "txguard[fmt]"

_NUMBER_LIKE = re.compile(r"[-+.]?[0-9]")
_STR_TAG = "tag:yaml.org,2002:str"
_WIDTH = 1 << 20
MAX_ALIASES = 1_000
"""The most aliases a file may use (txguard's loader has the same bound)."""
_RESOLVER = yaml.resolver.Resolver()
"""How a plain scalar is read back by PyYAML (YAML 1.1: `yes` is a boolean), which is how txguard reads it."""


class FormatError(TxguardError):
    """A file cannot be formatted; ``str()`` is ``file:line:col: message``. Nothing was written."""

    def __init__(self, file: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{file}:{line}:{column}: {message}")
        self.file, self.line, self.column, self.message = file, line, column, message


class NotTxguardFile(FormatError):
    """The file is valid YAML but neither a txguard policy nor a suite."""


class MissingExtra(TxguardError):
    """ruamel.yaml is not installed."""


def _ruamel() -> Any:
    try:
        import ruamel.yaml
    except ImportError:
        raise MissingExtra(f"txguard fmt needs ruamel.yaml: pip install '{EXTRA}'") from None
    return ruamel.yaml


def kind_of(data: Any, file: str) -> str:
    """``"policy"``, ``"domain"`` (a domain file a policy ``imports``) or ``"suite"``; raises
    :class:`NotTxguardFile` for anything else."""
    if Path(file).name.endswith(SUITE_SUFFIX):
        if not isinstance(data, Mapping) or "cases" not in data:
            raise NotTxguardFile(file, 1, 1, "not a txguard suite: a *.tests.yaml file is a mapping with `cases`")
        if data.get("apiVersion", API_VERSION) != API_VERSION:
            raise NotTxguardFile(file, 1, 1, f"not a txguard suite: `apiVersion` is not `{API_VERSION}`")
        return "suite"
    if isinstance(data, Mapping) and data.get("apiVersion") == API_VERSION:
        return "domain" if "domain" in data and "id" not in data else "policy"
    raise NotTxguardFile(file, 1, 1, f"not a txguard policy (no `apiVersion: {API_VERSION}`) or suite (*{SUITE_SUFFIX})")


def format_text(text: str, file: str) -> str:
    """The canonical form of the policy or suite ``text`` (``file`` names it in errors).

    Raises :class:`FormatError` (located) for invalid YAML, a file that is not a policy or suite,
    or a result that would not load to the same data or would lose a comment.
    """
    ry = _ruamel()
    before = _plain_load(text, file)
    kind = kind_of(before, file)
    rt = _yaml(ry)
    try:
        doc = rt.load(text)
    except ry.YAMLError as exc:
        raise _located(exc, file) from None
    _flow_to_block(doc, ry)
    _requote(doc, ry)
    _reorder(doc, kind, ry)
    out = io.StringIO()
    rt.dump(doc, out)
    result = out.getvalue()
    try:
        after = yaml.safe_load(result)
    except yaml.YAMLError as exc:
        raise FormatError(file, 1, 1, f"formatting would make the file unreadable ({exc}); nothing was written") from None
    if after != before:
        raise FormatError(file, 1, 1, "formatting would change what the file means; nothing was written (please report this)")
    comments_in, comments_out = Counter(_comment_lines(text)), Counter(_comment_lines(result))
    for changed, what in ((comments_in - comments_out, "lose"), (comments_out - comments_in, "repeat")):
        if changed:
            raise FormatError(file, 1, 1, f"formatting would {what} the comment `{next(iter(changed))}`; nothing was "
                              "written (order the keys around it by hand)")
    return result


def format_file(path: str | Path, *, write: bool = True) -> tuple[str, str]:
    """Read, format and (when it changes and ``write``) atomically rewrite ``path``; returns
    (old text, new text)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FormatError(str(p), 1, 1, f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise FormatError(str(p), 1, 1, "the file is not UTF-8 text") from None
    new = format_text(text, str(p))
    if write and new != text:
        write_atomic(Path(os.path.realpath(p)), new)  # through a symlink, not over it
    return text, new


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: a temporary file in the same directory, renamed over it,
    with the original's permission bits."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


# -- reading ---------------------------------------------------------------------------------------


def _plain_load(text: str, file: str) -> Any:
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_ALIASES:  # comparing the loads of an alias bomb would never end
            raise FormatError(file, 1, 1, f"more than {MAX_ALIASES} aliases (`*name`): not formatted")
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "cannot be read"
        if exc.context and problem.startswith("but "):  # "expected a single document in the stream but found another document"
            problem = f"{exc.context} {problem}"
        raise FormatError(file, line, col, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise FormatError(file, 1, 1, f"invalid YAML: {exc}") from None


def _located(exc: Any, file: str) -> FormatError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc).splitlines()[0]
    return FormatError(file, line, col, f"invalid YAML: {problem}")


def _yaml(ry: Any) -> Any:
    rt = ry.YAML(typ="rt")
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = _WIDTH

    class Emitter(rt.Emitter):  # type: ignore[misc, name-defined]
        def choose_scalar_style(self) -> Any:
            style = super().choose_scalar_style()
            return '"' if style == "'" else style

    rt.Emitter = Emitter
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return rt


def _comment_lines(text: str) -> list[str]:
    """Every full-line comment of ``text``, stripped."""
    return [s for s in (line.strip() for line in text.splitlines()) if s.startswith("#")]


# -- layout ----------------------------------------------------------------------------------------


def _is_flow(node: Any) -> bool:
    return bool(node.fa.flow_style())


def _lines(node: Any, ry: Any) -> set[int]:
    """The lines every key and item of ``node`` (and below) starts on."""
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    out: set[int] = set()
    if isinstance(node, cm):
        for k, v in node.items():
            for pos in (node.lc.key(k), node.lc.value(k)):
                if pos is not None and pos[0] is not None:
                    out.add(pos[0])
            out |= _lines(v, ry)
    elif isinstance(node, cs):
        for i, v in enumerate(node):
            pos = node.lc.item(i)
            if pos is not None and pos[0] is not None:
                out.add(pos[0])
            out |= _lines(v, ry)
    return out


def _has_comments(node: Any, ry: Any) -> bool:
    """Whether a comment is kept on ``node`` or below it (a comment after a flow collection is
    kept on the collection: it would be written after its key if the collection became a block)."""
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    if not isinstance(node, (cm, cs)):
        return False
    if any(node.ca.comment or ()) or any(any(entry) for entry in node.ca.items.values()):
        return True
    return any(_has_comments(v, ry) for v in (node.values() if isinstance(node, cm) else node))


def _flow_to_block(node: Any, ry: Any) -> None:
    """A flow collection written over several lines becomes block style (its items, too)."""
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    if not isinstance(node, (cm, cs)):
        return
    if _is_flow(node) and node.lc.line is not None and _lines(node, ry) - {node.lc.line} and not _has_comments(node, ry):
        node.fa.set_block_style()
    for v in node.values() if isinstance(node, cm) else node:
        _flow_to_block(v, ry)


# -- quoting ---------------------------------------------------------------------------------------


def _needs_quotes(s: str) -> bool:
    if _NUMBER_LIKE.match(s):
        return True
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, s, (True, False))  # type: ignore[no-untyped-call]
    return tag != _STR_TAG


def _requote(node: Any, ry: Any) -> None:
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    ss = ry.scalarstring
    quoted = (ss.SingleQuotedScalarString, ss.DoubleQuotedScalarString)
    if isinstance(node, cm):
        for k, v in node.items():
            if isinstance(v, quoted):
                # OrderedDict's own __setitem__: CommentedMap's would keep the quoted type.
                OrderedDict.__setitem__(node, k, _quoted(v, ry))
            else:
                _requote(v, ry)
    elif isinstance(node, cs):
        for i, v in enumerate(node):
            if isinstance(v, quoted):
                list.__setitem__(node, i, _quoted(v, ry))
            else:
                _requote(v, ry)


def _quoted(value: str, ry: Any) -> str:
    """A double-quoted string where quotes are kept, else a plain ``str`` (the emitter quotes it
    anyway where YAML's syntax needs it)."""
    text = "".join(value)  # an exact str, not the scalar-string subclass
    return ry.scalarstring.DoubleQuotedScalarString(text) if _needs_quotes(text) else text


# -- key order -------------------------------------------------------------------------------------


def _reorder(node: Any, kind: str, ry: Any) -> None:
    """Sort the keys of ``node`` (an object of ``kind``) and of its known children, bottom up."""
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    if isinstance(node, cs):
        for item in node:
            _reorder(item, kind, ry)
        return
    if not isinstance(node, cm):
        return
    for key, child in _CHILDREN.get(kind, {}).items():
        if key not in node:
            continue
        if child.startswith("*"):
            if isinstance(node[key], cm):
                for v in node[key].values():
                    _reorder(v, child[1:], ry)
        else:
            _reorder(node[key], child, ry)
    order = KEY_ORDER[kind]
    keys = list(node)
    rank = {k: i for i, k in enumerate(order)}
    wanted = sorted(keys, key=lambda k: (0, rank[k]) if k in rank else (1, keys.index(k)))
    if wanted != keys:
        _move_keys(node, keys, wanted, ry)


def _move_keys(node: Any, keys: list[Any], wanted: list[Any], ry: Any) -> None:
    """Reorder the keys of ``node``; the full-line comments above a key move with it, those after
    the last key stay at the end."""
    above: dict[Any, str] = {}
    for i, key in enumerate(keys):
        rest = _take_trail(node, key, ry)
        if i + 1 < len(keys):
            above[keys[i + 1]] = rest
        else:
            tail = rest
    for key in wanted:
        node.move_to_end(key)
    carry = above.get(wanted[0], "")
    for i, key in enumerate(wanted):
        after = above.get(wanted[i + 1], "") if i + 1 < len(wanted) else tail
        _add_trail(node, key, carry + after, ry)
        carry = ""


def _trail_slot(container: Any, key: Any, ry: Any) -> tuple[Any, Any]:
    """Where the comment written after entry ``key`` of ``container`` is kept: on the deepest last
    entry of a block collection, else on the entry itself."""
    value = container[key]
    cm, cs = ry.comments.CommentedMap, ry.comments.CommentedSeq
    if isinstance(value, (cm, cs)) and len(value) and not _is_flow(value):
        return _trail_slot(value, list(value)[-1] if isinstance(value, cm) else len(value) - 1, ry)
    return container, key


def _slot_index(container: Any, ry: Any) -> int:
    return 2 if isinstance(container, ry.comments.CommentedMap) else 0


def _is_block_scalar(value: Any, ry: Any) -> bool:
    ss = ry.scalarstring
    return isinstance(value, (ss.LiteralScalarString, ss.FoldedScalarString))


def _take_trail(node: Any, key: Any, ry: Any) -> str:
    """Remove and return the full-line comments after entry ``key`` (its end-of-line comment stays)."""
    container, k = _trail_slot(node, key, ry)
    entry = container.ca.items.get(k)
    idx = _slot_index(container, ry)
    token = entry[idx] if entry else None
    if token is None:
        return ""
    value = str(token.value)
    if _is_block_scalar(container[k], ry):
        eol, rest = "", value
    else:
        cut = value.find("\n") + 1 if "\n" in value else len(value)
        eol, rest = value[:cut], value[cut:]
    if eol.strip():
        token.value = eol
    else:
        entry[idx] = None
    return rest


def _add_trail(node: Any, key: Any, text: str, ry: Any) -> None:
    if not text:
        return
    container, k = _trail_slot(node, key, ry)
    idx = _slot_index(container, ry)
    entry = container.ca.items.setdefault(k, [None, None, None, None])
    token = entry[idx]
    if token is not None:
        token.value = str(token.value) + text
        return
    prefix = "" if _is_block_scalar(container[k], ry) else "\n"
    entry[idx] = ry.tokens.CommentToken(prefix + text, ry.error.CommentMark(0), None)
