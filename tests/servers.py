"""OpenAI-compatible servers nobody here wrote (a LiteLLM proxy, llmock), run from a venv of their own.

They pin their own dependencies, so `.ci/litellm.sh` installs them into one venv beside the package's and
sets GROK_LITELLM_PYTHON to its python; without it their tests skip (and fail where CI requires them,
GROK_LITELLM_REQUIRED=1). Nothing leaves the machine: every proxy variable points at a closed local port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from conftest import poll

NOWHERE = "http://127.0.0.1:9"  # any outbound call fails at once, on this machine


def other_python() -> str:
    """The python of the venv holding the servers, or a skip (a failure where CI requires them)."""
    python = os.environ.get("GROK_LITELLM_PYTHON", "")
    if not python or not Path(python).exists():
        why = "set GROK_LITELLM_PYTHON to a venv's python with litellm[proxy] and llmock (.ci/litellm.sh)"
        if os.environ.get("GROK_LITELLM_REQUIRED") == "1":  # CI installs them: a skip there would hide a failure
            pytest.fail(why)
        pytest.skip(why)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


class NotStarted(Exception):
    """The server exited, or did not answer, while starting; the message ends with its log."""


@contextmanager
def server_process(
    argv: list[str], folder: Path, ready: str | Callable[[], str], env: dict[str, str] | None = None
) -> Iterator[None]:
    """Run ``argv`` (after the venv's python) in ``folder`` until ``ready`` answers 200; stop it after.

    ``ready`` may be known only once the server runs (a callable giving "" until then: a port it picked)."""
    offline = {k: NOWHERE for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")}
    local = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    where = ready if callable(ready) else lambda: ready
    log_path = folder / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [other_python(), *argv],
        cwd=folder,
        env={**os.environ, **offline, **local, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        up = poll(lambda: proc.poll() is not None or (bool(where()) and answers(where())), timeout=150, every=0.25)
        if not up or proc.poll() is not None:
            raise NotStarted(f"{argv[:2]} did not start:\n" + log_path.read_text()[-3000:])
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def port_file(path: Path) -> Callable[[], str]:
    """The base URL of a server that wrote the port it holds into ``path`` ("" until it has)."""

    def url() -> str:
        try:
            return f"http://127.0.0.1:{int(path.read_text())}"
        except (OSError, ValueError):
            return ""

    return url
