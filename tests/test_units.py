"""Pure functions: prompt references, option parsing, pricing, provider resolution, fences."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from grok_magics.context.references import expand_text
from grok_magics.errors import ConfigError
from grok_magics.magics.command_line import parse_cell_line, parse_line, subcommand
from grok_magics.model.events import Usage
from grok_magics.model.usage import estimate_cost
from grok_magics.providers.table import PROVIDERS, api_for, resolve
from grok_magics.render.markdown import close_fences

NS = {"name": "Ada", "n": 3, "ratio": 0.5, "items": [1, 2]}


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("Hello {name}", "Hello Ada"),
        ("{n} apples at {ratio}", "3 apples at 0.5"),
        ("keep {{name}} literal", "keep {name} literal"),
        ("unbound {nobody} stays", "unbound {nobody} stays"),
        ("lists wait for context/: {items}", "lists wait for context/: {items}"),
        ('{"a": {"b": [1, 2]}}', '{"a": {"b": [1, 2]}}'),
        ("{{ jinja }} and }} and {{", "{{ jinja }} and }} and {{"),
        ('print(f"{ratio:.2f}")', 'print(f"{ratio:.2f}")'),
        ("inline `{name}` is code", "inline `{name}` is code"),
        ("```python\nprint(f'{name}')\n```\nafter {name}", "```python\nprint(f'{name}')\n```\nafter Ada"),
        ("```\nunclosed {name}", "```\nunclosed {name}"),
        (r"\frac{a}{b} and {0} and {}", r"\frac{a}{b} and {0} and {}"),
    ],
)
def test_references_only_touch_bound_identifiers(prompt: str, expected: str) -> None:
    assert expand_text(prompt, NS) == expected


def test_line_prompt_keeps_quotes_and_apostrophes() -> None:
    options, prompt = parse_line("""--system "Be terse" -m grok-4.3 What's "this" {x}?""")
    assert options.system == "Be terse" and options.model == "grok-4.3"
    assert prompt == """What's "this" {x}?"""


def test_double_dash_ends_options() -> None:
    options, prompt = parse_line("--new -- -1 is less than 0?")
    assert options.new and prompt == "-1 is less than 0?"


@pytest.mark.parametrize(
    "line", ["--effort extreme", "--bogus", "-o 1x", "--max-tokens 0", "--temperature hot", '--system "open', "-m"]
)
def test_bad_options_are_usage_errors(line: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_cell_line(line)
    assert "Usage: %%grok" in str(info.value) and "\n" not in str(info.value)


def test_subcommands_only_when_alone() -> None:
    assert subcommand("help") is not None
    assert subcommand("help me write a regex") is None
    name, options = subcommand("reset --chat lab")  # type: ignore[misc]
    assert name == "reset" and options.chat == "lab"


def test_cost_uses_list_prices_and_long_prompt_tier() -> None:
    short = Usage(input=100_000, cached=0, output=100_000)
    assert estimate_cost(short) == pytest.approx((1.25 + 2.50) / 10)
    cached = Usage(input=199_999, cached=199_999, output=0, reasoning=100_000)
    assert estimate_cost(cached) == pytest.approx((199_999 * 0.20 + 100_000 * 2.50) / 1e6)
    long = Usage(input=200_000, cached=100_000, output=10_000)
    assert estimate_cost(long) == pytest.approx((100_000 * 2.50 + 100_000 * 0.40 + 10_000 * 5.00) / 1e6)


def test_provider_urls_and_models() -> None:
    env = {
        "AWS_REGION": "eu-central-1",
        "AZURE_AI_ENDPOINT": "https://r.services.ai.azure.com/openai/v1/",
        "AZURE_GROK_DEPLOYMENT": "my-grok",
        "OPENAI_BASE_URL": "http://localhost:8000/v1",
    }
    assert resolve(PROVIDERS["xai"], env={}).base_url == "https://api.x.ai/v1"
    assert resolve(PROVIDERS["bedrock"], env={}).base_url == "https://bedrock-mantle.us-west-2.api.aws/openai/v1"
    assert resolve(PROVIDERS["bedrock"], env=env).base_url == "https://bedrock-mantle.eu-central-1.api.aws/openai/v1"
    assert resolve(PROVIDERS["aigateway"], env={}).base_url == "https://api.aigateway.sh/v1"
    azure = resolve(PROVIDERS["azure"], env=env)
    assert (azure.base_url, azure.model) == ("https://r.services.ai.azure.com/openai/v1", "my-grok")
    assert resolve(PROVIDERS["openai"], model="m", env=env).base_url == "http://localhost:8000/v1"
    models = {name: resolve(p, model=None if p.model else "x", env=env).model for name, p in PROVIDERS.items()}
    assert models == {
        "xai": "grok-4.3",
        "bedrock": "xai.grok-4.3",
        "aigateway": "xai/grok-4.3",
        "azure": "my-grok",
        "openai": "x",
    }
    assert resolve(PROVIDERS["bedrock"], env={"GROK_BASE_URL": "http://proxy/v1/"}).base_url == "http://proxy/v1"


def test_missing_base_url_or_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="AZURE_AI_ENDPOINT"):
        resolve(PROVIDERS["azure"], env={})
    with pytest.raises(ConfigError, match="--model"):
        resolve(PROVIDERS["openai"], env={"OPENAI_BASE_URL": "http://x/v1"})


def test_responses_falls_back_to_chat_where_missing() -> None:
    api, note = api_for(PROVIDERS["aigateway"], "responses")
    assert api == "chat" and "no responses API" in note
    assert api_for(PROVIDERS["xai"], None) == ("responses", "")
    assert api_for(PROVIDERS["azure"], None) == ("chat", "")


def test_open_fence_is_closed_and_html_is_escaped() -> None:
    assert close_fences("text\n```py\nx = 1") == "text\n```py\nx = 1\n```"
    assert close_fences("```\na\n```\n") == "```\na\n```\n"


# -- issue 7: keys, inert text, error bodies, finish reasons, prices -------------------------------


def test_key_shapes_are_found_and_prose_is_not() -> None:
    from grok_magics.privacy.key_shapes import MASK, key_shape, mask_keys

    for text, label in (
        ("xai-A1b2C3d4E5f6G7h8I9j0K1l2", "an xAI key (xai-…)"),
        ("sk-proj-Q1w2E3r4T5y6U7i8O9p0A1s2", "an OpenAI-style key (sk-…)"),
        ("sk-aig-Z1x2C3v4B5n6M7q8W9e0", "an AIgateway key (sk-aig-…)"),
        ("ABSKQmVkcm9ja0FQSUtleS1hYmNkZWZnaGlqa2xt", "a Bedrock API key"),
        ("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t", "a Bedrock API key"),
        ("AKIAIOSFODNN7EXAMPLE", "an AWS access key"),
        ("ASIAIOSFODNN7EXAMPLE", "an AWS access key"),
    ):
        assert key_shape(f"a long prose {'text ' * 1000}then {text}") == label, text
        assert mask_keys(f"row: {text} end") == (f"row: {MASK} end", 1), text
    for text in (
        "sk-learn and xai-grok-4.3 are names",
        "a task-based approach-with-many-hyphenated-words",
        "sk-this-is-a-very-long-hyphenated-name",
        "grok-4.3 on xai",
    ):
        assert key_shape(text) is None, text
    assert key_shape("my secret is hunter2hunter2", ["hunter2hunter2"]) == "the active provider's API key"


def test_inert_markdown_escapes_tags_outside_code_only() -> None:
    from grok_magics.render.sanitise import markdown

    text = "a <script>x</script> <https://x.org> a < b\n\n```\n<b>code</b>\n```\n\n`<i>span</i>` <img src=1>"
    out = markdown(text)
    assert "&lt;script>x&lt;/script>" in out and "[https://x.org](https://x.org)" in out and "a < b" in out
    assert "<b>code</b>" in out and "<code>&lt;i&gt;span&lt;/i&gt;</code>" in out and "&lt;img src=1>" in out


@pytest.mark.parametrize(
    "body, said",
    [
        ('{"error": {"message": "Bad thing."}}', "Bad thing"),
        ('{"code": "Client specified an invalid argument", "error": "Model not found"}', "Model not found"),
        ('{"error":"Not Found","message":"Cannot POST /v1/responses"}', "Not Found — Cannot POST /v1/responses"),
        ('data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n', "overloaded"),
        (
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>x</body></html>",
            "an HTML page: 502 Bad Gateway",
        ),
        ("plain text failure", "plain text failure"),
    ],
)
def test_provider_message_reads_every_shape(body: str, said: str) -> None:
    from grok_magics.errors import provider_message

    assert provider_message(body) == said


def test_one_line_cuts_in_the_middle() -> None:
    from grok_magics.errors import one_line

    text = "START " + "x" * 1000 + " END advice"
    cut = one_line(text, 100)
    assert len(cut) <= 100 and cut.startswith("START") and cut.endswith("END advice") and " … " in cut


def test_finish_kinds_and_list_prices() -> None:
    from grok_magics.model.events import Usage
    from grok_magics.model.usage import cost_of
    from grok_magics.wire.chat_completions import finish_kind

    assert [
        finish_kind(r) for r in ("stop", "end_turn", "tool_calls", "MAX_TOKENS", "length", "error", "SAFETY", "weird")
    ] == ["complete"] * 3 + ["length", "length", "provider-error", "filter", "other"]
    usage = Usage(input=1000, output=100)
    assert cost_of(usage, "grok-4.3")[1] == "estimated" and cost_of(usage, "xai/grok-4.3")[1] == "estimated"
    assert cost_of(usage, "llama-3")[0] is None
    assert cost_of(Usage(input=1, cost_usd=0.5), "llama-3") == (0.5, "reported")


def test_key_masking_counts_distinct_values_and_never_shows_a_key() -> None:
    from grok_magics.privacy.key_shapes import MASK, KeyMasker, mask_keys

    active = "3f9a0c7e3f9a0c7e"  # no known shape: masked as the key in use
    text = f"a xai-A1b2C3d4E5f6G7h8I9j0K1l2 b {active} c xai-A1b2C3d4E5f6G7h8I9j0K1l2 d sk-learn"
    masked, count = mask_keys(text, [active])
    assert masked == f"a {MASK} b {MASK} c {MASK} d sk-learn" and count == 3
    masker = KeyMasker([active])
    assert masker(text) == masked and masker.count == 2  # two distinct values, one of them twice
    assert active not in repr(masker) and masker.note("the data") == "2 key-shaped values in the data masked"
    off = KeyMasker([active], enabled=False)
    assert off(text) == text and off.count == 0 and off.note() == ""


@pytest.mark.parametrize(
    "dollars, spelled",
    [
        (0, "$0.00"),
        (1234.567, "$1,234.57"),
        (12.5, "$12.50"),
        (1, "$1.00"),
        (0.5, "$0.50"),
        (0.0123456, "$0.0123"),
        (0.001, "$0.001"),
        (0.000179, "$0.000179"),
    ],
)
def test_one_spelling_of_money_everywhere(dollars: float, spelled: str) -> None:
    """Caps, spends, estimates and status lines all print dollars through ``model.usage.money``."""
    from grok_magics.model.usage import money

    assert money(dollars) == spelled
