"""One ask end to end (``ask``), the one gate every outgoing request passes (``policy``), and Ctrl-C/deadline
handling (``guard``)."""
