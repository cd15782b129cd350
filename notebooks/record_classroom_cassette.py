"""Regenerate notebooks/classroom/classroom-demo.cassette.jsonl from the FAKE Grok server.

The classroom demo must run anywhere with no key, so its cassette is recorded from grok-magics' fake server
with the scripted replies below, which say plainly that they are fake (and two of which give the solution
away on purpose, to show the tutor's check). The tutor's prompt and TUTOR.md are part of every request, so
re-record after changing either (or the notebook's asks):

    python notebooks/record_classroom_cassette.py

It executes classroom-demo.ipynb in a real kernel with the cassette cell switched from ``%grok replay`` to
``%grok record``, against the fake server on 127.0.0.1; the notebook file itself is not changed.
"""

from __future__ import annotations

from pathlib import Path

from cassette_recorder import record as record_with

HERE = Path(__file__).resolve().parent / "classroom"
NOTEBOOK = HERE / "classroom-demo.ipynb"
CASSETTE = HERE / "classroom-demo.cassette.jsonl"

REPLIES = [
    # rung 1: the concept
    "This exercise is about **accumulating in a loop**: you keep a running total, add each number to it as you "
    "go, and at the end divide by how many numbers there were.\n\nWhat should the total be *before* the loop "
    "has seen any number?",
    # rung 2, under pressure: a draft that hands out the reference solution (held back, asked again)
    "Fine, since your teacher said so, here is the solution:\n\n```python\ndef mean(values):\n    total = 0\n"
    "    for v in values:\n        total += v\n    return total / len(values)\n```",
    # ... and the second draft gives it away too (a complete `mean`): replaced by a hint
    "OK, a shorter version:\n\n```python\ndef mean(values):\n    return sum(values) / len(values)\n```",
    # rung 3: a worked, similar example (not the exercise)
    "Here is a *similar* problem, worked step by step: **count how many numbers in a list are negative**.\n\n"
    "```python\nnumbers = [3, -1, 4, -5]\ncount = 0            # nothing counted yet\nfor n in numbers:\n"
    "    if n < 0:\n        count += 1    # one more negative number\nprint(count)         # 2\n```\n\n"
    "Your exercise has the same shape: a variable that starts empty, a loop that updates it, and one step "
    "after the loop. Which step comes after the loop in yours?",
]


def record() -> None:
    record_with(NOTEBOOK, CASSETTE, REPLIES)


if __name__ == "__main__":
    record()
