"""The HTTP server and ``FakeGrok``, the object tests start, script and inspect."""

from __future__ import annotations

import collections
import http.server
import json
import random
import socket
import sys
import threading
import time
from dataclasses import replace
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from .bodies import (
    _Abort,
    _asked_schema,
    _ClientGone,
    _example,
    _GateTimeout,
    _last_user_text,
)
from .exchange import _Exchange
from .profiles import PROFILES, Profile
from .scripting import Recorded, Reply
from .sse import _Wire


class _Handler(http.server.BaseHTTPRequestHandler):
    """Thin adapter: all behaviour lives in FakeGrok/_Exchange so it can be read in one place."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # deltas leave at once
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        self.server.fake._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default backlog of 5 drops connections when a map opens 32 at once
    fake: FakeGrok

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients vanishing is the point of many tests; only report real bugs."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def _read_body(handler: _Handler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


# --------------------------------------------------------------------------- public server


class FakeGrok:
    """A scripted Grok-compatible HTTP server on 127.0.0.1 (random port, daemon threads)."""

    def __init__(
        self,
        profile: str | Profile = "xai",
        key: str | None = "sk-test-key",
        *,
        models: tuple[str, ...] | None = None,
        chunked: bool = True,
        pace: float = 0.01,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit_fraction: float = 0.0,
        rate_limit_retry_after: float | None = 0.05,
        seed: int = 0,
        batch_polls: int = 1,
        batch_dialect: str = "xai",
    ) -> None:
        """``latency``: seconds every API answer waits before it starts (a provider's time to first byte).
        ``rate_limit_fraction``: that share of API requests, drawn with a seeded RNG, get 429 with
        ``Retry-After: rate_limit_retry_after`` instead. ``batch_polls``: how many status reads a batch
        stays pending after requests were added (then every request is answered). ``batch_dialect``: "xai",
        or the shape of another implementation of the Batch API (see ``_BatchDesk``).
        """
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.key = key
        self.models = tuple(models) if models is not None else self.profile.models
        self.chunked = chunked
        self.pace = pace
        self._address = (host, port)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: collections.deque[Reply] = collections.deque()
        self._records: list[Recorded] = []
        self._conns: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.latency = latency
        self.rate_limit_fraction = rate_limit_fraction
        self.rate_limit_retry_after = rate_limit_retry_after
        self._random = random.Random(seed)
        self.batch_polls = batch_polls
        self.batch_dialect = batch_dialect
        # answers chosen from the request (after scripted replies): body -> Reply, or None for the default echo.
        # For jobs whose requests arrive in no fixed order (a map over Spark partitions, a reduce's chunks).
        self.responder: Callable[[Any], Reply | None] | None = None
        self.batches: dict[str, dict[str, Any]] = {}  # batch id -> its record (see _BatchDesk)
        self.in_flight = 0
        self._counted: set[int] = set()
        self.peak_concurrency = 0  # most API requests (chat/responses) being answered at the same moment
        self.rate_limited = 0  # how many injected 429s were sent

    # ---- lifecycle

    def start(self) -> FakeGrok:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _Server(self._address, _Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeGrok-{self.profile.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end stalls and keep-alive connections, free the port."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FakeGrok:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses

    @property
    def origin(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeGrok is not running; call start() or use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.profile.prefix

    def rebase(self, url: str) -> str:
        """Point a real provider URL at this server, keeping its path (and query)."""
        parts = urlsplit(url)
        local = urlsplit(self.origin)
        return urlunsplit((local.scheme, local.netloc, parts.path, parts.query, parts.fragment))

    # ---- scripting and inspection

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self._records) >= n, timeout)

    @property
    def gate_timeouts(self) -> list[Recorded]:
        """Requests whose gate was never opened: a test that scripted a gate and saw none of this should fail."""
        return [r for r in self.requests if r.gate_timed_out]

    def wait_for_disconnect(self, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(r.disconnected for r in self._records), timeout)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._queue.clear()
            self.peak_concurrency = self.in_flight
            self.rate_limited = 0

    @property
    def api_requests(self) -> list[Recorded]:
        """Chat and Responses requests only (not models or batch management calls)."""
        return [r for r in self.requests if r.api is not None]

    def _take_rate_limit(self) -> bool:
        with self._lock:
            if self.rate_limit_fraction <= 0 or self._random.random() >= self.rate_limit_fraction:
                return False
            self.rate_limited += 1
            return True

    def _count(self, rec: Recorded) -> None:
        with self._lock:
            self._counted.add(id(rec))
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def _uncount(self, rec: Recorded) -> None:
        with self._lock:
            if id(rec) in self._counted:
                self._counted.discard(id(rec))
                self.in_flight -= 1

    # ---- internals used by the handler

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def _next_reply(self, body: Any) -> Reply:
        """Scripted replies first; otherwise echo the last user turn so multi-turn tests need no script."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        chosen = self.responder(body) if self.responder is not None else None
        if chosen is not None:
            return chosen
        schema = _asked_schema(body)
        if schema is not None:  # structured output asked for: a (fake) instance of the schema
            return replace(Reply(), text=json.dumps(_example(schema, schema.get("$defs", {}))))
        said = _last_user_text(body)
        return Reply() if said is None else replace(Reply(), text=f"You said: {said}")

    def _route(self, method: str, path: str) -> tuple[str | None, str | None]:
        """Return (route, api): route drives handling, api is what the client was aiming at."""
        prefix = self.profile.prefix
        if path == prefix + "/models" and method == "GET":
            return "models", None
        if self.profile.batches and (path == prefix + "/batches" or path.startswith(prefix + "/batches/")):
            return "batch", None
        if self.profile.tokenizer and path == prefix + "/tokenize-text" and method == "POST":
            return "tokenize", None
        for api, suffix in (("chat", "/chat/completions"), ("responses", "/responses")):
            if path == prefix + suffix:
                ok = method == "POST" and api in self.profile.apis
                return (api if ok else None), api
        return None, None

    def _handle(self, handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        raw = _read_body(handler)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        route, api = self._route(handler.command, path)
        rec = Recorded(
            method=handler.command,
            path=path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            api=api,
            started_at=time.monotonic(),
            query=urlsplit(handler.path).query,
        )
        with self._changed:
            self._records.append(rec)
            self._changed.notify_all()
        if api is not None:
            self._count(rec)
        try:
            _Exchange(self, handler, rec, route).run()
        except _ClientGone:
            handler.close_connection = True
            rec.ended_at = time.monotonic()
            rec.disconnected = True  # after ended_at: wait_for_disconnect() callers read both
        except _Abort:
            _Wire(handler, self.chunked, self._stopping).cut()
        except _GateTimeout:
            handler.close_connection = True
        finally:
            self._uncount(rec)
            if rec.ended_at is None:
                rec.ended_at = time.monotonic()
            with self._changed:
                self._changed.notify_all()
