"""What `make serve` installs is what the README promises: `taichu lab` works in that
install (no test extras), aiohttp and yarl are declared dependencies, kubernetes_asyncio is not."""

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
    assert {"aiohttp", "yarl"} <= core and "kubernetes_asyncio" not in core


def test_every_third_party_import_of_the_package_is_a_declared_dependency() -> None:
    """Scans `taichu/` for imports: each top-level module that is neither the standard
    library nor ours must come from a distribution the package declares (the core list,
    or the `lab` extra for `taichu/lab/`), not from one that only arrives transitively."""
    import ast
    import importlib.metadata as metadata
    import re
    import sys

    def names(requirements: list[str], extra: str | None) -> set[str]:
        picked = set()
        for requirement in requirements:
            marker = re.search(r'extra == "([^"]+)"', requirement)
            if (marker.group(1) if marker else None) in (None, extra):
                picked.add(re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower())
        return {name.replace("_", "-") for name in picked}

    requires = metadata.requires("taichu") or []
    owners = metadata.packages_distributions()
    undeclared = []
    for path in sorted((REPO / "taichu").rglob("*.py")):
        if path.name == "pytest_fixtures.py":  # a pytest plugin: loaded only by pytest
            continue
        declared = names(requires, "lab" if "lab" in path.parts else None)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "taichu" or top in sys.stdlib_module_names:
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [])}
                if not dists & declared:
                    undeclared.append(f"{path.relative_to(REPO)}: {top} ({sorted(dists)})")
    assert not undeclared, undeclared
