"""Functions Grok may call (``functions``) and the read-only data toolset (``data``)."""
