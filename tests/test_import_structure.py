"""The import structure of pipelines/, assets/ and bench/, read from the source with `ast`: no import loops, and each
layer imports only the layers below it. An import inside a function counts like one at module level (it is a
dependency all the same, only a later one)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "assets", "bench")

# The layers, bottom first: each with the module prefixes that make it up (a module belongs to the layer of the
# longest prefix that names it) and the layers below it that it may import (and its own).
LAYERS = {
    "generated enums": (("pipelines.api_enums",), set()),
    "simulator": (("pipelines.sandbox",), {"generated enums"}),
    "client": (("pipelines.pinterest",), {"generated enums"}),
    "library": (("pipelines",), {"generated enums", "simulator", "client"}),
    "dagster assets": (("assets",), {"generated enums", "simulator", "client", "library"}),
    "code location and shell runs": (("pipelines.definitions", "pipelines.orchestration"),
                                     {"generated enums", "simulator", "client", "library", "dagster assets"}),
    "command line": (("pipelines.cli", "pipelines.commands"),
                     {"generated enums", "simulator", "client", "library", "dagster assets",
                      "code location and shell runs"}),
    "bench": (("bench",), {"generated enums", "simulator", "client", "library"}),
}

def modules() -> dict[str, Path]:
    """Every module of the packages by its dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(known: dict[str, Path]) -> dict[str, set[str]]:
    """What each module imports of the others: `import a.b`, `from a import b` (the module a.b if there is one,
    else a) and relative imports, anywhere in the module."""

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    edges = {}
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {resolve(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}" if base else anchor
                targets |= {resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in known else resolve(base)
                            for alias in node.names}
        edges[module] = targets - {None, module}
    return edges


def loops(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges[target]))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def a_cycle(component: set[str], edges: dict[str, set[str]]) -> list[str]:
    """One import cycle through the component's first module, as the chain of modules that import each other."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(edges[node] & component):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    raise AssertionError(f"{sorted(component)} is not a loop")


def layer_of(module: str) -> str:
    matches = [(len(prefix), name) for name, (prefixes, _) in LAYERS.items() for prefix in prefixes
               if module == prefix or module.startswith(f"{prefix}.")]
    return max(matches)[1]


EDGES = imports(modules())


def test_the_imports_are_read_from_every_module():
    assert {"pipelines.settings", "assets.jobs", "bench.scenarios", "pipelines.commands.run"} <= set(EDGES)
    assert "pipelines.orchestration" in EDGES["pipelines.commands.run"]  # imported inside a function
    assert "assets.jobs" in EDGES["pipelines.orchestration"]


def test_no_import_loops():
    found = loops(EDGES)
    assert not found, "import loops: " + "; ".join(
        f"{', '.join(sorted(c))} (for example {' -> '.join(a_cycle(c, EDGES))})" for c in found)


def test_every_layer_imports_only_the_layers_below_it():
    breaches = {(module, target) for module, targets in EDGES.items() for target in targets
                if layer_of(target) != layer_of(module) and layer_of(target) not in LAYERS[layer_of(module)][1]}
    assert not breaches, "imports of a layer above: " + "; ".join(
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})" for module, target in sorted(breaches))


def test_the_library_imports_nothing_of_the_dagster_assets():
    library = [module for module in EDGES if layer_of(module) in ("library", "client", "simulator", "generated enums")]
    found = sorted((module, target) for module in library for target in EDGES[module] if target.startswith("assets"))
    assert not found, f"the library imports the Dagster layer: {found}"
