"""The house rules that a reader of the code relies on, read off the source itself:
imports run one way (no circle, nothing below an entry point imports it), functions
stay short enough to read, and the wiring stays in its one place."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where objects are built from settings and handed down: they may import anything,
# and nothing else may import them.
ENTRY_POINTS = ("mailer.services", "mailer.cli", "mailer.local", "mailer.web.app",
                "mailer.web.serving")
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _library() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text(encoding="utf-8"))
            for path in sorted((ROOT / "mailer").rglob("*.py"))
            if "migrations" not in path.parts}


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    """Every mailer module a module imports, lazily or not (an import inside a function
    is still a dependency), except those only a type checker sees."""
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def _is_entry(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in ENTRY_POINTS)


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _library()
    return {name: _imports(tree, set(modules)) - {name} for name, tree in modules.items()}


def test_no_module_imports_another_that_imports_it_back() -> None:
    assert _cycles(_graph()) == []


def test_packages_form_layers_below_the_entry_points() -> None:
    graph = _graph()
    upward = sorted(f"{a} -> {b}" for a, targets in graph.items() if not _is_entry(a)
                    for b in targets if _is_entry(b))
    assert upward == [], "only entry points may build from settings and import the wiring"
    packages: dict[str, set[str]] = defaultdict(set)
    for a, targets in graph.items():
        if not _is_entry(a):
            packages[_package(a)].update(_package(b) for b in targets
                                         if _package(b) != _package(a))
    assert _cycles(packages) == [], "folders that import each other: one is in the wrong place"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _functions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for folder in ("mailer", "worker"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{path.relative_to(ROOT)}:{node.name}", node


def _length(node: ast.AST) -> int:
    return int(getattr(node, "end_lineno", 0)) - int(getattr(node, "lineno", 0)) + 1


def test_no_function_is_longer_than_a_screen() -> None:
    long = sorted(f"{where} ({_length(node)} lines)" for where, node in _functions()
                  if _length(node) > MAX_FUNCTION_LINES)
    assert long == []


def test_the_share_route_only_reads_the_request_and_chooses_the_answer() -> None:
    [route] = [node for where, node in _functions()
               if where == "mailer/web/routes/share.py:share"]
    assert _length(route) < 30


def test_only_the_wiring_makes_database_engines() -> None:
    callers = set()
    for where, node in _functions():
        calls = {ast.unparse(call.func) for call in ast.walk(node) if isinstance(call, ast.Call)}
        if "make_engine" in calls:
            callers.add(where.split(":")[0])
    assert callers <= {"mailer/services.py", "mailer/db.py"}, callers
