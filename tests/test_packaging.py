"""What `make serve` installs is what the README promises: `taichu lab` works in that
install (no test extras), aiohttp is a declared dependency, kubernetes_asyncio is not."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_serve_install_has_the_lab_and_declares_what_it_imports(tmp_path: Path) -> None:
    clone = tmp_path / "taichu"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAICHU_", "VIRTUAL_ENV"))}
    env.pop("PYTHONPATH", None)  # the clone's own install, not the tree under test
    # What `make serve` runs before `taichu serve`.
    subprocess.run(
        ["bash", "scripts/bootstrap.sh"], cwd=clone, env=env, check=True, timeout=900,
        capture_output=True,
    )  # fmt: skip

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=clone, env=env, capture_output=True, text=True, timeout=120, check=False
        )

    lab = run(".venv/bin/taichu", "lab", "--help")
    assert lab.returncode == 0, lab.stdout + lab.stderr
    assert all(command in lab.stdout for command in ("up", "down", "status"))
    assert run(".venv/bin/python", "-c", "import pytest").returncode != 0  # no test extras
    requires = run(
        ".venv/bin/python",
        "-c",
        "import importlib.metadata as m; print('\\n'.join(m.requires('taichu')))",
    ).stdout.splitlines()
    core = {r.split(">")[0].split("[")[0].strip() for r in requires if "extra ==" not in r}
    assert "aiohttp" in core and "kubernetes_asyncio" not in core
