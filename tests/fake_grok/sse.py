"""The wire under an answer: chunked SSE writes, cuts, stalls and gates."""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import TYPE_CHECKING

from .bodies import _Abort, _ClientGone

if TYPE_CHECKING:
    from .server import _Handler


class _Wire:
    """Writes one response on a handler's socket, framing chunks and noticing clients that leave."""

    def __init__(self, handler: _Handler, chunked: bool, stopping: threading.Event) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.chunked = chunked
        self.stopping = stopping

    def start(self, status: int, headers: dict[str, str]) -> None:
        try:
            self.handler.send_response(status)
            for name, value in headers.items():
                self.handler.send_header(name, value)
            self.handler.end_headers()
        except OSError as exc:
            raise self._failure() from exc

    def stream_headers(self) -> dict[str, str]:
        base = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        if self.chunked:
            return {**base, "Transfer-Encoding": "chunked", "Connection": "keep-alive"}
        return {**base, "Connection": "close"}  # close-delimited body: no length, no chunking

    def send(self, data: bytes, last: bool = False) -> None:
        """Send one SSE event (one HTTP chunk); ``last`` also ends the body."""
        if self.chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
            data += b"0\r\n\r\n" if last else b""
        self.write(data)

    def end(self, close: bool = False) -> None:
        """Finish the body cleanly; in close mode the server's close is the end."""
        if self.chunked:
            self.write(b"0\r\n\r\n")
        if close:
            self.handler.close_connection = True

    def cut(self) -> None:
        """Abrupt close: FIN without a terminating chunk, so chunked clients see a truncated body."""
        self.handler.close_connection = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up to notice a client that closed its socket meanwhile."""
        deadline = time.monotonic() + max(0.0, seconds)
        while True:
            if self.stopping.is_set():
                raise _Abort()
            remaining = deadline - time.monotonic()
            if self._client_left(max(0.0, min(remaining, 0.05))):
                raise self._failure()
            if remaining <= 0:
                return

    def _client_left(self, timeout: float) -> bool:
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if not readable:
                return False
            if self.sock.recv(1, socket.MSG_PEEK) == b"":
                return True
        except (ConnectionError, OSError):
            return True
        time.sleep(timeout)  # the client sent bytes mid-stream; nothing to learn, just keep time
        return False

    def write(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.handler.wfile.write(data)
        except OSError as exc:
            raise self._failure() from exc

    def _failure(self) -> Exception:
        return _Abort() if self.stopping.is_set() else _ClientGone()
