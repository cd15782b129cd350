"""Shared by the kernel, notebook and browser tests: a real ipykernel driven the way JupyterLab drives it."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import nbformat
from nbclient import NotebookClient
from nbclient.util import run_sync

# Test kernels talk over IPC sockets. Over TCP, jupyter_client picks free ports for a kernel that binds them
# a moment later; with several test workers starting kernels at once, another kernel can take one first
# ("Address already in use", and the kernel dies before it replies).
TRANSPORT = "ipc"
_SOCKETS = tempfile.TemporaryDirectory(prefix="grok-kernels-")  # removed when the test process exits


def ipc_manager(km: Any) -> Any:
    """Switch a kernel manager to IPC, with its socket files at an absolute path of its own: the default is
    relative to each process's working directory (kernel and client disagree), and a socket path must stay
    short (about 100 bytes), so not under pytest's deep tmp_path."""
    km.transport = TRANSPORT
    km.ip = os.path.join(_SOCKETS.name, uuid.uuid4().hex[:12])
    return km


def start_kernel(cwd: Path) -> tuple[Any, Any]:
    """A kernel and its blocking client, as ``jupyter_client.start_new_kernel`` gives, over ``TRANSPORT``."""
    from jupyter_client.manager import KernelManager

    km = ipc_manager(KernelManager(kernel_name="python3"))
    km.start_kernel(cwd=str(cwd))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel()
        raise
    return km, kc


class LabLikeClient(NotebookClient):
    """nbclient plus what JupyterLab sends (cellId) and a log of every iopub message."""

    def __init__(self, nb: Any, **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.log_messages: list[tuple[float, int, dict[str, Any]]] = []
        self.current_cell_id: str | None = None
        self.lock = threading.Lock()
        # Called (in a worker thread) before each cell is sent: a test that acts on one cell from another
        # thread can hold the next cell back until it is done, as a person does before running the next.
        self.before_cell: Callable[[int], None] | None = None

    async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        if self.before_cell is not None:
            await asyncio.to_thread(self.before_cell, cell_index)
        self.current_cell_id = cell.get("id")
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        with self.lock:
            self.log_messages.append((time.monotonic(), cell_index, msg))
        return super().process_message(msg, cell, cell_index)

    def create_kernel_manager(self) -> Any:
        return ipc_manager(super().create_kernel_manager())

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()

        def execute(
            code: str,
            silent: bool = False,
            store_history: bool = True,
            user_expressions: Any = None,
            allow_stdin: Any = None,
            stop_on_error: bool = True,
        ) -> str:
            content = {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": False,
                "stop_on_error": stop_on_error,
            }
            msg = kc.session.msg("execute_request", content, metadata={"cellId": self.current_cell_id})
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        return kc

    # nbclient's sync wrappers are bound to its own coroutines; rebind them to ours
    execute_cell = run_sync(async_execute_cell)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def messages(self, cell_index: int) -> list[dict[str, Any]]:
        with self.lock:
            return [m for _, i, m in self.log_messages if i == cell_index]

    def interrupt(self) -> None:
        """What JupyterLab's stop button does for a signal-mode kernel."""
        os.kill(self.km.provisioner.process.pid, signal.SIGINT)


def notebook(*sources: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def run_notebook(nb: Any, cwd: Path, timeout: int = 120, **kwargs: Any) -> LabLikeClient:
    """Execute every cell of ``nb`` in a fresh kernel started in ``cwd`` (outputs land in ``nb``)."""
    client = LabLikeClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}, **kwargs
    )
    client.execute()
    return client


def answer_of(cell: Any) -> str:
    """An answer is a run of Markdown outputs (finished blocks, then the last part with the status line)."""
    return "\n\n".join(
        o.data["text/markdown"] for o in cell.outputs if o.output_type == "display_data" and "text/markdown" in o.data
    )
