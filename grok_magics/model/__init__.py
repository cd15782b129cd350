"""Plain data every layer shares: the request and its parts, the stream's events, the reply they build,
conversations, usage and prices. Imports nothing above it."""
