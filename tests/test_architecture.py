"""The package's layout rules: imports go down the stages only, no circle, no oversized module, lazy top level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rsnn_decoding

PACKAGE = Path(rsnn_decoding.__file__).resolve().parent
# Stages in the order the workflow runs them; a module may import its own stage and the ones below it.
LAYERS = {"data": 1, "network": 2, "training": 3, "evaluation": 4, "reporting": 5}
TOOLS = {"cli", "bench", "bench_memory", "bench_eval"}  # command-line tools on top of everything
MAX_LINES = 400


def _module_name(path: Path) -> str:
    """Dotted module name of a file of the package."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("rsnn_decoding", *parts))


def _layer(module: str) -> int:
    """Stage number of a module: helpers 0, stages 1-5, tools 6."""
    parts = module.split(".")
    if len(parts) < 2:
        return 0
    if parts[1] in TOOLS:
        return 6
    return LAYERS.get(parts[1], 0)


def _imports(path: Path) -> set[str]:
    """Every rsnn_decoding module a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("rsnn_decoding"):
                found.add(node.module)
                for alias in node.names:  # "from rsnn_decoding.training import checkpoint" imports a module
                    candidate = f"{node.module}.{alias.name}"
                    if (PACKAGE / Path(*candidate.split(".")[1:])).with_suffix(".py").exists():
                        found.add(candidate)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute rsnn_decoding imports")
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rsnn_decoding")}
    return found


def _graph() -> dict[str, set[str]]:
    """Import graph of the package's modules."""
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_imports_only_go_down_the_stages() -> None:
    """reporting -> evaluation -> training -> network -> data -> helpers; never upwards."""
    bad = []
    for module, imports in _graph().items():
        if module == "rsnn_decoding":  # the lazy top level names modules as strings only
            continue
        for target in imports:
            if target != "rsnn_decoding" and _layer(target) > _layer(module):
                bad.append(f"{module} -> {target}")
    assert not bad, "upward imports: " + ", ".join(sorted(bad))


def test_no_import_circle() -> None:
    """The module import graph is acyclic (a subpackage's __init__ counts as a module)."""
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph or nxt == node:
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_no_module_over_the_size_limit() -> None:
    """Each file holds one job: none is longer than about 400 lines."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_stage_folders_exist() -> None:
    """The folder listing reads like the workflow."""
    for stage in LAYERS:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


@pytest.mark.parametrize("module", ["rsnn_decoding", "rsnn_decoding.config", "rsnn_decoding.errors"])
def test_config_helpers_import_neither_torch_nor_neurobench(module: str) -> None:
    """What the Snakefile imports at every parse stays light."""
    code = f"import sys, {module}; print('torch' in sys.modules, 'neurobench' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_names_resolve_lazily() -> None:
    """Every name of __all__ is importable from the package itself."""
    for name in rsnn_decoding.__all__:
        assert getattr(rsnn_decoding, name) is not None, name
    from rsnn_decoding import RSNN, TrainConfig, load_released, tiny_config

    assert RSNN.__module__ == "rsnn_decoding.network.rsnn"
    assert TrainConfig.for_model("tinyRSNN", epochs=1, t_max=1).upper_reg_strength == 0.01
    assert tiny_config().hidden == 64
    assert callable(load_released)
    with pytest.raises(AttributeError):
        rsnn_decoding.not_a_public_name  # noqa: B018
