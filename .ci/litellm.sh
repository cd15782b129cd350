# Sourced by .ci/run (from the repo root): the real-LiteLLM test (tests/test_litellm.py) needs
# litellm[proxy], which is large and pins its own dependencies, so it gets a venv of its own
# (gitignored) instead of a place in the package's test extra. About 70 s on a warm pip cache.
python3 -m venv .venv-litellm
.venv-litellm/bin/python -m pip install -q --upgrade pip
.venv-litellm/bin/python -m pip install -q 'litellm[proxy]'
export GROK_LITELLM_PYTHON="$PWD/.venv-litellm/bin/python"
