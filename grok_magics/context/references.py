"""``{name}`` references in a prompt, without touching any other brace.

Prompts are full of braces (JSON, dicts, f-strings, LaTeX), so only a reference whose root name is
bound in the user's namespace counts: ``{name}``, ``{obj.attr}``, ``{d['k']}``, ``{xs[0]}``,
``{In[3]}``, ``{Out[3]}``. They are resolved by walking names, public attributes and *literal*
keys — never by evaluating user text. ``{{...}}`` is the escape, and code spans and fenced code
blocks are literal (only the names a caller says, such as a map template's columns, are filled there:
``in_code``). Nothing goes through ``str.format``.

Strings and numbers are inlined; tables and images become their own parts (see ``attach``); any
other value leaves the reference as written.
"""

from __future__ import annotations

import ast
import difflib
import numbers
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

_CODE = re.compile(
    r"(?ms)^ {0,3}(?P<fence>`{3,}|~{3,})[^\n]*\n.*?(?:^ {0,3}(?P=fence)[`~]*[ \t]*$|\Z)"  # fenced block
    r"|(?P<ticks>`+)(?!`).+?(?<!`)(?P=ticks)(?!`)"  # inline code span
)
_PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[(?:-?\d+|'[^'\\\]\n]*'|\"[^\"\\\]\n]*\")\])*"
_REFERENCE = re.compile(r"\{\{(?P<escaped>" + _PATH + r")\}\}|\{(?P<ref>" + _PATH + r")\}")
_STEP = re.compile(r"\.(?P<attr>[A-Za-z_]\w*)|\[(?P<key>[^\]]*)\]")
_ROOT = re.compile(r"[A-Za-z_]\w*")

_MISSING = object()


def resolve(ref: str, namespace: Mapping[str, Any]) -> Any:
    """The value ``ref`` names, or ``_MISSING``: names, public attributes and literal keys only."""
    root = _ROOT.match(ref)
    if root is None or root.group(0) not in namespace:
        return _MISSING
    value = namespace[root.group(0)]
    position = root.end()
    while position < len(ref):
        step = _STEP.match(ref, position)
        if step is None:
            return _MISSING
        position = step.end()
        try:
            if step.group("attr") is not None:
                if step.group("attr").startswith("_"):
                    return _MISSING  # private and dunder attributes are not data
                value = getattr(value, step.group("attr"))
            else:
                value = value[ast.literal_eval(step.group("key"))]
        except Exception:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def as_inline_text(value: Any) -> str | None:
    """Text for values that read naturally inline; tables and images get their own parts."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Number):
        return str(value)
    return None


@dataclass
class Found:
    """What the prompt referenced: attachments in order of first mention, and did-you-mean notes."""

    attached: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


Classifier = Callable[[Any], bool]


def _substitute(segment: str, namespace: Mapping[str, Any], attachable: Classifier, found: Found) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "{" + match.group("escaped") + "}"
        ref = match.group("ref")
        value = resolve(ref, namespace)
        if is_missing(value):
            _suggest(ref, namespace, attachable, found)
            return match.group(0)
        text = as_inline_text(value)
        if text is not None:
            return text
        if attachable(value):
            found.attached.setdefault(ref, value)
            return f"`{ref}`"
        if isinstance(value, (bytes, bytearray, memoryview)):  # raw bytes are no text, and an image only when said
            note = f"{{{ref}}} holds bytes, so it was left as written (an image? --image {ref} attaches it)"
            if note not in found.notes:
                found.notes.append(note)
        return match.group(0)

    return _REFERENCE.sub(replace, segment)


_PLAIN = re.compile(r"\{\{[A-Za-z_]\w*\}\}|\{(?P<name>[A-Za-z_]\w*)\}")


def _fill_code(code: str, values: Mapping[str, str]) -> str:
    """``{name}`` for the given names only; ``{{name}}`` and every other brace stay as written (it is code)."""
    return _PLAIN.sub(lambda m: values.get(m.group("name"), m.group(0)) if m.group("name") else m.group(0), code)


def _suggest(ref: str, namespace: Mapping[str, Any], attachable: Classifier, found: Found) -> None:
    root = _ROOT.match(ref)
    if root is None or root.group(0) in namespace:
        return
    candidates = [n for n, v in list(namespace.items()) if not n.startswith("_") and _safe(attachable, v)]
    close = difflib.get_close_matches(root.group(0), candidates, n=1, cutoff=0.75)
    if close:
        note = f"{{{root.group(0)}}} is not defined — did you mean {{{close[0]}}}?"
        if note not in found.notes:
            found.notes.append(note)


def _safe(attachable: Classifier, value: Any) -> bool:
    try:
        return attachable(value)
    except Exception:
        return False


def expand_text(
    text: str,
    namespace: Mapping[str, Any],
    attachable: Classifier = lambda v: False,
    found: Found | None = None,
    in_code: Mapping[str, str] | None = None,
) -> str:
    """The prompt with inline references replaced; tables and images are collected into ``found``.

    ``in_code``: plain ``{name}``s also filled inside code (a template about a row's code reads it there), in
    one pass, so a value is never read again as references."""
    found = Found() if found is None else found
    if "{" not in text or _REFERENCE.search(text) is None:
        return text  # nothing to replace: skip finding code spans (most of the cost of a 10 MB paste)
    out: list[str] = []
    cursor = 0
    for code in _CODE.finditer(text):
        out.append(_substitute(text[cursor : code.start()], namespace, attachable, found))
        out.append(_fill_code(code.group(0), in_code) if in_code else code.group(0))
        cursor = code.end()
    out.append(_substitute(text[cursor:], namespace, attachable, found))
    return "".join(out)


def referenced_names(text: str) -> list[str]:
    """The root names of ``{name}`` / ``{name.attr}`` references (not ``{{escapes}}``), in order, once each."""
    names: list[str] = []
    for match in _REFERENCE.finditer(text):
        path = match.group("ref")
        root = _ROOT.match(path) if path else None
        if root is not None and root.group(0) not in names:
            names.append(root.group(0))
    return names
