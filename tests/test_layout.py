"""The layout of ``txguard/`` (issue 10): no import circle, no txguard import hidden in a function,
no module over 400 lines without a reason.

The import graph is read from the source with :mod:`ast` (nothing is imported), at module
granularity: ``import a.b`` and ``from a import b`` are edges to the module (or, for a package,
its ``__init__``) they name; relative imports are resolved; imports inside functions count;
imports under ``if TYPE_CHECKING:`` do not (they never run). ``importlib.import_module("...")``
with a literal name is an import like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "txguard"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
MAX_LINES = 400

LATE_IMPORTS_ALLOWED: dict[tuple[str, str, str], str] = {
    ("txguard", "__getattr__", "?"):
        "PEP 562 lazy loading of the public names: `import txguard` must not import the whole package",
    ("txguard.cli", "command_module", "?"):
        "each subcommand is imported only when it runs, so `txguard --help` imports none of them",
    ("txguard.cli.validate", "_compile", "txguard.policy.compile"):
        "a policy validated before and unchanged since is answered from the cache without importing the compiler",
    ("txguard.cli.validate", "_compile", "txguard.core.errors"):
        "as above: only a compile raises a PolicyError",
    ("txguard.cli.mcp_proxy", "run", "txguard.integrations.mcp_proxy"):
        "needs the optional MCP SDK (`txguard[mcp]`): without it `txguard mcp-proxy` says so in one line",
    ("txguard.cli.mcp_proxy", "_serve", "txguard.integrations.mcp_proxy"):
        "needs the optional MCP SDK (`txguard[mcp]`), as in run()",
    ("txguard.cli.serve", "run", "txguard.serve"):
        "needs the optional `serve` extra (starlette, uvicorn): without it `txguard serve` says so in one line",
    ("txguard.cli.serve", "run", "txguard.serve._app"):
        "needs the optional `serve` extra, as above",
    ("txguard.serve._app", "__init__", "txguard.otel"):
        "needs opentelemetry-api (`txguard[otel]`, not part of `serve`): loaded only when the service is told to trace",
}
"""(module, function, imported module or ``?`` for a computed name) -> why a txguard module is imported
inside that function. Keep it short."""


@dataclass(frozen=True)
class Import:
    """One import statement (or ``importlib.import_module`` call) found in a module."""

    module: str
    """The importing module (``txguard.policy`` for ``txguard/policy/__init__.py``)."""
    line: int
    targets: tuple[str, ...]
    """The txguard modules it imports (empty for a third-party import)."""
    function: str | None
    """The innermost function it is written in, or None at module level."""
    dynamic: bool = False
    """An ``importlib.import_module`` call whose name is not a literal (its target is unknown)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module a (possibly relative) ``from``/``import`` names."""
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class Walker(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, modules: set[str]) -> None:
        self.module, self.is_package, self.modules = module, is_package, modules
        self.functions: list[str] = []
        self.found: list[Import] = []

    def known(self, name: str) -> str | None:
        """``name`` if it is a txguard module, else its nearest txguard ancestor (``import
        txguard.x.y`` imports ``txguard.x.y``; ``from txguard.x import obj`` imports ``txguard.x``)."""
        while name:
            if name in self.modules:
                return name
            name = name.rpartition(".")[0]
        return None

    def add(self, node: ast.AST, targets: list[str], dynamic: bool = False) -> None:
        func = self.functions[-1] if self.functions else None
        self.found.append(Import(self.module, getattr(node, "lineno", 0), tuple(dict.fromkeys(targets)), func, dynamic))

    def visit_If(self, node: ast.If) -> None:
        if is_type_checking(node.test):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.functions.append(node.name)
        self.generic_visit(node)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        self.add(node, [t for a in node.names if (t := self.known(a.name)) is not None])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = resolve(self.module, self.is_package, node.level, node.module)
        targets = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            target = sub if sub in self.modules else self.known(base)
            if target is not None:
                targets.append(target)
        self.add(node, targets)

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if (isinstance(f, ast.Attribute) and f.attr == "import_module") or (
                isinstance(f, ast.Name) and f.id in {"import_module", "__import__"}):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
                level = len(name) - len(name.lstrip("."))
                # importlib resolves a relative name against its package argument (``__name__``
                # of a package here), as if that were a package
                target = self.known(resolve(self.module, True, level, name[level:] or None) if level else name)
                self.add(node, [target] if target is not None else [])
            elif len(node.args) > 1 or any(k.arg == "package" for k in node.keywords) or _txguard_prefix(arg):
                # a computed name relative to a txguard package, or under txguard: target unknown
                self.add(node, [], dynamic=True)
            # any other computed name is the host's module (a --context provider): not txguard's
        self.generic_visit(node)


def _txguard_prefix(arg: ast.expr | None) -> bool:
    """An f-string module name that starts with ``txguard`` or ``.``."""
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        head = str(arg.values[0].value)
        return head.startswith((".", PACKAGE))
    return False


def imports() -> Iterator[Import]:
    modules = all_modules()
    for name, path in modules.items():
        walker = Walker(name, path.name == "__init__.py", set(modules))
        walker.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        yield from walker.found


def where(imp: Import) -> str:
    path = all_modules()[imp.module].relative_to(ROOT.parent)
    return f"{path}:{imp.line}"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (or a self-import), each
    shown as one concrete cycle through its modules, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    sccs: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan; the graph is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(one_cycle(graph, comp) for comp in sccs)


def one_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A shortest cycle from the component's first module back to itself (breadth first)."""
    start, members = comp[0], set(comp)
    parent: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start] + path[::-1][1:] + [start] if v != start else [start, start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    return comp  # unreachable for a strongly connected component


def test_there_is_no_import_circle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in all_modules()}
    for imp in imports():
        graph[imp.module].update(t for t in imp.targets if t != imp.module)
    cycles = find_cycles(graph)
    assert not cycles, "import circles in txguard/ (each shown as one cycle through its modules):\n" + "\n".join(
        "  " + " -> ".join(c) for c in cycles)


def late_imports() -> Iterator[tuple[Import, tuple[str, str, str]]]:
    """Every txguard module imported inside a function, with its allow-list key."""
    for imp in imports():
        if imp.function is not None:
            for target in imp.targets + (("?",) if imp.dynamic else ()):
                yield imp, (imp.module, imp.function, target)


def test_no_txguard_import_hides_in_a_function() -> None:
    late = [(imp, key) for imp, key in late_imports() if key not in LATE_IMPORTS_ALLOWED]
    assert not late, "txguard modules imported inside functions (move them to the top, or break the cycle " \
        "they dodge):\n" + "\n".join(
            f"  {where(i)}: in {i.function}(): {'a computed module name' if t == '?' else t}" for i, (_, _, t) in late)


def test_the_allowed_late_imports_are_still_there() -> None:
    seen = {key for _, key in late_imports()}
    assert set(LATE_IMPORTS_ALLOWED) <= seen, f"stale allow-list entries: {sorted(set(LATE_IMPORTS_ALLOWED) - seen)}"


def test_no_module_is_over_400_lines_without_a_reason() -> None:
    long = []
    for path in all_modules().values():
        text = path.read_text(encoding="utf-8")
        n = len(text.splitlines())
        if n <= MAX_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.strip().startswith("Size:") for line in doc.splitlines()):
            long.append(f"  {path.relative_to(ROOT.parent)}: {n} lines")
    assert not long, f"modules over {MAX_LINES} lines without a `Size:` line in their docstring:\n" + "\n".join(long)


def test_the_walker_sees_what_it_must() -> None:
    """The rules above hold only if the walker reads imports right: check it on a made-up module."""
    source = (
        "from __future__ import annotations\n"
        "import typing\n"
        "from . import sibling\n"
        "from ..core import errors\n"
        "if typing.TYPE_CHECKING:\n"
        "    from ..policy import compile\n"
        "def f():\n"
        "    from .sibling import thing\n"
        "    import importlib\n"
        "    importlib.import_module('txguard.core.money')\n"
        "    importlib.import_module(f'.{name}', __name__)\n"
        "    importlib.import_module(user_module)\n"
    )
    modules = {"txguard", "txguard.core", "txguard.core.errors", "txguard.core.money", "txguard.policy",
               "txguard.policy.compile", "txguard.pkg", "txguard.pkg.mod", "txguard.pkg.sibling"}
    walker = Walker("txguard.pkg.mod", False, modules)
    walker.visit(ast.parse(source))
    got = [(i.line, i.targets, i.function, i.dynamic) for i in walker.found]
    assert got == [
        (1, (), None, False),  # __future__, typing, importlib: third party, no edge
        (2, (), None, False),
        (3, ("txguard.pkg.sibling",), None, False),
        (4, ("txguard.core.errors",), None, False),
        (8, ("txguard.pkg.sibling",), "f", False),
        (9, (), "f", False),
        (10, ("txguard.core.money",), "f", False),
        (11, (), "f", True),
    ]  # line 12 names the host's module: not recorded
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
