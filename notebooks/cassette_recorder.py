"""The recording loop both demo cassettes share (``record_teaching_cassette.py``, ``record_classroom_cassette.py``).

A demo notebook runs in a real kernel with its one cell tagged ``cassette`` switched from ``%grok replay`` to
``%grok record``, against grok-magics' FAKE server on 127.0.0.1 scripted with the demo's replies, each labelled
as fake. Nothing leaves the machine and the notebook file is not changed. The asks must match the replies one
for one: a notebook that asks more or fewer stops the recording with what to update.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fake server lives with the tests
from fake_grok import FakeGrok, Reply  # noqa: E402

LABEL = "*[Fake reply, scripted for this demo — not Grok's words.]*\n\n"
KEY = "fake-key-for-the-fake-server"
# settings of the recording person's shell that would change what the notebook asks or where it goes
UNSET = ("GROK_MAGICS_REPLAY", "GROK_MAGICS_RECORD", "GROK_PROVIDER", "GROK_MAGICS_POLICY")


def record(notebook: Path, cassette: Path, replies: list[str]) -> None:
    """Write ``cassette`` by running ``notebook`` against the fake server answering ``replies`` in order."""
    nb = nbformat.read(notebook, as_version=4)
    cells = [c for c in nb.cells if "cassette" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        sys.exit(f"{notebook.name} needs exactly one cell tagged 'cassette'")
    cells[0].source = cells[0].source.replace("%grok replay", "%grok record", 1).split(" --")[0]
    cassette.unlink(missing_ok=True)
    with FakeGrok("xai", key=KEY, pace=0.02) as fake:
        fake.script(*(Reply(text=LABEL + text, chunk=6) for text in replies))
        os.environ.update(XAI_API_KEY=KEY, GROK_BASE_URL=fake.base_url)
        for name in UNSET:
            os.environ.pop(name, None)
        here = {"metadata": {"path": str(notebook.parent)}}
        NotebookClient(nb, timeout=120, kernel_name="python3", resources=here).execute()
        asked = len(fake.requests)
    if asked != len(replies):
        sys.exit(f"expected {len(replies)} asks, {notebook.name} made {asked}: update the replies to match it")
    print(f"wrote {cassette.name} ({asked} exchanges, from the fake server)")
