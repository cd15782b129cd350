"""The classroom: record and replay (``cassette``, ``tape``), caps, locks and the spend ledger (``caps``),
exports."""
