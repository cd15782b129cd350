"""Provider profiles: paths, auth header, model ids and event quirks of each provider the fake imitates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """One provider's wire differences, as data, so the server code has no provider branches."""

    name: str
    prefix: str
    models: tuple[str, ...] | None  # None: any model id is accepted
    apis: frozenset[str] = frozenset({"chat", "responses"})
    auth: str = "bearer"  # "bearer" -> Authorization: Bearer KEY; "api-key" -> api-key: KEY
    error_style: str = "openai"  # "xai" | "openai" | "aigateway"
    chat_id_suffix: str = ""
    chunk_envelope: bool = True  # chat chunks carry id/object/created/model
    reasoning_content: bool = False  # chat streams reasoning as delta.reasoning_content
    thinking_chunks: bool = False  # chat emits empty delta:{} chunks while thinking
    output_includes_reasoning: bool = True  # completion_tokens / output_tokens count reasoning
    cost_ticks: bool = False  # usage carries xAI's cost_in_usd_ticks
    responses_done: bool = False  # Responses stream ends with data: [DONE]
    max_tokens_limit: int | None = None
    images: bool = True  # accepts image parts (AIgateway's card: "Vision — no")
    tools: bool = True  # accepts function tools (AIgateway: "Tool calling — no")
    server_search: bool = False  # accepts xAI's web_search / x_search tools on Responses
    batches: bool = False  # xAI's own Batch API (/batches...), not OpenAI's files+batches
    tokenizer: bool = False  # xAI's POST /tokenize-text


PROFILES: dict[str, Profile] = {
    "xai": Profile(
        name="xai",
        prefix="/v1",
        models=("grok-4.3", "grok-4.3-latest"),
        error_style="xai",
        chat_id_suffix="_us-east-1",
        thinking_chunks=True,
        output_includes_reasoning=False,
        cost_ticks=True,
        responses_done=True,
        server_search=True,
        batches=True,
        tokenizer=True,
    ),
    "bedrock": Profile(name="bedrock", prefix="/openai/v1", models=("xai.grok-4.3",)),
    "aigateway": Profile(
        name="aigateway",
        prefix="/v1",
        models=("xai/grok-4.3",),
        apis=frozenset({"chat"}),
        error_style="aigateway",
        chunk_envelope=False,
        reasoning_content=True,
        max_tokens_limit=4096,
        images=False,
        tools=False,
    ),
    "azure": Profile(name="azure", prefix="/openai/v1", models=("grok-4.3",), auth="api-key"),
    "openai": Profile(name="openai", prefix="/v1", models=None),
}
