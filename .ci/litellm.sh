# Sourced by .ci/run (from the repo root): the servers nobody here wrote (tests/servers.py) — a real
# LiteLLM proxy (tests/test_litellm.py) and llmock (tests/test_bounds.py) — are large and pin their
# own dependencies, so they get a venv of their own (gitignored) instead of a place in the package's
# test extra. About 70 s on a warm pip cache.
python3 -m venv .venv-litellm
.venv-litellm/bin/python -m pip install -q --upgrade pip
.venv-litellm/bin/python -m pip install -q 'litellm[proxy]' 'llmock==0.2.2'  # the test reads llmock's own words
export GROK_LITELLM_PYTHON="$PWD/.venv-litellm/bin/python"
