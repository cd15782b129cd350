"""Where Grok 4.3 is hosted, and how each host differs.

Every provider difference lives in one row of ``PROVIDERS``; the rest of the code reads
capabilities from the row instead of asking which provider it is talking to.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from grok_magics.errors import ConfigError
from grok_magics.model.choices import APIS, EFFORTS, Api

__all__ = ["APIS", "EFFORTS", "Api", "PROVIDERS", "Provider", "Endpoint", "ConfigError", "resolve"]


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    base_url: str  # may contain {region}; empty when it must come from base_url_env
    key_env: str
    model: str = ""  # default model id; empty when it must come from model_env or --model
    base_url_env: str = ""
    model_env: str = ""
    region_env: str = ""
    default_region: str = ""
    auth_header: str = "authorization"  # "authorization" (Bearer) or the name of a raw-key header
    apis: tuple[Api, ...] = ("responses", "chat")  # the first is the default
    max_output_tokens: int | None = None
    images: bool = True
    images_refusal: str = ""  # the provider's own words, when it takes no images
    context_window: int = 1_000_000  # tokens, from the provider's model card
    encrypted_reasoning: bool = False  # Responses can round-trip reasoning via include=[...]
    chat_cache_header: str = ""  # header that pins a chat conversation to one cache
    tools: bool = True  # function calling (AIgateway's card: "Tool calling — no")
    json_mode: bool = True  # structured output, --json / --schema (AIgateway's card: "JSON mode — no")
    server_search: bool = False  # xAI's server-side web_search / x_search tools on the Responses API
    key_hint: str = ""
    base_url_example: str = ""
    batch_path: str = ""  # the provider's own Batch API, relative to the base URL ("": none)
    tokenize_path: str = ""  # exact token counts (xAI: POST /tokenize-text), relative to the base URL ("": none)
    # A generic server may reject parameters it does not know (LiteLLM: UnsupportedParamsError), so on
    # such rows we send reasoning effort only when the user set one, and no prompt-cache key.
    sends_effort_by_default: bool = True
    prompt_cache: bool = True  # accepts prompt_cache_key on Responses
    temperature_max: float = 2.0


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="xai",
            title="xAI API",
            base_url="https://api.x.ai/v1",
            model="grok-4.3",
            key_env="XAI_API_KEY",
            encrypted_reasoning=True,
            chat_cache_header="x-grok-conv-id",
            server_search=True,
            key_hint="create one at https://console.x.ai",
            batch_path="/batches",
            tokenize_path="/tokenize-text",
        ),
        Provider(
            name="bedrock",
            title="Amazon Bedrock (bedrock-mantle)",
            base_url="https://bedrock-mantle.{region}.api.aws/openai/v1",
            model="xai.grok-4.3",
            key_env="AWS_BEARER_TOKEN_BEDROCK",
            region_env="AWS_REGION",
            default_region="us-west-2",
            key_hint="a Bedrock API key",
        ),
        Provider(
            name="aigateway",
            title="AIgateway",
            base_url="https://api.aigateway.sh/v1",
            model="xai/grok-4.3",
            key_env="AIGATEWAY_API_KEY",
            apis=("chat",),
            max_output_tokens=4096,
            images=False,
            images_refusal='its Grok 4.3 card says "Vision — no"',
            tools=False,
            json_mode=False,
        ),
        Provider(
            name="azure",
            title="Azure AI Foundry",
            base_url="",
            base_url_env="AZURE_AI_ENDPOINT",
            model="grok-4.3",
            model_env="AZURE_GROK_DEPLOYMENT",
            key_env="AZURE_AI_API_KEY",
            auth_header="api-key",
            apis=("chat", "responses"),
            context_window=20_000,  # the Azure card: "Context Length 20000"
            base_url_example="https://RESOURCE.services.ai.azure.com/openai/v1",
        ),
        Provider(
            name="openai",
            title="OpenAI-compatible server",
            base_url="",
            base_url_env="OPENAI_BASE_URL",
            key_env="OPENAI_API_KEY",
            apis=("chat", "responses"),
            context_window=128_000,  # unknown server: a common size; %config GrokMagics.context_window
            base_url_example="http://localhost:8000/v1",
            sends_effort_by_default=False,
            prompt_cache=False,
        ),
    )
}

DEFAULT_PROVIDER = "xai"


@dataclass(frozen=True)
class Endpoint:
    """One provider resolved against the environment: everything needed to open a client."""

    provider: Provider
    base_url: str
    model: str
    api: Api
    api_note: str = ""  # why the API differs from the one asked for


def provider_named(name: str) -> Provider:
    try:
        return PROVIDERS[name.strip().lower()]
    except KeyError:
        known = ", ".join(PROVIDERS)
        raise ConfigError(f"unknown provider {name!r}: choose one of {known}") from None


def choose_provider(option: str | None, configured: str, env: Mapping[str, str]) -> Provider:
    """--provider beats %config beats GROK_PROVIDER beats the default."""
    return provider_named(option or configured or env.get("GROK_PROVIDER") or DEFAULT_PROVIDER)


def base_url_for(provider: Provider, env: Mapping[str, str]) -> str:
    override = env.get("GROK_BASE_URL", "").strip()
    if override:
        return override.rstrip("/")
    if provider.base_url_env:
        url = env.get(provider.base_url_env, "").strip()
        if not url:
            example = f" (e.g. {provider.base_url_example})" if provider.base_url_example else ""
            raise ConfigError(f"{provider.title} needs a base URL: set {provider.base_url_env}{example}")
        return url.rstrip("/")
    region = env.get(provider.region_env, "").strip() if provider.region_env else ""
    return provider.base_url.format(region=region or provider.default_region)


def model_for(provider: Provider, option: str | None, configured: str, env: Mapping[str, str]) -> str:
    model = option or configured or (env.get(provider.model_env, "") if provider.model_env else "") or provider.model
    if not model:
        raise ConfigError(f"{provider.title} has no default model: pass --model NAME or %config GrokMagics.model")
    return model


def api_for(provider: Provider, wanted: str | None) -> tuple[Api, str]:
    """Fall back from Responses to Chat where the provider lacks it: both carry the same conversation."""
    if not wanted:
        return provider.apis[0], ""
    if wanted not in APIS:
        raise ConfigError(f"unknown API {wanted!r}: choose responses or chat")
    if wanted in provider.apis:
        return wanted, ""
    fallback = provider.apis[0]
    return fallback, f"{provider.title} offers no {wanted} API; used {fallback}"


def resolve(
    provider: Provider,
    *,
    model: str | None = None,
    configured_model: str = "",
    api: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Endpoint:
    env = os.environ if env is None else env
    chosen_api, note = api_for(provider, api)
    return Endpoint(
        provider=provider,
        base_url=base_url_for(provider, env),
        model=model_for(provider, model, configured_model, env),
        api=chosen_api,
        api_note=note,
    )


def api_key_for(provider: Provider, env: Mapping[str, str] | None = None) -> str:
    """The key itself; callers hand it straight to the client and never keep or print it."""
    env = os.environ if env is None else env
    key = env.get(provider.key_env, "").strip()
    if not key:
        hint = f" ({provider.key_hint})" if provider.key_hint else ""
        raise ConfigError(
            f"no API key for {provider.title}: set {provider.key_env}{hint}, "
            f"or run %grok key to type it in without saving it in the notebook"
        )
    from grok_magics.privacy.redaction import remember

    remember(key)
    return key
