"""Test helpers for grok_magics: a fake Grok server speaking the OpenAI-style wire APIs."""

from .fake_server import PROFILES, FakeGrok, Profile, Recorded, Reply, fake_tokens, image_urls

__all__ = ["FakeGrok", "Reply", "PROFILES", "Profile", "Recorded", "fake_tokens", "image_urls"]
