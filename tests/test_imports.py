"""The import graph of aae_core and explorer (imports inside functions included; `if TYPE_CHECKING:` blocks,
which never run, left out): no cycle, aae_core.config on the standard library alone, and the imports inside
functions counted, each module's with its reason."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST, *, import_time: bool = False):
    """Every node except those under `if TYPE_CHECKING:` (and with import_time, those inside functions)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if import_time and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, name: str | None = None, *, import_time: bool = False) -> set[str]:
    """Modules `path` (module `name`) imports, absolute: `from .x import y` gives pkg.x and pkg.x.y. With
    import_time, only what importing it runs (not the imports inside its functions)."""
    name, package = name or _name(path), path.name == "__init__.py"
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text()), import_time=import_time):
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


# Imports inside functions, per module, and why they stay there (importlib.import_module counted too). STYLE.md 15:
# imports at the top, the cold start's torch-free boundary drawn once (explorer.TORCH_FREE); issue 15.7 wants at most
# 5 in all. A count may only fall, and the table follows it (the test fails on a stale entry too); a new one needs
# its module and reason here.
INSIDE_FUNCTIONS = {
    "aae_core/__init__.py": (1, "the door of the cold-start boundary: aae_core.<name> imported on first use"),
    "aae_core/umap_fit.py": (3, "numba, umap (imported with numba's cache switched on, so in this order) and "
                                "scikit-learn take seconds; only the UMAP worker process fits"),
}
MAX_INSIDE_FUNCTIONS = 5


def _is_dynamic_import(node: ast.AST) -> bool:
    """importlib.import_module(...) or __import__(...)."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "import_module") or (isinstance(f, ast.Name) and
                                                                            f.id in ("import_module", "__import__"))


def imports_inside_functions(path: Path) -> int:
    """How many import statements and importlib.import_module calls `path` runs inside functions (nested
    functions counted once)."""
    found: set[int] = set()
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found |= {id(n) for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))
                      or _is_dynamic_import(n)}
    return len(found)


def door_uses(path: Path, modules: set[str]) -> set[str]:
    """The library modules `path` reaches through the package's lazy attribute (`import aae_core`, then
    `aae_core.explore.decode(...)`): the longest `aae_core.x.y` attribute chain that names a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id == "aae_core":
                names = [".".join(["aae_core", *chain[:k]]) for k in range(len(chain), 0, -1)]
                found |= {next((n for n in names if n in modules), "aae_core")}
    return found - {"aae_core"}


def graph() -> dict[str, set[str]]:
    files = [p for pkg in ("aae_core", "explorer") for p in (REPO / pkg).rglob("*.py")]
    names = {_name(p) for p in files}
    return {_name(p): {m for m in imports_of(p) | door_uses(p, names) if m in names and m != _name(p)} for p in files}


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


# Evaluation builds on the families (it runs them and reads their metrics hook), never the other way: a family's
# scores live with it (aae_core.families.scoring). Issue 15.5.
EVALUATION = {"aae_core.metrics", "aae_core.evaluate", "aae_core.judge", "aae_core.latent_probe"}


def reach(g: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for m in g[todo.pop()] - seen:
            seen.add(m)
            todo.append(m)
    return seen


def test_the_families_import_no_evaluation_code():
    g = graph()
    families = [m for m in g if m == "aae_core.families" or m.startswith("aae_core.families.")]
    assert len(families) >= 8 and "aae_core.families.scoring" in families
    assert {m: sorted(reach(g, m) & EVALUATION) for m in families} == {m: [] for m in families}
    assert "aae_core.families.scoring" in reach(g, "aae_core.metrics")       # evaluation builds on them


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import never\n"
                      "def f():\n    import inside\n    from ..config import X\n")
    assert imports_of(source, "aae_core.families.m") == {"typing", "typing.TYPE_CHECKING", "inside",
                                                          "aae_core.config", "aae_core.config.X"}


def test_imports_inside_functions_are_counted_and_each_module_has_its_reason():
    counts = {str(p.relative_to(REPO)): imports_inside_functions(p)
              for pkg in ("aae_core", "explorer") for p in sorted((REPO / pkg).rglob("*.py"))}
    counts = {k: n for k, n in counts.items() if n}
    over = {k: (n, INSIDE_FUNCTIONS.get(k, (0, ""))[0]) for k, n in counts.items()
            if n > INSIDE_FUNCTIONS.get(k, (0, ""))[0]}
    assert not over, f"imports inside functions (found, allowed): {over}; move them to the top, or give the reason"
    stale = {k: (counts.get(k, 0), n) for k, (n, _) in INSIDE_FUNCTIONS.items() if counts.get(k, 0) < n}
    assert not stale, f"fewer imports inside functions than the table allows (found, allowed): {stale}; lower it"
    assert sum(counts.values()) <= MAX_INSIDE_FUNCTIONS, counts
    print(f"{sum(counts.values())} imports inside functions:", sorted(counts.items(), key=lambda kv: -kv[1]))


def test_the_counter_sees_imports_in_nested_and_async_functions_once(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\nclass C:\n    def f(self):\n        import a\n        def g():\n"
                      "            from . import b\n        return g\nasync def h():\n    import c, d\n"
                      "def k(n):\n    return importlib.import_module(n), __import__(n)\n")
    assert imports_inside_functions(source) == 5


def test_the_graph_sees_what_a_module_reaches_through_the_package_door(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import aae_core\ndef f(m):\n    return aae_core.explore.decode(m), aae_core.families."
                      "get_family('x'), aae_core.ModelConfig, aae_core.map_cache\n")
    modules = {"aae_core", "aae_core.explore", "aae_core.families", "aae_core.map_cache"}
    assert door_uses(source, modules) == {"aae_core.explore", "aae_core.families", "aae_core.map_cache"}
    assert {"aae_core.projection", "aae_core.explore"} <= graph()["explorer.maps"] | graph()["explorer.widgets"]


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


def test_a_fresh_process_describes_a_config_of_an_unknown_kind_in_words():
    """A config read before the families are loaded is not checked against them: an unknown kind reaches the
    description, which says so instead of failing the sidebar."""
    code = ("from aae_core.config import ModelConfig\nfrom explorer import catalog\n"
            "print(catalog.describe_config(ModelConfig(kind='nope')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith("a model of unknown kind (kind must be one of unsupervised")
    assert "got 'nope'" in out.stdout


# --- the cold start's boundary, drawn once: explorer.TORCH_FREE ------------------------------------------------
ENTRY_POINTS = ("app.py", "explorer/pages/home.py", "explorer/pages/latent_map.py")


def import_time_closure(entries: tuple[str, ...]) -> set[str]:
    """The modules of aae_core and explorer that importing `entries` (files) imports, packages' __init__ included."""
    files = {_name(p): p for pkg in ("aae_core", "explorer") for p in (REPO / pkg).rglob("*.py")}
    seen: set[str] = set()
    todo = [(REPO / e, e.removesuffix(".py").replace("/", ".")) for e in entries]
    while todo:
        path, name = todo.pop()
        for m in imports_of(path, name, import_time=True):
            parts = m.split(".")
            for k in range(1, len(parts) + 1):       # importing a.b.c runs a, a.b and a.b.c
                mod = ".".join(parts[:k])
                if mod in files and mod not in seen:
                    seen.add(mod)
                    todo.append((files[mod], mod))
    return seen


def test_the_torch_free_set_holds_everything_the_first_map_imports():
    """app.py, the Home page and the Latent map page, and all they import when a fresh server runs them, are in
    explorer.TORCH_FREE: a module that joins that path joins the set (and so the fresh-process test below)."""
    from explorer import TORCH_FREE

    reached = import_time_closure(ENTRY_POINTS)
    assert "explorer.map_view" in reached and "aae_core.map_cache" in reached      # the closure follows imports
    assert reached - TORCH_FREE == set(), "on the first map's path but not in explorer.TORCH_FREE"
    assert TORCH_FREE - reached == set(), "in explorer.TORCH_FREE but not on the first map's path: remove it"
    # what the earlier tests of this boundary named (the picker's and the map page's imports) are in it
    assert {"explorer.picker", "explorer.maps", "explorer.figures", "explorer.widgets", "explorer.game_layers",
            "explorer.exports", "explorer.state", "explorer.share", "explorer.evaluation"} <= TORCH_FREE


def test_a_fresh_process_imports_the_torch_free_set_without_torch_umap_or_torchvision():
    from explorer import TORCH_FREE

    heavy = ("torch", "torchvision", "umap", "numba", "sklearn")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in sorted(TORCH_FREE))
            + f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_torch_free_set_reaches_torch_only_through_the_package_door_where_it_computes():
    """A torch-free module asks for a torch module at call time (aae_core.explore...), which loads it then."""
    code = ("import sys\nfrom explorer import map_view\nassert 'torch' not in sys.modules\n"
            "import aae_core\nassert callable(aae_core.explore.reconstruction_class_codes)\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"
