"""Finished rows on disk, so a re-run (or a run after an interrupt) pays only for what is missing.

One SQLite file in ``$GROK_MAGICS_CACHE_DIR``, else the platform's user cache directory
(``~/.cache/grok-magics`` on Linux). A row's key hashes the template, the values of the columns it
reads, and everything that changes the answer (provider, model, API, system prompt, effort,
temperature, output cap, schema). Stored: the answer text and its token counts — never a key,
a header or a URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from grok_magics.model.events import Usage

FILE = "map-cache.sqlite3"


def cache_dir() -> Path:
    configured = os.environ.get("GROK_MAGICS_CACHE_DIR", "").strip()
    if configured:
        return Path(configured).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("grok-magics", appauthor=False))
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "grok-magics"


def row_key(job_params: dict[str, Any], template: str, values: dict[str, Any]) -> str:
    payload = json.dumps(
        {"v": 1, "job": job_params, "template": template, "row": values},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


class Cache:
    """A tiny key → (text, usage) store; one connection per thread that uses it."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FILE
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, text TEXT NOT NULL, usage TEXT)")

    def get_many(self, keys: list[str]) -> dict[str, tuple[str, Usage]]:
        found: dict[str, tuple[str, Usage]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, text, usage in self._db.execute(
                f"SELECT key, text, usage FROM rows WHERE key IN ({marks})", chunk
            ):
                found[key] = (text, Usage(**json.loads(usage or "{}")))
        return found

    def put(self, key: str, text: str, usage: Usage | None) -> None:
        fields = vars(usage) if usage is not None else {}
        self._db.execute(
            "INSERT OR REPLACE INTO rows (key, text, usage) VALUES (?, ?, ?)", (key, text, json.dumps(fields))
        )

    def close(self) -> None:
        self._db.close()
