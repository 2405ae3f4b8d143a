"""The architecture, checked: one direction of imports between the layers, and no import cycles.

docs/architecture.md describes the layers; this test is what keeps the tree true to it. The
import graph is read from the source (every `import`, including the ones inside functions that
keep `modelport --help` light), so a lazy import that breaks a rule fails here too, not only one
at module level. Every module must belong to a layer: a new folder is placed in LAYERS on purpose.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT

# Layer -> the module prefixes it holds. A module belongs to the layer of its longest matching prefix.
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("modelport",),  # the package root's small shared modules (types, errors, manifest, ...)
    "workers": ("modelport.workers",),
    "converters": ("modelport.converters",),
    "validators": ("modelport.validators",),
    "html_report": ("modelport.html_report",),
    "pipeline": ("modelport.pipeline",),
    "batch": ("modelport.batch",),
    "serving": ("modelport.serving",),
    "front": ("modelport.api", "modelport.doctor"),
    "cli": ("modelport.cli",),
}

# Layer -> the layers it may import. converters and validators never import each other: where a
# converter meets a runtime (the smoke run, a route's validation) is the pipeline's business.
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "workers": {"core", "workers"},
    "converters": {"core", "workers", "converters"},
    "validators": {"core", "workers", "validators"},
    "html_report": {"core", "workers", "validators", "html_report"},  # renders what validators report
    "pipeline": {"core", "workers", "converters", "validators", "pipeline"},
    "batch": {"core", "workers", "converters", "validators", "pipeline", "html_report", "batch"},
    "serving": {"core", "workers", "validators", "serving"},  # packages for servers, checked like any runner
    "front": {"core", "workers", "converters", "validators", "pipeline", "html_report", "batch", "serving", "front"},
    "cli": set(LAYERS),
}


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the installed package, from pyproject's package list and folder mapping."""
    setup = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = setup.get("package-dir", {})
    modules = {}
    for package in setup["packages"]:
        # The folder of the longest mapped prefix, then the rest of the name (as setuptools does).
        prefix = max((p for p in folders if package == p or package.startswith(p + ".")), key=len, default="")
        rest = package[len(prefix):].lstrip(".")
        folder = root / (folders[prefix] if prefix else "") / rest.replace(".", "/")
        assert folder.is_dir(), f"{package}: no folder {folder}"
        for path in sorted(folder.glob("*.py")):
            modules[package if path.name == "__init__.py" else f"{package}.{path.stem}"] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that `name` imports anywhere in its body (relative imports resolved)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:  # `from pkg import module` imports the module itself
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def layer_of(module: str) -> str | None:
    best, length = None, -1
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = layer, len(prefix)
    return best


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        layer = layer_of(module)
        for target in sorted(targets):
            if layer_of(target) not in ALLOWED[layer]:
                out.append(f"{module} ({layer}) imports {target} ({layer_of(target)})")
    return out


def test_the_graph_is_read_from_the_source():
    """The reader sees lazy imports and the folder mapping; else the rules below would pass vacuously."""
    graph = import_graph()
    assert {"modelport.types", "modelport.cli.main", "modelport.converters.planner",
            "modelport.validators.bench.measure", "modelport.batch.run"} <= set(graph)
    assert "modelport.converters.planner" in graph["modelport.pipeline.convert"]  # module level
    assert "modelport.api" in graph["modelport.cli.convert_cmd"]  # inside the command's body


def test_every_module_has_a_layer():
    assert [m for m in import_graph() if layer_of(m) is None] == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_layers_import_in_one_direction_only():
    assert violations(import_graph()) == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_cycle_finder(graph, expected):
    assert cycles(graph) == expected


def test_a_lower_layer_importing_a_higher_one_is_reported():
    graph = {"modelport.types": {"modelport.cli.main"}, "modelport.cli.main": set(),
             "modelport.converters.planner": {"modelport.validators.runtimes"}, "modelport.validators.runtimes": set()}
    assert violations(graph) == [
        "modelport.converters.planner (converters) imports modelport.validators.runtimes (validators)",
        "modelport.types (core) imports modelport.cli.main (cli)",
    ]
