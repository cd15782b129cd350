"""Regenerate notebooks/teaching-demo.cassette.jsonl from the FAKE Grok server.

The teaching demo must run anywhere with no key (CI, a reader's clone), so its cassette is recorded
from grok-magics' fake server with the scripted replies below, which say plainly that they are
fake. Run it after changing the notebook's asks (or anything that changes what a request carries,
such as the default system prompt):

    python notebooks/record_teaching_cassette.py

It executes teaching-demo.ipynb in a real kernel with the cassette cell switched from
``%grok replay`` to ``%grok record``, against the fake server on 127.0.0.1. Nothing leaves the
machine, and the notebook file itself is not changed. To record REAL answers for a class, see the
README's "Teaching" section instead.
"""

from __future__ import annotations

from pathlib import Path

from cassette_recorder import record as record_with

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "teaching-demo.ipynb"
CASSETTE = HERE / "teaching-demo.cassette.jsonl"
PLOT = HERE / "coin-tosses.png"

REPLIES = [
    "A **p-value** answers one question: *if nothing special were going on* (the null hypothesis), how often "
    "would data at least this extreme turn up by chance?\n\n"
    "- A small p-value (say 0.01) means such data would be rare under the null, so we doubt the null.\n"
    "- A large p-value means the data are unremarkable under the null; it does **not** prove the null true.\n\n"
    "It is not the probability that the null hypothesis is true.",
    "Toss a coin 100 times and get **58 heads**. Null hypothesis: the coin is fair (p = 0.5).\n\n"
    "1. Under the null, heads ~ Binomial(100, 0.5): mean 50, standard deviation 5.\n"
    "2. 58 is 1.6 standard deviations above the mean.\n"
    "3. P(58 or more heads) ≈ 0.067 (one-sided).\n\n"
    "So about 7 runs in 100 of a fair coin look at least this lopsided: not rare enough to call the coin "
    "biased at the usual 0.05 level.",
    "The cell divides by `len(score)`, but the dictionary is called `scores`, so Python raises "
    "`NameError: name 'score' is not defined`.\n\n"
    '```python\nscores = {"ana": 71, "ben": 64, "chen": 88}\nmean = sum(scores.values()) / len(scores)\n```',
    "The bars are the probabilities of each number of heads in 100 fair tosses: a symmetric hump centred on 50. "
    "The shaded bars at 58 and above hold the share of outcomes at least as extreme as ours, about **0.067**: "
    "that area *is* the one-sided p-value.",
]


def draw_plot() -> None:
    """The lesson's figure, drawn once and committed: a replay matches images by content, and another
    matplotlib version may draw a pixel differently. Delete the file to redraw it (then re-record)."""
    from math import comb

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    probability = [comb(100, k) / 2**100 for k in range(101)]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(range(101), probability, color=["tab:red" if k >= 58 else "tab:gray" for k in range(101)])
    ax.set(
        xlim=(25, 75),
        xlabel="heads in 100 tosses",
        ylabel="probability",
        title="58 heads or more: the shaded area is the one-sided p-value",
    )
    fig.savefig(PLOT, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def record() -> None:
    if not PLOT.exists():
        draw_plot()
    record_with(NOTEBOOK, CASSETTE, REPLIES)


if __name__ == "__main__":
    record()
