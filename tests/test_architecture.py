"""The package's shape: imports form no cycle, no private name crosses a module, heavy
dependencies stay inside functions of their edge package, modules stay small, and importing the
whole package loads none of the heavy dependencies."""

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import curate

ROOT = Path(curate.__file__).parent
MAX_LINES = 500

# Heavy dependencies and the only places that may import them (inside functions).
HEAVY_HOMES = {
    "fiftyone": ("curate.review",),
    "pymongo": ("curate.review.connection",),
    "tensorflow": ("curate.models", "curate.exporters.tfrecord"),
    "keras": ("curate.models.runtime",),
    "keras_hub": ("curate.models.detector",),
    "albumentations": ("curate.curation.augment",),
    "faiss": ("curate.intel.search",),
    "torch": (),
    "jax": (),
    "fastapi": ("curate.models.serving",),
    "starlette": ("curate.models.serving",),
    "uvicorn": ("curate.models.serving",),
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (a curate module, or the top-level name of another package)
    names: tuple[str, ...]  # for `from target import a, b`
    lazy: bool  # inside a function
    line: int


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def imports_of(name: str) -> list[Import]:
    tree = ast.parse(MODULES[name].read_text(), str(MODULES[name]))
    found = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(name, a.name, (), lazy, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolve against this module's package
                    package = name if is_package(name) else name.rpartition(".")[0]
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + ([base] if base else []))
                found.append(Import(name, base, tuple(a.name for a in child.names), lazy, child.lineno))
            visit(child, inner)

    visit(tree, False)
    return found


IMPORTS = [imp for name in MODULES for imp in imports_of(name)]


def edges(include_lazy: bool) -> dict[str, set[str]]:
    """Module -> the curate modules importing it runs: the target, a submodule imported by name
    (`from curate.x import y` with y a module), and the packages above the target that the
    importer does not already live in (their __init__ runs first)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for imp in IMPORTS:
        if (imp.lazy and not include_lazy) or not imp.target.startswith("curate"):
            continue
        targets = {imp.target} | {f"{imp.target}.{n}" for n in imp.names if f"{imp.target}.{n}" in MODULES}
        for target in list(targets):
            parts = target.split(".")
            for depth in range(2, len(parts)):
                package = ".".join(parts[:depth])
                if not (imp.importer == package or imp.importer.startswith(package + ".")):
                    targets.add(package)
        graph[imp.importer] |= {t for t in targets if t in MODULES and t != imp.importer and t != "curate"}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_the_package_is_found_and_parsed():
    assert {"curate.cli.main", "curate.review.sync_plan", "curate.models.detector", "curate.geometry"} <= set(MODULES)
    assert len(IMPORTS) > 300


@pytest.mark.parametrize("include_lazy", [False, True], ids=["module level", "with imports inside functions"])
def test_no_import_cycle(include_lazy):
    cycle = find_cycle(edges(include_lazy))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_is_imported_across_modules():
    private = [f"{MODULES[i.importer].relative_to(ROOT.parent)}:{i.line}: from {i.target} import {n}"
               for i in IMPORTS if i.target.startswith("curate") for n in i.names if n.startswith("_") and not n.startswith("__")]
    assert private == []


def test_heavy_dependencies_are_imported_only_inside_functions_of_their_edge_package():
    wrong = []
    for imp in IMPORTS:
        top = imp.target.split(".")[0]
        if top not in HEAVY_HOMES:
            continue
        at_home = any(imp.importer == home or imp.importer.startswith(home + ".") for home in HEAVY_HOMES[top])
        if not imp.lazy or not at_home:
            wrong.append(f"{imp.importer}:{imp.line} imports {imp.target}" + ("" if imp.lazy else " at module level"))
    assert wrong == []


def test_no_module_is_over_the_size_limit():
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_importing_every_module_keeps_heavy_dependencies_out():
    code = (
        f"import sys, importlib\nfor name in {sorted(MODULES)!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {tuple(HEAVY_HOMES)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_curate_and_the_cli_stay_light():
    code = "import sys, curate, curate.cli.main\nprint(','.join(m for m in sys.modules if m.split('.')[0] in %r))" % (tuple(HEAVY_HOMES),)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
