"""The package's import graph has no loops, and an import inside a function says why it is there.

Read from the source with `ast` (nothing is imported): every module under gridbot/ and handlers/ (which ships as
gridbot.handlers). An import inside a function is an edge like any other: a loop dodged by importing late is still
a loop (the two modules still cannot be understood, tested or moved apart). Imports under `if TYPE_CHECKING:` are
not edges: they never run.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"gridbot": ROOT / "gridbot", "gridbot.handlers": ROOT / "handlers"}


@dataclass(frozen=True)
class Import:
    source: str        # the importing module
    target: str        # the project module it runs
    line: int
    in_function: bool


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the project (a package is its __init__.py)."""
    found = {}
    for prefix, top in SOURCES.items():
        for path in sorted(top.rglob("*.py")):
            parts = path.relative_to(top).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _statements(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that runs, with whether it sits inside a function body."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, in_function))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                visit(branch, in_function)
            return
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _resolve(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The project modules an import statement runs (external ones are left out).

    `import a.b.c` and `from a.b import c` name the deepest project module: `c` when it is a submodule, else the
    package `a.b` whose attribute it is. The packages above it run too; `_imports` adds those.
    """
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return [t for t in (_deepest(_alias(n)) for n in names) if t]
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = ".".join(p for p in (package, node.module) if p)
    else:
        base = _alias(node.module or "")
    targets = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        target = submodule if submodule in MODULES else _deepest(base)
        if target:
            targets.append(target)
    return targets


def _alias(name: str) -> str:
    """`handlers.x` is how nothing should import it, but it would run gridbot.handlers.x all the same."""
    return "gridbot." + name if name == "handlers" or name.startswith("handlers.") else name


def _deepest(name: str) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


def _imports() -> list[Import]:
    found = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _statements(tree):
            for target in _resolve(module, node):
                for ran in (*_packages_run_first(module, target), target):
                    if ran != module:
                        found.append(Import(module, ran, node.lineno, in_function))
    return found


def _packages_run_first(module: str, target: str) -> list[str]:
    """The packages whose __init__ runs before `target` (a.b for a.b.c), less those `module` lives in: its own
    packages were initialised before it, so a child naming its parent adds no edge (and no false loop)."""
    parts = target.split(".")
    own = {".".join(module.split(".")[:end]) for end in range(1, module.count(".") + 2)}
    return [p for p in (".".join(parts[:end]) for end in range(1, len(parts))) if p in MODULES and p not in own]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return sorted(components, key=lambda c: (-len(c), c))


def _graph(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in imports:
        edges[imp.source].add(imp.target)
    return edges


def _describe(cycle: list[str], imports: list[Import]) -> str:
    members = set(cycle)
    lines = [f"cycle of {len(cycle)} modules: {', '.join(cycle)}"]
    for imp in sorted({i for i in imports if i.source in members and i.target in members},
                      key=lambda i: (i.source, i.line)):
        where = "in a function" if imp.in_function else "at module level"
        lines.append(f"    {imp.source} -> {imp.target}  ({MODULES[imp.source].relative_to(ROOT)}:{imp.line}, {where})")
    return "\n".join(lines)


# --- the checker checks itself: small graphs with known answers -------------------------------------------------

def test_tarjan_finds_each_loop_once_and_nothing_else():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"g"}}
    assert _cycles(edges) == [["a", "b", "c"], ["e", "f"]]


def test_relative_imports_resolve_to_submodules_or_to_the_package():
    node = ast.parse("from . import tickets, MODULES").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("gridbot.handlers.fallback", node) == ["gridbot.handlers.tickets", "gridbot.handlers"]
    node = ast.parse("from ..models import Ticket").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("gridbot.services.work", node) == ["gridbot.models"]
    node = ast.parse("from ...models import Ticket").body[0]     # in a package's __init__: one more level
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("gridbot.services.tickets", node) == ["gridbot.models"]
    node = ast.parse("from .base import Base").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("gridbot.models", node) == ["gridbot.models.base"]


def test_a_module_runs_the_packages_above_it_except_its_own():
    assert _packages_run_first("gridbot.services.outbox", "gridbot.web.console.tickets") == [
        "gridbot.web", "gridbot.web.console"]
    assert _packages_run_first("gridbot.web.console.admin", "gridbot.web.api") == []


def test_type_checking_imports_are_not_edges_and_function_imports_are():
    tree = ast.parse("import typing\nif typing.TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
                     "def f():\n    import c\n")
    assert [(n.names[0].name, inside) for n, inside in _statements(tree)] == [
        ("typing", False), ("b", False), ("c", True)]


# --- the rules ---------------------------------------------------------------------------------------------------

def test_no_import_loops_in_the_package():
    imports = _imports()
    cycles = _cycles(_graph(imports))
    assert not cycles, "import loops (a loop dodged by a late import is still a loop):\n" + "\n".join(
        _describe(c, imports) for c in cycles)


DIRECTIVE = re.compile(r"#\s*(noqa(:\s*[A-Z]+[0-9]+(\s*,\s*[A-Z]+[0-9]+)*)?|type:\s*ignore(\[[^\]]*\])?)", re.I)


def _reasons(path: Path) -> dict[int, str]:
    """Line -> the words of its comment, with noqa / type: ignore directives taken out (they are not a reason)."""
    words = {}
    with io.StringIO(path.read_text(encoding="utf-8")) as text:
        for tok in tokenize.generate_tokens(text.readline):
            if tok.type == tokenize.COMMENT:
                reason = DIRECTIVE.sub("", tok.string).strip("#-–—:;, \t")
                if re.search(r"\w", reason):
                    words[tok.start[0]] = reason
    return words


def _unexplained_function_imports() -> list[str]:
    missing = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        reasons = _reasons(path)
        for node, in_function in _statements(tree):
            end = node.end_lineno or node.lineno
            if in_function and not any(line in reasons for line in (node.lineno - 1, node.lineno, end)):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return missing


def test_reasons_are_words_not_directives(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("import a  # noqa: PLC0415\nimport b  # noqa: PLC0415 - the CLI starts faster\n"
                      "# loop with c\nimport c\n")
    assert _reasons(sample) == {2: "the CLI starts faster", 3: "loop with c"}


def test_every_import_inside_a_function_says_why():
    missing = _unexplained_function_imports()
    assert not missing, ("an import inside a function needs a reason in a comment on its line or the line above "
                         f"(or move it to the top), {len(missing)}:\n" + "\n".join(missing))
