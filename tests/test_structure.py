"""The package's shape, checked: no import cycles (imports inside functions count), a public surface that
says what users may import, and only the magics layer reaching into IPython's running shell."""

from __future__ import annotations

import ast
import importlib.util
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

import grok_magics

PACKAGE = Path(grok_magics.__file__).parent


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every package module ``name`` imports, at the top or inside a function (TYPE_CHECKING blocks excepted:
    they never run)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            # ``from pkg import sub`` imports the submodule; ``from pkg import name`` the package itself
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        for target in targets:
            while target and target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    known = modules()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert cycles(graph) == []


def test_the_cycle_check_sees_a_cycle_made_of_an_import_inside_a_function() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_public_surface_is_what_all_names() -> None:
    assert sorted(grok_magics.__all__) == sorted(
        [
            "__version__",
            "GrokError",
            "filter",
            "load_ipython_extension",
            "map",
            "reduce",
            "tool",
            "topk",
            "unload_ipython_extension",
        ]
    )
    for name in grok_magics.__all__:
        assert getattr(grok_magics, name) is not None
    public = {n for n in vars(grok_magics) if not n.startswith("_")} - set(grok_magics.__all__)
    submodules = {n for n in public if importlib.util.find_spec(f"grok_magics.{n}") is not None}
    assert public - submodules <= {"annotations", "Any"}  # subpackages appear once imported; nothing else


def test_only_the_magics_layer_reads_the_settings_off_the_running_shell() -> None:
    """Settings flow one way, magics → engine: nothing below the magics layer looks them up on the shell."""
    reaching = sorted(
        name
        for name, path in modules().items()
        if re.search(r"_grok_magics\b", path.read_text())
        and not name.startswith("grok_magics.magics")
        and name != "grok_magics"
    )  # the package registers the extension on the shell
    assert reaching == []


# Modules outside the magics layer that may ask IPython for its running shell, and why: each reads something of
# IPython's own that no caller could hand it, never a setting (those come down from the magics layer).
SHELL_READERS = {
    "grok_magics.page": "the kernel end of the page channel: its bridge lives on the shell, and the cell id "
    "comes with the kernel's execute request",
    "grok_magics.errors": "an error is painted red only where IPython paints its own (its colour scheme)",
    "grok_magics.context.notebook": "a traceback names cells as IPython does (its compiler holds the names)",
}


def shell_readers(sources: dict[str, str]) -> list[str]:
    """Modules (name → source) that call ``get_ipython`` or import it; the magics layer is the shell's own."""
    found = []
    for name, source in sources.items():
        if in_magics_layer(name):
            continue
        for node in ast.walk(ast.parse(source)):
            named = (
                (isinstance(node, ast.Name) and node.id == "get_ipython")
                or (isinstance(node, ast.Attribute) and node.attr == "get_ipython")
                or (isinstance(node, ast.alias) and node.name.rpartition(".")[2] == "get_ipython")
            )
            if named:
                found.append(name)
                break
    return sorted(found)


def test_only_the_magics_layer_and_named_readers_ask_ipython_for_its_running_shell() -> None:
    """Below the magics layer a shell is passed in (``mapping.job.Kernel.shell``, the agent's ``run_step``)."""
    readers = shell_readers({name: path.read_text() for name, path in modules().items()})
    assert readers == sorted(SHELL_READERS)


def test_the_shell_check_sees_a_call_an_import_and_not_a_mention() -> None:
    sources = {
        "grok_magics.operators.reducing": "def _shell():\n    from IPython import get_ipython\n\n    return 1\n",
        "grok_magics.engine.ask": "import IPython\n\nshell = IPython.get_ipython()\n",
        "grok_magics.agent.scan": '"""get_ipython().system(...)"""\n# get_ipython()\nCALLS = {"get_ipython"}\n',
        "grok_magics.magics.kernel": "from IPython import get_ipython\n",
    }
    assert shell_readers(sources) == ["grok_magics.engine.ask", "grok_magics.operators.reducing"]


def test_a_reply_changes_only_through_its_events() -> None:
    """As the openai SDK's stream state does: ``Reply.add`` is the one door, so every view sees every change."""
    writes = re.compile(r"\breply\.\w+(\.(append|extend)\(|\s*(\+|-)?=(?!=))")
    found = [
        f"{name}: {line.strip()}"
        for name, path in modules().items()
        if name != "grok_magics.model.reply"
        for line in path.read_text().splitlines()
        if writes.search(line)
    ]
    assert found == []


def magics_layer_importers(graph: dict[str, set[str]]) -> list[str]:
    """Imports of ``grok_magics.magics`` from outside it. The package's own ``__init__`` is the one exception: it
    registers the extension, and its ``map``/``filter``/``reduce``/``topk`` are entry points, as the magics are."""
    return sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name != "grok_magics" and not in_magics_layer(name)
        for target in targets
        if in_magics_layer(target)
    )


def in_magics_layer(name: str) -> bool:
    return name == "grok_magics.magics" or name.startswith("grok_magics.magics.")


def test_nothing_outside_the_magics_layer_imports_it() -> None:
    """Data flows magics → everything else: the layers below take values (``model.options.Options``, the settings
    and books a row job runs under), never the parser or the running shell's magics."""
    known = modules()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    assert magics_layer_importers(graph) == []


def test_the_layer_check_sees_a_lower_module_importing_the_magics_layer() -> None:
    graph = {
        "grok_magics.engine.ask": {"grok_magics.magics.command_line", "grok_magics.model.options"},
        "grok_magics.magics.grok": {"grok_magics.magics.command_line", "grok_magics.engine.ask"},
        "grok_magics": {"grok_magics.magics.grok"},
        "grok_magics.magicsx": {"grok_magics.magics"},
    }
    assert magics_layer_importers(graph) == [
        "grok_magics.engine.ask -> grok_magics.magics.command_line",
        "grok_magics.magicsx -> grok_magics.magics",
    ]


def test_the_layer_check_counts_an_import_inside_a_function(tmp_path: Path) -> None:
    known = modules()
    lower = tmp_path / "plan.py"
    lower.write_text("def settings():\n    from grok_magics.magics.kernel import current\n\n    return current()\n")
    graph = {"grok_magics.mapping.plan": imports_of("grok_magics.mapping.plan", lower, known)}
    assert magics_layer_importers(graph) == ["grok_magics.mapping.plan -> grok_magics.magics.kernel"]


def test_dollars_are_formatted_in_one_place() -> None:
    """``model.usage.money`` spells every dollar amount; a second format spec would drift from it."""
    spec = re.compile(r"\$\{[^{}]*:[^{}]*\}")
    found = [
        f"{name}: {line.strip()}"
        for name, path in modules().items()
        if name != "grok_magics.model.usage"
        for line in path.read_text().splitlines()
        if spec.search(line)
    ]
    assert found == []


def shared_file_names(paths: Iterable[str]) -> dict[str, list[str]]:
    """File names (``__init__.py`` aside) that more than one module has, with the modules' paths."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        file_name = path.rpartition("/")[2]
        if file_name != "__init__.py":
            found[file_name].append(path)
    return {file_name: sorted(where) for file_name, where in found.items() if len(where) > 1}


def shared_class_names(sources: Mapping[str, str]) -> dict[str, list[str]]:
    """Top-level class names that more than one module defines, with the modules."""
    found: dict[str, list[str]] = defaultdict(list)
    for name, source in sources.items():
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef):
                found[node.name].append(name)
    return {class_name: sorted(where) for class_name, where in found.items() if len(where) > 1}


def test_no_two_modules_share_a_file_name() -> None:
    """A file name says which file is meant (in an import, a traceback, a review) without its folder."""
    shared = shared_file_names(str(path.relative_to(PACKAGE.parent)) for path in modules().values())
    assert shared == {}


def test_no_two_classes_share_a_name() -> None:
    """One name, one class: a class is found by its name alone, and two meanings never meet in one module."""
    assert shared_class_names({name: path.read_text() for name, path in modules().items()}) == {}


def test_the_name_checks_see_a_shared_file_name_and_a_shared_class_name() -> None:
    paths = ["grok_magics/render/results.py", "grok_magics/mapping/results.py", "grok_magics/mapping/__init__.py"]
    assert shared_file_names([*paths, "grok_magics/__init__.py"]) == {
        "results.py": ["grok_magics/mapping/results.py", "grok_magics/render/results.py"]
    }
    sources = {
        "grok_magics.render.views": "class Throttle:\n    pass\n\ndef f():\n    class Inner: ...\n",
        "grok_magics.mapping.rate": "from x import Inner\n\nclass Throttle: ...\n\nclass Inner: ...\n",
    }
    assert shared_class_names(sources) == {"Throttle": ["grok_magics.mapping.rate", "grok_magics.render.views"]}
