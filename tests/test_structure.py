# SPDX-License-Identifier: Apache-2.0
"""The package's structure, held by tests: imports at the module top, dependencies that go one
way (no import cycle, no import of a higher layer), and commands that never load TensorFlow.

The import graph is read from the source with `ast`, so a cycle is found even where no test
happens to import the modules in the order that would break."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcu_mobilenet.paths import PROJECT_ROOT

PACKAGE = "mcu_mobilenet"
# Source folders -> the package they import as (codegen/ is mcu_mobilenet.codegen).
SOURCE_ROOTS = {
    PROJECT_ROOT / "mcu_mobilenet": PACKAGE,
    PROJECT_ROOT / "codegen": "mcu_mobilenet.codegen",
}
# Imported inside the functions that use them, never at a module top: TensorFlow and Keras
# (seconds to load; the compiler and the board commands never need them), matplotlib (a
# second, for the plots only), tflite_micro (only in the oracle's child process) and Dask (an
# optional extra: only cluster sweeps need it, and they say how to install it).
LAZY_IMPORTS = {
    "tensorflow",
    "keras",
    "tf_keras",
    "matplotlib",
    "tflite_micro",
    "dask",
    "distributed",
}
HEAVY = ("tensorflow", "keras", "tf_keras")
# Layers, lowest first: a module imports only from its own layer or lower ones. A module's
# layer is that of the longest name here that is it or one of its packages.
LAYERS = (
    {
        "mcu_mobilenet",
        "mcu_mobilenet.errors",
        "mcu_mobilenet.paths",
        "mcu_mobilenet.io",
        "mcu_mobilenet.table",
        "mcu_mobilenet.toolchain",
        "mcu_mobilenet.tensor_info",
        "mcu_mobilenet.cmsis_nn_release",
        "mcu_mobilenet.boards",
        "mcu_mobilenet.oracle",
    },
    {"mcu_mobilenet.compiler.ir"},
    {"mcu_mobilenet.compiler"},
    {"mcu_mobilenet.codegen", "mcu_mobilenet.harness", "mcu_mobilenet.model"},
    {"mcu_mobilenet.workflow"},
    {"mcu_mobilenet.sweep", "mcu_mobilenet.reports", "mcu_mobilenet.benchmarks"},
    {"mcu_mobilenet.commands", "mcu_mobilenet.cli", "mcu_mobilenet.__main__"},
)


def _modules() -> dict[str, Path]:
    modules = {}
    for root, package in SOURCE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


MODULES = _modules()


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """(imported project module, line) for every import statement of the module, at any depth."""
    found = []
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.append((child if child in MODULES else base, node.lineno))
    return [(name, line) for name, line in found if name in MODULES]


def _graph(with_packages: bool) -> dict[str, set[str]]:
    """Module -> the project modules it imports; with_packages adds each module's own packages
    (importing a.b.c runs a/__init__ and a/b/__init__ first)."""
    graph = {
        module: {name for name, _ in _imports(module, path)} for module, path in MODULES.items()
    }
    if with_packages:
        for module, edges in graph.items():
            parts = module.split(".")
            edges.update(
                ".".join(parts[:end])
                for end in range(1, len(parts))
                if ".".join(parts[:end]) in MODULES
            )
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or one importing itself."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_import_graph_is_read_from_the_source():
    graph = _graph(with_packages=False)
    assert len(graph) > 60
    assert "mcu_mobilenet.compiler.compilation" in graph["mcu_mobilenet.codegen.emitter"]
    assert "mcu_mobilenet.codegen.emitter" in graph["mcu_mobilenet.workflow.compile"]


def test_no_import_cycle_among_the_projects_modules():
    assert _cycles(_graph(with_packages=True)) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"], ["e"]]


def _layer(module: str) -> int:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        for number, layer in enumerate(LAYERS):
            if name in layer:
                return number
    raise AssertionError(f"{module} is in no layer of LAYERS: add it")


def test_dependencies_go_one_way_from_commands_to_the_library_to_the_compiler_to_the_ir():
    upward = [
        f"{MODULES[module].relative_to(PROJECT_ROOT)}:{line} imports {name}"
        for module, path in MODULES.items()
        for name, line in _imports(module, path)
        if _layer(name) > _layer(module)
    ]
    assert upward == []


def _function_level_imports(path: Path) -> list[str]:
    found = []
    for function in ast.walk(ast.parse(path.read_text())):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            if any(name.split(".")[0] not in LAZY_IMPORTS for name in names):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    return found


def test_imports_sit_at_the_module_top_except_the_heavy_libraries():
    sources = [*MODULES.values(), *sorted((PROJECT_ROOT / "tests").glob("*.py"))]
    assert [place for path in sources for place in _function_level_imports(path)] == []


# Every command that needs no training, run for real, in a process of its own.
NO_TENSORFLOW_SCRIPT = """
import json, sys
from mcu_mobilenet.cli import main

model, out = sys.argv[1], sys.argv[2]
board = ["--board", "qemu-mps2-an386", "--backend", "portable"]
for argv in (
    ["compile", model, "-o", f"{out}/compiled", "--prefix", "tiny"],
    ["validate", model, "--inputs", "2"],
    ["boards"],
    ["build", model, "-o", f"{out}/firmware", *board],
    ["run", model, *board],
    ["bench", model, "--runs", "1", *board],
    ["profile", model, *board],
):
    assert main(argv) == 0, argv
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy})
print(json.dumps(heavy), file=sys.stderr)
"""


def test_compile_validate_build_run_bench_profile_and_boards_never_load_tensorflow(tmp_path):
    script = NO_TENSORFLOW_SCRIPT.replace("{heavy}", repr(set(HEAVY)))
    model = Path(__file__).parent / "data" / "tiny.tflite"
    completed = subprocess.run(
        [sys.executable, "-c", script, str(model), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    loaded = json.loads(completed.stderr.strip().splitlines()[-1])
    assert loaded == []


@pytest.mark.parametrize("heavy", HEAVY)
def test_the_no_tensorflow_check_sees_an_import(heavy):
    script = f"import sys, {heavy}; print(any(m.split('.')[0] == {heavy!r} for m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert completed.stdout.strip() == "True"
