"""Agent cells (``%%grok --agent``): Grok proposes Python steps, the user approves, the kernel runs them.

``tool`` is what Grok is given (``run_python``), ``scan`` flags risky steps, ``approval`` decides whether a
step runs, ``execution`` runs one in the user's namespace under a time limit, ``feedback`` turns what it did
into what goes back (through the context builder and the key masker; the gate out admits every request),
``display`` shows each step in the cell, and ``loop`` drives the conversation until Grok answers in prose.
"""
