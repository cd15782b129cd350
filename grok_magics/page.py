"""The kernel's end of the channel to the notebook page (the grok-magics JupyterLab / Notebook 7 extension).

Why it is shaped this way: a comm message is a shell message, and the kernel handles shell messages one
at a time, so a magic that waited for the page's answer would never get it (the answer is handled after
the cell ends). So the page *pushes* what a Grok cell may need just before that cell runs (it arrives
first: same shell queue), and an *async* cell can *pull* (ipykernel dispatches comm messages while an
async cell awaits)::

    from grok_magics import page
    cells = await page.cells_above()        # source and outputs of the cells above this one
    info = await page.notebook()            # the notebook's path and metadata

Without a page (terminal IPython, nbclient, papermill, VS Code) nothing answers: every magic works as
before, and a feature that needs the page says so in one line (``PageUnavailable``). Registered only in
a kernel, when the magics load; this module imports nothing heavy.

Protocol (version 1), JSON over the comm target ``grok_magics``; every message has ``v`` and ``type``:
``hello`` (both ways, on open), ``context`` (page → kernel, before a Grok cell runs: ``cell_id``,
``notebook``, ``above``, ``outputs``), ``request``/``reply`` (both ways, matched by ``id``), ``event``
(kernel → page: ``chats`` changed). The page asks for ``chats`` and the chat panel's ``panel``,
``reset``, ``fork``, ``export`` (``grok_magics.panel``); the kernel asks for ``notebook``,
``cells_above`` and ``output``.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Mapping

from grok_magics.errors import PageUnavailable
from grok_magics.version import __version__

TARGET = "grok_magics"
VERSION = 1
PULL_TIMEOUT = 2.0  # seconds an async request waits for the page (an open page answers in milliseconds)
QUIET_TIMEOUT = 0.5  # ... once a request went unanswered, until the page says something again
KEEP_PUSHED = 16  # contexts kept (one per Grok cell run)
PUSH_WAIT = 1.0  # seconds a magic waits for its cell's context (JupyterLab ≥ 4.6 sends comms on a subshell)
MAX_CELLS = 200  # cells above kept from one message
MAX_TEXT = 200_000  # characters of one string field kept from one message


def needs_page(what: str, instead: str = "") -> PageUnavailable:
    return PageUnavailable(
        f"{what} needs the notebook page with the grok-magics extension (JupyterLab ≥ 4.2 or Notebook ≥ 7.2), "
        f"and none is connected to this kernel; nothing was sent.{' ' + instead if instead else ''}"
    )


@dataclass(frozen=True)
class Context:
    """What the page pushed before a Grok cell ran: the notebook, the cells above, the outputs it named."""

    cell_id: str
    notebook: Mapping[str, Any] = field(default_factory=dict)
    above: tuple[Mapping[str, Any], ...] = ()  # nearest first
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # "CELLID:N" -> output

    def cell(self, cell_id: str) -> Mapping[str, Any] | None:
        return next((c for c in self.above if c.get("id") == cell_id), None)


def _bounded(value: Any, depth: int = 0) -> Any:
    """A message from the page, with strings and lists capped: the page bounds its side, this is ours."""
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, list) and depth < 8:
        return [_bounded(v, depth + 1) for v in value[:MAX_CELLS]]
    if isinstance(value, dict) and depth < 8:
        return {str(k): _bounded(v, depth + 1) for k, v in itertools.islice(value.items(), 500)}
    return value if isinstance(value, (int, float, bool, type(None))) else None


class Bridge:
    """One per kernel shell: the comms the page greeted, the contexts it pushed, the requests in flight."""

    def __init__(self, shell: Any, manager: Any) -> None:
        self.shell = shell
        self.manager = manager
        self.comms: list[Any] = []  # greeted, newest last
        self.page: dict[str, Any] = {}  # what the page said about itself
        self.pushed: OrderedDict[str, Context] = OrderedDict()
        # JupyterLab 4.6 sends comm messages over a kernel subshell (another thread, not queued behind the
        # cell's execute request), so a push may land a moment after its cell started: the magic waits on this
        self.arrived = threading.Condition()
        self.pending: dict[str, Any] = {}  # id -> asyncio future
        self.ids = itertools.count(1)
        self.unanswered = False

    # -- comms ------------------------------------------------------------------------------------
    def hello(self) -> dict[str, Any]:
        return {"v": VERSION, "type": "hello", "version": __version__}

    def on_open(self, comm: Any, message: Mapping[str, Any]) -> None:
        """The page opened a comm: greet it back."""
        self._listen(comm)
        self._receive(comm, (message.get("content") or {}).get("data") or {})
        comm.send(self.hello())

    def open_from_kernel(self) -> None:
        """The magics loaded after the page connected (``%load_ext`` in a cell): the kernel opens the comm."""
        import comm as comms

        try:
            opened = comms.create_comm(target_name=TARGET, data=self.hello())
        except Exception:
            return
        self._listen(opened)

    def _listen(self, comm: Any) -> None:
        comm.on_msg(lambda message: self._receive(comm, (message.get("content") or {}).get("data") or {}))
        comm.on_close(lambda message: self._forget(comm))

    def _forget(self, comm: Any) -> None:
        self.comms[:] = [c for c in self.comms if c is not comm]

    def close(self) -> None:
        for comm in list(self.comms):
            try:
                comm.close()
            except Exception:
                pass
        self.comms.clear()
        try:
            self.manager.unregister_target(TARGET, self.on_open)
        except Exception:
            pass

    # -- messages from the page ---------------------------------------------------------------------
    def _receive(self, comm: Any, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping) or data.get("v") != VERSION:
            if isinstance(data, Mapping) and data.get("type") == "request":
                self._reply(
                    comm,
                    data.get("id"),
                    error=f"the kernel speaks grok-magics protocol {VERSION}, not "
                    f"{data.get('v')}: install the same grok-magics version",
                )
            return
        self.unanswered = False
        kind = data.get("type")
        if kind == "hello":
            self.page = {k: data.get(k) for k in ("app", "version")}
            self._forget(comm)
            self.comms.append(comm)
        elif kind == "context":
            self._store(_bounded(dict(data)))
        elif kind == "request":
            self._answer(comm, data)
        elif kind == "reply":
            future = self.pending.pop(str(data.get("id")), None)
            if future is not None and not future.done():
                result = (True, _bounded(data.get("result"))) if data.get("ok") else (False, str(data.get("error")))
                future.get_loop().call_soon_threadsafe(_settle, future, result)

    def _store(self, data: Mapping[str, Any]) -> None:
        cell_id = data.get("cell_id")
        if not isinstance(cell_id, str) or not cell_id:
            return
        above = tuple(c for c in data.get("above") or () if isinstance(c, dict))
        outputs = {k: v for k, v in (data.get("outputs") or {}).items() if isinstance(v, dict)}
        with self.arrived:
            self.pushed[cell_id] = Context(cell_id, data.get("notebook") or {}, above, outputs)
            self.pushed.move_to_end(cell_id)
            while len(self.pushed) > KEEP_PUSHED:
                self.pushed.popitem(last=False)
            self.arrived.notify_all()

    def context(self, cell_id: str, wait: float = 0.0) -> Context | None:
        """The context pushed for ``cell_id``; with a page connected, waits up to ``wait`` s for it."""
        with self.arrived:
            if wait > 0 and self.comms:
                self.arrived.wait_for(lambda: cell_id in self.pushed, wait)
            return self.pushed.get(cell_id)

    def _answer(self, comm: Any, data: Mapping[str, Any]) -> None:
        from grok_magics import panel  # the chat panel's requests (grok_magics/panel.py)

        method = data.get("method")
        if method == "chats":
            self._reply(comm, data.get("id"), result=chats(self.shell))
        elif method in panel.METHODS:
            session = getattr(self.shell, "_grok_magics_session", None)
            params = data.get("params") if isinstance(data.get("params"), Mapping) else {}
            try:
                if session is None:
                    raise ValueError("no Grok cell has run in this kernel yet")
                self._reply(comm, data.get("id"), result=panel.act(session, str(method), params or {}))
            except ValueError as exc:  # ConfigError: one line the panel shows
                self._reply(comm, data.get("id"), error=str(exc))
        else:
            self._reply(comm, data.get("id"), error=f"unknown request {data.get('method')!r}")

    def _reply(self, comm: Any, request_id: Any, result: Any = None, error: str = "") -> None:
        message = {"v": VERSION, "type": "reply", "id": request_id, "ok": not error}
        message.update({"error": error} if error else {"result": result})
        comm.send(message)

    def changed(self, what: str = "chats") -> None:
        """Tell the page something it shows changed (an answer ended: the chat panel refreshes)."""
        for comm in list(self.comms):
            try:
                comm.send({"v": VERSION, "type": "event", "event": what})
            except Exception:
                pass

    # -- requests to the page -------------------------------------------------------------------------
    def tell(self, method: str, params: Mapping[str, Any]) -> None:
        """A request whose reply nobody waits for (a synchronous magic cannot wait: see the module docstring)."""
        if self.comms:
            self._send_request(f"kernel-{next(self.ids)}", method, params)

    def _send_request(self, request_id: str, method: str, params: Mapping[str, Any]) -> None:
        self.comms[-1].send(
            {"v": VERSION, "type": "request", "id": request_id, "method": method, "params": dict(params)}
        )

    async def request(self, method: str, params: Mapping[str, Any], timeout: float) -> Any:
        import asyncio

        if not self.comms:
            raise needs_page(f"asking the page for {method}")
        future = asyncio.get_running_loop().create_future()
        request_id = f"kernel-{next(self.ids)}"
        self.pending[request_id] = future  # before sending: the reply may be handled on another thread
        wait = min(timeout, QUIET_TIMEOUT) if self.unanswered else timeout
        from grok_magics.engine.guard import interruptible

        async def exchange() -> tuple[bool, Any]:
            self._send_request(request_id, method, params)  # sent once Ctrl-C is in hand: a click after it is ours
            return await asyncio.wait_for(future, wait)

        try:
            ok, value = await interruptible(exchange())
        except asyncio.TimeoutError:
            self.unanswered = True
            raise PageUnavailable(
                f"the page did not answer {method} within {wait:g} s (is the notebook still open? "
                "only an async cell can wait for it: use await)"
            ) from None
        finally:
            self.pending.pop(request_id, None)
        if not ok:
            raise PageUnavailable(f"the page could not answer {method}: {value}")
        return value


def _settle(future: Any, result: tuple[bool, Any]) -> None:
    if not future.done():
        future.set_result(result)


def chats(shell: Any) -> list[dict[str, Any]]:
    """The kernel's conversations, for the page: name, turns, estimated tokens."""
    session = getattr(shell, "_grok_magics_session", None)
    if session is None:
        return []
    found = session.chats
    return [
        {"name": name, "turns": len(found.get(name).turns), "tokens": found.get(name).tokens()}
        for name in found.names()
    ]


# -- the kernel shell's bridge ----------------------------------------------------------------------------
def attach(shell: Any) -> Bridge | None:
    """Register the comm target (and open the kernel's own comm): only in a kernel, once per shell."""
    if getattr(shell, "kernel", None) is None:
        return None
    existing = getattr(shell, "_grok_page", None)
    if existing is not None:
        return existing
    try:
        import comm as comms

        manager = comms.get_comm_manager()
        bridge = Bridge(shell, manager)
        manager.register_target(TARGET, bridge.on_open)
    except Exception:
        return None
    shell._grok_page = bridge
    bridge.open_from_kernel()
    return bridge


def detach(shell: Any) -> None:
    bridge = getattr(shell, "_grok_page", None)
    if bridge is not None:
        bridge.close()
        del shell._grok_page


def _bridge() -> Bridge | None:
    from IPython import get_ipython

    return getattr(get_ipython(), "_grok_page", None)


def current_cell_id() -> str | None:
    """The id of the cell the kernel runs (JupyterLab and Notebook 7 send it with each execute request)."""
    from IPython import get_ipython

    kernel = getattr(get_ipython(), "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:
        return None
    cell_id = ((parent or {}).get("metadata") or {}).get("cellId")
    return cell_id if isinstance(cell_id, str) and cell_id else None


# -- the small public API -----------------------------------------------------------------------------------
def connected() -> bool:
    """Whether a notebook page with the extension has greeted this kernel."""
    bridge = _bridge()
    return bridge is not None and bool(bridge.comms)


def pushed(cell_id: str | None = None, wait: float = 0.0) -> Context | None:
    """What the page pushed before cell ``cell_id`` (default: the running cell) ran; None without a page.

    ``wait``: with a page connected, how long to wait for the push (it may arrive just after the cell
    started, where the frontend sends comm messages over a subshell)."""
    bridge = _bridge()
    cell_id = cell_id or current_cell_id()
    if bridge is None or not cell_id:
        return None
    return bridge.context(cell_id, wait)


async def request(method: str, timeout: float = PULL_TIMEOUT, **params: Any) -> Any:
    """Ask the page (from an async cell: ``await``); ``PageUnavailable`` at once without one, or after ``timeout``."""
    bridge = _bridge()
    if bridge is None:
        raise needs_page(f"asking the page for {method}")
    return await bridge.request(method, params, timeout)


async def notebook(timeout: float = PULL_TIMEOUT) -> dict[str, Any]:
    """The notebook's path (relative to the server's root), name and metadata."""
    return await request("notebook", timeout)


async def cells_above(cell_id: str | None = None, timeout: float = PULL_TIMEOUT) -> list[dict[str, Any]]:
    """The cells above ``cell_id`` (default: the running cell), nearest first: id, type, source, outputs."""
    cell_id = cell_id or current_cell_id()  # read before awaiting: the kernel's parent changes meanwhile
    answer = await request("cells_above", timeout, cell_id=cell_id or "")
    return list(answer.get("cells") or [])


async def output(cell_id: str, index: int = 0, timeout: float = PULL_TIMEOUT) -> dict[str, Any]:
    """Output ``index`` of cell ``cell_id`` as the page holds it (one image or text type, bounded)."""
    return await request("output", timeout, cell_id=cell_id, index=index)
