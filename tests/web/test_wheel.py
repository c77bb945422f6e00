"""A built wheel carries the built console, so `pip install taichu` serves it without Node."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.web.conftest import REPO


@pytest.mark.slow
def test_the_wheel_contains_the_built_console(console_build: None, tmp_path: Path) -> None:
    built = REPO / "taichu" / "web" / "dist"
    expected = {
        f"taichu/web/dist/{p.relative_to(built).as_posix()}"
        for p in built.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    assert "taichu/web/dist/index.html" in expected
    assert "taichu/web/dist/docs-assets/swagger-ui-bundle.js" in expected
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (wheel,) = tmp_path.glob("taichu-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert expected <= names, sorted(expected - names)


def test_an_up_to_date_build_is_not_redone(console_build: None) -> None:
    """The session's build recorded the hash of web/ and the OpenAPI document: `--check`
    finds nothing to do, and a plain run skips the build."""
    env = {**os.environ, "PYTHON": sys.executable}
    check = subprocess.run(
        ["bash", "scripts/web-build.sh", "--check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr
    again = subprocess.run(
        ["bash", "scripts/web-build.sh"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert again.returncode == 0 and "console up to date" in again.stderr, again.stderr
