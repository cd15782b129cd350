"""The small front end shipped with the package: a ``text/html`` output carrying one script.

JupyterLab, Notebook 7 and VS Code run scripts of trusted HTML outputs (outputs made in this session,
and notebooks the user saved); elsewhere the output is inert and the answer is plain Markdown anyway.
The script hides its own output and installs itself once per page.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def script() -> str:
    return files(__package__).joinpath("frontend.js").read_text(encoding="utf-8")


def bundle() -> dict[str, str]:
    return {"text/html": f"<script>{script()}</script>", "text/plain": ""}
