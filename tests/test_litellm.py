"""A real LiteLLM proxy (not written by us) on 127.0.0.1, on the `openai` provider row with default options.

LiteLLM is large, so it lives in a venv of its own (tests/servers.py). The model is a `mock_response` model routed
as `openai/gpt-3.5-turbo`, for which LiteLLM refuses parameters the model does not take (e.g.
`reasoning_effort`) exactly as it does for real upstreams. Nothing leaves the machine: every proxy
variable points at a closed local port, and the price map is read from the package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from conftest import Harness, assert_no_canary
from servers import NotStarted, free_port, server_process

from grok_magics.model.usage import money

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


@pytest.fixture(scope="module")
def litellm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _proxy(tmp_path_factory.mktemp("litellm"), {"config.yaml": CONFIG})


def _proxy(folder: Path, files: dict[str, str]) -> Iterator[str]:
    """A LiteLLM proxy started in ``folder`` from ``files`` (config.yaml, and any module it names)."""
    for name, text in files.items():
        (folder / name).write_text(text)
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    for attempt in range(1, 4):  # the port picked here may be taken before the proxy binds it: try another
        port = free_port()
        argv = ["-m", "litellm.proxy.proxy_cli", "--config", str(folder / "config.yaml"), "--host", "127.0.0.1"]
        try:
            with server_process(
                [*argv, "--port", str(port)], folder, f"http://127.0.0.1:{port}/health/liveliness", env
            ):
                yield f"http://127.0.0.1:{port}"
            return
        except NotStarted as exc:
            if attempt == 3 or "already in use" not in str(exc).lower():
                pytest.fail(str(exc))


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


# -- a class gateway with no database (docs/classroom.md): what LiteLLM enforces from its config alone ------------
TEACHER_KEY = "sk-teacher-CANARY-9e8d7c6b5a4f3e2d1c0b"  # the gateway's master key: never on a student's machine
UPSTREAM_KEY = "xai-UPSTREAM-CANARY-0a1b2c3d4e5f6a7b8c9d"  # the provider key the gateway holds
STUDENT_KEY = "sk-student-ann-0001"
CLASS_KEYS = '''\
"""Per-student keys for a LiteLLM proxy without a database (LiteLLM's custom_auth hook)."""
from pathlib import Path

from fastapi import Request
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

STUDENTS = {"sk-student-ann-0001": ["grok"], "sk-student-bob-0002": ["grok"]}
BLOCKED = {"sk-student-eve-0003"}
EXAM_OFF = Path(__file__).with_name("exam-off")  # touch it: every student ask is refused at once; rm: back on


def refuse(message, kind, code, param="None"):
    return ProxyException(message=message, type=kind, param=param, code=code)


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    if api_key in STUDENTS and EXAM_OFF.exists():
        raise refuse("AI is off for this class (exam mode).", "ai_off", 403)
    if api_key in BLOCKED:
        raise refuse("Authentication Error, Key is blocked.", "auth_error", 401)
    if api_key not in STUDENTS:
        raise refuse("Authentication Error, Invalid proxy server token passed.", "auth_error", 401)
    model = (await request.json()).get("model") if request.method == "POST" else None
    if model is not None and model not in STUDENTS[api_key]:
        raise refuse(f"The requested model '{model}' is not available for this API key.",
                     "key_model_access_denied", 403, "model")
    return UserAPIKeyAuth(api_key=api_key, models=STUDENTS[api_key])
'''
CLASS_CONFIG = f"""\
model_list:
  - model_name: grok
    litellm_params:
      model: openai/gpt-3.5-turbo
      api_key: {UPSTREAM_KEY}
      mock_response: "{ANSWER}"
      input_cost_per_token: 0.001
      output_cost_per_token: 0.002
      max_budget: 0.1
      budget_duration: 30d
  - model_name: grok-big
    litellm_params:
      model: openai/gpt-4o
      api_key: {UPSTREAM_KEY}
      mock_response: "Big."
litellm_settings:
  telemetry: false
  include_cost_in_streaming_usage: true
general_settings:
  master_key: {TEACHER_KEY}
  custom_auth: class_keys.user_api_key_auth
"""


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="module")
def class_gateway(class_folder: Path) -> Iterator[str]:
    yield from _proxy(class_folder, {"config.yaml": CLASS_CONFIG, "class_keys.py": CLASS_KEYS})


def test_a_class_gateway_refuses_in_one_clear_line_and_its_cost_is_the_one_shown(
    shell: Harness, class_gateway: str, class_folder: Path, monkeypatch
) -> None:
    """A student's kernel holds only its gateway key; the gateway's cost, budget, models and blocks are what count."""
    recipe = (Path(__file__).parent.parent / "docs" / "classroom.md").read_text()
    assert CLASS_KEYS in recipe, "docs/classroom.md must show the class_keys.py this test runs"
    monkeypatch.setenv("GROK_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", class_gateway + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", STUDENT_KEY)
    shell.run("%config GrokMagics.model = 'grok'")
    runs = [shell.run("%grok Say hello.")]
    assert runs[0].success, runs[0].everything
    # the cost shown is the gateway's (its own prices: 0.001 per input token, 0.002 per output token)
    tokens_in, tokens_out, cost = re.search(r"(\d+) → (\d+) tokens · \$([\d.]+)", runs[0].stdout).groups()
    assert float(cost) == pytest.approx(int(tokens_in) * 0.001 + int(tokens_out) * 0.002, abs=0.0005)
    usage = shell.run("%grok usage").stdout
    assert "grok on openai: 1 request(s)" in usage and "as reported by the servers" in usage
    assert money(int(tokens_in) * 0.001 + int(tokens_out) * 0.002) in usage
    # the exam switch at the gateway binds every student at once; off again, asks go through
    (class_folder / "exam-off").touch()
    exam = shell.run("%grok Say hello.")
    assert str(exam.error).startswith("AI is off for your class at the gateway — ask your teacher"), exam.error
    (class_folder / "exam-off").unlink()
    runs.append(shell.run("%grok Say hello."))
    assert runs[-1].success, runs[-1].everything
    # a model the student's key may not use
    refused = shell.run("%grok -m grok-big hi")
    assert not refused.success
    assert str(refused.error).startswith("The model grok-big is not allowed for your key — ask your teacher")
    # the class budget (0.1 USD on the deployment): spent after the second answer, counted by the gateway
    for _ in range(4):
        runs.append(shell.run("%grok Once more."))
        if not runs[-1].success:
            break
    spent = runs[-1]
    assert not spent.success and len(runs) >= 3, [r.stdout for r in runs]
    assert str(spent.error).startswith("Your class budget is used up — ask your teacher"), spent.error
    assert "HTTP 429" in str(spent.error) and "retrying" not in spent.everything  # a refusal is not retried
    # a blocked key, and a key the gateway does not know
    monkeypatch.setenv("OPENAI_API_KEY", "sk-student-eve-0003")
    blocked = shell.run("%grok hi")
    assert str(blocked.error).startswith("Your key is blocked at the class gateway — ask your teacher"), blocked.error
    monkeypatch.setenv("OPENAI_API_KEY", "sk-student-zzz-9999")
    unknown = shell.run("%grok hi")
    assert "HTTP 401" in str(unknown.error) and "%grok key --new" in str(unknown.error), unknown.error
    for ran in (*runs, exam, refused, blocked, unknown):
        assert "\n" not in str(ran.error or "")
        assert TEACHER_KEY not in ran.everything and UPSTREAM_KEY not in ran.everything
    assert_no_canary(*(r.everything for r in runs), usage)


def test_a_students_kernel_and_saved_notebook_hold_no_class_secret(
    class_gateway: str, tmp_path: Path, monkeypatch
) -> None:
    import nbformat
    from kernels import notebook, run_notebook

    monkeypatch.setenv("GROK_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", class_gateway + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-student-bob-0002")
    nb = notebook(
        "%load_ext grok_magics\n%config GrokMagics.model = 'grok'\n%config GrokMagics.max_retries = 0",
        "%grok Say hello.",
        "import os\nprint([k for k, v in os.environ.items() if 'sk-teacher' in v or 'UPSTREAM' in v])",
    )
    run_notebook(nb, tmp_path, allow_errors=True)
    saved = nbformat.writes(nb)
    # answered, or (after the other test spent it) the class budget's line: either way from the gateway
    assert ANSWER in saved or "Your class budget is used up" in saved, saved
    assert nb.cells[2].outputs[0].text.strip() == "[]"  # nothing in the student's environment holds them
    assert TEACHER_KEY not in saved and UPSTREAM_KEY not in saved and "sk-student-bob" not in saved
