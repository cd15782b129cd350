"""The fake Grok server the tests, benchmarks and the teaching cassette script run against.

A real HTTP server on 127.0.0.1 that speaks Chat Completions and Responses with Server-Sent Events the
way xAI, Bedrock, AIgateway, Azure and OpenAI do, so the real ``openai`` SDK and its HTTP stack are
exercised instead of mocked: tests script each reply (``Reply``), inject faults on the wire, and
inspect every request afterwards (``Recorded``). Standard library only.

- ``profiles``: each provider's paths, auth header, model ids and event quirks;
- ``scripting``: what a test scripts and what it reads back;
- ``bodies``: reading request bodies, writing usage, costs and error bodies;
- ``sse``: the wire under an answer (chunking, cuts, stalls, gates);
- ``exchange``: one request and its answer in either wire API, faults included;
- ``batch``: xAI's Batch API (and another implementation's shapes);
- ``server``: the HTTP server and ``FakeGrok``.
"""

from .bodies import fake_tokens, image_urls
from .profiles import PROFILES, Profile
from .scripting import Recorded, Reply
from .server import FakeGrok

__all__ = ["FakeGrok", "Reply", "PROFILES", "Profile", "Recorded", "fake_tokens", "image_urls"]
