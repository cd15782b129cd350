"""xAI's Batch API (and other implementations' shapes of it), for ``%grok map --batch``."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from .bodies import _DEFAULT_MESSAGES

if TYPE_CHECKING:
    from .exchange import _Exchange


class _BatchDesk:
    """xAI's own Batch API, shaped as its public clients use it (not OpenAI's files + batches).

    ``POST /batches {name}`` → a batch with ``batch_id`` and ``state`` counts; ``POST /batches/{id}/requests
    {batch_requests: [{batch_request_id, batch_request: {chat_get_completion: {...}}}]}``; ``GET /batches/{id}``
    (pending for ``batch_polls`` reads after the last add); ``GET /batches/{id}/results?limit=&pagination_token=``
    → ``{results: [{batch_request_id, batch_result: {response: {chat_get_completion: ...}} | {error: ...}}],
    pagination_token}``; ``POST /batches/{id}:cancel``. Each request gets the next scripted reply, or the echo.

    ``FakeGrok(batch_dialect=...)`` answers in another implementation's shape instead: ``"llmock"`` as the
    independent implementation on PyPI (llmock 0.2.2) does — ``state: {status: "PENDING"|"COMPLETED",
    total_requests, completed_requests, failed_requests}`` and results keyed by ``custom_id``/``request_id``
    with no ``batch_request_id`` — and ``"opaque"`` with a state no client can read (``{phase, percent}``).
    """

    def __init__(self, exchange: _Exchange) -> None:
        self.x = exchange
        self.fake = exchange.fake
        tail = exchange.rec.path[len(self.fake.profile.prefix + "/batches") :].lstrip("/")
        self.batch_id, _, self.action = tail.partition("/")
        if self.batch_id.endswith(":cancel"):
            self.batch_id, self.action = self.batch_id[: -len(":cancel")], "cancel"
        self.method = exchange.rec.method

    def answer(self) -> None:
        if not self.batch_id:
            if self.method == "POST":
                return self._create()
            return self.x._send_json(200, {"batches": [self._view(b) for b in self.fake.batches.values()]})
        batch = self.fake.batches.get(self.batch_id)
        if batch is None:
            return self.x._send_error(404, f"batch {self.batch_id} not found")
        if self.action == "requests" and self.method == "POST":
            return self._add(batch)
        if self.action == "results" and self.method == "GET":
            return self._results(batch)
        if self.action == "cancel" and self.method == "POST":
            batch["cancelled"] = True
            return self.x._send_json(200, self._view(batch))
        if not self.action and self.method == "GET":
            batch["polls"] += 1
            return self.x._send_json(200, self._view(batch))
        return self.x._send_error(404, f"Not found: {self.method} {self.x.rec.path}")

    def _create(self) -> None:
        batch_id = f"batch_{uuid.uuid4()}"
        self.fake.batches[batch_id] = {
            "batch_id": batch_id,
            "name": self.x.body.get("name", ""),
            "create_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "results": [],
            "polls": 0,
            "polls_at_add": 0,
            "cancelled": False,
        }
        self.x._send_json(200, self._view(self.fake.batches[batch_id]))

    def _add(self, batch: dict[str, Any]) -> None:
        items = self.x.body.get("batch_requests")
        if not isinstance(items, list):
            return self.x._send_error(400, "batch_requests must be a list")
        for item in items:
            batch["results"].append(self._run(item))
        batch["polls_at_add"] = batch["polls"]
        self.x._send_json(200, {})

    def _run(self, item: Any) -> dict[str, Any]:
        request_id = item.get("batch_request_id", "") if isinstance(item, dict) else ""
        inner = (item.get("batch_request") or {}).get("chat_get_completion") if isinstance(item, dict) else None
        if not isinstance(inner, dict) or not inner.get("model"):
            return {
                "batch_request_id": request_id,
                "batch_result": {
                    "error": {"code": 400, "message": "batch_request.chat_get_completion with a model is required"}
                },
            }
        reply = self.fake._next_reply(inner)
        if reply.status != 200:
            message = reply.error_message or _DEFAULT_MESSAGES.get(reply.status, "Error")
            return {
                "batch_request_id": request_id,
                "batch_result": {"error": {"code": reply.status, "message": message}},
            }
        x = self.x
        x.body, x.model = inner, str(inner.get("model"))  # the completion is built for the inner request
        completion = x._chat_whole(reply)
        return {"batch_request_id": request_id, "batch_result": {"response": {"chat_get_completion": completion}}}

    def _done(self, batch: dict[str, Any]) -> bool:
        return not batch["cancelled"] and batch["polls"] - batch["polls_at_add"] > self.fake.batch_polls

    def _view(self, batch: dict[str, Any]) -> dict[str, Any]:
        results = batch["results"]
        done = self._done(batch)
        dialect = self.fake.batch_dialect
        if dialect == "llmock":
            failed = sum(1 for r in results if "error" in r["batch_result"]) if done else 0
            word = "CANCELLED" if batch["cancelled"] else "COMPLETED" if done else "PENDING"
            state = {
                "status": word,
                "total_requests": len(results),
                "completed_requests": len(results) - failed if done else 0,
                "failed_requests": failed,
            }
            return {
                "id": batch["batch_id"],
                "object": "batch",
                "create_time": batch["create_time"],
                "batch_id": batch["batch_id"],
                "status": word.lower(),
                "state": state,
            }
        if dialect == "opaque":
            return {
                "batch_id": batch["batch_id"],
                "name": batch["name"],
                "state": {"phase": "done" if done else "running", "percent": 100 if done else 40},
            }
        errors = sum(1 for r in results if "error" in r["batch_result"]) if done else 0
        cancelled = len(results) if batch["cancelled"] else 0
        state = {
            "num_requests": len(results),
            "num_pending": 0 if done or cancelled else len(results),
            "num_success": len(results) - errors if done else 0,
            "num_error": errors,
            "num_cancelled": cancelled,
        }
        return {
            "batch_id": batch["batch_id"],
            "name": batch["name"],
            "create_time": batch["create_time"],
            "state": state,
        }

    def _results(self, batch: dict[str, Any]) -> None:
        query = dict(p.split("=", 1) for p in self.x.rec.query.split("&") if "=" in p)
        done = batch["results"] if self._done(batch) else []
        limit = int(query.get("limit", "100") or 100)
        start = int(query.get("pagination_token") or 0)
        page = done[start : start + limit]
        token = str(start + limit) if start + limit < len(done) else None
        if self.fake.batch_dialect == "llmock":  # every result at once, named by ids of its own
            items = [
                {
                    "request_id": uuid.uuid4().hex,
                    "custom_id": str(uuid.uuid4()),
                    "state": "failed" if "error" in r["batch_result"] else "succeeded",
                    "response": (r["batch_result"].get("response") or {}).get("chat_get_completion"),
                    "error": r["batch_result"].get("error"),
                }
                for r in done
            ]
            return self.x._send_json(200, {"results": items, "data": items})
        self.x._send_json(200, {"results": page, "pagination_token": token})
