"""A static look at a step before it runs (``agent_approval = 'risky'`` asks only when this finds something).

It reads the code's syntax tree, never runs it, and errs on the side of asking: a name that could be
harmless (``open(path, "w")`` on a scratch file) is still flagged. It cannot see through ``getattr``
tricks, which is why ``exec``/``eval``/``__import__`` are flagged themselves. Code that does not parse
is not flagged: it fails when it runs, and its error goes back to Grok.
"""

from __future__ import annotations

import ast
from typing import Iterable

_NETWORK = {"socket", "requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "ftplib", "smtplib", "websocket"}
_PROCESS = {"subprocess", "multiprocessing", "pty"}
_FILES = {"shutil", "tempfile"}
_WRITE_METHODS = {
    "to_csv",
    "to_parquet",
    "to_excel",
    "to_json",
    "to_pickle",
    "to_feather",
    "to_sql",
    "to_hdf",
    "write_csv",
    "write_parquet",
    "savefig",
    "write_text",
    "write_bytes",
    "unlink",
    "rmdir",
    "mkdir",
    "touch",
    "rename",
    "chmod",
    "save",
    "dump",
}
_OS_FILES = {"remove", "unlink", "rmdir", "removedirs", "rename", "replace", "makedirs", "mkdir", "chmod", "truncate"}
_OS_PROCESS = {"system", "popen", "kill", "fork", "startfile"}
_DYNAMIC = {"exec", "eval", "compile", "__import__"}
_INSTALLERS = {"pip", "conda", "mamba", "uv"}
_SHELL_CALLS = {"system", "getoutput"}  # get_ipython().system(...): what "!cmd" becomes
_MAGIC_CALLS = {"run_line_magic", "run_cell_magic"}
_MUTATORS = {
    "append",
    "extend",
    "insert",
    "pop",
    "popitem",
    "remove",
    "clear",
    "update",
    "setdefault",
    "sort",
    "reverse",
    "add",
    "discard",
    "drop",
    "rename",
    "fillna",
    "set_index",
    "reset_index",
    "sort_values",
    "replace",
}


def _root(node: ast.AST) -> str:
    """The variable an expression starts from: ``df`` for ``df["a"].iloc[0]``."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else ""


def _dotted(node: ast.AST) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _on_shell(func: ast.AST) -> bool:
    """``get_ipython().x`` (what ``!cmd`` and ``%magic`` become) or ``shell.x`` / ``ip.x``."""
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    if isinstance(owner, ast.Call):
        return _dotted(owner.func) == "get_ipython"
    return _dotted(owner) in ("shell", "ip", "ipython")


def _literal(node: ast.AST | None) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


class _Scan(ast.NodeVisitor):
    def __init__(self, named: set[str]) -> None:
        self.named = named
        self.found: list[str] = []

    def flag(self, reason: str) -> None:
        if reason not in self.found:
            self.found.append(reason)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name)
            self._rebinds(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._module(node.module or "")
        for alias in node.names:
            self._rebinds(alias.asname or alias.name)

    def _module(self, name: str) -> None:
        top = name.split(".")[0]
        if top in _NETWORK:
            self.flag(f"network access (imports {top})")
        elif top in _PROCESS:
            self.flag(f"runs other programs (imports {top})")
        elif top in _FILES:
            self.flag(f"changes files (imports {top})")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = _dotted(func)
        last = name.rsplit(".", 1)[-1]
        if isinstance(func, ast.Name) and func.id in _DYNAMIC:
            self.flag(f"runs code it builds at run time ({func.id})")
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = _literal(node.args[1]) if len(node.args) > 1 else ""
            mode = mode or next((_literal(k.value) for k in node.keywords if k.arg == "mode"), "")
            if any(c in mode for c in "wax+"):
                self.flag("writes a file (open for writing)")
        elif name.startswith("os.") and last in _OS_FILES:
            self.flag(f"changes files ({name})")
        elif name.startswith("os.") and (last in _OS_PROCESS or last.startswith(("exec", "spawn"))):
            self.flag(f"runs other programs ({name})")
        elif _on_shell(func) and last in _SHELL_CALLS:
            self._shell_command(node)
        elif _on_shell(func) and last in _MAGIC_CALLS:
            self._magic(node)
        elif isinstance(func, ast.Attribute) and func.attr in _WRITE_METHODS:
            self.flag(f"writes or deletes files (.{func.attr})")
        if isinstance(func, ast.Attribute) and _root(func.value) in self.named:
            inplace = any(k.arg == "inplace" for k in node.keywords)
            if func.attr in _MUTATORS and (inplace or func.attr not in {"drop", "rename", "fillna", "replace"}):
                self.flag(f"changes your variable {_root(func.value)} in place (.{func.attr})")
        self.generic_visit(node)

    def _shell_command(self, node: ast.Call) -> None:
        command = _literal(node.args[0]) if node.args else ""
        if command.split()[:1] and command.split()[0] in _INSTALLERS or " install " in f" {command} ":
            self.flag(f"installs packages ({command.strip()[:60]})")
        else:
            self.flag(f"runs a shell command ({command.strip()[:60] or 'built at run time'})")

    def _magic(self, node: ast.Call) -> None:
        magic = _literal(node.args[0]) if node.args else ""
        if magic in _INSTALLERS:
            self.flag(f"installs packages (%{magic})")
        elif magic in ("system", "sx", "bash", "sh", "script", "writefile", "run", "load"):
            self.flag(f"runs a shell command or a file (%{magic})")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._target(target)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._target(item.optional_vars)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._rebinds(node.name)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._rebinds(node.name)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._target(node.target)
        self.generic_visit(node)

    def _target(self, target: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for item in target.elts:
                self._target(item)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        elif isinstance(target, ast.Name):
            self._rebinds(target.id)
        elif _root(target) in self.named:
            self.flag(f"changes your variable {_root(target)}")

    def _rebinds(self, name: str) -> None:
        if name in self.named:
            self.flag(f"replaces your variable {name}")


def risks(code: str, named: Iterable[str] = ()) -> list[str]:
    """Why a step needs the user's yes (empty: nothing found). ``named``: variables the user named
    (the prompt's ``{refs}`` and ``--data``), which a step must not change unasked."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    scan = _Scan(set(named))
    try:
        scan.visit(tree)
    except RecursionError:
        scan.flag("nested too deeply to check")
    return scan.found
