"""The small front end shipped with the package: a ``text/html`` output carrying one script.

JupyterLab, Notebook 7 and VS Code run scripts of trusted HTML outputs (outputs made in this session,
and notebooks the user saved); elsewhere the output is inert and the answer is plain Markdown anyway.
The script hides its own output and installs itself once per page.

How the view follows a streaming answer is the page extension's own code (``src/follow.ts`` and the
node-tested ``src/followlogic.ts``), compiled into ``compiled/`` when the package is built and joined into
the script here, so a page without the extension follows by the very same rules instead of a copy of them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.resources import files

# the compiled modules, each after the ones it imports
_FOLLOWING = ("followlogic.js", "follow.js")
_IMPORT = re.compile(r"^import [^;]*;\n", re.MULTILINE)
_EXPORT = re.compile(r"^export ", re.MULTILINE)


@lru_cache(maxsize=1)
def script() -> str:
    here = files(__package__)
    return here.joinpath("frontend.js").read_text(encoding="utf-8").replace("/* FOLLOWING */", _following())


def _following() -> str:
    """The compiled modules as one function scope: their imports of each other dropped (all are in scope) and
    their exports made plain declarations, so a classic script (what an output can carry) runs them."""
    compiled = files(__package__).joinpath("compiled")
    if not all(compiled.joinpath(name).is_file() for name in _FOLLOWING):
        return "() => {}"  # a checkout installed without its build: answers show, the view does not follow
    modules = (compiled.joinpath(name).read_text(encoding="utf-8") for name in _FOLLOWING)
    body = "".join(_EXPORT.sub("", _IMPORT.sub("", module)) for module in modules)
    if re.search(r"^\s*(import|export)\b", body, re.MULTILINE) or "`" in body:
        raise RuntimeError(
            "the compiled following logic has a module statement or a template literal left: "
            "frontend.py joins plain modules only"
        )
    body = re.sub(r"^[ \t]+", "", body, flags=re.MULTILINE)  # every answer carries it: no indentation
    return f"(() => {{\n{body}\nreturn followStreams;\n}})()"


def bundle() -> dict[str, str]:
    return {"text/html": f"<script>{script()}</script>", "text/plain": ""}
