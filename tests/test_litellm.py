"""A real LiteLLM proxy (not written by us) on 127.0.0.1, on the `openai` provider row with default options.

LiteLLM is large, so it lives in its own venv: set GROK_LITELLM_PYTHON to that venv's python
(`.ci/litellm.sh` makes one); without it the test skips. The model is a `mock_response` model routed
as `openai/gpt-3.5-turbo`, for which LiteLLM refuses parameters the model does not take (e.g.
`reasoning_effort`) exactly as it does for real upstreams. Nothing leaves the machine: every proxy
variable points at a closed local port, and the price map is read from the package.
"""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from conftest import Harness, assert_no_canary, poll

pytestmark = pytest.mark.timeout(240)

MASTER_KEY = "sk-litellm-CANARY-4b1d9e7c2a6f8e0d3c5b"  # LiteLLM wants its keys to start with sk-
ANSWER = "Hello from the LiteLLM mock."
CONFIG = f"""\
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-3.5-turbo
      api_key: unused
      mock_response: "{ANSWER}"
litellm_settings:
  telemetry: false
general_settings:
  master_key: {MASTER_KEY}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health/liveliness", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def litellm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = os.environ.get("GROK_LITELLM_PYTHON", "")
    if not python or not Path(python).exists():
        why = "LiteLLM is not installed: set GROK_LITELLM_PYTHON to a venv's python with litellm[proxy]"
        if os.environ.get("GROK_LITELLM_REQUIRED") == "1":  # CI installs it: a skip there would hide a failure
            pytest.fail(why)
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("litellm")
    (folder / "config.yaml").write_text(CONFIG)
    port = _free_port()
    nowhere = "http://127.0.0.1:9"  # any outbound call fails at once, on this machine
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_TELEMETRY": "False",
        "HTTP_PROXY": nowhere,
        "HTTPS_PROXY": nowhere,
        "ALL_PROXY": nowhere,
        "http_proxy": nowhere,
        "https_proxy": nowhere,
        "all_proxy": nowhere,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    log = open(folder / "proxy.log", "wb")
    proc = subprocess.Popen(
        [
            python,
            "-m",
            "litellm.proxy.proxy_cli",
            "--config",
            str(folder / "config.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not poll(lambda: proc.poll() is not None or _alive(url), timeout=150, every=0.25) or proc.poll() is not None:
            pytest.fail("the LiteLLM proxy did not start:\n" + (folder / "proxy.log").read_text()[-3000:])
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def test_two_asks_with_default_options_on_the_openai_row(shell: Harness, litellm_url: str, monkeypatch) -> None:
    monkeypatch.setenv("GROK_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", litellm_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", MASTER_KEY)
    shell.run("%config GrokMagics.model = 'mock-gpt'")
    first = shell.run("%grok Say hello.")
    assert first.success, first.stdout
    assert ANSWER in first.stdout and "mock-gpt · OpenAI-compatible server · " in first.stdout
    second = shell.run("%%grok\nAnd once more, please.")
    assert second.success, second.stdout
    assert ANSWER in second.stdout
    turns = shell.magics.session.chats.get("default").turns
    assert [t.answer for t in turns] == [ANSWER, ANSWER]
    usage = shell.run("%grok usage").stdout
    assert "mock-gpt on openai: 2 request(s)" in usage
    for ran in (first, second):
        assert MASTER_KEY not in ran.everything
    assert_no_canary(first.everything, second.everything, usage)


def test_a_parameter_the_model_refuses_gets_advice_that_fits(shell: Harness, litellm_url: str, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", litellm_url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", MASTER_KEY)
    shell.run("%config GrokMagics.max_retries = 0")
    ran = shell.run("%grok --provider openai -m mock-gpt --effort high hi")
    assert not ran.success
    line = ran.stdout.strip().splitlines()[-1]
    assert "HTTP 400" in line and "UnsupportedParamsError" in line and "--effort default" in line
    assert MASTER_KEY not in ran.everything
