"""The package's layers, read from the source: no import circle, no import from a lower layer to a
higher one, no module importing the package root, no source file over 800 lines.

Layers, highest first: ``cli`` > ``experiments`` > ``methods``, ``multiuser`` > ``transceivers`` >
``link``, ``latents``, ``tasks`` and the private helpers (``_estimator``, ``_registry``, ...). Every
import counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "semalign"
LAYERS = {"cli": 4, "experiments": 3, "methods": 2, "multiuser": 2, "transceivers": 1, "link": 0, "latents": 0, "tasks": 0}
MAX_LINES = 800


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    if top.startswith("_"):
        return 0  # private helpers sit below every layer
    return LAYERS[top]


def _imports(module: str, path: Path) -> set[str]:
    """The semalign modules ``module`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {name for name in found if name == "semalign" or name.startswith("semalign.")}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_no_module_imports_the_package_root():
    offenders = sorted(module for module, imports in GRAPH.items() if "semalign" in imports and module != "semalign")
    assert not offenders, f"these modules import the package root `semalign`: {offenders}"


def test_no_import_goes_up_a_layer():
    upward = [
        f"{module} -> {target}"
        for module, imports in GRAPH.items()
        if module != "semalign"
        for target in imports
        if target != "semalign" and _layer(target) > _layer(module)
    ]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = {m: {t for t in targets if t in GRAPH and t != "semalign"} for m, targets in GRAPH.items() if m != "semalign"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            pytest.fail("import circle: " + " -> ".join(cycle))


def test_every_layer_is_known():
    unknown = sorted({m.split(".")[1] for m in MODULES if "." in m and not m.split(".")[1].startswith("_")} - set(LAYERS))
    assert not unknown, f"modules outside the known layers: {unknown}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_source_files_stay_readable(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(SRC)} has {lines} lines (at most {MAX_LINES})"
