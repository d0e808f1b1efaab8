"""The import graph of aae_core and explorer (imports inside functions included; `if TYPE_CHECKING:` blocks,
which never run, left out): no cycle, and aae_core.config on the standard library alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, name: str | None = None) -> set[str]:
    """Modules `path` (module `name`) imports, absolute: `from .x import y` gives pkg.x and pkg.x.y."""
    name, package = name or _name(path), path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    files = [p for pkg in ("aae_core", "explorer") for p in (REPO / pkg).rglob("*.py")]
    names = {_name(p) for p in files}
    return {_name(p): {m for m in imports_of(p) if m in names and m != _name(p)} for p in files}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    g = graph()
    assert "aae_core.families" in g["aae_core.recipes"]          # the graph sees relative imports
    assert cycles(g) == []


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import never\n"
                      "def f():\n    import inside\n    from ..config import X\n")
    assert imports_of(source, "aae_core.families.m") == {"typing", "typing.TYPE_CHECKING", "inside",
                                                          "aae_core.config", "aae_core.config.X"}


def test_config_imports_only_the_standard_library_and_checks_families_once_they_load():
    config = REPO / "aae_core" / "config.py"
    imported = {m.split(".")[0] for m in imports_of(config)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    code = ("import sys\nfrom aae_core.config import ModelConfig\nModelConfig(kind='toy')\n"
            "assert 'torch' not in sys.modules\nimport aae_core.families\n"
            "try:\n    ModelConfig(kind='toy')\nexcept ValueError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("kind must be one of unsupervised")


def test_a_fresh_process_describes_a_config_without_importing_the_families_first():
    """A fresh server's first rerun describes the picked model (app.py, after the page) before anything
    has imported the families: the family is loaded when first asked for (seen in the lecture hall: every
    first page of a fresh server failed with 'the model families are not loaded')."""
    code = ("import sys\nfrom aae_core.config import ModelConfig\nfrom explorer import catalog\n"
            "c = ModelConfig(kind='supervised', latent_dim=2, n_labels=60000)\n"
            "assert 'torch' not in sys.modules\n"
            "print(catalog.describe_config(c))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "supervised AAE, 2-D style, 60,000 labels"
