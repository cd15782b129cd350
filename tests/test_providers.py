"""Each row of the provider table, on each wire API it offers, against a fake server with that
provider's paths, auth header and model ids.

The base URL comes from our own table (e.g. https://bedrock-mantle.us-west-2.api.aws/openai/v1);
only its scheme and host are swapped for the loopback server, which independently knows which path,
header and model that provider expects and rejects anything else.
"""

from __future__ import annotations

import pytest
from conftest import CANARY, Harness, assert_no_canary, user_texts
from fake_grok import PROFILES, Reply

from grok_magics.providers.table import PROVIDERS, resolve

ROWS = [(name, api) for name, provider in PROVIDERS.items() for api in provider.apis]
ENV = {
    "azure": {"AZURE_AI_ENDPOINT": "https://myres.services.ai.azure.com/openai/v1"},
    "openai": {"OPENAI_BASE_URL": "https://llm.example.internal/v1"},
}
MODEL_OPTION = {"openai": "-m grok-4.3 "}


def point_at(server, provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.get(provider, {}).items():
        monkeypatch.setenv(name, value)
    real = resolve(PROVIDERS[provider], model="grok-4.3").base_url
    monkeypatch.setenv("GROK_BASE_URL", server.rebase(real))
    monkeypatch.setenv(PROVIDERS[provider].key_env, CANARY)


@pytest.mark.parametrize("provider, api", ROWS)
def test_provider_row_path_auth_and_model(shell: Harness, fake_factory, monkeypatch, provider: str, api: str) -> None:
    server = fake_factory(provider)
    point_at(server, provider, monkeypatch)
    server.script(Reply(text=f"Hello from {provider} over {api}."))
    ran = shell.run(f"%grok --provider {provider} --api {api} {MODEL_OPTION.get(provider, '')}hi")
    assert ran.success, ran.stdout
    assert f"Hello from {provider} over {api}." in ran.stdout
    (request,) = server.requests
    profile = PROFILES[provider]
    suffix = "/responses" if api == "responses" else "/chat/completions"
    assert request.path == profile.prefix + suffix
    assert request.body["model"] == resolve(PROVIDERS[provider], model=MODEL_OPTION.get(provider) and "grok-4.3").model
    if PROVIDERS[provider].auth_header == "api-key":
        assert request.headers["api-key"] == CANARY and "authorization" not in request.headers
    else:
        assert request.headers["authorization"] == f"Bearer {CANARY}" and "api-key" not in request.headers
    assert "openai-organization" not in request.headers
    assert_no_canary(ran.everything)


def test_provider_comes_from_option_config_or_environment(shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("bedrock")
    point_at(server, "bedrock", monkeypatch)
    monkeypatch.setenv("GROK_PROVIDER", "bedrock")
    assert shell.run("%grok from env").success
    assert server.requests[-1].body["model"] == "xai.grok-4.3"
    shell.run("%config GrokMagics.provider = 'bedrock'")
    monkeypatch.setenv("GROK_PROVIDER", "xai")
    assert shell.run("%grok from config").success
    assert server.requests[-1].body["model"] == "xai.grok-4.3"


def test_azure_deployment_name_is_the_model(shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("azure", models=("team-grok",))
    point_at(server, "azure", monkeypatch)
    monkeypatch.setenv("AZURE_GROK_DEPLOYMENT", "team-grok")
    assert shell.run("%grok --provider azure hi").success
    assert server.requests[-1].body["model"] == "team-grok"


def test_aigateway_falls_back_to_chat_and_streams_reasoning(shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("aigateway")
    point_at(server, "aigateway", monkeypatch)
    server.script(Reply(text="Answer.", reasoning="Let me think about it."))
    ran = shell.run("%grok --provider aigateway --api responses hi")
    assert ran.success
    assert server.requests[-1].path == "/v1/chat/completions"
    assert "offers no responses API; used chat" in ran.stdout
    assert "(thinking…)" in ran.stdout and "Answer." in ran.stdout


def test_aigateway_output_cap_is_checked_before_any_request(shell: Harness, fake_factory, monkeypatch) -> None:
    server = fake_factory("aigateway")
    point_at(server, "aigateway", monkeypatch)
    ran = shell.run("%grok --provider aigateway --max-tokens 5000 hi")
    assert not ran.success and "caps output at 4,096 tokens" in ran.stdout
    assert server.requests == []
    assert shell.run("%grok --provider aigateway --max-tokens 4096 hi").success
    assert server.requests[-1].body["max_completion_tokens"] == 4096


def test_openai_compatible_needs_base_url_and_model(shell: Harness, fake_factory, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    ran = shell.run("%grok --provider openai hi")
    assert not ran.success and "set OPENAI_BASE_URL" in ran.stdout
    server = fake_factory("openai")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    ran = shell.run("%grok --provider openai hi")
    assert not ran.success and "--model" in ran.stdout
    assert shell.run("%grok --provider openai -m local-grok hi").success
    assert server.requests[-1].body["model"] == "local-grok"


def test_switching_provider_mid_chat_replays_text_not_foreign_reasoning(
    shell: Harness, fake_factory, monkeypatch
) -> None:
    xai = fake_factory("xai")
    bedrock = fake_factory("bedrock")
    monkeypatch.setenv("XAI_API_KEY", CANARY)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", CANARY)
    monkeypatch.setenv("GROK_BASE_URL", xai.base_url)
    xai.script(Reply(text="From xAI.", reasoning="secret thoughts"))
    assert shell.run("%grok first").success
    monkeypatch.setenv("GROK_BASE_URL", bedrock.base_url)
    assert shell.run("%grok --provider bedrock second").success
    body = bedrock.requests[-1].body
    assert user_texts(body) == ["first", "second"]
    assert not any(item.get("type") == "reasoning" for item in body["input"])
    assert {"role": "assistant", "content": "From xAI."} in body["input"]
    assert "include" not in body  # Bedrock's row does not claim encrypted reasoning


@pytest.mark.parametrize("provider", ["xai", "azure"])
def test_debug_logging_never_contains_the_key(shell: Harness, fake_factory, monkeypatch, caplog, provider: str) -> None:
    """Even with every logger at DEBUG (what OPENAI_LOG=debug does), the key stays out of the logs."""
    import logging

    server = fake_factory(provider)
    point_at(server, provider, monkeypatch)
    shell.run("%config GrokMagics.max_retries = 1")
    server.script(
        Reply(text="fine"), Reply(status=401, error_message=f"bad key {CANARY}"), Reply(status=500), Reply(status=500)
    )
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            shell.run(f"%grok --provider {provider} hi")
    assert len(caplog.records) > 5, "expected the SDK's debug logs to be captured"
    assert_no_canary(caplog.text, *[r.getMessage() for r in caplog.records], *[r.args for r in caplog.records])
