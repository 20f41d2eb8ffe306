"""Load: YAML text -> plain data plus the line and column of every node.

PyYAML's composer gives each node a start mark; we build plain Python values from the node tree
ourselves so every value's location is known by its path (``("rules", 3, "when", "gt")``).
Duplicate mapping keys are errors, not silent overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._errors import Diagnostic, DiagnosticsError

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
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error([Diagnostic(str(path), 1, 1, "txg-io", f"cannot read the {what}: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise error([Diagnostic(str(path), 1, 1, "txg-io", f"the {what} is not UTF-8 text")]) from None


def load_yaml(text: str, file: str) -> tuple[Located | None, list[Diagnostic]]:
    """Parse one YAML document with locations. Returns (document or None, diagnostics)."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = (exc.problem or str(exc)).strip()
            return None, [Diagnostic(file, line, col, "txg-yaml", problem)]
        except yaml.YAMLError as exc:
            return None, [Diagnostic(file, 1, 1, "txg-yaml", str(exc).splitlines()[0])]
        if root is None:
            return None, [Diagnostic(file, 1, 1, "txg-yaml", "the file is empty: expected a policy mapping")]
        doc = Located(file, None)
        errors: list[Diagnostic] = []

        def build(node: yaml.Node, path: PathKey) -> Any:
            doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
            if isinstance(node, yaml.MappingNode):
                out: dict[Any, Any] = {}
                for key_node, value_node in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        errors.append(
                            Diagnostic(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                       "txg-yaml", "merge keys `<<` are not supported in policies")
                        )
                        continue
                    key = build_key(key_node)
                    if key in out:
                        errors.append(
                            Diagnostic(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                       "txg-yaml", f"duplicate key `{key}`")
                        )
                        continue
                    out[key] = build(value_node, path + (key,))
                return out
            if isinstance(node, yaml.SequenceNode):
                return [build(child, path + (i,)) for i, child in enumerate(node.value)]
            return construct(node)

        def construct(node: yaml.Node) -> Any:
            # A bad explicit tag (`!!int x`, `!!float x`) raises ValueError, not a YAMLError.
            try:
                return loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                errors.append(Diagnostic(file, node.start_mark.line + 1, node.start_mark.column + 1,
                                         "txg-yaml", str(exc).splitlines()[0]))
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
    finally:
        loader.dispose()
