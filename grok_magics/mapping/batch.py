"""The same job through the provider's own Batch API (xAI: create a batch, add requests, poll, read results).

xAI's Batch API is its own shape, not OpenAI's files + batches: requests carry a
``batch_request_id`` and a ``chat_get_completion`` body, results come back as chat completions.
Each request id names its row and its cache key (``"<row>-<key prefix>"``), so any kernel holding
the same frame and template can collect a batch by its id alone.
"""

from __future__ import annotations

from typing import Any, Iterator

from ..errors import GrokError, from_exception
from ..providers import ConfigError
from .requests import Answer, RowSpec, chat_endpoint, kwargs_for, read_json

ADD_CHUNK = 500  # requests per "add requests" call
PAGE = 100  # results per page


def check_supported(spec: RowSpec) -> str:
    path = spec.endpoint.provider.batch_path
    if not path:
        raise ConfigError(f"{spec.endpoint.provider.title} has no Batch API here: drop --batch (only xAI has one)")
    return path


def request_id(row: int, key: str) -> str:
    return f"{row}-{key[:16]}"


def row_of(request_id_: str, keys: list[str]) -> int | None:
    """The row a result belongs to, if it still matches that row's template and values."""
    head, _, prefix = request_id_.partition("-")
    if not head.isdigit():
        return None
    row = int(head)
    return row if row < len(keys) and keys[row].startswith(prefix) else None


def _call(method: Any, spec: RowSpec, transport: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return method(*args, cast_to=object, **kwargs)
    except Exception as exc:
        raise from_exception(exc, spec.endpoint, transport) from None


def submit(client: Any, spec: RowSpec, transport: Any, prompts: list[str], keys: list[str], todo: list[int],
           name: str) -> str:
    path = check_supported(spec)
    batch = _call(client.post, spec, transport, path, body={"name": name})
    batch_id = batch.get("batch_id") or batch.get("id") if isinstance(batch, dict) else None
    if not batch_id:
        raise GrokError(f"{spec.endpoint.provider.title}: the Batch API answered without a batch id")
    endpoint = chat_endpoint(spec.endpoint)
    for start in range(0, len(todo), ADD_CHUNK):
        items = []
        for i in todo[start:start + ADD_CHUNK]:
            body = kwargs_for(spec, prompts[i], endpoint)
            body.pop("stream", None)
            body.pop("extra_headers", None)
            items.append({"batch_request_id": request_id(i, keys[i]), "batch_request": {"chat_get_completion": body}})
        _call(client.post, spec, transport, f"{path}/{batch_id}/requests", body={"batch_requests": items})
    return str(batch_id)


def status(client: Any, spec: RowSpec, transport: Any, batch_id: str) -> dict[str, int]:
    batch = _call(client.get, spec, transport, f"{check_supported(spec)}/{batch_id}")
    state = batch.get("state") if isinstance(batch, dict) else None
    return {k: int(v) for k, v in (state or {}).items() if isinstance(v, (int, float))}


def finished(state: dict[str, int]) -> bool:
    return state.get("num_requests", 0) > 0 and state.get("num_pending", 0) == 0


def results(client: Any, spec: RowSpec, transport: Any, batch_id: str) -> Iterator[tuple[str, Answer | None, str]]:
    """(request id, answer or None, error text) for every finished request, page by page."""
    path = f"{check_supported(spec)}/{batch_id}/results"
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if token:
            params["pagination_token"] = token
        page = _call(client.get, spec, transport, path, options={"params": params})
        for item in page.get("results") or page.get("batch_results") or []:
            rid = str(item.get("batch_request_id", ""))
            result = item.get("batch_result") or {}
            body = (result.get("response") or {}).get("chat_get_completion")
            if isinstance(body, dict):
                yield rid, read_json("chat", body), ""
            else:
                error = result.get("error") or item.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else str(error)
                yield rid, None, f"batch request failed: {message or 'no message'}"
        token = page.get("pagination_token") or page.get("next_page_token")
        if not token:
            return
