"""Token counts normalised across providers, and what they cost at Grok 4.3 list prices.

Providers disagree on whether ``completion_tokens`` includes reasoning (xAI: no, Azure: yes); the
total tells which, so one rule covers both.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

from grok_magics.model.events import Usage
from grok_magics.model.json_path import dig

TICKS_PER_USD = 10_000_000_000


@dataclass(frozen=True)
class Prices:
    """US dollars per million tokens; prompts of ``long_prompt`` tokens or more bill at the long rates."""

    input: float = 1.25
    cached: float = 0.20
    output: float = 2.50
    long_prompt: int = 200_000
    long_input: float = 2.50
    long_cached: float = 0.40
    long_output: float = 5.00


GROK_4_3 = Prices()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def normalise(usage: Any, *, input_name: str, output_name: str, details_in: str, details_out: str) -> Usage:
    """Read a usage object of either API, as the server sent it (JSON), into our ``Usage``."""
    prompt = _int(dig(usage, input_name))
    completion = _int(dig(usage, output_name))
    reasoning = _int(dig(usage, details_out, "reasoning_tokens"))
    cached = _int(dig(usage, details_in, "cached_tokens"))
    total = _int(dig(usage, "total_tokens"))
    reasoning_excluded = total == prompt + completion + reasoning
    visible = completion if reasoning_excluded else max(completion - reasoning, 0)
    server_tools = _int(dig(usage, "num_server_side_tools_used"))  # xAI web/X search calls, in the cost
    return Usage(
        input=prompt,
        cached=cached,
        output=visible,
        reasoning=reasoning,
        cost_usd=reported_cost(usage),
        server_tools=server_tools,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def reported_cost(usage: Any) -> float | None:
    """The server's own figure: xAI's ``cost_in_usd_ticks``, else ``cost`` in USD (LiteLLM, OpenRouter)."""
    ticks = _number(dig(usage, "cost_in_usd_ticks"))
    if ticks is not None:
        return ticks / TICKS_PER_USD
    return _number(dig(usage, "cost"))


def chat_usage(usage: Any) -> Usage:
    return normalise(
        usage,
        input_name="prompt_tokens",
        output_name="completion_tokens",
        details_in="prompt_tokens_details",
        details_out="completion_tokens_details",
    )


def responses_usage(usage: Any) -> Usage:
    return normalise(
        usage,
        input_name="input_tokens",
        output_name="output_tokens",
        details_in="input_tokens_details",
        details_out="output_tokens_details",
    )


def estimate_cost(usage: Usage, prices: Prices = GROK_4_3) -> float:
    """List-price estimate; reasoning tokens bill as output."""
    long = usage.input >= prices.long_prompt
    rate_in, rate_cached, rate_out = (
        (prices.long_input, prices.long_cached, prices.long_output)
        if long
        else (prices.input, prices.cached, prices.output)
    )
    uncached = max(usage.input - usage.cached, 0)
    dollars = uncached * rate_in + usage.cached * rate_cached + (usage.output + usage.reasoning) * rate_out
    return dollars / 1_000_000


_GROK_4_3 = re.compile(r"(^|[/.:])grok-4\.3(-latest)?$", re.IGNORECASE)


PriceTable = Mapping[str, Prices]  # model id → the user's own prices (``GrokMagics.prices``)
NO_PRICES: PriceTable = MappingProxyType({})


def has_list_price(model: str) -> bool:
    """List prices are Grok 4.3's; any other model (on a generic server, say) has no price we know."""
    return bool(_GROK_4_3.search(model.strip()))


def price_of(model: str, table: PriceTable = NO_PRICES) -> Prices | None:
    """The user's own price for this model wins (a gateway's model, a negotiated rate); then Grok 4.3's list."""
    own = table.get(model.strip())
    if own is not None:
        return own
    return GROK_4_3 if has_list_price(model) else None


def cost_of(usage: Usage, model: str = "grok-4.3", table: PriceTable = NO_PRICES) -> tuple[float | None, str]:
    """(dollars, source): "reported" by the server, "estimated" at known prices, or "unknown"."""
    if usage.cost_usd is not None:
        return usage.cost_usd, "reported"
    prices = price_of(model, table)
    if prices is not None:
        return estimate_cost(usage, prices), "estimated"
    return None, "unknown"


def dollars(usage: Usage, model: str = "grok-4.3", table: PriceTable = NO_PRICES) -> float:
    """For sums and caps: the known cost, 0 where nobody knows it (shown as "price unknown" elsewhere)."""
    return cost_of(usage, model, table)[0] or 0.0


def money(dollars: float) -> str:
    """Dollars as every line prints them: cents from a dollar up ($1,234.50), three significant digits below
    ($0.50, $0.0123, $0.000456), so a cap, a spend and an estimate read alike wherever they appear."""
    if dollars < 0:
        return "-" + money(-dollars)
    if dollars >= 1 or dollars == 0 or not math.isfinite(dollars):
        return f"${dollars:,.2f}"
    places = min(max(2, 2 - math.floor(math.log10(dollars))), 10)
    text = f"{dollars:.{places}f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def parse_prices(raw: Mapping[str, Any]) -> dict[str, Prices]:
    """``{"model": {"input": 0.5, "output": 1.5, "cached": 0.1}}`` in USD per million tokens → a price table.

    Raises ValueError with one line naming the bad entry, so ``%config`` can say what is allowed.
    """
    table = {}
    for model, entry in raw.items():
        if (
            not isinstance(entry, Mapping)
            or not {"input", "output"} <= set(entry)
            or not set(entry) <= {"input", "output", "cached"}
        ):
            raise ValueError(
                f"prices[{model!r}] must be a dict with 'input' and 'output' (and optionally 'cached') "
                "in USD per million tokens, e.g. {'input': 0.5, 'output': 1.5}"
            )
        rates: dict[str, float] = {}
        for name, value in entry.items():
            rate = _number(value)
            if rate is None:
                raise ValueError(f"prices[{model!r}][{name!r}] must be a finite number of dollars, 0 or more")
            rates[name] = rate
        cached = rates.get("cached", rates["input"])
        table[str(model).strip()] = Prices(
            input=rates["input"],
            cached=cached,
            output=rates["output"],
            long_prompt=10**12,
            long_input=rates["input"],
            long_cached=cached,
            long_output=rates["output"],
        )
    return table


@dataclass
class Tally:
    """Running totals for ``%grok usage``; cost is summed per request because tiers are per request."""

    requests: int = 0
    usage: Usage = Usage()
    cost: float = 0.0
    exact: bool = True
    unpriced: int = 0  # answers whose cost nobody knows
    unreported: int = 0  # answers that came without any usage

    def add(self, usage: Usage | None, model: str = "grok-4.3", table: PriceTable = NO_PRICES) -> None:
        self.requests += 1
        if usage is None:
            self.unreported += 1
            return
        self.usage = self.usage + usage
        dollars, source = cost_of(usage, model, table)
        if dollars is None:
            self.unpriced += 1
        else:
            self.cost += dollars
        self.exact = self.exact and source == "reported"
