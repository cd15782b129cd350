"""The wheel carries the page extension prebuilt (so installing it needs no Node.js) and nothing else new.

Built here without the JavaScript step (``HATCH_JUPYTER_BUILDER_SKIP_NPM=1``): the install that set up this
environment built the extension already, and the wheel must take those files as they are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABEXT = "grok_magics-0.1.0.data/data/share/jupyter/labextensions/grok-magics/"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if not (ROOT / "grok_magics" / "labextension" / "package.json").exists():
        pytest.fail("the page extension is not built: pip install -e '.[test]' builds it (Node.js needed)")
    out = tmp_path_factory.mktemp("wheel")
    env = dict(os.environ, HATCH_JUPYTER_BUILDER_SKIP_NPM="1")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("grok_magics-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_prebuilt_page_extension(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    package = json.loads(wheel.read(LABEXT + "package.json"))
    assert package["name"] == "grok-magics" and package["jupyterlab"]["_build"]["load"].startswith("static/")
    assert LABEXT + package["jupyterlab"]["_build"]["load"] in names, "the entry point is missing"
    assert json.loads(wheel.read(LABEXT + "install.json"))["packageName"] == "grok-magics"
    assert any(n.startswith(LABEXT + "static/") and n.endswith(".js") for n in names)
    assert "grok_magics-0.1.0.data/data/etc/ipython/startup/50-grok_magics.py" in names
    bundle = sum(wheel.getinfo(n).file_size for n in names if n.startswith(LABEXT) and n.endswith(".js"))
    assert bundle < 150_000, f"the page extension's JavaScript grew to {bundle:,} bytes"
    # the page's following logic, compiled for the script answers carry where the extension is absent
    assert {"grok_magics/render/compiled/follow.js", "grok_magics/render/compiled/followlogic.js"} <= names


def test_the_wheel_holds_no_sources_tests_or_build_leftovers(wheel: zipfile.ZipFile) -> None:
    """The Python package is exactly the tracked files of grok_magics/ and the compiled following logic; the fake
    Grok server and every other test helper live in tests/ and stay out of the wheel, as do TypeScript,
    node_modules and a second copy of the built extension inside the package."""
    names = set(wheel.namelist())
    test_parts = [n for n in names if any(_test_part(part) for part in n.split("/"))]
    assert test_parts == [], f"test code in the wheel: {sorted(test_parts)}"
    for name in names:
        assert not name.startswith(("tests/", "src/", "lib/", "node_modules/", "build-test/")), name
        assert not name.endswith((".ts", ".tsx", ".map")) and "__tests__" not in name, name
        assert not name.startswith("grok_magics/labextension/"), name
    tracked = subprocess.run(["git", "ls-files", "grok_magics"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout: the tracked files cannot be compared")
    expected = {n for n in tracked.stdout.split() if not n.endswith(".pyc")}
    expected |= {f"grok_magics/render/compiled/{name}.js" for name in ("follow", "followlogic")}
    shipped = {n for n in names if n.startswith("grok_magics/")}
    extra, missing = sorted(shipped - expected), sorted(expected - shipped)
    assert shipped == expected, f"only in the wheel: {extra}; missing: {missing}"


def _test_part(part: str) -> bool:
    """A path part that belongs to the tests: tests/, a test module, conftest, the fake Grok server (fake_grok/)
    or any other fake."""
    return part in ("tests", "conftest.py") or part.startswith("test_") or "fake" in part.lower()
