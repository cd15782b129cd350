"""The same job through the provider's own Batch API (xAI: create a batch, add requests, poll, read results).

xAI's Batch API is its own shape, not OpenAI's files + batches: requests carry a
``batch_request_id`` and a ``chat_get_completion`` body, results come back as chat completions.
Each request id names its row and its cache key (``"<row>-<key prefix>"``), so any kernel holding
the same frame and template can collect a batch by its id alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from grok_magics.errors import ConfigError, GrokError, from_exception
from grok_magics.mapping.row_requests import (
    Answer,
    RowSpec,
    chat_endpoint,
    kwargs_for,
    read_json,
)

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


def submit(
    client: Any, spec: RowSpec, transport: Any, prompts: list[str], keys: list[str], todo: list[int], name: str
) -> str:
    path = check_supported(spec)
    batch = _call(client.post, spec, transport, path, body={"name": name})
    batch_id = batch.get("batch_id") or batch.get("id") if isinstance(batch, dict) else None
    if not batch_id:
        raise GrokError(f"{spec.endpoint.provider.title}: the Batch API answered without a batch id")
    endpoint = chat_endpoint(spec.endpoint)
    for start in range(0, len(todo), ADD_CHUNK):
        items = []
        for i in todo[start : start + ADD_CHUNK]:
            body = kwargs_for(spec, prompts[i], endpoint)
            body.pop("stream", None)
            body.pop("extra_headers", None)
            items.append({"batch_request_id": request_id(i, keys[i]), "batch_request": {"chat_get_completion": body}})
        _call(client.post, spec, transport, f"{path}/{batch_id}/requests", body={"batch_requests": items})
    return str(batch_id)


@dataclass(frozen=True)
class BatchState:
    """A batch's progress in one shape, whichever of the shapes below the server answered in."""

    total: int
    pending: int
    succeeded: int
    failed: int
    done: bool  # nothing more will finish: collect now
    status: str = ""  # the server's own word for it, when it sends one

    def waiting_for(self) -> str:
        said = f" (status {self.status})" if self.status else ""
        if not self.total:
            return f"the provider to register the requests{said}"
        return f"{self.pending:,} of {self.total:,} requests pending{said}"


_TERMINAL = frozenset({"completed", "complete", "succeeded", "failed", "cancelled", "canceled", "expired", "ended"})


def _count(state: dict[str, Any], name: str) -> int | None:
    value = state.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 2**53:
        return None
    return int(value)


def read_state(batch: Any) -> BatchState | None:
    """xAI's ``state`` counts (``num_requests``, ``num_pending``, ``num_success``, ``num_error``), or a
    ``status`` word with ``total_requests``/``completed_requests``/``failed_requests`` (the shape other
    implementations of the API use); None for anything else, which must never pass for "still pending"."""
    state = batch.get("state") if isinstance(batch, dict) else None
    if not isinstance(state, dict):
        return None
    total, pending = _count(state, "num_requests"), _count(state, "num_pending")
    if total is not None and pending is not None:
        succeeded, failed = _count(state, "num_success") or 0, _count(state, "num_error") or 0
        return BatchState(total, pending, succeeded, failed, done=total > 0 and pending == 0)
    total, completed = _count(state, "total_requests"), _count(state, "completed_requests")
    word = state.get("status", batch.get("status"))
    if total is not None and completed is not None and isinstance(word, str):
        failed = _count(state, "failed_requests") or 0
        done = word.strip().lower() in _TERMINAL  # the word decides: implementations count "completed" differently
        pending = 0 if done else max(total - completed - failed, 0)
        return BatchState(total, pending, completed, failed, done, word.strip()[:40])
    return None


def fields_seen(value: Any, limit: int = 16) -> str:
    """The keys of an answer we could not read (one level into ``state``), for the error line."""
    if not isinstance(value, dict):
        return f"a {type(value).__name__}, not an object"
    names = [str(k)[:40] for k in value]
    state = value.get("state")
    if isinstance(state, dict):
        names = [n for n in names if n != "state"] + [f"state.{str(k)[:40]}" for k in state]
    names.sort()
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return shown or "none"


def status(client: Any, spec: RowSpec, transport: Any, batch_id: str) -> BatchState:
    batch = _call(client.get, spec, transport, f"{check_supported(spec)}/{batch_id}")
    state = read_state(batch)
    if state is None:
        raise GrokError(
            f"{spec.endpoint.provider.title}: cannot read the status of batch {batch_id} (fields seen: "
            f"{fields_seen(batch)}); expected state.num_requests and state.num_pending, as xAI's Batch API "
            "sends. Stopped waiting; check the base URL"
        )
    return state


def results(
    client: Any, spec: RowSpec, transport: Any, batch_id: str
) -> Iterator[tuple[str | None, Answer | None, str]]:
    """(request id, answer or None, error text) for every finished request, page by page; a result that
    names no request comes as (None, None, the fields it holds), so the caller can say so."""
    path = f"{check_supported(spec)}/{batch_id}/results"
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE}
        if token:
            params["pagination_token"] = token
        page = _call(client.get, spec, transport, path, options={"params": params})
        if not isinstance(page, dict):
            raise GrokError(
                f"{spec.endpoint.provider.title}: cannot read the results of batch {batch_id} ({fields_seen(page)})"
            )
        for item in page.get("results") or page.get("batch_results") or []:
            rid = item.get("batch_request_id") if isinstance(item, dict) else None
            if not isinstance(rid, str) or not rid:
                yield None, None, fields_seen(item)
                continue
            result = item.get("batch_result") or {}
            body = (result.get("response") or {}).get("chat_get_completion") if isinstance(result, dict) else None
            if isinstance(body, dict):
                yield rid, read_json("chat", body), ""
            else:
                error = (result.get("error") if isinstance(result, dict) else None) or item.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else str(error)
                yield rid, None, f"batch request failed: {message or 'no message'}"
        token = page.get("pagination_token") or page.get("next_page_token")
        if not token:
            return
